"""Compile an :class:`~nascomp.graph.expansion_tree.Expansion` into a ``torch.fx.GraphModule``.

The generated ``forward`` is straight-line code (one statement per op, no interpretation of the graph per call),
so the module works with ``torch.fx.symbolic_trace``, ``torch.compile`` and ``torch.onnx.export``. Module names
follow the spec's ids, so ``state_dict`` keys are set by the spec (``layer1.0.conv1.weight``).

A spec with training-only ``aux_outputs`` gets two generated forwards over the same modules: in eval mode only
the nodes the main output needs run; in training mode the module returns ``(output, *aux_outputs)``.
"""

from __future__ import annotations

import operator

from torch import fx, nn

from nascomp.graph.expansion_tree import Expansion, PrimNode, needed_nodes, qualify

__all__ = ["compile_expansion", "Scope"]

_INPUT_NAME = "<input>"


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


def _make_modules(container: nn.Module, expansion: Expansion, modules: dict[str, nn.Module], prefix: str) -> None:
    """Create every module once, in a hierarchy of :class:`Scope` containers named by the spec's ids."""
    for item in expansion.items:
        if isinstance(item, PrimNode):
            module = item.op.module(item.params, list(item.in_shapes))
            if module is not None:
                container.add_module(item.name, module)
                modules[qualify(item.name, prefix, _INPUT_NAME)] = module
        else:
            scope = Scope(item.label)
            container.add_module(item.prefix, scope)
            _make_modules(scope, item.expansion, modules, qualify(item.prefix, prefix, _INPUT_NAME))


def _emit(nodes: list[PrimNode], modules: dict[str, nn.Module], outputs: list[str]) -> fx.Graph:
    graph = fx.Graph()
    env: dict[str, fx.Node] = {_INPUT_NAME: graph.placeholder("x")}
    for node in nodes:
        args = [env[ref] for ref in node.inputs]
        if node.name in modules:
            env[node.name] = graph.call_module(node.name, tuple(args))
        else:
            env[node.name] = node.op.emit(graph, args, node.params, node.name.replace(".", "_"))
    values = [env[o] for o in outputs]
    graph.output(values[0] if len(values) == 1 else tuple(values))
    graph.lint()
    return graph


# Ops whose backward needs their inputs but not their output, so a ReLU may overwrite that output in place.
_INPLACE_SAFE_MODULES = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
_INPLACE_SAFE_FUNCTIONS = (operator.add,)


def _inplace_relus(module: nn.Module, graphs: list[fx.Graph]) -> None:
    """Make a ReLU in-place where that cannot change any result: its input comes from a conv, BatchNorm, linear
    or add that nothing else reads, in every generated forward (as torchvision's ``ReLU(inplace=True)``)."""
    verdict: dict[str, bool] = {}
    for graph in graphs:
        for node in graph.nodes:
            if node.op != "call_module" or not isinstance(module.get_submodule(node.target), nn.ReLU):
                continue
            (src,) = node.args
            safe = len(src.users) == 1 and (
                (src.op == "call_module" and isinstance(module.get_submodule(src.target), _INPLACE_SAFE_MODULES))
                or (src.op == "call_function" and src.target in _INPLACE_SAFE_FUNCTIONS)
            )
            verdict[node.target] = verdict.get(node.target, True) and safe
    for target, safe in verdict.items():
        if safe:
            module.get_submodule(target).inplace = True


def compile_expansion(expansion: Expansion, class_name: str = "Net") -> fx.GraphModule:
    """Build the modules of ``expansion`` and a GraphModule whose forward runs them.

    ``(N, *input_shape) -> (N, *expansion.out_shape)``; with ``aux_outputs``, in training mode,
    ``(output, *aux_outputs)``.
    """
    root = nn.Module()
    modules: dict[str, nn.Module] = {}
    _make_modules(root, expansion, modules, "")
    nodes = list(expansion.flatten("", _INPUT_NAME))
    output = expansion.qualified_output("", _INPUT_NAME)
    aux = [qualify(a, "", _INPUT_NAME) for a in expansion.aux_outputs]
    module = fx.GraphModule(root, _emit(needed_nodes(nodes, [output]) if aux else nodes, modules, [output]), class_name=class_name)
    for name, child in root.named_children():  # keep the typed containers, aux heads included
        setattr(module, name, child)
    graphs = [module.graph]
    if aux:
        train = fx.GraphModule(root, _emit(needed_nodes(nodes, [output, *aux]), modules, [output, *aux]), class_name=class_name)
        graphs.append(train.graph)
        eval_forward = type(module).forward
        train_forward = type(train).forward

        def forward(self, x):
            """Eval: ``output``; training: ``(output, *aux_outputs)`` (the auxiliary classifiers)."""
            return train_forward(self, x) if self.training else eval_forward(self, x)

        type(module).forward = forward
    _inplace_relus(module, graphs)
    return module
