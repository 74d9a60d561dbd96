"""Architecture search under a hard compute budget: YAML search spaces, study recipes, the Optuna loop, outputs.

At the top, the entry and what it is given: :mod:`~nascomp.search.study` (:func:`run_search`),
:mod:`~nascomp.search.recipe` (with :mod:`~nascomp.search.recipe_values` and
:mod:`~nascomp.search.study_identity`) and :mod:`~nascomp.search.resume` (create or resume a study). The rest
lives in four rooms, one per concern:

- :mod:`nascomp.search.space`: what to try (the space, the budget sampler, the census, the hardware gate);
- :mod:`nascomp.search.trials`: how trials run (the trial loop, the scheduler, saved states, the trial record);
- :mod:`nascomp.search.workers`: how workers share a study (storage, slots, the coordinator);
- :mod:`nascomp.search.outputs`: what comes out (the files, the console report, handover, retrain, fidelity).
"""

from nascomp.search.recipe import Recipe, load_recipe, recipe_names
from nascomp.search.space.search_space import Dimension, SearchSpace, load_space, space_names
from nascomp.search.study import SearchResult, run_search

__all__ = [
    "Dimension",
    "SearchSpace",
    "load_space",
    "space_names",
    "Recipe",
    "load_recipe",
    "recipe_names",
    "SearchResult",
    "run_search",
]
