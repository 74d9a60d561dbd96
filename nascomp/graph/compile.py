"""Compile an :class:`~nascomp.graph.expand.Expansion` into a ``torch.fx.GraphModule``.

The generated ``forward`` is straight-line code (one statement per op, no interpretation of the graph per call),
so the module works with ``torch.fx.symbolic_trace``, ``torch.compile`` and ``torch.onnx.export``. Module names
follow the spec's ids, so ``state_dict`` keys are set by the spec (``layer1.0.conv1.weight``).
"""

from __future__ import annotations

from torch import fx, nn

from nascomp.graph.expand import INPUT, Expansion, PrimNode, Sub

__all__ = ["compile_expansion", "Scope"]


class Scope(nn.Module):
    """Container for the modules of one group, block instance or repetition (its ``forward`` is the parent's code).

    Attributes:
        kind: The block name, ``group`` or ``repeat``.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def extra_repr(self) -> str:
        return f"kind={self.kind}"

    def forward(self, *args):  # pragma: no cover - scopes are run through the parent's generated code
        raise RuntimeError("a Scope has no forward of its own; call the compiled model")


def _populate(container: nn.Module, expansion: Expansion, graph: fx.Graph, env: dict[str, fx.Node], prefix: str, input_ref: str) -> None:
    for item in expansion.items:
        if isinstance(item, PrimNode):
            qualified = f"{prefix}.{item.name}" if prefix else item.name
            args = [env[_q(ref, prefix, input_ref)] for ref in item.inputs]
            module = item.op.module(item.params, list(item.in_shapes))
            if module is not None:
                container.add_module(item.name, module)
                env[qualified] = graph.call_module(qualified, tuple(args))
            else:
                env[qualified] = item.op.emit(graph, args, item.params, qualified.replace(".", "_"))
        else:
            assert isinstance(item, Sub)
            qualified = f"{prefix}.{item.prefix}" if prefix else item.prefix
            scope = Scope(item.kind)
            container.add_module(item.prefix, scope)
            _populate(scope, item.expansion, graph, env, qualified, _q(item.input, prefix, input_ref))


def _q(ref: str, prefix: str, input_ref: str) -> str:
    if ref == INPUT:
        return input_ref
    return f"{prefix}.{ref}" if prefix else ref


def compile_expansion(expansion: Expansion, class_name: str = "Net") -> fx.GraphModule:
    """Build the modules of ``expansion`` and a GraphModule whose forward runs them.

    ``(N, *input_shape) -> (N, *expansion.out_shape)``.
    """
    graph = fx.Graph()
    root = nn.Module()
    env: dict[str, fx.Node] = {"<input>": graph.placeholder("x")}
    _populate(root, expansion, graph, env, "", "<input>")
    graph.output(env[_q(expansion.output, "", "<input>")])
    graph.lint()
    module = fx.GraphModule(root, graph, class_name=class_name)
    for name, child in root.named_children():  # keep the typed containers (GraphModule copies plain ones)
        setattr(module, name, child)
    return module
