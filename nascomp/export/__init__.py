"""Export built models: ONNX (Netron, onnxruntime) and TorchScript, each checked against the built model."""

from nascomp._lazy import lazy_exports

__all__ = ["export_onnx", "verify_onnx", "export_torchscript", "verify_torchscript", "onnxruntime_available", "EXPORTERS",
           "OPSETS", "DEFAULT_OPSET"]
__getattr__, __dir__ = lazy_exports(__name__, {  # imported on first use: these load torch
    "export_onnx": "nascomp.export.onnx",
    "verify_onnx": "nascomp.export.onnx",
    "onnxruntime_available": "nascomp.export.onnx",
    "EXPORTERS": "nascomp.export.exporters",
    "OPSETS": "nascomp.export.exporters",
    "DEFAULT_OPSET": "nascomp.export.exporters",
    "export_torchscript": "nascomp.export.torchscript",
    "verify_torchscript": "nascomp.export.torchscript",
})
