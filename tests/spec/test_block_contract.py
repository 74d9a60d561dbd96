"""The contract every built-in block (``nascomp.spec.library.builtin_library()``) inherits.

Every block of the library is parametrised automatically; a block without an entry in :data:`CASES` fails
(``test_every_block_has_a_case``). Each case instantiates the block as node ``op`` of a tiny spec, and
:func:`_contract.check_contract` holds shapes (output and every module), params, MACs and activations against the
module torch runs, plus gradients to every parameter and no NaN.

Where torchvision or timm has the same block (same paper, same layout), :data:`REFERENCES` also builds theirs and
checks: same output shape, same parameter count, same ``FlopCounterMode`` MACs, and, with the reference's weights
loaded into ours (``strict=True``, which also checks every ``state_dict`` key), the same eval-mode output.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

import nascomp
from nascomp.spec.library import builtin_library

from tests._contract import check_contract, flop_counter_macs, net


def _block(name: str, in_shape: tuple[int, int, int], **params) -> dict:
    return net([{"id": "op", "type": name, **params}], in_shape)


CASES: dict[str, list[tuple[str, dict]]] = {
    "conv_bn_act": [
        ("default", _block("conv_bn_act", (3, 8, 9), out_channels=4)),
        ("pair_kernel_silu", _block("conv_bn_act", (4, 7, 10), out_channels=6, kernel_size=[1, 3], stride=[1, 2],
                                    padding=[0, 1], groups=2, act="silu")),
    ],
    "grouped_conv": [
        ("resnext_32x4", _block("grouped_conv", (64, 6, 6), cardinality=32, width_per_group=4)),
        ("stride2_k5", _block("grouped_conv", (12, 9, 8), cardinality=3, width_per_group=5, kernel_size=5, stride=2)),
    ],
    "factorized_conv": [
        ("asymmetric_7", _block("factorized_conv", (8, 9, 11), out_channels=6)),
        ("asymmetric_mid", _block("factorized_conv", (8, 9, 11), out_channels=6, kernel_size=5, mid_channels=3)),
        ("stacked_5", _block("factorized_conv", (4, 7, 6), out_channels=5, kernel_size=5, mode="stacked")),
        ("stacked_7_mid", _block("factorized_conv", (4, 7, 6), out_channels=5, kernel_size=7, mode="stacked",
                                 mid_channels=2)),
    ],
    "squeeze_excite": [
        ("avg_r4", _block("squeeze_excite", (16, 5, 6), reduction=4)),
        ("max_div8", _block("squeeze_excite", (64, 3, 3), reduction=16, divisor=8, pool="max")),
    ],
    "bottleneck": [
        ("identity", _block("bottleneck", (32, 6, 6), planes=8)),
        ("projection_stride2", _block("bottleneck", (16, 7, 9), planes=8, stride=2)),
        ("resnext_se", _block("bottleneck", (64, 6, 5), planes=16, groups=4, width_per_group=8, stride=2,
                              se_reduction=16)),
    ],
    "basic_block": [
        ("identity", _block("basic_block", (8, 6, 6), planes=8)),
        ("projection_se", _block("basic_block", (8, 7, 8), planes=16, stride=2, se_reduction=4, se_divisor=1)),
    ],
    "inception": [
        ("googlenet_3a_small", _block("inception", (12, 7, 8), ch1x1=4, ch3x3red=3, ch3x3=5, ch5x5red=2, ch5x5=3,
                                      pool_proj=2)),
        ("paper_5x5", _block("inception", (12, 7, 8), ch1x1=4, ch3x3red=3, ch3x3=5, ch5x5red=2, ch5x5=3, pool_proj=2,
                             kernel_5x5=5)),
    ],
    "inception_v3_a": [("pf32", _block("inception_v3_a", (16, 7, 7), pool_features=32))],
    "inception_v3_b": [("odd", _block("inception_v3_b", (16, 9, 10)))],
    "inception_v3_c": [("c7_16", _block("inception_v3_c", (24, 8, 7), channels_7x7=16))],
    "inception_v3_d": [("odd", _block("inception_v3_d", (24, 9, 9)))],
    "inception_v3_e": [("small", _block("inception_v3_e", (16, 3, 4)))],
    "dense_layer": [
        ("k8", _block("dense_layer", (10, 5, 6), growth_rate=8)),
        ("dropout", _block("dense_layer", (10, 5, 6), growth_rate=4, bn_size=2, drop_rate=0.2)),
    ],
    "dense_block": [("l3_k4", _block("dense_block", (6, 5, 5), num_layers=3, growth_rate=4, bn_size=2))],
    "transition": [("half", _block("transition", (12, 9, 8), out_channels=6))],
}


def _cases() -> list:
    params = []
    for name in builtin_library().blocks.names():
        for case_id, spec in CASES.get(name, []):
            params.append(pytest.param(name, spec, id=f"{name}-{case_id}"))
    return params


def test_every_block_has_a_case():
    names = builtin_library().blocks.names()
    missing = [n for n in names if not CASES.get(n)]
    assert not missing, f"built-in blocks without a contract case in tests/spec/test_block_contract.py CASES: {missing}"
    stale = sorted(set(CASES) - set(names))
    assert not stale, f"CASES names blocks that are not in the library: {stale}"


@pytest.mark.parametrize("block_name, spec", _cases())
def test_block_contract(block_name, spec):
    prof = check_contract(spec)
    top = prof.rows()
    assert [r.type for r in top] == [block_name]


@pytest.mark.parametrize("block_name", builtin_library().blocks.names())
def test_block_is_documented(block_name):
    """Each block says what it is and its shapes (house style: a doc with ``(N, ...) -> (N, ...)``)."""
    block = builtin_library().get(block_name)
    assert block.doc.strip(), f"block {block_name} has no doc"
    assert "->" in block.doc and "(N" in block.doc, f"block {block_name}'s doc does not give its shapes"


# --- the same blocks in torchvision / timm --------------------------------------------------------------------------


def _tv(module: str, cls: str):
    return getattr(importlib.import_module(f"torchvision.models.{module}"), cls)


def _tv_bottleneck(cin, planes, stride=1, groups=1, width=64):
    from torchvision.models.resnet import Bottleneck

    down = None
    if stride != 1 or cin != planes * 4:
        down = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
    return Bottleneck(cin, planes, stride, down, groups=groups, base_width=width)


def _tv_basic(cin, planes, stride=1):
    from torchvision.models.resnet import BasicBlock

    down = None
    if stride != 1 or cin != planes:
        down = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
    return BasicBlock(cin, planes, stride, down)


def _timm_se(channels, reduction, divisor):
    from timm.layers import SEModule

    return SEModule(channels, rd_ratio=1.0 / reduction, rd_divisor=divisor)


# id -> (our block as a spec, reference factory, whether the state_dict keys are the reference's)
REFERENCES = {
    "bottleneck_resnet50_layer1": (
        _block("bottleneck", (64, 14, 14), planes=64), lambda: _tv_bottleneck(64, 64), True),
    "bottleneck_stride2_odd": (
        _block("bottleneck", (256, 15, 13), planes=128, stride=2), lambda: _tv_bottleneck(256, 128, 2), True),
    "bottleneck_resnext_32x4d": (
        _block("bottleneck", (256, 9, 9), planes=128, groups=32, width_per_group=4, stride=2),
        lambda: _tv_bottleneck(256, 128, 2, groups=32, width=4), True),
    "basic_block_projection": (
        _block("basic_block", (64, 11, 12), planes=128, stride=2), lambda: _tv_basic(64, 128, 2), True),
    "dense_layer": (
        _block("dense_layer", (64, 8, 8), growth_rate=32),
        lambda: _tv("densenet", "_DenseLayer")(64, 32, 4, 0.0), True),
    "dense_block": (
        _block("dense_block", (64, 8, 8), num_layers=6, growth_rate=32),
        lambda: _tv("densenet", "_DenseBlock")(6, 64, 4, 32, 0.0), True),
    "transition": (
        _block("transition", (256, 9, 11), out_channels=128),
        lambda: _tv("densenet", "_Transition")(256, 128), True),
    "inception_3a": (
        _block("inception", (192, 28, 28), ch1x1=64, ch3x3red=96, ch3x3=128, ch5x5red=16, ch5x5=32, pool_proj=32),
        lambda: _tv("googlenet", "Inception")(192, 64, 96, 128, 16, 32, 32), True),
    "inception_v3_a": (
        _block("inception_v3_a", (192, 13, 13), pool_features=32),
        lambda: _tv("inception", "InceptionA")(192, 32), True),
    "inception_v3_b": (_block("inception_v3_b", (288, 13, 13)), lambda: _tv("inception", "InceptionB")(288), True),
    "inception_v3_c": (
        _block("inception_v3_c", (768, 9, 9), channels_7x7=128),
        lambda: _tv("inception", "InceptionC")(768, 128), True),
    "inception_v3_d": (_block("inception_v3_d", (768, 9, 9)), lambda: _tv("inception", "InceptionD")(768), True),
    "inception_v3_e": (_block("inception_v3_e", (1280, 5, 5)), lambda: _tv("inception", "InceptionE")(1280), True),
    "squeeze_excite_timm": (
        _block("squeeze_excite", (256, 7, 7), reduction=16, divisor=8), lambda: _timm_se(256, 16, 8), True),
    "squeeze_excite_odd_channels": (
        _block("squeeze_excite", (200, 4, 5), reduction=16, divisor=8), lambda: _timm_se(200, 16, 8), True),
}


def _randomize(model: nn.Module) -> None:
    """Random weights and BatchNorm statistics (fresh ones make BN an identity, which would hide a misplaced one)."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("case", sorted(REFERENCES))
def test_block_matches_torchvision_or_timm(case):
    spec, factory, same_keys = REFERENCES[case]
    torch.manual_seed(0)
    reference = factory().eval()
    _randomize(reference)
    prof = nascomp.profile(spec)
    x = torch.randn(2, *prof.input_shape)
    with torch.no_grad():
        expected = reference(x)
    assert prof.output_shape == tuple(expected.shape[1:])
    assert prof.params == sum(p.numel() for p in reference.parameters())
    assert prof.macs == flop_counter_macs(reference, x[:1])
    if same_keys:
        ours = nascomp.build(spec).eval()
        ours.get_submodule("op").load_state_dict(reference.state_dict(), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), expected, rtol=1e-4, atol=1e-5)
