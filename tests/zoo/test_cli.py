"""``nascomp zoo`` lists every canonical net with its family, input size, params, MACs and reference."""

from __future__ import annotations

import re

from tests._cli import run_cli
from tests._zoo_refs import CANONICAL_NETS, spec_reference

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}


def _rows(stdout: str) -> dict[str, list[str]]:
    """Table rows by net name: the cells of each line that starts with a zoo name."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
        if cells:
            rows[cells[0]] = cells
    return rows


def test_zoo_lists_every_canonical_net_with_its_figures():
    result = run_cli("zoo", env=WIDE)
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    for name in CANONICAL_NETS:
        assert name in rows, f"'{name}' missing from `nascomp zoo`:\n{result.stdout}"
        reference = spec_reference(name)
        _, family, input_size, params, macs, source = rows[name]
        assert family
        assert input_size == "x".join(map(str, reference["input_shape"]))
        assert params == f"{reference['params']:,}"
        assert re.fullmatch(r"\d+(\.\d+)? [KMG]MACs", macs), macs  # the one MAC formatter, 4 digits
        value, prefix = float(macs.split()[0]), macs.split()[1][0]
        scaled = reference["macs"] / {"K": 1e3, "M": 1e6, "G": 1e9}[prefix]
        assert value == float(f"{scaled:.4g}") and 1 <= scaled < 1000
        assert source == reference["source"]


def test_zoo_family_filter():
    result = run_cli("zoo", "--family", "SE-ResNeXt", env=WIDE)
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert {"se_resnext50_32x4d", "se_resnext101_32x4d"} <= set(rows)
    assert "resnet50" not in rows and "se_resnet50" not in rows
