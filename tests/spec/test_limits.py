"""Large inputs (issue 12): a spec file over the byte limit is refused before it is read, a document of too many
nodes before any node is built, and each refusal says what it found (not "billion laughs" for a plain big file)."""

from __future__ import annotations

import time

import pytest

import nascomp
from tests._cli import assert_one_line_error, run_cli
from nascomp.spec._yaml import MAX_EXPANDED_NODES, MAX_NODES, MAX_SPEC_BYTES


def test_a_file_over_the_byte_limit_is_refused_naming_the_limit_and_its_size(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "w") as f:  # 5 MiB of valid YAML, no alias
        f.write("name: big\nnodes:\n")
        f.write("  - {id: r, type: relu}\n" * (5 * 2**20 // 24))
    size = path.stat().st_size
    assert size > MAX_SPEC_BYTES
    started = time.monotonic()
    line = assert_one_line_error(run_cli("profile", str(path), cwd=tmp_path),
                                 f"{size:,} bytes", "over the 4 MiB limit", str(path))
    assert "billion" not in line and "alias" not in line
    assert time.monotonic() - started < 60


def test_a_document_of_too_many_nodes_is_refused_quickly(tmp_path):
    text = "name: many\nparams: {xs: [" + "1," * (MAX_NODES + 10) + "1]}\n"
    assert len(text) < MAX_SPEC_BYTES
    started = time.monotonic()
    with pytest.raises(nascomp.SpecError, match=f"more than {MAX_NODES:,} YAML nodes") as info:
        nascomp.load_spec(text)
    assert time.monotonic() - started < 5
    assert "billion" not in str(info.value)
    path = tmp_path / "many.yaml"
    path.write_text(text)
    assert_one_line_error(run_cli("build", str(path), cwd=tmp_path), f"{len(text):,} bytes", "100,000 YAML nodes")


def test_aliases_keep_their_own_message():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(nascomp.SpecError, match="billion laughs") as info:
        nascomp.load_spec("\n".join(levels) + "\nname: lol\n")
    assert f"{MAX_EXPANDED_NODES:,}" in str(info.value)


def test_yaml_text_over_the_byte_limit_is_refused():
    from nascomp.spec._yaml import load_yaml

    with pytest.raises(nascomp.SpecError, match="the YAML text is 4.0 MiB"):
        load_yaml("#" * (MAX_SPEC_BYTES + 1))
