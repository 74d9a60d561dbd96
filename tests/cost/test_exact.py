"""Issue 4's bar: the cost ``nascomp.profile`` computes from the spec alone is exact for every zoo net.

For every zoo net (``nascomp.zoo.zoo_names()``, so a new net is covered automatically), at its own input size and at
160x160, non-square 224x320 and odd 225x225: ``profile().macs == FlopCounterMode total // 2`` and
``profile().params == sum(p.numel())`` of ``nascomp.build`` of the same net, and the inferred output shape is the one
the module produces. The module is built and run on the meta device (no weights allocated, no arithmetic done;
``FlopCounterMode`` counts from shapes alone), which keeps a whole zoo sweep in seconds.

The figures are also held against ``tests/zoo/canonical_nets.json`` (a copy of ``../shared/reference/``), measured on the torchvision/timm
reference models (never by nascomp).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import nascomp
from nascomp.zoo import zoo_names

from tests._contract import assert_per_node_macs, flop_counter_macs
from tests._zoo_refs import REFERENCE_JSON  # copy of ../shared/reference/

EXTRA_SIZES = ((160, 160), (224, 320), (225, 225))
# On the meta device the time goes into building modules, not arithmetic: nets of more than this many primitive
# ops (DenseNet-161/169/201, ResNet-152, the deep SE nets) take 3-5 s per size on 2 cores, so their extra sizes are
# marked slow; every net is still checked at its own size in the fast suite.
BIG_NET_OPS = 500


def _meta_figures(name: str, input_shape: tuple[int, int, int]) -> tuple[int, int, tuple[int, ...]]:
    """(FlopCounterMode MACs, sum numel, output shape) of ``nascomp.build`` on the meta device, batch 1."""
    with torch.device("meta"):
        model = nascomp.build(name, input_shape=input_shape).eval()
        x = torch.empty(1, *input_shape)
        macs = flop_counter_macs(model, x)
        with torch.no_grad():
            out = tuple(model(x).shape[1:])
    params = sum(p.numel() for p in model.parameters())
    assert all(p.is_meta for p in model.parameters())
    return macs, params, out


def _own_shape(name: str) -> tuple[int, int, int]:
    return tuple(nascomp.load_spec(name).input_shape)


def _is_big(name: str) -> bool:
    try:
        return len(nascomp.profile(name).rows(expand=True)) > BIG_NET_OPS
    except nascomp.SpecError:
        return False  # a broken spec fails in the test itself, not at collection


def _cases() -> list:
    cases = []
    for name in zoo_names():
        cases.append(pytest.param(name, None, id=f"{name}-own"))
        big = _is_big(name)
        for h, w in EXTRA_SIZES:
            marks = [pytest.mark.slow] if big else []
            cases.append(pytest.param(name, (h, w), id=f"{name}-{h}x{w}", marks=marks))
    return cases


@pytest.mark.parametrize("name, size", _cases())
def test_profile_equals_flop_counter(name, size):
    shape = _own_shape(name) if size is None else (3, *size)
    prof = nascomp.profile(name, input_shape=shape)
    macs, params, out = _meta_figures(name, shape)
    assert prof.input_shape == shape
    assert prof.output_shape == out
    assert prof.macs == macs, f"{name} @ {shape}: profile {prof.macs:,} MACs, FlopCounterMode/2 {macs:,}"
    assert prof.params == params, f"{name} @ {shape}: profile {prof.params:,} params, built {params:,}"


@pytest.mark.parametrize("name", zoo_names())
def test_per_node_macs_equal_flop_counter(name):
    """Not only the total: every primitive node's MACs equal FlopCounterMode's count for its module."""
    shape = (3, 97, 131) if name != "inception_v3" else (3, 131, 97)  # odd, non-square, still >= 75 px
    with torch.device("meta"):
        model = nascomp.build(name, input_shape=shape).eval()
        assert_per_node_macs(nascomp.profile(name, input_shape=shape), model, torch.empty(1, *shape))


def test_meta_device_counts_like_a_real_forward():
    """The meta-device shortcut above is sound: on CPU with real tensors FlopCounterMode gives the same figure."""
    shape = (3, 64, 80)
    model = nascomp.build("resnet18", input_shape=shape).eval()
    real = flop_counter_macs(model, torch.randn(1, *shape))
    assert real == _meta_figures("resnet18", shape)[0] == nascomp.profile("resnet18", input_shape=shape).macs


def _reference() -> dict:
    return json.loads(REFERENCE_JSON.read_text())["nets"]


@pytest.mark.parametrize("name", zoo_names())
def test_profile_matches_canonical_reference(name):
    """Profile figures equal those measured on the torchvision/timm reference models (canonical_nets.json); every
    zoo net has an entry there."""
    nets = _reference()
    assert name in nets, f"{name} has no entry in {REFERENCE_JSON}"
    ref = nets[name]
    prof = nascomp.profile(name, input_shape=tuple(ref["input_shape"]))
    assert prof.params == ref["params"]
    assert prof.macs == ref["macs"]
    assert (1, *prof.output_shape) == tuple(ref["output_shape"])


def test_every_canonical_reference_net_is_in_the_zoo():
    missing = sorted(set(_reference()) - set(zoo_names()))
    assert not missing, f"canonical nets missing from zoo/: {missing}"


@pytest.mark.parametrize(
    "name, model_card_gflops",
    [("resnet50", 4.09), ("resnet18", 1.81), ("alexnet", 0.71), ("densenet121", 2.83), ("inception_v3", 5.71)],
)
def test_macs_are_torchvisions_gflops(name, model_card_gflops):
    """The convention: MACs are what torchvision's model cards print as "GFLOPS" (torchvision docs, weights tables)."""
    assert name in zoo_names()
    assert round(nascomp.profile(name).macs / 1e9, 2) == model_card_gflops


