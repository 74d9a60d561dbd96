"""Every canonical zoo net equals its reference (torchvision 0.29.1 or timm 1.0.31) to the last weight.

For each net: the reference's ``state_dict`` loads into ours with ``strict=True`` (same keys, same shapes), the
parameter counts agree, every conv/BatchNorm/linear has the reference's hyper-parameters, and with the reference's
weights the eval-mode outputs agree to float32 rounding; in train mode, forward and backward are finite and every
parameter gets a gradient. Reference models are randomly initialised (never downloaded); their BatchNorms get random
statistics first, since fresh ones are identities in eval mode and would hide a misplaced BatchNorm or a wrong
``eps`` (and timm zero-initialises each block's last BatchNorm, which would hide the whole residual branch).

Cost on 2 CPU cores: the nets in ``SLOW_NETS`` are marked ``slow`` and compared at a smaller input; everything runs
under ``torch.no_grad`` except the backward check, which reuses the built net on a 64x64 input (80x80 for
Inception v3, whose stem needs 75x75).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nascomp
from nascomp.zoo import zoo_names
from tests._zoo_refs import (
    CANONICAL_NETS,
    SLOW_NETS,
    build_reference,
    num_params,
    randomize_normalization,
    spec_reference,
)

BATCH = 2
# Inputs of the backward / NaN checks: as small as the net allows (Inception v3 needs at least 75x75).
SMALL_INPUT = {"inception_v3": (3, 80, 80)}
SMALL_DEFAULT = (3, 64, 64)


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_NETS else n for n in names]


def _equivalence_input(name: str) -> tuple[int, int, int]:
    """The reference input shape; slow 224x224 nets are compared at 128x128 (every layer still sees >= 4x4)."""
    shape = tuple(spec_reference(name)["input_shape"])
    if name in SLOW_NETS and name != "inception_v3":
        return (shape[0], 128, 128)
    return shape


def _pair(name: str, **overrides) -> tuple[nn.Module, nn.Module]:
    """(ours, reference) with the reference's randomised weights loaded into ours (strict), both in eval mode."""
    torch.manual_seed(0)
    reference = build_reference(name, **overrides)
    randomize_normalization(reference)
    ours = nascomp.build(name, **overrides)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return ours.eval(), reference.eval()


def _assert_same_hyperparameters(ours: nn.Module, reference: nn.Module) -> None:
    """Conv, BatchNorm, linear (and pooling) layers of the same name have the same settings, not only shapes."""
    our_modules = dict(ours.named_modules())
    for module_name, ref_module in reference.named_modules():
        if isinstance(ref_module, nn.Conv2d):
            fields = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups")
        elif isinstance(ref_module, nn.modules.batchnorm._BatchNorm):
            fields = ("num_features", "eps", "affine")
        elif isinstance(ref_module, nn.Linear):
            fields = ("in_features", "out_features")
        elif isinstance(ref_module, (nn.MaxPool2d, nn.AvgPool2d)):
            # Parameter-free, so not in the state_dict: compared where ours has a pool of the same name and kind.
            if type(our_modules.get(module_name)) is not type(ref_module):
                continue
            fields = ("kernel_size", "stride", "padding", "ceil_mode")
        else:
            continue
        mine = our_modules.get(module_name)
        assert mine is not None, f"ours has no module '{module_name}'"
        for field in fields:
            ours_value, ref_value = _as_pair(getattr(mine, field)), _as_pair(getattr(ref_module, field))
            assert ours_value == ref_value, f"{module_name}.{field}: ours {ours_value!r}, reference {ref_value!r}"


def _as_pair(value):
    """Pools keep ``kernel_size=3`` as given, convs as ``(3, 3)``: compare ints as pairs."""
    return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value


@pytest.mark.parametrize("name", _params(CANONICAL_NETS))
def test_equals_reference(name):
    ours, reference = _pair(name)
    assert num_params(ours) == num_params(reference) == spec_reference(name)["params"]
    _assert_same_hyperparameters(ours, reference)
    x = torch.randn(BATCH, *_equivalence_input(name), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(x)
        actual = ours(x)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    _assert_backward_finite(name, ours)


def _assert_backward_finite(name: str, model: nn.Module) -> None:
    """Train-mode forward and backward on a small input: finite output, a finite gradient for every parameter."""
    model.train()
    x = torch.randn(BATCH, *SMALL_INPUT.get(name, SMALL_DEFAULT), generator=torch.Generator().manual_seed(2))
    out = model(x)
    assert torch.isfinite(out).all(), f"{name}: non-finite output in train mode"
    out.square().mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"{name}: no gradient reaches {no_grad[:5]} ({len(no_grad)} in all)"
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:5]}"


