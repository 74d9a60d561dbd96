"""The ONNX exporters and opsets ``nascomp export`` offers (kept apart from the export code so the CLI's help can
list them without importing torch; :mod:`nascomp.export.onnx` says how the opset ranges were measured)."""

__all__ = ["EXPORTERS", "OPSETS", "DEFAULT_OPSET"]

EXPORTERS = ("dynamo", "torchscript")  # torch.onnx.export(dynamo=True) and its TorchScript-based predecessor
#: The ONNX opsets (default domain ``ai.onnx``) each exporter writes, inclusive (torch 2.14.1, onnx 1.23).
OPSETS = {"dynamo": range(18, 24), "torchscript": range(7, 21)}
#: The opset both exporters write when none is asked for (torch's ``ONNX_DEFAULT_OPSET``).
DEFAULT_OPSET = 20
