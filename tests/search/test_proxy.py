"""Issue 22, item 1: every candidate is checked at the proxy resolution before training (census, sampler, gate);
a space no point of which can be built there is refused with the node and the smallest image size that works
(reference: torch's own layers at those sizes); a study whose every trial failed exits 3, not 0."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch
import torchvision
from optuna.trial import TrialState

from tests._cli import assert_one_line_error, run_cli
from tests._search import tiny_recipe
from nascomp.errors import SearchError
from nascomp.search import run_search
from nascomp.search.space.census import take_census
from nascomp.search.trials.outcome import EXIT_ALL_FAILED, all_failed
from nascomp.search.space.proxy_resolution import ProxyResolution, ProxyResolutionError
from nascomp.search.space.search_space import load_space

ENV = {"OMP_NUM_THREADS": "1", "COLUMNS": "160"}

# `pools` 2x2/2 max-pools after a 3x3 conv: at 4x4 pixels, 0-2 pools work and 3-4 shrink the image to zero.
POOLS_SPACE = """\
name: pools
doc: A test space whose number of 2x2 max-pools decides the smallest image it can be built at.
dimensions:
  width: {choices: [4, 8]}
  pools: {low: LOW, high: 4}
architecture:
  name: pools
  input_shape: [3, 16, 16]
  params: {num_classes: 10, width: 4, pools: 4}
  nodes:
    - {id: stem, type: conv_bn_act, out_channels: "${width}", kernel_size: 3, padding: 1}
    - {id: down, type: max_pool2d, repeat: "${pools}", kernel_size: 2, stride: 2}
    - {id: pool, type: adaptive_avg_pool2d, output_size: 1}
    - {id: flatten, type: flatten}
    - {id: fc, type: linear, out_features: "${num_classes}"}
"""


def _pools_space(tmp_path, low: int = 0):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "pools space.yaml"
    path.write_text(POOLS_SPACE.replace("LOW", str(low)), encoding="utf-8")
    return path


def _torch_builds(pools: int, size: int) -> bool:
    """Reference: torch's own MaxPool2d chain on a (1, 4, size, size) tensor."""
    x = torch.zeros(1, 4, size, size)
    try:
        for _ in range(pools):
            x = torch.nn.functional.max_pool2d(x, 2, 2)
    except RuntimeError:
        return False
    return x.shape[-1] > 0


def test_the_smallest_size_is_the_one_torch_can_run(tmp_path):
    space = load_space(_pools_space(tmp_path))
    proxy = ProxyResolution(space, channels=3, image_size=4, num_classes=10)
    for pools in range(5):
        point = {"width": 4, "pools": pools}
        expected = next(s for s in range(1, 64) if _torch_builds(pools, s))
        assert proxy.smallest_size([point]) == expected  # 1, 2, 4, 8, 16
        assert proxy.works(point) == _torch_builds(pools, 4)
    with pytest.raises(ProxyResolutionError, match=r"node 'down\.2': cannot train at the proxy resolution 4x4"):
        proxy.check({"width": 8, "pools": 3})


def test_densenet_at_28_pixels_is_refused_with_the_node_and_torchvisions_smallest_size(tmp_path):
    """The issue's repro: `--space densenet` at the default 28x28. torchvision's densenet121 fails at 28 and runs at
    the size the message gives."""
    model = torchvision.models.densenet121(num_classes=10).eval()
    with torch.no_grad():
        with pytest.raises(RuntimeError):
            model(torch.zeros(1, 3, 28, 28))
        assert model(torch.zeros(1, 3, 29, 29)).shape == (1, 10)
    result = run_cli("search", "--budget", "4GFLOPs", "--space", "densenet", "--data", "digits", "--census", "20",
                     "--out", "out dir", cwd=tmp_path, env=ENV)
    line = assert_one_line_error(result, "search space 'densenet' cannot train at the proxy resolution 28x28",
                                 "node 'features.transition3.pool'", "spatial size shrinks to zero",
                                 "use --image-size 29 or more")
    assert "densenet.yaml:" in line  # file:line of the failing node
    assert not (tmp_path / "out dir").exists()


