"""nascomp: declare CNNs as YAML graphs of blocks, know their exact cost, reproduce the classic nets, and search
for a better one under a compute budget.

Costs are MACs (multiply-accumulates of conv, linear and matmul ops; ``FlopCounterMode`` FLOPs / 2), the figure
torchvision's model cards print as "GFLOPS".
"""

from nascomp.cost.budget import format_macs, parse_budget
from nascomp.cost.profile import Profile, profile
from nascomp.cost.scale import ScaleResult, scale
from nascomp.errors import BudgetError, DataError, NascompError, SearchError, SpecError
from nascomp.graph.build import build
from nascomp.spec.load import load_spec
from nascomp.spec.model import Spec

__all__ = [
    "load_spec",
    "build",
    "profile",
    "scale",
    "ScaleResult",
    "parse_budget",
    "format_macs",
    "Spec",
    "Profile",
    "NascompError",
    "SpecError",
    "BudgetError",
    "DataError",
    "SearchError",
]

__version__ = "0.1.0"

