"""Fuzzing the spec reader and expander (issue 12): random mutations of the zoo's YAML (deleted keys, swapped types,
huge numbers, unicode ids, deep nesting), with the block library inlined so blocks are mutated too, produce only
:class:`nascomp.SpecError`, never another exception, in bounded time per example."""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nascomp

REPO = Path(__file__).resolve().parents[2]
ZOO = sorted((REPO / "zoo").glob("*.yaml"))
# Small nets first: expansion of the largest (densenet201) takes long enough to eat the time budget.
SMALL = [p for p in ZOO if p.stem in ("resnet18", "alexnet", "vgg11_bn", "se_resnet18", "googlenet", "resnext50_32x4d",
                                       "densenet121", "inception_v3", "legacy_seresnet50")]


def _library() -> dict[str, Any]:
    blocks: dict[str, Any] = {}
    for path in sorted((REPO / "blocks").glob("*.yaml")):
        blocks.update(yaml.safe_load(path.read_text())["blocks"])
    return blocks


LIBRARY = _library()


def _rename(value: Any, names: set[str]) -> Any:
    """Every string naming a library block gets the suffix ``_f`` (the inlined copy)."""
    if isinstance(value, dict):
        return {k: _rename(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, names) for v in value]
    return f"{value}_f" if isinstance(value, str) and value in names else value


def _with_inlined_blocks(spec: dict) -> dict:
    names = set(LIBRARY)
    spec = _rename(copy.deepcopy(spec), names)
    spec["blocks"] = {**spec.get("blocks", {}),
                      **{f"{k}_f": _rename(copy.deepcopy(v), names) for k, v in LIBRARY.items()}}
    return spec


SPECS = [_with_inlined_blocks(yaml.safe_load(p.read_text())) for p in SMALL]


def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


WEIRD = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 2**63, -(2**63), 10**30, 1e308, -1e308, math.inf, -math.inf, math.nan,
                     0.5, "", " ", "${", "${}", "${1/0}", "${2**10**10}", "${x.__class__}", "${[1]*10**9}",
                     "${input}", "${num_classes * 1e300}", "∂ϊ", "a" * 300, "\u202e", "id.with.dots", "0", [],
                     {}, [1, 2, 3], [0, 0], {"count": -1}, {"a": 1}, "conv2d", "group", "input", "relu",
                     "${in_channels}", "${H // 0}", "${'a' * 10}", "${max([])}", "${int('x')}", "${-1 % 0}"]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(min_size=0, max_size=12),
    st.integers(min_value=1, max_value=60).map(_deep),
)


def _get(tree: Any, path: tuple) -> Any:
    for p in path:
        tree = tree[p]
    return tree


def _mutate(data, tree: Any) -> Any:
    paths = _paths(tree)[1:]
    if not paths:
        return tree
    path = data.draw(st.sampled_from(paths))
    parent, key = _get(tree, path[:-1]), path[-1]
    kind = data.draw(st.sampled_from(["delete", "replace", "swap_type", "rename_key", "duplicate", "unicode_id"]))
    if kind == "delete":
        del parent[key]
    elif kind == "replace":
        parent[key] = data.draw(WEIRD)
    elif kind == "swap_type":
        value = parent[key]
        if isinstance(value, bool):
            parent[key] = str(value).lower()
        elif isinstance(value, (int, float)):
            parent[key] = data.draw(st.sampled_from([str(value), [value], float(value), -value, value * 10**9]))
        elif isinstance(value, str):
            parent[key] = data.draw(st.sampled_from([[value], {value: value}, len(value), None]))
        elif isinstance(value, list):
            parent[key] = data.draw(st.sampled_from([{str(i): v for i, v in enumerate(value)}, value[:1], value * 3]))
        elif isinstance(value, dict):
            parent[key] = list(value.values())
    elif kind == "rename_key" and isinstance(parent, dict):
        parent[data.draw(st.text(max_size=8))] = parent.pop(key)
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif kind == "unicode_id" and isinstance(parent, dict):
        parent["id"] = data.draw(st.text(min_size=0, max_size=10))
    return tree


# 120 fixed examples (about 30 s) by default; NASCOMP_FUZZ_EXAMPLES=N runs N random ones, to hunt for more.
_HUNT = int(os.environ.get("NASCOMP_FUZZ_EXAMPLES", "0"))


@settings(max_examples=_HUNT or 120, deadline=5000, derandomize=not _HUNT,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_zoo_specs_raise_only_spec_errors(data):
    tree = copy.deepcopy(data.draw(st.sampled_from(SPECS)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        tree = _mutate(data, tree)
    text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    try:
        prof = nascomp.profile(nascomp.load_spec(text))
    except nascomp.SpecError:
        return
    assert prof.macs >= 0 and prof.params >= 0


def test_the_inlined_zoo_specs_are_valid():
    """The fuzzer's seeds are real specs: unmutated, each profiles to its reference figures."""
    for path, spec in zip(SMALL, SPECS):
        prof = nascomp.profile(nascomp.load_spec(yaml.safe_dump(spec, sort_keys=False)))
        assert (prof.params, prof.macs) == (spec["reference"]["params"], spec["reference"]["macs"]), path.stem


_BLOCK = """\
name: x
input_shape: [3, 8, 8]
params: {n: 4}
blocks:
  b:
    params:
      c: {type: int, MIN_OR_CHOICES}
    nodes:
      - {id: r, type: relu}
nodes:
  - {id: r, type: b, c: 3}
  - {id: f, type: flatten}
  - {id: fc, type: linear, out_features: "${n}"}
"""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [  # what the fuzzer found: each crashed with another exception before
        (_BLOCK.replace("MIN_OR_CHOICES", "min: '1'"), "'min' must be a number, found '1'"),
        (_BLOCK.replace("MIN_OR_CHOICES", "max: .nan"), "'max' must be a number"),
        (_BLOCK.replace("MIN_OR_CHOICES", "choices: 3"), "'choices' must be a list, found 3"),
        (_BLOCK.replace("MIN_OR_CHOICES", "min: 1").replace("{n: 4}", "{n: .inf}"),
         "'out_features' must be an integer, found float inf"),
        (_BLOCK.replace("MIN_OR_CHOICES", "min: 1").replace("{n: 4}", "{n: null}"),
         "'out_features' must be an integer, found null"),
    ],
)
def test_what_the_fuzzer_found_is_a_spec_error(text, fragment):
    with pytest.raises(nascomp.SpecError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        nascomp.profile(nascomp.load_spec(text))
