"""The zoo's cost figures: analytic profile == the reference libraries' measurements == the figures each spec states.

Source of the figures: ``tests/zoo/canonical_nets.json`` (copied from ``../shared/reference/``) (torchvision 0.29.1 / timm 1.0.31 models,
randomly initialised; params = sum of parameter numel, MACs = ``FlopCounterMode`` total / 2 at the net's input shape,
batch 1). Each spec carries them twice: machine-readable in its ``reference`` mapping, and for readers in its
``doc`` (``params: 25,557,032``, ``MACs: 4,089,184,256``). These tests keep the profile, both copies and the JSON
equal; the live reference models are compared in ``test_zoo_equivalence.py``.
"""

from __future__ import annotations

import pytest

import nascomp
from nascomp.zoo import zoo_names
from tests._zoo_refs import CANONICAL_NETS, doc_figures, reference_figures


def test_zoo_holds_every_canonical_net():
    missing = sorted(set(CANONICAL_NETS) - set(zoo_names()))
    assert not missing, f"zoo/ lacks specs for: {', '.join(missing)}"


@pytest.mark.parametrize("name", CANONICAL_NETS)
def test_spec_doc_states_paper_and_figures(name):
    spec = nascomp.load_spec(name)
    assert spec.name == name
    doc = spec.doc or ""
    assert "arXiv:" in doc, f"{name}: doc must cite the paper with its arXiv id"
    assert "Deviations" in doc, f"{name}: doc must state the deviations from the paper"
    params, macs = doc_figures(doc)
    assert params is not None and macs is not None, f"{name}: doc must state 'params: N' and 'MACs: N'"


@pytest.mark.parametrize("name", CANONICAL_NETS)
def test_profile_equals_stated_figures(name):
    spec = nascomp.load_spec(name)
    profile = nascomp.profile(spec)
    reference = spec.reference or {}
    assert (profile.params, profile.macs) == (reference.get("params"), reference.get("macs")), "reference mapping"
    assert (profile.params, profile.macs) == doc_figures(spec.doc or ""), "figures in doc"
    assert list(spec.input_shape) == reference.get("input_shape")


@pytest.mark.parametrize("name", CANONICAL_NETS)
def test_profile_and_doc_equal_reference_json(name):
    assert name in reference_figures(), f"{name} has no entry in tests/zoo/canonical_nets.json"
    ref = reference_figures()[name]
    spec = nascomp.load_spec(name)
    assert list(spec.input_shape) == ref["input_shape"]
    assert doc_figures(spec.doc or "") == (ref["params"], ref["macs"])
    stated = spec.reference or {}
    assert (stated.get("source"), stated.get("kwargs")) == (ref["reference"], ref["reference_kwargs"])
    assert (stated.get("params"), stated.get("macs")) == (ref["params"], ref["macs"])
    profile = nascomp.profile(name)
    assert profile.params == ref["params"], f"{name}: params {profile.params:,} != reference {ref['params']:,}"
    assert profile.macs == ref["macs"], f"{name}: MACs {profile.macs:,} != reference {ref['macs']:,}"


def test_se_resnet50_parameter_count_includes_full_width_se():
    # 28,088,024 = ResNet-50 + an SE module of C/16 on every bottleneck's expanded output C; a zoo that ships the SE
    # missing has 25,557,032, one with C/4 has 35,635,688.
    assert nascomp.profile("se_resnet50").params == 28_088_024
