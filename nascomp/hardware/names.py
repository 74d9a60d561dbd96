"""Names of the hardware package that the command line needs for its help text, without importing torch."""

from __future__ import annotations

__all__ = ["CACHE_ENV", "MEMORY_OPTIMIZERS"]

#: Environment variable naming the folder of the latency lookup tables (default: the user's cache folder).
CACHE_ENV = "NASCOMP_LATENCY_CACHE"

#: Optimizers whose state the memory prediction knows: name -> optimizer-state bytes per parameter byte.
MEMORY_OPTIMIZERS = {"sgd": 1, "adamw": 2}
