"""After a search: ``baseline.yaml`` (the space's default architecture scaled to the budget) and the exact
``nascomp train`` commands for the winner and the baseline at the end of the summary."""

import io
import shlex

import torch
import yaml
from rich.console import Console

import nascomp
from nascomp.search import run_search
from nascomp.search.outputs.report import Reporter

from tests._contract import flop_counter_macs
from tests._search import TINY_BUDGET, one_thread, tiny_macs, tiny_recipe  # noqa: F401 (fixture)


def test_search_writes_the_scaled_baseline_and_the_train_commands(tmp_path):
    buffer = io.StringIO()
    recipe = tiny_recipe(tmp_path / "a folder", trials=2)
    result = run_search(recipe, reporter=Reporter(console=Console(file=buffer, width=160), bars=False))
    out = result.out
    baseline = out / "baseline.yaml"
    assert baseline.is_file() and baseline in result.files
    spec = yaml.safe_load(baseline.read_text())
    # The tiny space's default (width 8, depth 1) costs 202,832 MACs at 3x16x16; the next widths (16) and depths (2)
    # cost 700,576 and 350,288, both over the 300,000 budget, so the scaled baseline is the default itself.
    assert (spec["params"]["width"], spec["params"]["depth"], spec["params"]["num_classes"]) == (8, 1, 10)
    assert spec["input_shape"] == [3, 16, 16]
    with torch.device("meta"):
        model = nascomp.build(baseline).eval()
        macs = flop_counter_macs(model, torch.empty(1, 3, 16, 16))
    assert macs == tiny_macs(8, 1) <= TINY_BUDGET
    best_cmd, baseline_cmd = result.handover.commands
    size = str(recipe.data.image_size)  # the proxy resolution the search ranked the nets at
    assert shlex.split(best_cmd) == ["nascomp", "train", str(out / "best.yaml"), "--data", "digits",
                                     "--image-size", size, "--out", str(out / "train-best")]
    assert shlex.split(baseline_cmd) == ["nascomp", "train", str(baseline), "--data", "digits",
                                         "--image-size", size, "--out", str(out / "train-baseline")]
    printed = buffer.getvalue()
    assert printed.rstrip().endswith(baseline_cmd)
    assert best_cmd in printed and "baseline.yaml" in printed
