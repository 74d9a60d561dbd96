"""ONNX export (opens in Netron, runs in onnxruntime) with a numerical check against the built model.

Uses ``torch.onnx.export(..., dynamo=True)``, torch's default exporter since 2.9: it captures the model with
``torch.export`` and translates it with ``onnxscript`` (``pip install onnxscript``). ``exporter="torchscript"``
selects the older TorchScript-based exporter, deprecated by torch but needing no ``onnxscript``. Both give the same
graph for nascomp models (their ``forward`` is straight-line torch.fx code). The batch dimension is dynamic
(named ``batch``); channels, height and width are fixed at the spec's (or ``--input``'s) input shape.

Opsets (:data:`OPSETS`, measured with torch 2.14.1, onnx 1.23, onnxscript 0.7 and onnxruntime 1.32): the dynamo
exporter translates to opset 18 and up (its torchlib's lowest, ``TORCHLIB_OPSET``); asked for less, it writes 18
anyway after a failed down-conversion, so nascomp refuses it. torch declares opsets up to 23 (``ONNX_MAX_OPSET``).
The TorchScript-based exporter writes opsets 7 (``ONNX_MIN_OPSET``) to 20 (``ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET``;
above, torch warns that it is unsupported). Both default to opset 20 (``ONNX_DEFAULT_OPSET``). The written file's
``opset_import`` is checked against the opset asked for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from nascomp._atomic import why_not_a_folder
from nascomp.errors import NascompError
from nascomp.export.exporters import DEFAULT_OPSET, EXPORTERS, OPSETS
from nascomp.export._check import CHECK_BATCH, EXPORT_BATCH, compare, example_input, quiet

__all__ = ["export_onnx", "verify_onnx", "EXPORTERS", "OPSETS", "DEFAULT_OPSET", "check_opset", "onnxruntime_available",
           "written_opset"]


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
        opset: ONNX opset version, in ``OPSETS[exporter]`` (dynamo 18-23, torchscript 7-20); default
            :data:`DEFAULT_OPSET` (20).
        exporter: ``"dynamo"`` (default; needs ``onnxscript``) or ``"torchscript"`` (deprecated by torch).

    Returns:
        ``path``, whose ``opset_import`` is ``opset``. Inputs are named ``input`` and outputs ``output``; the batch
        dimension is dynamic.

    Raises:
        NascompError: unknown exporter, an opset the exporter does not write (the message gives its range), a
            missing exporter package, an exporter failure (its first line), a file whose opset differs from the
            one asked for, or a folder that cannot be written. Nothing is left at ``path`` when the export fails.

    Example:
        >>> model = nascomp.build("resnet18", input_shape=(3, 64, 64))
        >>> export_onnx(model, "resnet18.onnx", (3, 64, 64))
        PosixPath('resnet18.onnx')
    """
    opset = check_opset(opset, exporter)
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
        if exporter == "dynamo":
            _require("onnxscript", "the dynamo ONNX exporter")
        with quiet(), torch.no_grad(), _one_line_failure(exporter, opset), _native_output_discarded():
            if exporter == "dynamo":
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
        written = written_opset(staged)
        if written != opset:  # an exporter's silent fallback (torch's dynamo one keeps 18 when it cannot convert)
            raise NascompError(f"torch's {exporter} ONNX exporter wrote opset {written} instead of the {opset} asked "
                               f"for; nothing was written to {path}")
        # External weight files first, the model last: a reader never finds a model whose weights are missing.
        for extra in sorted(staging.iterdir()):
            if extra != staged:
                os.replace(extra, folder / extra.name)
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def check_opset(opset: int | None, exporter: str = "dynamo") -> int:
    """The opset ``exporter`` will write: ``opset``, or :data:`DEFAULT_OPSET` when ``None``.

    Raises:
        NascompError: an unknown exporter, or an opset outside ``OPSETS[exporter]`` (the message gives the range
            of both exporters).

    Example:
        >>> check_opset(None), check_opset(18), check_opset(11, "torchscript")
        (20, 18, 11)
    """
    if exporter not in EXPORTERS:
        raise NascompError(f"unknown ONNX exporter '{exporter}' (valid: {', '.join(EXPORTERS)})")
    if opset is None:
        return DEFAULT_OPSET
    supported = OPSETS[exporter]
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in supported:
        other = next(e for e in EXPORTERS if e != exporter)
        hint = (f"; opset {opset} is written by --onnx-exporter {other} ({_span(OPSETS[other])})"
                if opset in OPSETS[other] else "")
        raise NascompError(f"--opset {opset}: the {exporter} ONNX exporter writes opsets {_span(supported)} "
                           f"(default {DEFAULT_OPSET}){hint}")
    return opset


def written_opset(path: str | os.PathLike) -> int | None:
    """The ``ai.onnx`` opset in the ``opset_import`` of the ONNX file at ``path`` (``None`` when it has none)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _span(opsets: range) -> str:
    return f"{opsets[0]} to {opsets[-1]}"


@contextlib.contextmanager
def _one_line_failure(exporter: str, opset: int) -> Iterator[None]:
    """Turn an exporter's exception (often with pages of graph dump) into one line: its first line."""
    try:
        yield
    except (NascompError, OSError):  # ours, and the file system's (full disk...), which say what they are
        raise
    except Exception as exc:  # torch raises many types here (SymbolicValueError, TorchExportError, ...)
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        for tail in (" Please feel free to request support", " [Caused by"):  # torch's boilerplate and graph dump
            first = first.split(tail)[0]
        other = next(e for e in EXPORTERS if e != exporter)
        raise NascompError(f"torch's {exporter} ONNX exporter failed at opset {opset}: {first[:300]}; "
                           f"try --onnx-exporter {other} or another --input size") from None


@contextlib.contextmanager
def _native_output_discarded() -> Iterator[None]:
    """Send what torch's exporters print from C++ to the null device: the TorchScript exporter dumps its whole IR
    graph to stdout when it fails (torch 2.14's ``setup_onnx_logging`` leaves its log on), and both print
    conversion tracebacks and logger lines; the failure itself reaches the user as one line."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


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