def test_every_zoo_net_has_a_reference():
    # Every canonical net is held against a reference model (the equivalence tests above run over CANONICAL_NETS).
    assert sorted(set(zoo_names()) - set(CANONICAL_NETS)) == []


@pytest.mark.parametrize("name", ["resnext50_32x4d", "se_resnet18", "legacy_seresnet50", "densenet121", "googlenet"])
def test_num_classes_override_equals_reference(name):
    # Only the classifier changes, so a 112x112 input suffices.
    ours, reference = _pair(name, num_classes=2)
    x = torch.randn(BATCH, 3, 112, 112, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(x)
        actual = ours(x)
    assert actual.shape == (BATCH, 2)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["densenet121", "googlenet"])
def test_gradients_reach_every_parameter(name):
    # DenseNet's concatenations are where a wrongly wired graph silently drops a layer: every parameter must get a
    # non-zero gradient.
    torch.manual_seed(0)
    model = nascomp.build(name, num_classes=10).train()
    model(torch.randn(BATCH, *SMALL_DEFAULT)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"{name}: no gradient reaches {missing[:10]} ({len(missing)} in all)"


@pytest.mark.parametrize("name", ["googlenet", pytest.param("inception_v3", marks=pytest.mark.slow)])
def test_aux_heads_equal_reference(name):
    # `aux_logits=True` adds the auxiliary classifiers as training-only outputs: train mode returns
    # (logits, aux2, aux1) for GoogLeNet and (logits, aux) for Inception v3, as torchvision's namedtuples; eval mode
    # returns the logits only. Dropout is switched off on both sides so the train-mode outputs are deterministic.
    ours, reference = _pair(name, aux_logits=True)
    assert num_params(ours) == num_params(reference) == nascomp.profile(name, aux_logits=True).params
    x = torch.randn(BATCH, *spec_reference(name)["input_shape"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-5)
        for model in (ours, reference):
            model.train()
            for module in model.modules():
                if isinstance(module, nn.Dropout):
                    module.eval()
        actual, expected = ours(x), tuple(reference(x))
    assert isinstance(actual, tuple) and len(actual) == len(expected)
    for ours_out, ref_out in zip(actual, expected):
        torch.testing.assert_close(ours_out, ref_out, rtol=1e-4, atol=1e-5)


def _capture(model: nn.Module, module_name: str, x: torch.Tensor) -> torch.Tensor:
    captured = []
    handle = dict(model.named_modules())[module_name].register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return captured[0]


@pytest.mark.parametrize(
    ("name", "block", "expanded", "reduced"),
    [("se_resnet50", "layer1.0", 256, 16), ("se_resnet50", "layer4.2", 2048, 128), ("se_resnet18", "layer1.0", 64, 8)],
)
def test_se_gate_spans_the_expanded_channels(name, block, expanded, reduced):
    # The gate scales the block's expanded output: shape (N, C, 1, 1) with C = planes * expansion, reduced width C/16
    # (timm rounds to a multiple of 8: se_resnet18's first stage has 64 / 16 = 4 -> 8).
    model = nascomp.build(name).eval()
    assert model.get_submodule(f"{block}.se.fc1").out_channels == reduced
    gate_logits = _capture(model, f"{block}.se.fc2", torch.randn(BATCH, *SMALL_DEFAULT))
    assert gate_logits.shape == (BATCH, expanded, 1, 1)


def test_resnext50_group_width():
    # 32 groups of 4 channels in the first stage (128 channels), doubling per stage; the output widths are ResNet's.
    model = nascomp.build("resnext50_32x4d")
    for stage, width in zip(range(1, 5), (128, 256, 512, 1024)):
        conv2 = model.get_submodule(f"layer{stage}.0.conv2")
        assert (conv2.groups, conv2.in_channels, conv2.out_channels) == (32, width, width)
        assert model.get_submodule(f"layer{stage}.0.conv3").out_channels == 256 * 2 ** (stage - 1)
