"""Architecture search under a hard compute budget: YAML search spaces, study recipes, the Optuna loop, outputs."""

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
