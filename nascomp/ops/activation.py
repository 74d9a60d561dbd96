"""Elementwise activations and ``identity``: shape-preserving, no parameters, 0 MACs."""

from __future__ import annotations

from torch import nn

from nascomp.ops.base import Op, Params, Shape

__all__ = ["Activation", "ACTIVATIONS"]


class Activation(Op):
    """An elementwise activation ``(*) -> (*)``; the module is ``module_cls()``."""

    module_cls: type[nn.Module] = nn.Identity

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module:
        return self.module_cls()


def _activation(op_name: str, cls: type[nn.Module]) -> type[Activation]:
    return type(
        cls.__name__ + "Op",
        (Activation,),
        {"name": op_name, "module_cls": cls, "__doc__": f"``{op_name}``: ``torch.nn.{cls.__name__}``, (*) -> (*)."},
    )


ACTIVATIONS: tuple[type[Activation], ...] = (
    _activation("relu", nn.ReLU),
    _activation("relu6", nn.ReLU6),
    _activation("sigmoid", nn.Sigmoid),
    _activation("silu", nn.SiLU),
    _activation("gelu", nn.GELU),
    _activation("tanh", nn.Tanh),
    _activation("hardsigmoid", nn.Hardsigmoid),
    _activation("hardswish", nn.Hardswish),
    _activation("identity", nn.Identity),
)
