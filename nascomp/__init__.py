"""nascomp: declare CNNs as YAML graphs of blocks, know their exact cost, reproduce the classic nets, and search
for a better one under a compute budget.

Costs are MACs (multiply-accumulates of conv, linear and matmul ops; ``FlopCounterMode`` FLOPs / 2), the figure
torchvision's model cards print as "GFLOPS".
"""

import os as _os

# OpenMP threads that spin while waiting (libgomp's default) collapse on a shared machine: measured on 2 cores with
# two other CPU-bound processes, a training step of a 4-GMACs-class net at 32x32 took 1.99 s with the default policy,
# 0.74 s with PASSIVE and 0.40 s on the idle machine (where PASSIVE costs nothing measurable); see docs/search.md.
# libgomp reads the variable when torch loads it, so this must come before the first ``import torch``; a value the
# user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nascomp.cost.budget import format_macs, parse_budget  # noqa: E402
from nascomp.cost.profile import Profile, profile  # noqa: E402
from nascomp.cost.scale import ScaleResult, scale  # noqa: E402
from nascomp.errors import BudgetError, DataError, NascompError, SearchError, SpecError  # noqa: E402
from nascomp.graph.build import build  # noqa: E402
from nascomp.spec.load import load_spec  # noqa: E402
from nascomp.spec.model import Spec  # noqa: E402

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