def test_census_counts_the_points_that_cannot_train_and_refuses_when_none_can(tmp_path):
    space = load_space(_pools_space(tmp_path))
    proxy = ProxyResolution(space, channels=3, image_size=4, num_classes=10)

    def cost(point):
        return space.cost(point, input_shape=(3, 16, 16), num_classes=10)

    census = take_census(space, cost, 10**9, samples=30, seed=0, proxy=proxy)
    rng = np.random.RandomState(0)  # the census's own seeded draws, counted by hand: 3 or 4 pools fail at 4x4
    expected = sum(space.random_point(rng)["pools"] >= 3 for _ in range(30))
    assert 0 < census.proxy_failed == expected and census.fitting == 30 - expected
    assert census.named_proxy_failed == ()  # the space has no named points
    refused = load_space(_pools_space(tmp_path / "high", low=3))
    with pytest.raises(SearchError, match=r"none of its 10 sampled point\(s\) that fit the budget can be built there .*node 'down\.2'"
                                          r".*smallest image size at which all 10 checked points can be built is 16"):
        take_census(refused, lambda p: refused.cost(p, input_shape=(3, 16, 16), num_classes=10), 10**9,
                    samples=10, seed=0, proxy=ProxyResolution(refused, 3, 4, 10))


def test_the_sampler_redraws_and_the_gate_fails_a_point_that_cannot_be_built_at_the_proxy(tmp_path, capsys):
    def recipe(trials: int):
        return tiny_recipe(tmp_path, space=str(_pools_space(tmp_path)), budget=10**9, image_size=4, trials=trials,
                           sampler="random")

    result = run_search(recipe(3))
    assert "cannot train at 4x4" in capsys.readouterr().out  # the census table's row, with the node
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert all(t.params["pools"] <= 2 for t in study.trials)  # 3 and 4 pools shrink 4x4 to zero: drawn again
    study.enqueue_trial({"width": 4, "pools": 4})  # a point that bypasses the sampler reaches the gate
    run_search(recipe(4))
    gated = optuna.load_study(study_name=result.study_name, storage=result.storage).trials[3]
    assert gated.state == TrialState.FAIL and gated.params == {"width": 4, "pools": 4}
    assert gated.user_attrs["reason"].startswith("invalid architecture: ")
    assert "node 'down.2': cannot train at the proxy resolution 4x4" in gated.user_attrs["reason"]
    assert "macs" not in gated.user_attrs  # failed before anything was built or trained


def _trial(state: TrialState, reason: str = "", interrupted: bool = False, number: int = 0):
    attrs = {"reason": reason} if reason else {}
    if interrupted:
        attrs["interrupted"] = True
    value = 0.5 if state == TrialState.COMPLETE else None
    trial = optuna.trial.create_trial(state=state, value=value, user_attrs=attrs,
                                      intermediate_values={1: 0.4} if state == TrialState.PRUNED else {})
    trial.number = number  # each its own architecture (a study counts an architecture once)
    return trial


def test_all_failed_names_the_shared_or_most_common_reason():
    same = [_trial(TrialState.FAIL, "TrainingDiverged: loss became nan", number=n) for n in range(3)]
    assert all_failed(same) == "all 3 trials of the study failed: TrainingDiverged: loss became nan"
    mixed = [*same[:2], _trial(TrialState.FAIL, "OutOfMemoryError: CUDA", number=3)]
    assert all_failed(mixed) == ("all 3 trials of the study failed, for 2 different reasons; the most common "
                                 "(2 of 3): TrainingDiverged: loss became nan")
    assert all_failed([*same, _trial(TrialState.PRUNED, "pruned", number=4)]) is None  # a pruned trial ranked its point
    assert all_failed([*same, _trial(TrialState.COMPLETE, number=5)]) is None
    assert all_failed([_trial(TrialState.FAIL, "time limit: stopped", interrupted=True)]) is None  # not counted
    assert all_failed([]) is None


def test_a_search_whose_every_trial_failed_exits_3_with_one_line(tmp_path):
    """A learning rate of 1e30 makes every trial diverge: the study has no result and the command says so."""
    space = _pools_space(tmp_path)
    recipe = tmp_path / "diverge.yaml"
    recipe.write_text(
        f"space: {space.name}\nbudget: 1GFLOPs\ninput_shape: [3, 16, 16]\n"
        "data: {source: digits, image_size: 8, val_fraction: 0.25, max_images: 300}\n"
        "train: {epochs: 1, batch_size: 64, lr: 1.0e+30, weight_decay: 0.0, label_smoothing: 0.0, optimizer: sgd}\n"
        "search: {sampler: random, pruner: none, objectives: [accuracy], trials: 2, seed: 0, census: 10}\n"
        "device: cpu\n", encoding="utf-8")
    result = run_cli("search", str(recipe), "--out", "out dir", cwd=tmp_path, env=ENV)
    assert result.returncode == EXIT_ALL_FAILED == 3, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("nascomp search: error: all 2 trials of the study failed: TrainingDiverged: ")
    assert "Next: train the winner" not in result.stdout and "No trial finished" in result.stdout
    assert (tmp_path / "out dir" / "trials.csv").is_file() and not (tmp_path / "out dir" / "best.yaml").exists()
