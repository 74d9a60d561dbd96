"""``build``: spec -> ``torch.nn.Module`` (a torch.fx GraphModule with straight-line forward code)."""

from __future__ import annotations

import re
from typing import Any

from torch import fx

from nascomp.graph.compile import compile_expansion
from nascomp.graph.expand import Expansion, expand_nodes
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
        SpecError: the spec is invalid; nothing is allocated in that case.

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
    return compile_expansion(expansion, class_name=class_name)
