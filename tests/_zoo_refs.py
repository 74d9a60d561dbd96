"""Shared helpers of the zoo tests: the canonical names, their reference figures and reference models.

Each zoo spec names its reference model and figures in its ``reference`` mapping; the figures were measured with
torch 2.14.1, torchvision 0.29.1 and timm 1.0.31 on randomly initialised reference models and are kept, with their
measurement protocol, in ``tests/zoo/canonical_nets.json`` (a copy of the team's
``../shared/reference/canonical_nets.json``, so that a clone runs every test). Reference models are always built without pretrained weights (``weights=None`` /
``pretrained=False``): nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from pathlib import Path

import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_JSON = REPO_ROOT / "tests" / "zoo" / "canonical_nets.json"

# The nets issue 3 asks for, with the reference they must equal. Names are zoo names (= zoo/<name>.yaml).
TORCHVISION_NETS = (
    "alexnet",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "googlenet", "inception_v3",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
    "wide_resnet50_2", "wide_resnet101_2",
)  # fmt: skip
TIMM_NETS = (
    "se_resnet18", "se_resnet34", "se_resnet50", "se_resnet101", "se_resnet152",
    "se_resnext50_32x4d", "se_resnext101_32x4d",
    "legacy_seresnet50", "legacy_seresnext50_32x4d",
)  # fmt: skip
CANONICAL_NETS = TORCHVISION_NETS + TIMM_NETS

# Nets whose build + reference build + forward take more than a few seconds on 2 CPU cores.
SLOW_NETS = frozenset({
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "inception_v3", "densenet161", "densenet201", "resnet152",
    "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
    "se_resnet152", "se_resnext101_32x4d",
})  # fmt: skip

# Figures in a spec's `doc`, e.g. "params: 25,557,032" and "MACs: 4,089,184,256".
DOC_PARAMS_RE = re.compile(r"\bparams:\s*([\d,]+)")
DOC_MACS_RE = re.compile(r"\bMACs:\s*([\d,]+)")


@functools.cache
def reference_figures() -> dict[str, dict]:
    """The ``nets`` mapping of the reference JSON (name -> params, macs, input_shape, reference, ...)."""
    return json.loads(REFERENCE_JSON.read_text())["nets"]


def doc_figures(doc: str) -> tuple[int | None, int | None]:
    """(params, MACs) stated in a spec's doc, or None where a figure is missing."""
    params = DOC_PARAMS_RE.search(doc)
    macs = DOC_MACS_RE.search(doc)
    return (
        int(params.group(1).replace(",", "")) if params else None,
        int(macs.group(1).replace(",", "")) if macs else None,
    )


def spec_reference(name: str) -> dict:
    """The ``reference`` mapping of zoo net ``name``'s spec (source, kwargs, input_shape, params, macs)."""
    import nascomp

    reference = nascomp.load_spec(name).reference
    assert reference, f"zoo/{name}.yaml has no 'reference' mapping"
    return reference


def build_reference(name: str, **overrides) -> nn.Module:
    """The reference model of zoo net ``name`` (its spec's ``reference.source``), randomly initialised.

    ``torchvision.models.resnet50`` is called with ``weights=None``; ``timm:seresnet50`` is created with
    ``pretrained=False``: nothing is ever downloaded.
    """
    reference = spec_reference(name)
    source = reference["source"]
    kwargs = {**reference.get("kwargs", {}), **overrides}
    if source.startswith("timm:"):
        import timm

        return timm.create_model(source.removeprefix("timm:"), pretrained=False, **kwargs)
    module_name, _, fn_name = source.rpartition(".")
    return getattr(importlib.import_module(module_name), fn_name)(weights=None, **kwargs)


@torch.no_grad()
def randomize_normalization(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial affine parameters and running statistics.

    Freshly initialised BatchNorms are identities in eval mode (mean 0, var 1, weight 1, bias 0), so an equivalence
    test on them cannot see a misplaced BatchNorm or a wrong ``eps``; this makes them visible.
    """
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            module.running_var.copy_(0.7 + 0.6 * torch.rand(n, generator=gen))
            if module.affine:
                module.weight.copy_(0.7 + 0.6 * torch.rand(n, generator=gen))
                module.bias.copy_(0.1 * torch.randn(n, generator=gen))


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
