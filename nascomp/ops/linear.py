"""``linear``, ``flatten`` and ``dropout``."""

from __future__ import annotations

import math

from torch import nn

from nascomp.ops.base import Op, OpError, Params, Shape
from nascomp.spec.params import ParamDecl

__all__ = ["Linear", "Flatten", "Dropout"]


class Linear(Op):
    """Fully connected layer (``torch.nn.Linear``) on the last dimension: ``(*, F) -> (*, out_features)``.
    MACs ``prod(*) * F * out_features`` (bias excluded). Params ``F * out_features (+ out_features)``.
    """

    name = "linear"
    params = (
        ParamDecl("out_features", "int", min=1),
        ParamDecl("bias", "bool", default=True),
    )

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        shape = shapes[0]
        if len(shape) != 1:
            raise OpError(
                f"linear expects a flat (F,) input, found shape {shape}; put a flatten (or global_pool with "
                f"keepdim: false) before it"
            )
        return (*shape[:-1], p["out_features"])

    def macs(self, p: Params, shapes: list[Shape], out: Shape) -> int:
        return math.prod(shapes[0]) * p["out_features"]

    def num_params(self, p: Params, shapes: list[Shape]) -> int:
        return shapes[0][-1] * p["out_features"] + (p["out_features"] if p["bias"] else 0)

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        return nn.Linear(shapes[0][-1], p["out_features"], bias=p["bias"])


class Flatten(Op):
    """Flatten (``torch.nn.Flatten(start_dim)``); ``start_dim`` counts the batch as dim 0, as in torch.
    ``(C, H, W) -> (C*H*W,)`` for ``start_dim=1``.
    """

    name = "flatten"
    params = (ParamDecl("start_dim", "int", default=1, min=1),)

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        shape = shapes[0]
        k = p["start_dim"] - 1
        if k >= len(shape):
            raise OpError(f"start_dim={p['start_dim']} is beyond the input's {len(shape) + 1} dimensions")
        return (*shape[:k], math.prod(shape[k:]))

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        return nn.Flatten(p["start_dim"])


class Dropout(Op):
    """Dropout (``torch.nn.Dropout``): identity in eval mode. ``(*) -> (*)``."""

    name = "dropout"
    params = (ParamDecl("p", "float", default=0.5, min=0, max=1),)

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        return nn.Dropout(p["p"])
