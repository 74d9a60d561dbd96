"""Search spaces: loading, domains, named points equal to the zoo, export of a point as a plain spec."""

import optuna
import pytest
import torch
import yaml

import nascomp
from nascomp.errors import SearchError, SpecError
from nascomp.search import load_space, space_names
from nascomp.search.space.sampler import BudgetSampler, minimize_cost
from nascomp.search.space.census import take_census
from nascomp.errors import BudgetError

from tests._search import TINY_BUDGET, TINY_FITTING, one_thread, tiny_macs, write_tiny_space  # noqa: F401 (fixture)

ZOO_POINTS = ("resnet50", "resnext50_32x4d", "se_resnet50", "se_resnext50_32x4d")


@pytest.fixture(scope="module")
def se_resnext():
    return load_space("se_resnext")


def test_builtin_spaces():
    assert {"se_resnext", "densenet"} <= set(space_names())


def test_se_resnext_dimensions(se_resnext):
    dims = se_resnext.dimensions
    # per-stage depth, per-stage width, cardinality (groups, width per group), SE on/off per stage
    assert [f"depth{i}" in dims and f"planes{i}" in dims and f"se{i}" in dims for i in range(1, 5)] == [True] * 4
    assert {"groups", "width_per_group"} <= set(dims)
    assert dims["se1"].values == [False, True]
    assert dims["depth3"].values == list(range(1, 10))


@pytest.mark.parametrize("name", ZOO_POINTS)
def test_zoo_nets_are_points_of_the_space(se_resnext, name):
    point = se_resnext.points[name]
    mine = se_resnext.cost(point, input_shape=(3, 224, 224), num_classes=1000)
    zoo = nascomp.profile(name)
    assert (mine.macs, mine.params) == (zoo.macs, zoo.params)
    # and the built module is the zoo's: same parameter names and shapes, same parameter count
    model = nascomp.build(se_resnext.spec(point))
    reference = nascomp.build(name)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    assert sum(p.numel() for p in model.parameters()) == zoo.params


def test_reference_figures(se_resnext):
    # torchvision 0.29 model cards / timm 1.0.31: resnet50 4.09 G, resnext50_32x4d 4.23 G (MACs, 1000 classes)
    costs = {n: se_resnext.cost(se_resnext.points[n], input_shape=(3, 224, 224), num_classes=1000) for n in ZOO_POINTS}
    assert costs["resnet50"].params == 25_557_032 and costs["resnet50"].macs == 4_089_184_256
    assert costs["resnext50_32x4d"].params == 25_028_904
    assert costs["se_resnext50_32x4d"].macs == 4_232_994_816


def test_export_rebuilds_exactly(se_resnext, tmp_path):
    point = {**se_resnext.points["se_resnext50_32x4d"], "depth3": 2, "planes4": 384, "se2": False}
    spec = se_resnext.export(point, name="found", doc="test", input_shape=(3, 160, 160), num_classes=7)
    path = tmp_path / "found net.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    rebuilt = nascomp.profile(str(path))
    expected = se_resnext.cost(point, input_shape=(3, 160, 160), num_classes=7)
    assert (rebuilt.macs, rebuilt.params) == (expected.macs, expected.params)
    model = nascomp.build(str(path))
    assert model(torch.randn(1, 3, 160, 160)).shape == (1, 7)


def test_tiny_space_costs(tmp_path):
    space = load_space(write_tiny_space(tmp_path))
    assert space.size == 9
    for width in (4, 8, 16):
        for depth in (1, 2, 3):
            macs = space.cost({"width": width, "depth": depth}, input_shape=(3, 16, 16), num_classes=10).macs
            assert macs == tiny_macs(width, depth)
            assert (macs <= TINY_BUDGET) == ((width, depth) in TINY_FITTING)


