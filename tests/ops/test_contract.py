"""The contract every registered primitive op (``nascomp.ops.OPS``) inherits.

Every op in the registry is parametrised automatically; an op without an entry in :data:`CASES` fails
(``test_every_op_has_a_case``), so a new op cannot land untested. Each case is a tiny spec in which the op under test
is the node ``op`` (a flatten or branch may feed it); :func:`_contract.check_contract` then holds the analytic shape,
params, MACs and activations against the built module, measured by torch (``FlopCounterMode``, ``numel``,
``ShapeProp``), and checks that gradients reach every parameter and nothing is NaN.

Hand-checked cases (issue 4) add literal figures worked out by hand from torch's documented formulas, never from
nascomp: ``H' = floor((H + 2p - d(k - 1) - 1) / s) + 1``; conv MACs ``C_out * C_in / groups * kh * kw * H' * W'``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import nascomp
from nascomp.ops import OPS

from tests._contract import check_contract, expanded_op_types, flop_counter_macs, net

# op name -> list of (case id, spec mapping). The node under test has id "op".
CASES: dict[str, list[tuple[str, dict]]] = {
    "conv2d": [
        ("3x3_pad1", net([{"id": "op", "type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}], (3, 9, 9))),
        ("no_bias_stride2", net([{"id": "op", "type": "conv2d", "out_channels": 6, "kernel_size": 3, "stride": 2,
                                  "bias": False}], (4, 10, 11))),
        ("grouped_in_ne_out", net([{"id": "op", "type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1,
                                    "groups": 4}], (32, 14, 14))),
        ("depthwise_x2", net([{"id": "op", "type": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2,
                               "padding": 1, "groups": 16}], (16, 15, 15))),
        ("strides_per_axis", net([{"id": "op", "type": "conv2d", "out_channels": 16, "kernel_size": [3, 5],
                                   "stride": [2, 3], "padding": [1, 2]}], (8, 17, 29))),
        ("dilated", net([{"id": "op", "type": "conv2d", "out_channels": 4, "kernel_size": 3, "dilation": [2, 1],
                          "padding": [2, 1]}], (3, 12, 7))),
    ],
    "batch_norm2d": [
        ("affine", net([{"id": "op", "type": "batch_norm2d"}], (5, 4, 6))),
        ("no_affine_after_conv", net([{"id": "c", "type": "conv2d", "out_channels": 3, "kernel_size": 1},
                                      {"id": "op", "type": "batch_norm2d", "affine": False, "eps": 1e-3}], (2, 4, 4))),
    ],
    "max_pool2d": [
        ("k3s2p1", net([{"id": "op", "type": "max_pool2d", "kernel_size": 3, "stride": 2, "padding": 1}], (3, 11, 10))),
        ("k1s2_ceil", net([{"id": "op", "type": "max_pool2d", "kernel_size": 1, "stride": 2, "ceil_mode": True}], (2, 6, 7))),
        ("k3s2_ceil", net([{"id": "op", "type": "max_pool2d", "kernel_size": 3, "stride": 2, "ceil_mode": True}], (2, 14, 15))),
        ("dilated", net([{"id": "op", "type": "max_pool2d", "kernel_size": 2, "stride": 1, "dilation": 2}], (2, 7, 8))),
    ],
    "avg_pool2d": [
        ("k2", net([{"id": "op", "type": "avg_pool2d", "kernel_size": 2}], (3, 9, 8))),
        ("k3s1p1_ceil", net([{"id": "op", "type": "avg_pool2d", "kernel_size": 3, "stride": 2, "padding": 1,
                              "ceil_mode": True, "count_include_pad": False}], (3, 8, 9))),
    ],
    "adaptive_avg_pool2d": [("7x7", net([{"id": "op", "type": "adaptive_avg_pool2d", "output_size": [3, 2]}], (4, 9, 7)))],
    "adaptive_max_pool2d": [("1x1", net([{"id": "op", "type": "adaptive_max_pool2d", "output_size": 1}], (4, 5, 6)))],
    "global_pool": [
        ("avg_keepdim", net([{"id": "op", "type": "global_pool"}], (6, 5, 4))),
        ("max_flat", net([{"id": "op", "type": "global_pool", "mode": "max", "keepdim": False}], (6, 5, 4))),
    ],
    "flatten": [("start1", net([{"id": "op", "type": "flatten"}], (3, 4, 5)))],
    "linear": [
        ("after_flatten", net([{"id": "f", "type": "flatten"}, {"id": "op", "type": "linear", "out_features": 7}], (3, 4, 5))),
        ("no_bias", net([{"id": "p", "type": "global_pool", "keepdim": False},
                         {"id": "op", "type": "linear", "out_features": 3, "bias": False}], (10, 2, 2))),
    ],
    "dropout": [("p0.2", net([{"id": "op", "type": "dropout", "p": 0.2}], (3, 4, 4)))],
    "add": [
        ("residual", net([{"id": "c", "type": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
                          {"id": "op", "type": "add", "inputs": ["input", "c"]}], (3, 6, 6))),
        ("three_broadcast", net([{"id": "g", "type": "global_pool", "inputs": "input"},
                                 {"id": "c", "type": "conv2d", "inputs": "input", "out_channels": 4, "kernel_size": 1},
                                 {"id": "op", "type": "add", "inputs": ["c", "g", "input"]}], (4, 5, 3))),
    ],
    "mul": [
        ("se_gate", net([{"id": "g", "type": "global_pool"}, {"id": "s", "type": "sigmoid"},
                         {"id": "op", "type": "mul", "inputs": ["input", "s"]}], (4, 5, 5))),
    ],
    "concat": [
        ("two_branches", net([{"id": "a", "type": "conv2d", "inputs": "input", "out_channels": 3, "kernel_size": 1},
                              {"id": "b", "type": "conv2d", "inputs": "input", "out_channels": 5, "kernel_size": 3,
                               "padding": 1},
                              {"id": "op", "type": "concat", "inputs": ["a", "b", "input"]}], (2, 6, 7))),
    ],
}
for _act in ("relu", "relu6", "sigmoid", "silu", "gelu", "tanh", "hardsigmoid", "hardswish", "identity"):
    # an activation after a conv, so that gradients and the contract see a parameterised net
    CASES[_act] = [(
        "after_conv",
        net([{"id": "c", "type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
             {"id": "op", "type": _act}], (3, 5, 6)),
    )]


def _all_cases() -> list:
    params = []
    for name in OPS.names():
        for case_id, spec in CASES.get(name, []):
            params.append(pytest.param(name, spec, id=f"{name}-{case_id}"))
    return params


def test_every_op_has_a_case():
    missing = [name for name in OPS.names() if not CASES.get(name)]
    assert not missing, f"ops without a contract case in tests/ops/test_contract.py CASES: {missing}"
    stale = sorted(set(CASES) - set(OPS.names()))
    assert not stale, f"CASES names ops that are not registered: {stale}"


@pytest.mark.parametrize("op_name, spec", _all_cases())
def test_op_contract(op_name, spec):
    prof = check_contract(spec)
    assert op_name in expanded_op_types(prof), f"case does not exercise {op_name}"
    op_row = next(r for r in prof.rows(expand=True) if r.id == "op")
    assert op_row.type == op_name


@pytest.mark.parametrize("op_name", OPS.names())
def test_op_declares_torch_style_params(op_name):
    """Parameter names are snake_case and unique; every op builds a module or emits a call."""
    op = OPS.get(op_name)
    names = [d.name for d in op.params]
    assert len(names) == len(set(names))
    assert all(n.isidentifier() and n == n.lower() for n in names)
    assert type(op).module is not nascomp.ops.Op.module or type(op).emit is not nascomp.ops.Op.emit


# --- hand-checked figures (issue 4) --------------------------------------------------------------------------------


def _single(spec: dict):
    prof = nascomp.profile(spec)
    return prof, next(r for r in prof.rows(expand=True) if r.id == "op")


def test_conv_3_to_64_k3_s2_p1_on_224():
    """64 * 3 * 3 * 3 * 112 * 112 = 21,676,032 (a counter that applied the stride twice got a quarter)."""
    spec = net([{"id": "op", "type": "conv2d", "out_channels": 64, "kernel_size": 3, "stride": 2, "padding": 1}],
               (3, 224, 224))
    prof, row = _single(spec)
    assert row.out_shape == (64, 112, 112)
    assert prof.macs == 21_676_032
    assert prof.params == 64 * 27 + 64
    with torch.device("meta"):
        ref = nn.Conv2d(3, 64, 3, stride=2, padding=1)
        assert flop_counter_macs(ref, torch.empty(1, 3, 224, 224)) == 21_676_032


@pytest.mark.parametrize(
    "case, in_shape, conv, out_shape, macs, params",
    [
        # grouped, in != out: 64 * (32 / 4) * 9 * 14 * 14; params 64 * 8 * 9 + 64
        ("grouped", (32, 14, 14), dict(out_channels=64, kernel_size=3, padding=1, groups=4), (64, 14, 14), 903_168, 4_672),
        # depthwise with channel multiplier 2: 32 * 1 * 9 * 8 * 8; params 32 * 9 + 32
        ("depthwise", (16, 15, 15), dict(out_channels=32, kernel_size=3, stride=2, padding=1, groups=16), (32, 8, 8),
         18_432, 320),
        # per-axis strides on 17x29: H' = (17 + 2 - 3) // 2 + 1 = 9, W' = (29 + 4 - 5) // 3 + 1 = 10
        ("strides_per_axis", (8, 17, 29), dict(out_channels=16, kernel_size=[3, 5], stride=[2, 3], padding=[1, 2]),
         (16, 9, 10), 16 * 8 * 15 * 9 * 10, 16 * 8 * 15 + 16),
        # grouped with in < out and a 1x1 kernel, stride 2 on an odd non-square input: H' = 4, W' = 6
        ("grouped_1x1_stride", (6, 7, 11), dict(out_channels=9, kernel_size=1, stride=2, groups=3, bias=False),
         (9, 4, 6), 9 * 2 * 4 * 6, 9 * 2),
    ],
)
def test_conv_hand_checked(case, in_shape, conv, out_shape, macs, params):
    spec = net([{"id": "op", "type": "conv2d", **conv}], in_shape)
    prof, row = _single(spec)
    assert row.out_shape == out_shape
    assert (prof.macs, prof.params) == (macs, params)
    # and torch agrees with the hand figures
    check_contract(spec)
    kw = {k: v for k, v in conv.items() if k != "out_channels"}
    ref = nn.Conv2d(in_shape[0], conv["out_channels"], **kw)
    assert sum(p.numel() for p in ref.parameters()) == params
    assert flop_counter_macs(ref, torch.randn(1, *in_shape)) == macs


def test_max_pool_k1_s2_ceil_mode_on_6x7_is_3x4():
    """ceil_mode keeps a last window only if it starts inside the input: 3x4, not 4x4."""
    spec = net([{"id": "op", "type": "max_pool2d", "kernel_size": 1, "stride": 2, "ceil_mode": True}], (1, 6, 7))
    prof, row = _single(spec)
    assert row.out_shape == (1, 3, 4)
    assert tuple(nn.MaxPool2d(1, 2, ceil_mode=True)(torch.randn(1, 1, 6, 7)).shape) == (1, 1, 3, 4)
    assert prof.macs == 0 and prof.params == 0


@pytest.mark.parametrize("size", range(1, 20))
@pytest.mark.parametrize("kernel, stride, padding", [(1, 2, 0), (2, 2, 0), (3, 2, 1), (3, 2, 0), (3, 3, 1), (2, 3, 1)])
def test_ceil_mode_pool_size_matches_torch(size, kernel, stride, padding):
    """The pooling shape rule against torch on every small size (ceil_mode is where counters go wrong)."""
    for mode in ("max_pool2d", "avg_pool2d"):
        spec = net([{"id": "op", "type": mode, "kernel_size": kernel, "stride": stride, "padding": padding,
                     "ceil_mode": True}], (1, size, size + 1))
        cls = nn.MaxPool2d if mode == "max_pool2d" else nn.AvgPool2d
        try:
            ref = tuple(cls(kernel, stride, padding, ceil_mode=True)(torch.randn(1, 1, size, size + 1)).shape[1:])
        except RuntimeError:  # torch refuses this window on this input; so must we, before building
            with pytest.raises(nascomp.SpecError, match="shrinks to zero"):
                nascomp.profile(spec)
            continue
        assert nascomp.profile(spec).output_shape == ref, (mode, size)


def _random_window_case(rng):
    """A random conv2d / max_pool2d / avg_pool2d node and the same torch module."""
    kind = rng.choice(["conv2d", "max_pool2d", "avg_pool2d"])
    h, w = rng.randint(1, 20), rng.randint(1, 20)
    kh, kw, sh, sw = rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 4)
    dh, dw = rng.randint(1, 3), rng.randint(1, 3)
    if kind == "conv2d":
        ph, pw, g = rng.randint(0, 4), rng.randint(0, 4), rng.choice([1, 2, 3])
        cin, cout, bias = g * rng.randint(1, 3), g * rng.randint(1, 3), rng.random() < 0.5
        node = dict(out_channels=cout, kernel_size=[kh, kw], stride=[sh, sw], padding=[ph, pw], dilation=[dh, dw],
                    groups=g, bias=bias)
        module = nn.Conv2d(cin, cout, (kh, kw), (sh, sw), (ph, pw), (dh, dw), g, bias)
    else:
        ph, pw, cin, ceil = rng.randint(0, kh // 2), rng.randint(0, kw // 2), 2, rng.random() < 0.5
        node = dict(kernel_size=[kh, kw], stride=[sh, sw], padding=[ph, pw], ceil_mode=ceil)
        if kind == "max_pool2d":
            node["dilation"] = [dh, dw]
            module = nn.MaxPool2d((kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode=ceil)
        else:
            module = nn.AvgPool2d((kh, kw), (sh, sw), (ph, pw), ceil_mode=ceil)
    return net([{"id": "op", "type": kind, **node}], (cin, h, w)), module, (cin, h, w)


def test_random_windows_match_torch():
    """300 random convs and pools (strides, paddings, dilations, groups, ceil_mode, per axis, tiny inputs): the shape,
    MACs and params of profile equal torch's; where torch fails or gives an empty output, profile raises SpecError."""
    import random

    rng = random.Random(0)
    for _ in range(300):
        spec, module, shape = _random_window_case(rng)
        try:
            with FlopCounterMode(display=False) as counter:
                y = module(torch.randn(1, *shape))
            expected = (tuple(y.shape[1:]), counter.get_total_flops() // 2, sum(p.numel() for p in module.parameters()))
            valid = 0 not in expected[0]
        except RuntimeError:
            valid = False
        if valid:
            prof = nascomp.profile(spec)
            assert (prof.output_shape, prof.macs, prof.params) == expected, spec
        else:
            with pytest.raises(nascomp.SpecError, match=r"node 'op'"):
                nascomp.profile(spec)
