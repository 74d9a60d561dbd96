"""One source of search defaults: the recipe dataclasses' defaults are ``studies/default.yaml``, field by field.

The reference is the default recipe file, read with PyYAML's safe loader (not nascomp's reader); its unit-bearing
text (``4GFLOPs``, ``9m``) is converted by the cost and recipe value parsers, which have their own tests.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from pathlib import Path

import yaml

import nascomp.search.recipe as recipe_module
from nascomp.cost.budget import parse_budget
from nascomp.search.recipe import Recipe, load_recipe
from nascomp.search.recipe_values import parse_duration

DEFAULT_YAML = Path(recipe_module.__file__).resolve().parents[2] / "studies" / "default.yaml"
SECTIONS = ("data", "train", "search", "latency")


def _expected(key: str, value):
    """A value of the YAML file in the form the dataclass holds."""
    if key == "budget":
        return parse_budget(value)
    if key == "timeout":
        return parse_duration(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def test_every_field_of_the_default_recipe_file_is_the_dataclass_default():
    raw = yaml.safe_load(DEFAULT_YAML.read_text())
    defaults = Recipe()
    checked = 0
    for key, value in raw.items():
        if key == "doc":
            continue
        if key in SECTIONS:
            section = getattr(defaults, key)
            for field, field_value in value.items():
                assert getattr(section, field) == _expected(field, field_value), f"{key}.{field}"
                checked += 1
        else:
            assert getattr(defaults, key) == _expected(key, value), key
            checked += 1
    # the file states the schedule the default study runs: 4 top-level values (space, budget, input_shape,
    # device) and 20 section fields
    assert checked == 24
    assert defaults.search.pruner == "sha" and defaults.search.trials == 24 and defaults.search.timeout == 540.0
    assert defaults.data.source == "fashion-mnist" and defaults.data.image_size == 28


def test_loading_the_default_recipe_gives_the_dataclass_defaults_exactly():
    loaded = load_recipe()
    assert loaded == Recipe(source=loaded.source)
    assert Path(loaded.source).resolve() == DEFAULT_YAML


def test_the_module_docstring_layout_is_the_default_recipe(tmp_path):
    """The YAML layout the recipe module's docstring shows, loaded as a recipe, is the default recipe."""
    doc = inspect.getdoc(recipe_module)
    block = doc.split("Layout, with every default::\n", 1)[1]
    layout = textwrap.dedent("".join(line + "\n" for line in block.splitlines()))
    assert yaml.safe_load(layout)["search"]["trials"] == 24  # the block is YAML, read by the safe loader
    path = tmp_path / "layout.yaml"
    path.write_text(layout)
    assert load_recipe(path) == Recipe(source=str(path))


def test_a_key_a_recipe_leaves_out_takes_the_default_recipe_value(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("space: densenet\nbudget: 3GFLOPs\ntrain: {lr: 0.01}\nsearch: {trials: 5}\n")
    recipe = load_recipe(path)
    assert recipe.data == Recipe().data
    assert (recipe.search.trials, recipe.search.pruner, recipe.search.timeout) == (5, "sha", 540.0)
    # a train section that keeps the default three epochs keeps the default shares
    assert recipe.train.lr == 0.01
    assert recipe.train.data_fractions == (0.1111, 0.3333, 1.0) and recipe.train.val_fractions == (0.3333, 1.0, 1.0)


def test_a_train_section_with_its_own_epochs_has_no_default_shares(tmp_path):
    path = tmp_path / "own_schedule.yaml"
    path.write_text("train: {epochs: 3, batch_size: 32}\n")
    train = load_recipe(path).train
    assert (train.epochs, train.batch_size, train.data_fractions, train.val_fractions) == (3, 32, None, None)
    path.write_text("train: {epochs: 2, data_fractions: [0.5, 1.0]}\n")
    train = load_recipe(path).train
    assert (train.data_fractions, train.val_fractions) == ((0.5, 1.0), None)


def test_the_pareto_recipe_states_what_it_ran_with_before_the_defaults_moved():
    """densenet_pareto.yaml ran on all of digits, 3 full epochs: it says so itself, not through a default."""
    recipe = load_recipe("densenet_pareto")
    assert (recipe.data.source, recipe.data.max_images, recipe.data.val_fraction) == ("digits", None, 0.2)
    assert (recipe.train.epochs, recipe.train.data_fractions, recipe.train.val_fractions) == (3, None, None)
    assert dataclasses.asdict(recipe.search)["objectives"] == ("accuracy", "macs")


def test_the_search_help_states_the_dataclass_defaults():
    """``nascomp search --help`` names its defaults in text (the CLI does not import torch to build its parser);
    they are the recipe defaults."""
    from tests._cli import run_cli

    result = run_cli("search", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps lines
    d = Recipe()
    shape = "x".join(map(str, d.input_shape))
    for fragment in (f"{d.data.source}[:DIR] (default)", f"(default {d.search.trials})",
                     f"(default {d.train.epochs},", f"(default {d.data.image_size})", f"{d.search.sampler} (default)",
                     f"{d.search.pruner} (default:", f"(default {d.search.census})", f"(default {shape})",
                     f"(default {d.data.split_seed};", f"{d.search.objectives[0]} (default)"):
        assert fragment in text, fragment
