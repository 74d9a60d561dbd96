"""``conv2d``: 2-D convolution (``torch.nn.Conv2d``), with its shape and cost rules."""

from __future__ import annotations

from torch import nn

from nascomp.ops.base import Op, OpError, Params, Shape, require_feature_map
from nascomp.spec.params import ParamDecl

__all__ = ["Conv2d", "conv_out_size"]


def conv_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """``floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1`` (torch's rule)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class Conv2d(Op):
    """2-D convolution. ``(C_in, H, W) -> (out_channels, H', W')`` with
    ``H' = floor((H + 2p - d(k-1) - 1) / s) + 1`` per axis.

    MACs: ``out_channels * (C_in / groups) * kh * kw * H' * W'`` (bias excluded, as FlopCounterMode).
    Params: ``out_channels * (C_in / groups) * kh * kw`` (+ ``out_channels`` with bias).
    """

    name = "conv2d"
    params = (
        ParamDecl("out_channels", "int", min=1, doc="output channels"),
        ParamDecl("kernel_size", "int_or_pair", min=1, doc="kernel size (k or [kh, kw])"),
        ParamDecl("stride", "int_or_pair", default=1, min=1),
        ParamDecl("padding", "int_or_pair", default=0, min=0),
        ParamDecl("dilation", "int_or_pair", default=1, min=1),
        ParamDecl("groups", "int", default=1, min=1, doc="channel groups (cardinality); in and out must divide"),
        ParamDecl("bias", "bool", default=True),
    )

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        c, h, w = require_feature_map(self, shapes)
        g = p["groups"]
        if c % g:
            raise OpError(f"groups={g} does not divide in_channels={c}; use a divisor of {c}")
        if p["out_channels"] % g:
            raise OpError(f"groups={g} does not divide out_channels={p['out_channels']}; use a multiple of {g}")
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = p["kernel_size"], p["stride"], p["padding"], p["dilation"]
        oh, ow = conv_out_size(h, kh, sh, ph, dh), conv_out_size(w, kw, sw, pw, dw)
        if oh < 1 or ow < 1:
            raise OpError(
                f"spatial size shrinks to zero: input {h}x{w} with kernel {kh}x{kw}, stride {sh}x{sw}, padding "
                f"{ph}x{pw}, dilation {dh}x{dw} gives {oh}x{ow}; use a larger input or less downsampling"
            )
        return (p["out_channels"], oh, ow)

    def macs(self, p: Params, shapes: list[Shape], out: Shape) -> int:
        kh, kw = p["kernel_size"]
        return out[0] * (shapes[0][0] // p["groups"]) * kh * kw * out[1] * out[2]

    def num_params(self, p: Params, shapes: list[Shape]) -> int:
        kh, kw = p["kernel_size"]
        return p["out_channels"] * (shapes[0][0] // p["groups"]) * kh * kw + (p["out_channels"] if p["bias"] else 0)

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        return nn.Conv2d(
            shapes[0][0],
            p["out_channels"],
            p["kernel_size"],
            stride=p["stride"],
            padding=p["padding"],
            dilation=p["dilation"],
            groups=p["groups"],
            bias=p["bias"],
        )
