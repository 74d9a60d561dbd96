"""Primitive ops: each has a shape rule, a cost rule and a module factory (see :mod:`nascomp.ops.base`).

:data:`OPS` is built once, explicitly, at import and never changed afterwards.
"""

from nascomp.ops.activation import ACTIVATIONS
from nascomp.ops.base import Op, OpError, Shape
from nascomp.ops.conv import Conv2d
from nascomp.ops.linear import Dropout, Flatten, Linear
from nascomp.ops.merge import Add, Concat, Mul
from nascomp.ops.norm import BatchNorm2d
from nascomp.ops.pool import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, GlobalPool, MaxPool2d
from nascomp.registry import Registry

__all__ = ["OPS", "Op", "OpError", "Shape", "op_registry"]


def op_registry() -> Registry[Op]:
    """Build the registry of primitive ops (explicit list; a duplicate name raises)."""
    registry: Registry[Op] = Registry("op")
    classes = (
        Conv2d, BatchNorm2d, *ACTIVATIONS, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, GlobalPool,
        Flatten, Linear, Dropout, Add, Mul, Concat,
    )
    for cls in classes:
        registry.register(cls.name, cls(), origin=f"{cls.__module__}.{cls.__qualname__}")
    return registry


OPS: Registry[Op] = op_registry()
