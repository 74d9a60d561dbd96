"""The ONNX exporters ``nascomp export`` offers (kept apart from the export code so the CLI's help can list them
without importing torch)."""

__all__ = ["EXPORTERS"]

EXPORTERS = ("dynamo", "torchscript")  # torch.onnx.export(dynamo=True) and its TorchScript-based predecessor
