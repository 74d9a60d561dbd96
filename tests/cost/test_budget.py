"""Budget strings: FLOPs are read as MACs (the convention torchvision's model cards use)."""

import pytest

import nascomp
from nascomp.cost.budget import format_macs, parse_budget
from nascomp.errors import BudgetError


@pytest.mark.parametrize(
    "text, macs",
    [
        ("4GFLOPs", 4_000_000_000),
        ("4 GFLOPs", 4_000_000_000),
        ("600MFLOPs", 600_000_000),
        ("4GMACs", 4_000_000_000),
        ("4e9", 4_000_000_000),
        ("4G", 4_000_000_000),
        ("4.5 gflops", 4_500_000_000),
        ("300 KMACs", 300_000),
        ("1.2TFLOPs", 1_200_000_000_000),
        ("2_000_000", 2_000_000),
        ("  4GFLOPs  ", 4_000_000_000),
        (4e9, 4_000_000_000),
        (123, 123),
    ],
)
def test_accepted_forms(text, macs):
    assert parse_budget(text) == macs


def test_public_name():
    assert nascomp.parse_budget("4GFLOPs") == 4_000_000_000


@pytest.mark.parametrize("text", ["4 bananas", "", "GFLOPs", "4GG", "-1GFLOPs", "nan", "4 GFLOPs per image", "4,5G"])
def test_rejected_forms_list_the_accepted_units(text):
    with pytest.raises(BudgetError) as info:
        parse_budget(text)
    message = str(info.value)
    assert f"'{text}'" in message
    for fragment in ("FLOPs", "MACs", "K/M/G/T", "e.g. '4GFLOPs'", "600MFLOPs", "4e9"):
        assert fragment in message


@pytest.mark.parametrize("text", ["0", "0.5", 0, -3, True])
def test_budget_must_be_positive(text):
    with pytest.raises(BudgetError, match="4GFLOPs"):
        parse_budget(text)


def test_format_macs():
    assert format_macs(4_089_184_256) == "4.09 GMACs"
    assert format_macs(600_000_000) == "600 MMACs"
    assert format_macs(300_000) == "300 KMACs"
    assert format_macs(512) == "512 MACs"
