"""What a search hands over: the baseline to beat at equal cost, and the commands that train both nets properly.

A search picks its winner on a short proxy schedule. The user's next questions are what the winner reaches when
trained to the end, and whether it beats simply taking the space's canonical net shrunk (or grown) to the same
budget. So, after a search, the output folder also holds ``baseline.yaml``: the space's default architecture
(ResNet-50 for ``se_resnext``, DenseNet-121 for ``densenet``) scaled to the search's budget by
:func:`nascomp.scale` (EfficientNet-style compound scaling at fixed resolution, arXiv:1905.11946), at the
recipe's input shape and the data's class count; and the summary ends with the two ``nascomp train`` commands.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from nascomp.cost.budget import format_macs
from nascomp.cost.scale import scale
from nascomp.errors import NascompError
from nascomp.search.space.points import space_point

__all__ = ["Handover", "write_handover", "train_command"]

BASELINE_FILE = "baseline.yaml"


@dataclass(frozen=True)
class Handover:
    """The baseline written after a search and the commands that train the winner and the baseline.

    Attributes:
        baseline: ``<out>/baseline.yaml``, or ``None`` when the space's default cannot be scaled to the budget.
        note: One line on the baseline (its MACs and multipliers, or why it was not written).
        commands: ``nascomp train`` command lines, winner first.
    """

    baseline: Path | None
    note: str
    commands: tuple[str, ...] = field(default=())


def train_command(spec: Path, data: str, out: Path, image_size: int) -> str:
    """``nascomp train SPEC --data SRC --image-size N --out DIR`` at the search's proxy resolution, each argument
    shell-quoted (paths with spaces work)."""
    return shlex.join(["nascomp", "train", str(spec), "--data", data, "--image-size", str(image_size),
                       "--out", str(out)])


def write_handover(space, recipe, num_classes: int, out: Path, *, has_best: bool) -> Handover:
    """Write ``baseline.yaml`` in ``out`` and return the train commands.

    Args:
        space: The searched :class:`~nascomp.search.space.search_space.SearchSpace`.
        recipe: The study's recipe (budget, input shape, data source).
        num_classes: The data's class count (the baseline's classifier width).
        out: The study's output folder (``best.yaml`` is there when ``has_best``).
        has_best: Whether the search has a winner (``best.yaml``).

    Returns:
        A :class:`Handover`. A budget the default architecture cannot be scaled to is reported in ``note``, not
        raised: the search's own results are already written and stay valid.
    """
    try:
        result = scale(space_point(space), recipe.budget, input_shape=tuple(recipe.input_shape),
                       name=f"{space.name}_baseline", origin=space.source, num_classes=num_classes)
    except NascompError as exc:
        baseline, note = None, f"not written: {exc}"
    else:
        from nascomp.search.outputs.study_files import write_best_yaml

        baseline = write_best_yaml(result.spec, out / BASELINE_FILE)
        note = (f"{baseline}: the space's default architecture scaled to the budget, {format_macs(result.macs)} "
                f"({result.macs / recipe.budget:.1%}), width x{result.width_multiplier:.3f}, "
                f"depth x{result.depth_multiplier:.3f}")
    commands = []
    if has_best:
        commands.append(train_command(out / "best.yaml", recipe.data.source, out / "train-best", recipe.data.image_size))
    if baseline is not None:
        commands.append(train_command(baseline, recipe.data.source, out / "train-baseline", recipe.data.image_size))
    return Handover(baseline, note, tuple(commands))
