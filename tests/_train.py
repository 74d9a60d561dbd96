"""A tiny spec and settings shared by the training tests (digits at 8 px: seconds per run on 2 cores)."""

TINY_SPEC = """\
name: tiny_cnn
doc: A tiny CNN for the training tests.
input_shape: [3, 16, 16]
params:
  num_classes: 3
  width: 8
nodes:
  - {id: stem, type: conv_bn_act, out_channels: "${width}", kernel_size: 3, padding: 1}
  - {id: conv, type: conv_bn_act, out_channels: "${width}", kernel_size: 3, stride: 2, padding: 1}
  - {id: flat, type: flatten}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""

# CLI flags of a quick run: digits at their native 8 px, 200 train+val images, batch 32.
QUICK = ["--data", "digits", "--max-images", "200", "--batch-size", "32", "--no-progress", "--device", "cpu"]


def write_spec(folder, text=TINY_SPEC, name="tiny.yaml"):
    path = folder / name
    path.write_text(text)
    return path
