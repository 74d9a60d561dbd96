"""Pooling ops: ``max_pool2d``, ``avg_pool2d``, adaptive pools and ``global_pool``. No parameters, 0 MACs."""

from __future__ import annotations

import torch
from torch import fx, nn

from nascomp.ops.base import Op, OpError, Params, Shape, emit_call, require_feature_map
from nascomp.spec.params import ParamDecl

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "GlobalPool", "pool_out_size"]


def pool_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """Output size of torch's pooling: floor (or ceil) of ``(size + 2p - d(k-1) - 1) / s`` plus 1; with
    ``ceil_mode`` the last window must start inside the input or left padding (max pooling k1 s2 on 6 gives 3).
    """
    num = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-num // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = num // stride + 1
    return out


class _Pool2d(Op):
    dilated: bool = True

    def _window(self, p: Params) -> tuple:
        kernel = p["kernel_size"]
        stride = p["stride"] if p["stride"] is not None else kernel
        dilation = p.get("dilation", (1, 1))
        return kernel, stride, p["padding"], dilation

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        c, h, w = require_feature_map(self, shapes)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self._window(p)
        if ph * 2 > kh or pw * 2 > kw:
            raise OpError(f"padding {ph}x{pw} must be at most half the kernel {kh}x{kw} (torch's rule for pooling)")
        oh = pool_out_size(h, kh, sh, ph, dh, p["ceil_mode"])
        ow = pool_out_size(w, kw, sw, pw, dw, p["ceil_mode"])
        if oh < 1 or ow < 1:
            raise OpError(
                f"spatial size shrinks to zero: input {h}x{w} with kernel {kh}x{kw}, stride {sh}x{sw} gives "
                f"{oh}x{ow}; use a larger input or less downsampling"
            )
        return (c, oh, ow)


class MaxPool2d(_Pool2d):
    """Max pooling (``torch.nn.MaxPool2d``). ``(C, H, W) -> (C, H', W')``; ``stride`` defaults to the kernel."""

    name = "max_pool2d"
    params = (
        ParamDecl("kernel_size", "int_or_pair", min=1),
        ParamDecl("stride", "int_or_pair", default=None, min=1),
        ParamDecl("padding", "int_or_pair", default=0, min=0),
        ParamDecl("dilation", "int_or_pair", default=1, min=1),
        ParamDecl("ceil_mode", "bool", default=False),
    )

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        kernel, stride, padding, dilation = self._window(p)
        return nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=p["ceil_mode"])


class AvgPool2d(_Pool2d):
    """Average pooling (``torch.nn.AvgPool2d``). ``(C, H, W) -> (C, H', W')``; ``stride`` defaults to the kernel."""

    name = "avg_pool2d"
    params = (
        ParamDecl("kernel_size", "int_or_pair", min=1),
        ParamDecl("stride", "int_or_pair", default=None, min=1),
        ParamDecl("padding", "int_or_pair", default=0, min=0),
        ParamDecl("ceil_mode", "bool", default=False),
        ParamDecl("count_include_pad", "bool", default=True),
    )

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        kernel, stride, padding, _ = self._window(p)
        return nn.AvgPool2d(kernel, stride, padding, ceil_mode=p["ceil_mode"], count_include_pad=p["count_include_pad"])


class _AdaptivePool2d(Op):
    params = (ParamDecl("output_size", "int_or_pair", min=1),)
    module_cls: type[nn.Module]

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        c, _, _ = require_feature_map(self, shapes)
        return (c, *p["output_size"])

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        return self.module_cls(p["output_size"])


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Adaptive average pooling (``torch.nn.AdaptiveAvgPool2d``). ``(C, H, W) -> (C, oh, ow)``."""

    name = "adaptive_avg_pool2d"
    module_cls = nn.AdaptiveAvgPool2d


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Adaptive max pooling (``torch.nn.AdaptiveMaxPool2d``). ``(C, H, W) -> (C, oh, ow)``."""

    name = "adaptive_max_pool2d"
    module_cls = nn.AdaptiveMaxPool2d


class GlobalPool(Op):
    """Global average or max pooling over H and W: ``x.mean((2, 3), keepdim)`` / ``x.amax((2, 3), keepdim)``.
    ``(C, H, W) -> (C, 1, 1)`` (``keepdim``) or ``(C,)``. The squeeze of squeeze-and-excitation.
    """

    name = "global_pool"
    params = (
        ParamDecl("mode", "str", default="avg", choices=("avg", "max")),
        ParamDecl("keepdim", "bool", default=True),
    )

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        c, _, _ = require_feature_map(self, shapes)
        return (c, 1, 1) if p["keepdim"] else (c,)

    def emit(self, graph: fx.Graph, args: list[fx.Node], p: Params, name: str) -> fx.Node:
        fn = torch.mean if p["mode"] == "avg" else torch.amax
        return emit_call(graph, fn, (args[0], (2, 3)), {"keepdim": p["keepdim"]}, name)
