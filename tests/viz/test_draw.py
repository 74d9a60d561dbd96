"""``nascomp draw``: a picture for every zoo net, one box per top-level node, shapes on edges, costs in boxes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nascomp
from nascomp.errors import NascompError
from nascomp.graph.expander import Sub
from nascomp.viz import INPUT_NODE, OUTPUT_NODE, dot_available, draw, to_graph
from nascomp.zoo import zoo_names
from tests._cli import assert_one_line_error, run_cli
from tests.conftest import require_service

# A DOT node statement: an id (quoted or bare) then attributes; edges (`a -> b`) and `graph/node/edge [..]` excluded.
_NODE_RE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[A-Za-z_0-9.]+)\s*\[', re.M)
_EDGE_RE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[A-Za-z_0-9.]+)\s*->\s*("(?:[^"\\]|\\.)*"|[A-Za-z_0-9.]+)\s*\[label="?([^"\]]*)"?', re.M)

TINY = """
name: tiny_branches
input_shape: [3, 16, 16]
params: {num_classes: 5}
nodes:
  - {id: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {id: left, type: conv2d, out_channels: 4, kernel_size: 1, inputs: stem}
  - {id: right, type: conv_bn_act, out_channels: 6, kernel_size: 3, padding: 1, inputs: stem}
  - {id: cat, type: concat, inputs: [left, right]}
  - {id: pool, type: global_pool, keepdim: false}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""


def _unquote(token: str) -> str:
    return token[1:-1].replace('\\"', '"') if token.startswith('"') else token


def dot_nodes(source: str) -> list[str]:
    return [_unquote(t) for t in _NODE_RE.findall(source) if t not in ("graph", "node", "edge")]


def dot_edges(source: str) -> list[tuple[str, str, str]]:
    return [(_unquote(a), _unquote(b), label) for a, b, label in _EDGE_RE.findall(source)]


def _spaced(tmp_path: Path) -> Path:
    folder = tmp_path / "my pictures"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("name", zoo_names())
def test_dot_has_one_node_per_top_level_node(name, tmp_path):
    prof = nascomp.profile(name)
    path = draw(prof, tmp_path / f"{name}.dot")
    source = path.read_text()
    nodes = dot_nodes(source)
    rows = prof.rows()
    assert sorted(nodes) == sorted([INPUT_NODE, OUTPUT_NODE, *(r.id for r in rows)])
    assert len(nodes) - 2 == len(rows)
    assert path.stat().st_size > 1000


def test_svg_for_every_zoo_net(tmp_path):
    """The real rendering (Graphviz `dot`): a non-trivial SVG with one node per top-level node, for every net."""
    require_service(dot_available(), "Graphviz's `dot` program (apt-get install graphviz)")
    for name in zoo_names():
        prof = nascomp.profile(name)
        path = draw(prof, tmp_path / f"{name}.svg")
        svg = path.read_text()
        assert path.stat().st_size > 3000, name
        assert svg.count('class="node"') == len(prof.rows()) + 2, name
        assert "MACs" in svg and "params" in svg


def test_edges_carry_shapes_and_boxes_carry_costs():
    source = to_graph(nascomp.profile("resnet18")).source
    edges = {(a, b): label for a, b, label in dot_edges(source)}
    assert edges[(INPUT_NODE, "conv1")] == "3×224×224"
    assert edges[("conv1", "bn1")] == "64×112×112"
    assert edges[("layer4", "avgpool")] == "512×7×7"
    assert edges[("flatten", "fc")] == "512"
    assert edges[("fc", OUTPUT_NODE)] == "1000"
    assert "7×7 conv, 64, /2" in source and "118 MMACs" in source and "9.41 K params" in source
    assert "basic_block ×2" in source  # a repetition is one box naming block and count


def test_branches_and_concat(tmp_path):
    prof = nascomp.profile(TINY)
    source = to_graph(prof).source
    edges = dot_edges(source)
    assert ("stem", "left", "8×16×16") in edges and ("stem", "right", "8×16×16") in edges
    assert ("left", "cat", "4×16×16") in edges and ("right", "cat", "6×16×16") in edges
    assert re.search(r'^\s*cat \[.*ordering=in', source, re.M)  # branches keep the spec's left-to-right order


def test_expand_opens_blocks_down_to_primitives():
    prof = nascomp.profile("resnet18")
    source = to_graph(prof, depth=None).source
    assert sorted(dot_nodes(source)) == sorted([INPUT_NODE, OUTPUT_NODE, *(r.id for r in prof.rows(expand=True))])
    assert "subgraph cluster_layer1 {" in source and 'subgraph "cluster_layer1.0" {' in source
    edges = {(a, b) for a, b, _ in dot_edges(source)}
    assert ("maxpool", "layer1.0.conv1") in edges and ("maxpool", "layer1.0.add") in edges  # the identity shortcut
    assert ("layer1.1.act2", "layer2.0.conv1") in edges


def test_depth_two_opens_one_level():
    prof = nascomp.profile("googlenet")
    source = to_graph(prof, depth=2).source
    subs = [item for item in prof.expansion.items if isinstance(item, Sub)]
    assert source.count("subgraph cluster_") == len(subs)
    assert "inception3a.cat" in dot_nodes(source)


def test_nested_input_nodes_stay_outside_clusters():
    """Edges are written at the top level: a node is drawn inside a cluster only when it belongs to it."""
    source = to_graph(nascomp.profile("googlenet"), depth=2).source
    body = source.split("subgraph cluster_inception3a {")[1].split("}")[0]
    assert "maxpool2 [" not in body and "->" not in body


def test_png_and_unknown_suffix(tmp_path):
    with pytest.raises(NascompError, match=r"suffix among \.svg, \.png"):
        draw("resnet18", tmp_path / "net.jpg")
    require_service(dot_available(), "Graphviz's `dot` program")
    path = draw(TINY, tmp_path / "tiny.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_dot_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NascompError, match="apt-get install graphviz.*brew install graphviz"):
        draw(TINY, tmp_path / "net.svg")
    assert list(tmp_path.iterdir()) == []
    assert draw(TINY, tmp_path / "net.dot").exists()  # DOT text needs no binary


def test_cli_draw(tmp_path):
    require_service(dot_available(), "Graphviz's `dot` program")
    folder = _spaced(tmp_path)
    spec = folder / "tiny net.yaml"
    spec.write_text(TINY)
    result = run_cli("draw", str(spec), "-o", str(folder / "tiny net.svg"), "--expand", "--input", "3x32x32")
    assert result.returncode == 0, result.stderr
    svg = (folder / "tiny net.svg").read_text()
    assert "8×32×32" in svg and "conv_bn_act" in svg
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_cli_draw_errors(tmp_path):
    folder = _spaced(tmp_path)
    assert_one_line_error(
        run_cli("draw", "resnet18", "-o", str(folder / "a.svg"), env={"PATH": str(folder)}), "apt-get install graphviz"
    )
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["resnt18"], "did you mean 'resnet18'"),
        (["resnet18", "--input", "3x64"], "--input must be CxHxW"),
        (["resnet18", "--depth", "0"], "--depth must be 1 or more"),
    ],
)
def test_cli_draw_errors_in_process(args, message, tmp_path, capsys):
    from nascomp.cli.main import main

    code = main(["draw", *args, "-o", str(tmp_path / "a b.dot")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_ids_that_are_dot_syntax(tmp_path):
    """A spec id may be a DOT keyword or contain ":" (read by Graphviz as a port) or spaces; all stay one node."""
    spec = """
name: odd_ids
input_shape: [3, 8, 8]
nodes:
  - {id: "a:b", type: conv2d, out_channels: 4, kernel_size: 1}
  - {id: node, type: relu}
  - {id: "x y", type: add, inputs: ["a:b", node]}
  - {id: edge, type: conv_bn_act, out_channels: 2, kernel_size: 1}
"""
    prof = nascomp.profile(spec)
    for depth in (1, None):
        source = to_graph(prof, depth=depth).source
        edges = {(a, b) for a, b, _ in dot_edges(source)}
        assert ("a:b", "x y") in edges and ("node", "x y") in edges
        assert len(dot_nodes(source)) == len(prof.rows(expand=depth is None)) + 2
    if dot_available():
        svg = draw(prof, tmp_path / "odd.svg", depth=None).read_text()
        assert svg.count('class="node"') == len(prof.rows(expand=True)) + 2
