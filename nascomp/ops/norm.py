"""``batch_norm2d``: batch normalisation over channels (``torch.nn.BatchNorm2d``)."""

from __future__ import annotations

from torch import nn

from nascomp.ops.base import Op, Params, Shape, require_feature_map
from nascomp.spec.params import ParamDecl

__all__ = ["BatchNorm2d"]


class BatchNorm2d(Op):
    """Batch normalisation (Ioffe & Szegedy, "Batch Normalization", arXiv:1502.03167).
    ``(C, H, W) -> (C, H, W)``. MACs 0 (not counted by FlopCounterMode). Params ``2*C`` when affine.
    """

    name = "batch_norm2d"
    params = (
        ParamDecl("eps", "float", default=1e-5, min=0),
        ParamDecl("momentum", "float", default=0.1, min=0, max=1),
        ParamDecl("affine", "bool", default=True),
    )

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        return require_feature_map(self, shapes)

    def num_params(self, p: Params, shapes: list[Shape]) -> int:
        return 2 * shapes[0][0] if p["affine"] else 0

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        return nn.BatchNorm2d(shapes[0][0], eps=p["eps"], momentum=p["momentum"], affine=p["affine"])
