"""nascomp makes idle OpenMP threads sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose.

Why (docs/search.md, measured): on a 2-core machine shared with two CPU-bound processes, spinning threads made a
training step 2.7x slower than passive ones. libgomp reads the variable once, when torch loads it, so nascomp must set
it on import, before its own first ``import torch``.
"""

from __future__ import annotations

import os
import subprocess
import sys

# `import nascomp` alone no longer loads torch (issue 22: `nascomp --help` must not); any nascomp module that needs
# torch runs nascomp/__init__.py first, so the variable is set before torch loads whichever module comes first.
PROBE = ("import os, sys; import nascomp.graph.build; "
         "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")


def _run(env_value: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_value is not None:
        env["OMP_WAIT_POLICY"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_passive_by_default_and_set_before_torch_loads():
    # torch is loaded by nascomp.graph.build, after nascomp/__init__.py set the variable libgomp reads at that load
    assert _run(None) == ["PASSIVE", "True"]


def test_users_choice_is_kept():
    assert _run("ACTIVE") == ["ACTIVE", "True"]
