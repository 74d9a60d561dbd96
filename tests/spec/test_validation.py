"""Issue 2, validation: every bad input is a ``nascomp.SpecError`` naming file:line and node id, saying what was
found and what was expected, raised before anything is built; through the CLI, exit code 2 with exactly one line on
stderr, no traceback, and no file written.

All files live in a temporary folder whose path contains spaces. The messages are matched by their text (house
style: tests match the message), one case per bad input of issue 2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import nascomp

HEAD = "name: bad_net\ninput_shape: [3, 32, 32]\nnodes:\n"  # nodes start on line 4

# case id -> (YAML text, line the message names, node id the message names or None, fragments the message holds)
CASES: dict[str, tuple[str, int, str | None, list[str]]] = {
    "malformed_yaml_flow": (
        "name: bad_net\ninput_shape: [3, 32, 32\nnodes:\n  - {id: a, type: relu}\n",
        3, None, ["malformed YAML", "expected ',' or ']'"]),
    "malformed_yaml_indent": (
        HEAD + "  - id: a\n   type: relu\n", 5, None, ["malformed YAML"]),
    "unknown_type": (
        HEAD + "  - {id: stem, type: conv2dd, out_channels: 8, kernel_size: 3}\n",
        4, "stem", ["unknown type 'conv2dd'", "did you mean 'conv2d'", "ops and blocks:"]),
    "unknown_block_type": (
        HEAD + "  - {id: b1, type: botleneck, planes: 8}\n", 4, "b1", ["unknown type 'botleneck'", "'bottleneck'"]),
    "missing_id": (HEAD + "  - {id: a, type: relu}\n  - {type: relu}\n", 5, None, ["node #2 has no 'id'"]),
    "duplicate_id": (
        HEAD + "  - {id: a, type: relu}\n  - {id: a, type: sigmoid}\n",
        5, "a", ["duplicate id 'a'", "first defined at line 4", "unique"]),
    "unknown_input_id": (
        HEAD + "  - {id: a, type: relu}\n  - {id: b, type: relu, inputs: zz}\n",
        5, "b", ["input 'zz' is not a node of this scope", "ids here: input, a, b"]),
    "cycle": (
        HEAD + "  - {id: a, type: add, inputs: [input, b]}\n  - {id: b, type: relu, inputs: a}\n",
        4, "a", ["cycle", "a -> b -> a"]),
    "add_mismatched": (
        HEAD + "  - {id: a, type: conv2d, out_channels: 8, kernel_size: 1}\n  - {id: s, type: add, inputs: [input, a]}\n",
        5, "s", ["add of mismatched shapes (3, 32, 32), (8, 32, 32)", "broadcastable"]),
    "mul_mismatched": (
        HEAD + "  - {id: a, type: conv2d, out_channels: 3, kernel_size: 1, stride: 2}\n"
        "  - {id: s, type: mul, inputs: [input, a]}\n",
        5, "s", ["mul of mismatched shapes (3, 32, 32), (3, 16, 16)"]),
    "concat_385_vs_384": (
        # two stride-2 branches on a 769-pixel input: (769 + 2 - 3) // 2 + 1 = 385 and (769 - 3) // 2 + 1 = 384
        "name: bad_net\ninput_shape: [3, 769, 769]\nnodes:\n"
        "  - {id: a, type: conv2d, inputs: input, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}\n"
        "  - {id: b, type: conv2d, inputs: input, out_channels: 4, kernel_size: 3, stride: 2, padding: 0}\n"
        "  - {id: cat, type: concat, inputs: [a, b]}\n",
        6, "cat", ["concat of mismatched spatial sizes", "(4, 385, 385), (4, 384, 384)"]),
    "groups_not_dividing_in": (
        HEAD + "  - {id: g, type: conv2d, out_channels: 8, kernel_size: 3, groups: 2}\n",
        4, "g", ["groups=2 does not divide in_channels=3"]),
    "groups_not_dividing_out": (
        HEAD + "  - {id: g, type: conv2d, out_channels: 5, kernel_size: 3, groups: 3}\n",
        4, "g", ["groups=3 does not divide out_channels=5"]),
    "groups_in_a_block": (
        HEAD + "  - {id: stem, type: relu}\n  - {id: b1, type: grouped_conv, cardinality: 2, width_per_group: 4}\n",
        5, "b1.conv", ["groups=2 does not divide in_channels=3", "in block 'grouped_conv'", "conv.yaml:"]),
    "spatial_to_zero_conv": (
        "name: bad_net\ninput_shape: [3, 8, 8]\nnodes:\n"
        "  - {id: s, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2}\n"
        "  - {id: t, type: conv2d, out_channels: 8, kernel_size: 5}\n",
        5, "t", ["spatial size shrinks to zero", "input 3x3 with kernel 5x5"]),
    "spatial_to_zero_pool": (
        "name: bad_net\ninput_shape: [3, 4, 4]\nnodes:\n"
        "  - {id: p1, type: max_pool2d, kernel_size: 2}\n  - {id: p2, type: max_pool2d, kernel_size: 2}\n"
        "  - {id: p3, type: max_pool2d, kernel_size: 2}\n",
        6, "p3", ["spatial size shrinks to zero", "input 1x1"]),
    "param_wrong_type": (
        HEAD + "  - {id: c, type: conv2d, out_channels: eight, kernel_size: 3}\n",
        4, "c", ["'out_channels' must be an integer, found string 'eight'"]),
    "param_float_for_int": (
        HEAD + "  - {id: c, type: conv2d, out_channels: 8.0, kernel_size: 3}\n",
        4, "c", ["'out_channels' must be an integer, found float 8.0", "write 8"]),
    "param_out_of_range": (
        HEAD + "  - {id: c, type: conv2d, out_channels: 0, kernel_size: 3}\n", 4, "c", ["'out_channels' must be >= 1", "found int 0"]),
    "param_above_max": (HEAD + "  - {id: d, type: dropout, p: 1.5}\n", 4, "d", ["'p' must be <= 1", "found float 1.5"]),
    "param_not_a_choice": (
        HEAD + "  - {id: g, type: global_pool, mode: mean}\n", 4, "g", ["'mode' must be one of avg, max", "found string 'mean'"]),
    "block_param_out_of_range": (
        HEAD + "  - {id: b1, type: bottleneck, planes: 0}\n", 4, "b1", ["block 'bottleneck'", "'planes' must be >= 1"]),
    "unknown_param": (
        HEAD + "  - {id: c, type: conv2d, out_channel: 8, kernel_size: 3}\n",
        4, "c", ["unknown parameter 'out_channel'", "did you mean 'out_channels'"]),
    "missing_param": (HEAD + "  - {id: c, type: conv2d, kernel_size: 3}\n", 4, "c", ["missing required parameter 'out_channels'"]),
    "yaml11_bool_on": (
        HEAD + "  - {id: c, type: conv2d, out_channels: 8, kernel_size: 3,\n     bias: on}\n",
        5, "c", ["'bias' must be true or false, found string 'on'", "write true or false"]),
    "yaml11_bool_no": (
        HEAD + "  - {id: c, type: conv2d, out_channels: 8, kernel_size: 3, bias: no}\n",
        4, "c", ["'bias' must be true or false, found string 'no'"]),
    "unknown_output_id": (
        HEAD + "  - {id: a, type: relu}\n  - {id: b, type: relu}\noutput: aa\n",
        6, None, ["output 'aa' of the spec is not one of its node ids", "did you mean 'a'", "(ids: a, b)"]),
    "unknown_block_output_id": (
        "name: bad_net\ninput_shape: [3, 32, 32]\nblocks:\n  my_block:\n    nodes: [{id: a, type: relu}]\n"
        "    output: b\nnodes:\n  - {id: x, type: my_block}\n",
        6, None, ["output 'b' of block 'my_block' is not one of its node ids"]),
    "unknown_aux_output_id": (
        HEAD + "  - {id: a, type: relu}\n  - {id: b, type: relu}\naux_outputs: [b, aa]\n",
        6, None, ["aux output 'aa' of the spec is not one of its node ids", "did you mean 'a'"]),
    "duplicate_mapping_key": (
        HEAD + "  - id: c\n    type: conv2d\n    out_channels: 8\n    kernel_size: 3\n    out_channels: 4\n",
        8, None, ["duplicate key 'out_channels'", "first at line 6"]),
    "duplicate_top_level_key": (
        HEAD + "  - {id: a, type: relu}\nname: other\n", 5, None, ["duplicate key 'name'", "first at line 1"]),
}


@pytest.fixture()
def spec_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "my specs dir"
    folder.mkdir()
    return folder


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name} net.yaml"
    path.write_text(text)
    return path


def _check_message(message: str, path: Path, line: int, node: str | None, fragments: list[str]) -> None:
    assert message.startswith(f"{path}:{line}: "), f"message does not start with {path}:{line}: {message!r}"
    if node is not None:
        assert f"node '{node}'" in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_spec_raises_spec_error(case, spec_dir):
    text, line, node, fragments = CASES[case]
    path = _write(spec_dir, case, text)
    with pytest.raises(nascomp.SpecError) as info:
        nascomp.build(path)
    err = info.value
    _check_message(str(err), path, line, node, fragments)
    assert (err.file, err.line) == (str(path), line)
    if node is not None:
        assert err.node == node
    # profile runs the same checks (nothing is built there either)
    with pytest.raises(nascomp.SpecError):
        nascomp.profile(path)


def test_errors_in_yaml_text_name_the_line():
    with pytest.raises(nascomp.SpecError, match=r"^<text>:4: node 'c': op 'conv2d': 'out_channels' must be >= 1"):
        nascomp.build(HEAD + "  - {id: c, type: conv2d, out_channels: 0, kernel_size: 3}\n")


def test_whole_spec_is_validated_before_anything_is_built(spec_dir, monkeypatch):
    """A bad last node fails before a single module is constructed."""
    body = "".join(f"  - {{id: c{i}, type: conv2d, out_channels: 64, kernel_size: 3, padding: 1}}\n" for i in range(20))
    path = _write(spec_dir, "late_error", HEAD + body + "  - {id: bad, type: conv2d, out_channels: 8, kernel_size: 3, groups: 3}\n")
    created = []
    original = torch.nn.Module.__init__

    def counting_init(self, *args, **kwargs):
        created.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__init__", counting_init)
    with pytest.raises(nascomp.SpecError, match=r":24: node 'bad': groups=3 does not divide"):
        nascomp.build(path)
    assert created == []


# --- YAML 1.1 traps and unsafe YAML -------------------------------------------------------------------------------


def test_exponent_without_dot_is_a_float(spec_dir):
    """PyYAML reads ``1e-3`` as the string "1e-3" (YAML 1.1); nascomp reads it as the float 0.001."""
    path = _write(spec_dir, "eps", HEAD + "  - {id: bn, type: batch_norm2d, eps: 1e-3}\n  - {id: d, type: dropout, p: 5e-1}\n")
    model = nascomp.build(path)
    assert model.bn.eps == 0.001 and isinstance(model.bn.eps, float)
    assert model.d.p == 0.5
    spec = nascomp.load_spec("name: t\ninput_shape: [3, 8, 8]\nparams: {lr: 1e-3, big: 2E+3, n: 10}\nnodes: [{id: a, type: relu}]")
    assert spec.params == {"lr": 0.001, "big": 2000.0, "n": 10}
    assert type(spec.params["n"]) is int


def test_yes_no_on_off_are_not_booleans():
    spec = nascomp.load_spec("name: t\ninput_shape: [3, 8, 8]\nparams: {a: on, b: no, c: yes, d: off, e: true}\nnodes: [{id: a, type: relu}]")
    assert spec.params == {"a": "on", "b": "no", "c": "yes", "d": "off", "e": True}


@pytest.mark.parametrize(
    "tag",
    ["!!python/object/apply:os.system", "!!python/object/new:os.system", "!!python/name:os.system", "!!python/object:os.system"],
)
def test_python_tag_is_an_error_and_never_runs(spec_dir, tag):
    marker = spec_dir / "MARKER was created"
    text = HEAD + f"  - id: c\n    type: relu\n    doc: {tag} [\"touch '{marker}'\"]\n"
    path = _write(spec_dir, "tag", text)
    with pytest.raises(nascomp.SpecError) as info:
        nascomp.load_spec(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:6: ")
    assert "is not allowed" in msg and "safe loader" in msg and "python/" in msg
    with pytest.raises(nascomp.SpecError):
        nascomp.load_spec(text)
    assert not marker.exists()


def _billion_laughs(levels: int = 9, width: int = 10) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_within_a_second(spec_dir):
    path = _write(spec_dir, "lol", _billion_laughs())
    start = time.perf_counter()
    with pytest.raises(nascomp.SpecError, match=r"billion laughs"):
        nascomp.load_spec(path)
    assert time.perf_counter() - start < 1.0
    start = time.perf_counter()
    with pytest.raises(nascomp.SpecError):
        nascomp.load_spec(_billion_laughs(levels=30, width=30))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "name: t\nnodes: &n\n  - {id: a, type: relu, doc: *n}\n"])
def test_recursive_alias_is_refused_within_a_second(text):
    """An alias inside its own anchor would expand forever (the size guard itself must not loop)."""
    start = time.perf_counter()
    with pytest.raises(nascomp.SpecError, match=r"^<text>:\d+: refused: recursive alias"):
        nascomp.load_spec(text)
    assert time.perf_counter() - start < 1.0


def test_modest_aliases_still_work():
    text = (
        "name: t\ninput_shape: [3, 16, 16]\nnodes:\n"
        "  - &c {id: c1, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n"
        "  - {<<: *c, id: c2}\n"
    )
    prof = nascomp.profile(text)
    assert prof.output_shape == (4, 16, 16)
    assert [r.id for r in prof.rows()] == ["c1", "c2"]  # an explicit key overrides a merged one (YAML merge)
    with pytest.raises(nascomp.SpecError, match=r"^<text>:5: duplicate key 'id'"):
        nascomp.load_spec(text.replace("id: c2}", "id: c2, id: c3}"))


# --- the same through the CLI -------------------------------------------------------------------------------------

NASCOMP = str(Path(sys.executable).parent / "nascomp")


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([NASCOMP, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


# Each CLI run starts a Python process that imports torch (2-3 s of CPU); the messages themselves are all checked
# in-process above, so the fast suite runs one CLI case per kind of problem and the rest are marked slow.
_FAST_CLI = {
    "malformed_yaml_flow", "unknown_type", "duplicate_id", "cycle", "concat_385_vs_384", "groups_in_a_block",
    "spatial_to_zero_conv", "param_wrong_type", "yaml11_bool_on", "duplicate_mapping_key", "python_tag",
    "billion_laughs", "recursive_alias",
}
_CLI_CASES = [
    pytest.param(c, marks=[] if c in _FAST_CLI else [pytest.mark.slow])
    for c in sorted(CASES) + ["python_tag", "billion_laughs", "recursive_alias"]
]


@pytest.mark.parametrize("case", _CLI_CASES)
def test_cli_bad_spec_exits_2_with_one_line(case, spec_dir):
    marker = spec_dir / "MARKER"
    if case == "python_tag":
        text, line, node, fragments = (
            HEAD + f"  - {{id: c, type: relu, doc: !!python/object/apply:os.system [\"touch '{marker}'\"]}}\n",
            4, None, ["is not allowed"])
    elif case == "billion_laughs":
        text, line, node, fragments = _billion_laughs(), 1, None, ["billion laughs"]
    elif case == "recursive_alias":
        text, line, node, fragments = HEAD + "  - &n {id: a, type: relu, doc: *n}\n", 4, None, ["recursive alias"]
    else:
        text, line, node, fragments = CASES[case]
    path = _write(spec_dir, case, text)
    before = sorted(p.name for p in spec_dir.iterdir())
    proc = _run_cli("build", str(path), cwd=spec_dir)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    prefix = "nascomp build: error: "
    assert lines[0].startswith(prefix)
    _check_message(lines[0][len(prefix):], path, line, node, fragments)
    assert sorted(p.name for p in spec_dir.iterdir()) == before, "the CLI wrote a file"
    assert not marker.exists()


def test_cli_missing_file_and_unknown_zoo_name(spec_dir):
    proc = _run_cli("build", str(spec_dir / "nope.yaml"), cwd=spec_dir)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "not found" in proc.stderr and "nope.yaml" in proc.stderr
    proc = _run_cli("profile", "resnet5O", cwd=spec_dir)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert re.search(r"did you mean 'resnet50'", proc.stderr), proc.stderr


def test_cli_bad_override_and_input(spec_dir):
    proc = _run_cli("profile", "resnet18", "--set", "num_clases=10", cwd=spec_dir)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "no parameter 'num_clases'" in proc.stderr and "did you mean 'num_classes'" in proc.stderr
    proc = _run_cli("profile", "resnet18", "--input", "3x0x224", cwd=spec_dir)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "--input must be CxHxW" in proc.stderr


# --- user blocks that use themselves --------------------------------------------------------------------------------

_RECURSIVE = {
    "direct": "  loop:\n    nodes:\n      - {id: a, type: relu}\n      - {id: b, type: loop}\n",
    "mutual": "  ping:\n    nodes: [{id: a, type: pong}]\n  pong:\n    nodes: [{id: a, type: ping}]\n",
}


@pytest.mark.parametrize("case", sorted(_RECURSIVE))
def test_runaway_recursive_block_is_a_spec_error(case, spec_dir):
    """A block that uses itself without an end is a SpecError naming the call site, not a RecursionError."""
    first = "loop" if case == "direct" else "ping"
    text = "name: bad_net\ninput_shape: [3, 8, 8]\nblocks:\n" + _RECURSIVE[case] + f"nodes:\n  - {{id: x, type: {first}}}\n"
    path = _write(spec_dir, f"recursive {case}", text)
    line = text.count("\n")  # the node using the block is the last line
    with pytest.raises(nascomp.SpecError) as info:
        nascomp.profile(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{line}: node 'x.")
    assert "nest more than" in msg and "needs a 'when' that ends the recursion" in msg
    assert (" -> pong -> " in msg) if case == "mutual" else ("loop -> loop" in msg)


def test_recursion_ended_by_when_is_allowed():
    text = (
        "name: t\ninput_shape: [3, 8, 8]\nblocks:\n  halve:\n    params: {n: {type: int, min: 0}}\n    nodes:\n"
        "      - {id: pool, type: max_pool2d, kernel_size: 2}\n"
        "      - {id: more, type: halve, n: '${n - 1}', when: '${n > 1}'}\n"
        "nodes:\n  - {id: x, type: halve, n: 3}\n"
    )
    prof = nascomp.profile(text)
    assert prof.output_shape == (3, 1, 1)  # 8 -> 4 -> 2 -> 1
    assert tuple(nascomp.build(text)(torch.randn(1, 3, 8, 8)).shape) == (1, 3, 1, 1)
