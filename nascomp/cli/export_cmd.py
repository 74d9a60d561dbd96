"""``nascomp export SPEC --onnx net.onnx --torchscript net.pt``: build a spec and export it, checked against itself."""

from __future__ import annotations

import argparse

from nascomp._shape import format_shape
from nascomp.cli._common import add_spec_arguments, spec_overrides
from nascomp.errors import NascompError
from nascomp.export.exporters import DEFAULT_OPSET, EXPORTERS, OPSETS
from nascomp.spec.load import load_spec

NAME = "export"
HELP = "export a spec's model to ONNX (--onnx) and/or TorchScript (--torchscript), checked against the built model"
DESCRIPTION = (
    "Build SPEC (file or zoo name; freshly initialised weights, seeded by --seed) in eval mode and export it. "
    "ONNX uses torch's dynamo exporter (needs onnxscript) and opens in Netron; TorchScript is a torch.jit.trace "
    "loadable with torch.jit.load. The batch dimension stays dynamic; C, H and W are the spec's or --input's. "
    "Each file is written atomically and then checked: its outputs on a random batch must equal the built "
    "model's (within 1e-5 + 1e-4 * max|output|); ONNX is checked with onnxruntime when it is installed."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--onnx", metavar="FILE", help="write an ONNX model here (e.g. net.onnx)")
    parser.add_argument("--torchscript", metavar="FILE", help="write a TorchScript model here (e.g. net.pt)")
    parser.add_argument("--opset", type=int, metavar="N",
                        help=f"ONNX opset version: {_span('dynamo')} with the dynamo exporter, "
                             f"{_span('torchscript')} with the torchscript one (default {DEFAULT_OPSET})")
    parser.add_argument("--onnx-exporter", choices=EXPORTERS, default="dynamo",
                        help="torch's ONNX exporter: dynamo (default) or the deprecated torchscript one")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weight initialisation (default 0)")
    parser.add_argument("--no-verify", action="store_true", help="skip the comparison of outputs after writing")


def _span(exporter: str) -> str:
    return f"{OPSETS[exporter][0]}-{OPSETS[exporter][-1]}"


def run(args: argparse.Namespace) -> int:
    import torch

    from nascomp.export.onnx import check_opset, export_onnx, onnxruntime_available, verify_onnx
    from nascomp.export.torchscript import export_torchscript, verify_torchscript
    from nascomp.graph.build import build

    if not args.onnx and not args.torchscript:
        raise NascompError("nothing to export: give --onnx FILE and/or --torchscript FILE")
    if args.opset is not None and not args.onnx:
        raise NascompError(f"--opset {args.opset} applies to ONNX files only; give --onnx FILE or drop --opset")
    opset = check_opset(args.opset, args.onnx_exporter)  # before any work: a bad opset is refused at once
    spec = load_spec(args.spec, **spec_overrides(args))
    torch.manual_seed(args.seed)
    model = build(spec).eval()
    shape = tuple(spec.input_shape)
    dims = format_shape(('batch', *shape))
    if args.onnx:
        path = export_onnx(model, args.onnx, shape, opset=opset, exporter=args.onnx_exporter)
        print(f"wrote {path} ({path.stat().st_size:,} bytes, ONNX opset {opset}): {spec.name}, input {dims}")
        if args.no_verify:
            pass
        elif onnxruntime_available():
            diff = verify_onnx(model, path, shape)
            print(f"  checked with onnxruntime: same outputs as the built model (max abs difference {diff:.2g})")
        else:
            print("  not checked: onnxruntime is not installed (pip install onnxruntime)")
    if args.torchscript:
        path = export_torchscript(model, args.torchscript, shape)
        print(f"wrote {path} ({path.stat().st_size:,} bytes): {spec.name}, input {dims}")
        if not args.no_verify:
            diff = verify_torchscript(model, path, shape)
            print(f"  checked with torch.jit.load: same outputs as the built model (max abs difference {diff:.2g})")
    return 0
