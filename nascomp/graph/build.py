"""``build``: spec -> ``torch.nn.Module`` (a torch.fx GraphModule with straight-line forward code)."""

from __future__ import annotations

import os
import re
from typing import Any

from torch import fx

from nascomp.graph.compile import compile_expansion
from nascomp.graph.expander import Expansion, expand_nodes
from nascomp.errors import SpecError
from nascomp.spec.load import SpecSource, load_spec
from nascomp.spec.model import Spec

__all__ = ["build", "expand_spec"]


def expand_spec(spec: Spec) -> Expansion:
    """Validate ``spec`` and infer every shape and cost, without allocating anything.

    Raises:
        SpecError: any invalid id, reference, type, parameter or shape.
    """
    return expand_nodes(
        spec.nodes, spec.output, spec.input_shape, spec.params, spec.library, spec.file, aux_outputs=spec.aux_outputs
    )


def build(source: SpecSource, **overrides: Any) -> fx.GraphModule:
    """Build a module from a spec.

    Args:
        source: A :class:`Spec`, a spec file path, a zoo name (``"resnet50"``) or YAML text.
        **overrides: Spec ``params`` to override (``num_classes=2``) and/or ``input_shape=(C, H, W)``.

    Returns:
        A ``torch.fx.GraphModule``: ``(N, *spec.input_shape) -> (N, *output_shape)``. Its module names (and so
        its ``state_dict`` keys) are the spec's ids. Freshly initialised with torch's default initialisation.
        A spec with ``aux_outputs`` returns, in training mode only, the tuple ``(output, *aux_outputs)``.

    Raises:
        SpecError: the spec is invalid (nothing is allocated in that case), or its weights cannot be allocated.

    Example:
        >>> model = build("resnet18", num_classes=10)
        >>> model(torch.randn(1, 3, 224, 224)).shape
        torch.Size([1, 10])
    """
    spec = load_spec(source, **overrides)
    expansion = expand_spec(spec)
    class_name = re.sub(r"\W", "_", spec.name)
    if not class_name or class_name[0].isdigit():
        class_name = "Net_" + class_name
    _check_allocatable(spec, expansion)
    try:
        return compile_expansion(expansion, class_name=class_name)
    except (MemoryError, RuntimeError) as exc:  # torch's allocator reports out-of-memory as RuntimeError
        if isinstance(exc, RuntimeError) and "memory" not in str(exc).lower() and "alloc" not in str(exc).lower():
            raise
        raise SpecError(
            f"cannot allocate the weights of '{spec.name}': {expansion.params:,} params "
            f"({expansion.params * 4 / 2**30:.1f} GiB in float32) ({str(exc).splitlines()[0]})",
            file=spec.file,
        ) from None


def _physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not available on this platform
        return None


def _check_allocatable(spec: Spec, expansion: Expansion) -> None:
    """Refuse, before allocating, weights larger than this machine's memory (a typo such as ``out_channels: 1e11``
    would otherwise end in the allocator's traceback or the kernel's OOM killer)."""
    need = expansion.params * 4  # float32
    have = _physical_memory_bytes()
    if have is not None and need > have:
        raise SpecError(
            f"'{spec.name}' has {expansion.params:,} params: {need / 2**30:,.1f} GiB of float32 weights, more than "
            f"this machine's {have / 2**30:,.1f} GiB of memory; check the channel counts (nascomp.profile gives the "
            f"cost without allocating)",
            file=spec.file,
        )
