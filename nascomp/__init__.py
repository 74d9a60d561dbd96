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

from nascomp._lazy import lazy_exports  # noqa: E402

# Imported on first use, so that ``import nascomp`` (and with it ``nascomp --help``) does not load torch.
__getattr__, __dir__ = lazy_exports(__name__, {
    "format_macs": "nascomp.cost.budget",
    "parse_budget": "nascomp.cost.budget",
    "Profile": "nascomp.cost.profile",
    "profile": "nascomp.cost.profile",
    "ScaleResult": "nascomp.cost.scale",
    "scale": "nascomp.search.space.points",  # cost.scale.scale plus search-space points (SPACE[:POINT])
    "BudgetError": "nascomp.errors",
    "DataError": "nascomp.errors",
    "NascompError": "nascomp.errors",
    "SearchError": "nascomp.errors",
    "SpecError": "nascomp.errors",
    "build": "nascomp.graph.build",
    "load_spec": "nascomp.spec.load",
    "Spec": "nascomp.spec.model",
})

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