def test_unknown_space_lists_builtins():
    with pytest.raises(SearchError, match=r"unknown search space 'se_resnxt'; did you mean 'se_resnext'\?.*densenet"):
        load_space("se_resnxt")


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda t: t.replace("  depth: {low: 1, high: 3}", "  depth: {low: 3, high: 1}"), "low <= high"),
        (lambda t: t.replace("  depth: {low: 1, high: 3}", "  depht: {low: 1, high: 3}"), "dimension 'depht' is not a param"),
        (lambda t: t.replace("  width: {choices: [4, 8, 16]}", "  width: {choices: []}"), "non-empty list"),
        (lambda t: t.replace("small: {width: 4, depth: 1}", "small: {width: 5, depth: 1}"), "width=5 is outside"),
        (lambda t: t.replace("dimensions:", "dimension:"), "unknown key 'dimension'"),
    ],
)
def test_malformed_spaces_name_file_and_line(tmp_path, edit, fragment):
    path = write_tiny_space(tmp_path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(SpecError) as info:
        load_space(path)
    assert fragment in str(info.value) and "tiny space.yaml:" in str(info.value)


def test_budget_sampler_only_proposes_fitting_points(tmp_path):
    space = load_space(write_tiny_space(tmp_path))
    cost = lambda p: space.cost(p, input_shape=(3, 16, 16), num_classes=10).macs  # noqa: E731
    sampler = BudgetSampler(optuna.samplers.RandomSampler(seed=0), space, cost, TINY_BUDGET)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    seen, draws = [], 0
    for _ in range(4):
        trial = study.ask()
        point = space.suggest(trial)
        draws += sampler.draw_stats(trial.number).draws
        seen.append((point["width"], point["depth"]))
        study.tell(trial, 0.5)
    # four distinct fitting points: over-budget draws and repeats were screened out before any trial existed
    assert set(seen) == TINY_FITTING
    assert draws > 4 and len(study.trials) == 4


def test_budget_sampler_repairs_when_draws_miss(tmp_path):
    space = load_space(write_tiny_space(tmp_path))
    cost = lambda p: space.cost(p, input_shape=(3, 16, 16), num_classes=10).macs  # noqa: E731
    base = optuna.samplers.TPESampler(seed=0)
    sampler = BudgetSampler(base, space, cost, tiny_macs(4, 1), max_draws=1)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    found = set()
    for _ in range(3):
        trial = study.ask()
        found.add(tuple(space.suggest(trial).values()))
        study.tell(trial, 0.1)
    assert found == {(4, 1)}


def test_minimize_cost_finds_the_cheapest(tmp_path):
    space = load_space(write_tiny_space(tmp_path))
    cost = lambda p: space.cost(p, input_shape=(3, 16, 16), num_classes=10).macs  # noqa: E731
    point, macs = minimize_cost(space, {"width": 16, "depth": 3}, cost, gentle=False)
    assert point == {"width": 4, "depth": 1} and macs == tiny_macs(4, 1)


def test_census_counts_and_impossible_budget(tmp_path):
    space = load_space(write_tiny_space(tmp_path))
    cost = lambda p: space.cost(p, input_shape=(3, 16, 16), num_classes=10)  # noqa: E731
    census = take_census(space, cost, TINY_BUDGET, samples=200, seed=0)
    assert census.sampled == 200 and 50 < census.fitting < 130  # 4 of 9 points fit
    assert all(m <= TINY_BUDGET for m in census.fitting_macs)
    assert census.named == {"small": tiny_macs(4, 1)}
    with pytest.raises(BudgetError, match=r"no architecture of space 'tiny' fits .* cheapest found costs 64.6 KMACs \(width=4, depth=1\)"):
        take_census(space, cost, 60_000, samples=0, seed=0)


@pytest.mark.parametrize("name", ["densenet121", "densenet169", "densenet201", "densenet161"])
def test_densenet_space_holds_the_zoo(name):
    space = load_space("densenet")
    mine = space.cost(space.points[name], input_shape=(3, 224, 224), num_classes=1000)
    zoo = nascomp.profile(name)
    assert (mine.macs, mine.params) == (zoo.macs, zoo.params)


def test_densenet_point_builds_like_the_zoo():
    space = load_space("densenet")
    model = nascomp.build(space.spec(space.points["densenet121"]))
    reference = nascomp.build("densenet121")
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}


def test_builtin_recipes_load_and_fit_their_space():
    from nascomp.search import load_recipe, recipe_names

    assert {"default", "densenet_pareto"} <= set(recipe_names())
    for name in recipe_names():
        recipe = load_recipe(name)
        space = load_space(recipe.space)
        census = take_census(space, lambda p: space.cost(p, input_shape=recipe.input_shape, num_classes=10),
                             recipe.budget, samples=20, seed=0)
        assert census.cheapest is not None and census.cheapest[1] <= recipe.budget, name
    default = load_recipe()
    assert default.budget == 4_000_000_000 and default.input_shape == (3, 224, 224)
    assert default.data.source == "fashion-mnist" and default.train.label_smoothing == 0.1
    assert default.search.pruner == "sha" and default.train.data_fractions == (0.1111, 0.3333, 1.0)


def test_recipe_errors(tmp_path):
    from nascomp.search import load_recipe

    bad = tmp_path / "bad recipe.yaml"
    bad.write_text("space: se_resnext\ntrain: {epoch: 3}\n")
    with pytest.raises(SearchError, match=r"bad recipe.yaml:2: unknown recipe key 'train.epoch'; did you mean 'train.epochs'"):
        load_recipe(bad)
    bad.write_text("budget: 4 bananas\n")
    with pytest.raises(SearchError, match=r"bad recipe.yaml: cannot read budget '4 bananas'"):
        load_recipe(bad)
    with pytest.raises(SearchError, match="unknown sampler 'cmaes'"):
        load_recipe().with_overrides(sampler="cmaes")


def test_dimension_types_describe_domains_as_stored_studies_do():
    """Study identities compare ``describe()`` text written by earlier versions: it must not change."""
    from nascomp.search.space.search_space import Choice, IntRange

    assert IntRange("d", 1, 4).describe() == "1..4"
    assert IntRange("d", 1, 7, 2).describe() == "1..7 step 2"
    assert Choice("p", (32, 48, 64)).describe() == "{32, 48, 64}"
    assert Choice("se", (False, True)).describe() == "{false, true}"
    assert not Choice("se", (False, True)).contains(1) and not IntRange("d", 1, 4).contains(True)


def test_a_loaded_space_is_not_mutated_after_construction():
    import dataclasses

    space = load_space("se_resnext")
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.points = {}  # type: ignore[misc]
    assert set(space.points) >= {"resnet50"}
