"""train_spec: outputs, exact resume, foreign checkpoints, the recipe's parameter groups and schedule."""

import copy
import csv
import json
import math

import pytest
import torch

import nascomp
from nascomp._stop import StopFlag
from nascomp.errors import NascompError
from nascomp.train import RunConfig, train_spec
from nascomp.train.optim import make_optimizer, make_schedule, warmup_steps

from tests._search import one_thread  # noqa: F401 (fixture)
from tests._train import TINY_SPEC, write_spec

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = RunConfig(data="digits", epochs=3, batch_size=32, optimizer="sgd", lr=0.1, max_images=200, seed=3, device="cpu",
                   workers=0)  # the SGD path (the default is AdamW)


class StopAfter(StopFlag):
    """A stop flag that is set after ``polls`` polls, as if Ctrl-C arrived mid-epoch."""

    def __init__(self, polls: int):
        super().__init__()
        self.polls = polls

    @property
    def set(self) -> bool:
        self.polls -= 1
        if self.polls < 0 and self.signum is None:
            self.request()
        return self.signum is not None


def _weights(folder):
    return torch.load(folder / "weights.pt", weights_only=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    spec = write_spec(folder)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests that compare with it (CPU sums depend on the thread count)
    try:
        summary = train_spec(spec, CONFIG, out=folder / "out", progress=False)
    finally:
        torch.set_num_threads(threads)
    return spec, folder / "out", summary


def test_outputs_of_a_finished_run(finished):
    spec, out, summary = finished
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "curves.png", "metrics.csv", "spec.yaml",
                                                     "summary.json", "weights.pt"]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert set(rows[0]) >= {"epoch", "lr", "train_loss", "val_loss", "val_accuracy", "seconds"}
    # the classifier follows the data (10 digits, not the spec's 3) and the input its 8 px
    trained = nascomp.load_spec(out / "spec.yaml")
    assert trained.params["num_classes"] == 10 and trained.input_shape == (3, 8, 8)
    model = nascomp.build(trained)
    model.load_state_dict(_weights(out), strict=True)
    data = json.loads((out / "summary.json").read_text())
    p, n = data["test_accuracy"], data["test_n"]
    assert n == summary.test_n == 269  # digits' fixed held-out test split (15 % of each class)
    assert data["test_stderr"] == pytest.approx(math.sqrt(p * (1 - p) / n))
    assert data["params"] == sum(t.numel() for t in model.parameters())
    # conv 3->8 3x3 at 8x8, conv 8->8 3x3 stride 2 at 4x4, fc (8*4*4)->10 (by hand)
    assert data["macs"] == 3 * 8 * 9 * 64 + 8 * 8 * 9 * 16 + 128 * 10
    assert p > 0.4  # well above chance (0.1) after three short epochs


def test_interrupted_then_resumed_equals_uninterrupted(finished, tmp_path):
    spec, out, _ = finished
    # 6 steps per epoch (180 train images, batch 32): the 8th poll is in the middle of epoch 2
    first = train_spec(spec, CONFIG, out=tmp_path / "run", progress=False, stop=StopAfter(polls=7))
    assert first.interrupted and first.exit_code == 130 and first.epochs_done == 1
    assert not (tmp_path / "run" / "weights.pt").exists()
    assert len(list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))) == 1
    again = train_spec(spec, CONFIG, out=tmp_path / "run", progress=False)
    assert not again.interrupted and again.epochs_done == 3
    resumed, straight = _weights(tmp_path / "run"), _weights(out)
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert torch.equal(resumed[key], straight[key]), key
    assert again.test_accuracy == finished[2].test_accuracy


def test_foreign_checkpoint_is_refused_not_loaded(finished, tmp_path):
    spec, out, _ = finished
    before = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(NascompError, match="from another schedule.*refusing.*another --out folder or delete"):
        train_spec(spec, CONFIG.replace(lr=0.01), out=out, progress=False)
    other = write_spec(tmp_path, TINY_SPEC.replace("width: 8", "width: 4"), "other.yaml")
    with pytest.raises(NascompError, match="from another spec"):
        train_spec(other, CONFIG, out=out, progress=False)
    with pytest.raises(NascompError, match="from other data"):
        train_spec(spec, CONFIG.replace(max_images=150), out=out, progress=False)
    assert (out / "checkpoint.pt").read_bytes() == before


