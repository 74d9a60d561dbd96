"""ONNX export (opens in Netron, runs in onnxruntime) with a numerical check against the built model.

Uses ``torch.onnx.export(..., dynamo=True)``, torch's default exporter since 2.9: it captures the model with
``torch.export`` and translates it with ``onnxscript`` (``pip install onnxscript``). ``exporter="torchscript"``
selects the older TorchScript-based exporter, deprecated by torch but needing no ``onnxscript``. Both give the same
graph for nascomp models (their ``forward`` is straight-line torch.fx code). The batch dimension is dynamic
(named ``batch``); channels, height and width are fixed at the spec's (or ``--input``'s) input shape.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from nascomp._atomic import why_not_a_folder
from nascomp.errors import NascompError
from nascomp.export.exporters import EXPORTERS
from nascomp.export._check import CHECK_BATCH, EXPORT_BATCH, compare, example_input, quiet

__all__ = ["export_onnx", "verify_onnx", "EXPORTERS", "onnxruntime_available"]


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(
    model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...], *, opset: int | None = None,
    exporter: str = "dynamo",
) -> Path:
    """Export ``model`` (in eval mode) to an ONNX file, atomically.

    Args:
        model: The built model (``nascomp.build``), ``(N, *input_shape) -> (N, ...)``; set to eval mode.
        path: Output file. Weights over 2 GB go to ``<path>.data`` beside it (the ONNX protobuf limit).
        input_shape: ``(C, H, W)`` of one sample.
        opset: ONNX opset version; default the exporter's.
        exporter: ``"dynamo"`` (default; needs ``onnxscript``) or ``"torchscript"`` (deprecated by torch).

    Returns:
        ``path``. Inputs are named ``input`` and outputs ``output``; the batch dimension is dynamic.

    Raises:
        NascompError: unknown exporter, a missing exporter package, or a folder that cannot be written. Nothing
            is left at ``path`` when the export fails.

    Example:
        >>> model = nascomp.build("resnet18", input_shape=(3, 64, 64))
        >>> export_onnx(model, "resnet18.onnx", (3, 64, 64))
        PosixPath('resnet18.onnx')
    """
    if exporter not in EXPORTERS:
        raise NascompError(f"unknown ONNX exporter '{exporter}' (valid: {', '.join(EXPORTERS)})")
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise NascompError(f"cannot write {path}: it is a folder; give a file name (e.g. {path / 'net.onnx'})")
    if not folder.is_dir():
        raise NascompError(f"cannot write {path}: {why_not_a_folder(folder)}")
    model.eval()
    example = (example_input(tuple(input_shape), EXPORT_BATCH),)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=folder))
    except OSError as exc:
        raise NascompError(f"cannot write {path}: {exc.strerror}") from None
    try:
        staged = staging / path.name
        with quiet(), torch.no_grad():
            if exporter == "dynamo":
                _require("onnxscript", "the dynamo ONNX exporter")
                program = torch.onnx.export(
                    model, example, None, dynamo=True, verbose=False, opset_version=opset,
                    input_names=["input"], output_names=["output"],
                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                )
                program.save(staged)
            else:
                torch.onnx.export(
                    model, example, str(staged), dynamo=False, verbose=False, opset_version=opset,
                    input_names=["input"], output_names=["output"],
                    dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                )
        # External weight files first, the model last: a reader never finds a model whose weights are missing.
        for extra in sorted(staging.iterdir()):
            if extra != staged:
                os.replace(extra, folder / extra.name)
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def verify_onnx(model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...], *, seed: int = 1) -> float:
    """Run the ONNX file in onnxruntime and compare with ``model`` on a random batch of 3.

    Returns:
        The largest absolute difference between the two outputs.

    Raises:
        NascompError: onnxruntime is not installed, or the outputs differ beyond ``1e-5 + 1e-4 * max|output|``.
    """
    _require("onnxruntime", "checking an ONNX export")
    import onnxruntime as ort

    x = example_input(tuple(input_shape), CHECK_BATCH, seed)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return compare(expected, torch.from_numpy(got), f"ONNX model {path} (onnxruntime)")


def _require(module: str, what: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise NascompError(f"{what} needs the '{module}' package: pip install {module}") from None
