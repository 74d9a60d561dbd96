"""The expander (``nascomp.graph.expander.expand_nodes``) called directly on a small hand-written spec: a user block
with parameters, a ``let`` value and a residual add, imported from its own file, used once and in a repeat whose
copies set their stride from ``index``.

Expected names and op counts are written out by hand from docs/spec-format.md (a repeat is a group of copies
``"0"`` .. ``"N-1"``; a block instance's nodes are ``<id>.<inner id>``); shapes, parameter counts and MACs come from
the same net written by hand in torch (``nn.Conv2d``, ``nn.BatchNorm2d``, ...), run once with forward hooks and
under ``FlopCounterMode`` (FLOPs / 2 = MACs: conv and linear only).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import nascomp
from nascomp.errors import SpecError
from nascomp.graph.block_cache import BlockCache
from nascomp.graph.expander import INPUT, expand_nodes
from nascomp.graph.expansion_tree import Sub
from tests._contract import flop_counter_macs

BLOCKS = """\
blocks:
  residual:
    doc: x + relu(bn(conv(x))), the channels kept.
    params:
      kernel: {type: int, default: 3, min: 1}
    let:
      pad: ${kernel // 2}
    nodes:
      - {id: conv, type: conv2d, out_channels: "${in_channels}", kernel_size: "${kernel}", padding: "${pad}",
         bias: false}
      - {id: bn, type: batch_norm2d}
      - {id: act, type: relu}
      - {id: add, type: add, inputs: [input, act]}
"""

SPEC = """\
name: hand
input_shape: [3, 16, 16]
imports: [my blocks.yaml]
params: {width: 4, num_classes: 5}
nodes:
  - {id: stem, type: conv2d, out_channels: "${width}", kernel_size: 3, padding: 1, bias: false}
  - {id: res, type: residual}
  - {id: down, type: conv2d, repeat: 2, out_channels: "${2 * width}", kernel_size: 3, padding: 1,
     stride: "${2 if index == 0 else 1}", bias: false}
  - {id: res2, type: residual, kernel: 1}
  - {id: pool, type: adaptive_avg_pool2d, output_size: 1}
  - {id: flatten, type: flatten}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""

NAMES = ["stem", "res.conv", "res.bn", "res.act", "res.add", "down.0", "down.1",
         "res2.conv", "res2.bn", "res2.act", "res2.add", "pool", "flatten", "fc"]


class _Residual(nn.Module):
    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        return x + self.act(self.bn(self.conv(x)))


def reference() -> nn.Module:
    """The spec written by hand in torch, with the same module names."""
    net = nn.Module()
    net.stem = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    net.res = _Residual(4, 3)
    net.down = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False),
                             nn.Conv2d(8, 8, 3, stride=1, padding=1, bias=False))
    net.res2 = _Residual(8, 1)
    net.pool, net.flatten, net.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)
    net.forward = lambda x: net.fc(net.flatten(net.pool(net.res2(net.down(net.res(net.stem(x)))))))
    return net


@pytest.fixture
def spec(tmp_path: Path):
    (tmp_path / "my blocks.yaml").write_text(BLOCKS, encoding="utf-8")
    path = tmp_path / "hand.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return nascomp.load_spec(path)


def expand(spec, **kwargs):
    return expand_nodes(spec.nodes, spec.output, spec.input_shape, spec.params, spec.library, spec.file,
                        cache=BlockCache(), **kwargs)


def test_the_expansion_names_every_primitive_op_and_nests_blocks_and_repeats(spec):
    expansion = expand(spec)
    assert [n.name for n in expansion.flatten()] == NAMES
    assert expansion.num_ops == len(NAMES) == 14
    top = expansion.items
    assert [type(i).__name__ for i in top] == ["PrimNode", "Sub", "Sub", "Sub", "PrimNode", "PrimNode", "PrimNode"]
    assert [(s.prefix, s.kind, s.repeat) for s in top if isinstance(s, Sub)] == [
        ("res", "residual", None), ("down", "conv2d", 2), ("res2", "residual", None)]  # a repeat: its type, xN
    # the add of a block instance reads the instance's input (the stem) and its own relu
    add = next(n for n in expansion.flatten() if n.name == "res.add")
    assert add.inputs == ("stem", "res.act")
    assert next(n for n in expansion.flatten() if n.name == "stem").inputs == (INPUT,)
    assert expansion.output == "fc" and expansion.out_shape == (5,)


def test_shapes_params_and_macs_equal_the_same_net_written_in_torch(spec):
    expansion = expand(spec)
    net = reference()
    shapes: dict[str, tuple[int, ...]] = {}
    for name, module in net.named_modules():
        if name and not list(module.children()):
            module.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = net(x)
    ops = {n.name: n for n in expansion.flatten()}
    for name, shape in shapes.items():
        assert ops[name].out_shape == shape, name
    assert ops["res.add"].out_shape == (4, 16, 16) and ops["res2.add"].out_shape == (8, 8, 8)
    assert expansion.out_shape == tuple(out.shape[1:])
    assert expansion.params == sum(p.numel() for p in net.parameters())
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            assert ops[name].num_params == sum(p.numel() for p in module.parameters()), name
    assert expansion.macs == flop_counter_macs(net, torch.randn(1, 3, 16, 16))


def test_the_block_default_and_the_let_value_reach_the_ops(spec):
    ops = {n.name: n for n in expand(spec).flatten()}
    # (int_or_pair parameters are stored as pairs, as torch's modules store them)
    assert (ops["res.conv"].params["kernel_size"], ops["res.conv"].params["padding"]) == ((3, 3), (1, 1))  # default
    assert (ops["res2.conv"].params["kernel_size"], ops["res2.conv"].params["padding"]) == ((1, 1), (0, 0))
    assert [ops[f"down.{i}"].params["stride"] for i in (0, 1)] == [(2, 2), (1, 1)]  # from index


def test_the_memo_gives_the_same_block_instance_once_and_counts_it(spec):
    cache = BlockCache()
    expand_nodes(spec.nodes, spec.output, spec.input_shape, spec.params, spec.library, spec.file, cache=cache)
    assert len(cache) == 2  # residual at 4x16x16 with kernel 3, at 8x8x8 with kernel 1
    again = expand_nodes(spec.nodes, spec.output, spec.input_shape, spec.params, spec.library, spec.file, cache=cache)
    assert len(cache) == 2 and [n.name for n in again.flatten()] == NAMES


def test_a_bad_block_parameter_is_a_spec_error_naming_the_file_line_node_and_bound(tmp_path, spec):
    # (the spec fixture writes "my blocks.yaml" beside it)
    bad = SPEC.replace("type: residual, kernel: 1}", "type: residual, kernel: 0}")
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        expand(nascomp.load_spec(path))
    assert str(err.value) == f"{path}:10: node 'res2': block 'residual': 'kernel' must be >= 1, found int 0"
