"""Export built models: ONNX (Netron, onnxruntime) and TorchScript, each checked against the built model."""

from nascomp.export.onnx import DEFAULT_OPSET, EXPORTERS, OPSETS, export_onnx, onnxruntime_available, verify_onnx
from nascomp.export.torchscript import export_torchscript, verify_torchscript

__all__ = ["export_onnx", "verify_onnx", "export_torchscript", "verify_torchscript", "onnxruntime_available", "EXPORTERS",
           "OPSETS", "DEFAULT_OPSET"]
