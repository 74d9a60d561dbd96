"""Graph building: expansion with shape inference (:mod:`.expand`) and torch.fx compilation (:mod:`.compile`)."""

from nascomp.graph.build import build, expand_spec
from nascomp.graph.compile import Scope, compile_expansion
from nascomp.graph.expander import INPUT, Expansion, PrimNode, Sub

__all__ = ["build", "expand_spec", "compile_expansion", "Scope", "Expansion", "PrimNode", "Sub", "INPUT"]