def test_no_weight_decay_on_norm_and_bias(finished):
    model = nascomp.build(nascomp.load_spec(finished[1] / "spec.yaml"))
    decay, no_decay = make_optimizer(model, CONFIG.engine_config()).param_groups
    norm_and_bias = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    norm_and_bias |= {id(m.bias) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
                      and m.bias is not None}
    assert {id(p) for p in no_decay["params"]} == norm_and_bias and no_decay["weight_decay"] == 0.0
    assert decay["weight_decay"] == CONFIG.weight_decay and all(p.ndim >= 2 for p in decay["params"])
    assert isinstance(make_optimizer(model, CONFIG.engine_config()), torch.optim.SGD) and decay["nesterov"] and decay["momentum"] == 0.9


def test_adamw_on_cpu_is_torchs_fused_kernel_and_steps_like_its_for_loop():
    """``make_optimizer`` uses ``AdamW(fused=True)`` on the CPU (faster); three steps from the same loss on a
    channels-last copy of a net lands where torch's default (for-loop) AdamW on a contiguous copy lands (no batch
    norm: a conv bias before one has a gradient of rounding noise only, which Adam scales up to a full step)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.LazyLinear(4))
    x = torch.randn(5, 3, 6, 6)
    net(x)
    ours, ref = copy.deepcopy(net).to(memory_format=torch.channels_last), copy.deepcopy(net)
    config = RunConfig(optimizer="adamw", lr=1e-2, weight_decay=0.05)
    opt = make_optimizer(ours, config.engine_config())
    assert opt.defaults["fused"] is True
    ref_opt = torch.optim.AdamW([{"params": [p for p in ref.parameters() if p.ndim >= 2], "weight_decay": 0.05},
                                 {"params": [p for p in ref.parameters() if p.ndim < 2], "weight_decay": 0.0}],
                                lr=config.peak_lr, foreach=False)
    for model, optimizer, inputs in ((ours, opt, x.contiguous(memory_format=torch.channels_last)), (ref, ref_opt, x)):
        for _ in range(3):
            optimizer.zero_grad()
            model(inputs).square().mean().backward()
            optimizer.step()
    for (name, a), b in zip(ours.state_dict().items(), ref.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name


def test_schedule_is_linear_warmup_then_torch_cosine():
    config = RunConfig(epochs=10, warmup_epochs=1, lr=0.2)
    spe = 20
    model = torch.nn.Linear(2, 2)
    opt = make_optimizer(model, config.engine_config())
    sched = make_schedule(opt, config.engine_config(), [spe] * config.epochs)
    warm = warmup_steps(config.engine_config(), spe)
    lrs = []
    for _ in range(config.epochs * spe):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert warm == 20 and lrs[:3] == pytest.approx([0.2 / 20, 0.4 / 20, 0.6 / 20]) and lrs[warm - 1] == pytest.approx(0.2)
    ref_opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.2)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=config.epochs * spe - warm)
    for i in range(config.epochs * spe - warm):
        assert lrs[warm + i] == pytest.approx(ref_opt.param_groups[0]["lr"], abs=1e-12), i
        ref_opt.step()
        ref.step()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"epochs": 0}, "--epochs must be a whole number of at least 1"),
    ({"lr": -1.0}, "--lr must be positive"),
    ({"label_smoothing": 1.0}, "--label-smoothing"),
    ({"optimizer": "adam"}, "--optimizer must be one of adamw, sgd"),
])
def test_bad_settings(kwargs, fragment):
    with pytest.raises(NascompError, match=fragment):
        RunConfig(**kwargs)


@pytest.mark.parametrize("content, fragment", [
    (b"", "the file is truncated or corrupt"),
    (b"garbage" * 10, "it cannot be read with weights_only=True"),
])
def test_an_unreadable_checkpoint_is_one_complete_sentence(tmp_path, content, fragment):
    """Issue 22: torch's text ('... there is a high likelihood ...') was cut at 160 characters."""
    from nascomp.train.checkpoint import load_checkpoint

    path = tmp_path / "checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(nascomp.NascompError) as info:
        load_checkpoint(path, {"spec": "", "data": "", "schedule": ""})
    message = str(info.value)
    assert fragment in message and "high" not in message and "weights_only=False" not in message
    assert message.endswith(f"to start fresh, use another --out folder or delete {path}")