def test_torchvision_resnet50_on_meta_agrees():
    """Cross-check against torchvision itself (not only our built module): resnet50 at 224x320."""
    import torchvision

    with torch.device("meta"):
        reference: nn.Module = torchvision.models.resnet50().eval()
        macs = flop_counter_macs(reference, torch.empty(1, 3, 224, 320))
    prof = nascomp.profile("resnet50", input_shape=(3, 224, 320))
    assert prof.macs == macs
    assert prof.params == sum(p.numel() for p in reference.parameters()) == 25_557_032


def test_profile_builds_nothing_and_runs_nothing(monkeypatch):
    """Issue 4: the cost comes from the spec alone: no module is constructed and no tensor op is dispatched."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class CountOps(TorchDispatchMode):
        ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            CountOps.ops += 1
            return func(*args, **(kwargs or {}))

    def no_modules(self, *args, **kwargs):
        raise AssertionError(f"profile constructed a {type(self).__name__}")

    from nascomp.graph.block_cache import BLOCK_CACHE
    from nascomp.spec import load

    load._parse_file.cache_clear()  # a cold call: the spec is parsed and every block expanded again
    load._load_file.cache_clear()
    BLOCK_CACHE.clear()
    monkeypatch.setattr(nn.Module, "__init__", no_modules)
    with CountOps():
        prof = nascomp.profile("resnet50", input_shape=(3, 225, 225), num_classes=10)
    assert CountOps.ops == 0
    assert prof.output_shape == (10,)


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "inception_v3"])
def test_rows_add_up_to_the_totals(name):
    prof = nascomp.profile(name)
    for expand in (False, True):
        rows = prof.rows(expand=expand)
        assert sum(r.macs for r in rows) == prof.macs
        assert sum(r.params for r in rows) == prof.params
        assert sum(r.activations for r in rows) == prof.activations
    assert isinstance(prof.macs, int) and isinstance(prof.params, int) and isinstance(prof.activations, int)


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_auxiliary_heads_count_in_params_not_in_macs(name):
    """With the auxiliary classifiers on, params include them (torchvision's aux_logits=True count) and MACs stay the
    inference figure (eval mode, where the heads do not run), as torchvision's model cards report both."""
    import torchvision

    assert "aux_logits" in nascomp.load_spec(name).params
    shape = _own_shape(name)
    prof = nascomp.profile(name, aux_logits=True)
    with torch.device("meta"):
        reference = getattr(torchvision.models, name)(aux_logits=True, init_weights=False).eval()
        ref_macs = flop_counter_macs(reference, torch.empty(1, *shape))
        ours = nascomp.build(name, aux_logits=True).eval()
        our_macs = flop_counter_macs(ours, torch.empty(1, *shape))
    ref_params = sum(p.numel() for p in reference.parameters())
    assert prof.params == sum(p.numel() for p in ours.parameters()) == ref_params
    assert prof.macs == our_macs == ref_macs == nascomp.profile(name).macs
    assert ref_params > nascomp.profile(name).params  # the heads are really there
