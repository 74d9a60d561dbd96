"""The JSON Schema of the spec format (``nascomp/spec/spec.schema.json``, draft 2020-12) and of block files
(``nascomp/spec/block.schema.json``, which refers to the first): every shipped YAML validates, malformed specs do not.

Editors use the schemas through yaml-language-server (a ``# yaml-language-server: $schema=...`` comment, see
docs/spec-format.md). The list of known types in the schema (offered as completions) must stay equal to the
registered ops and built-in blocks.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

import nascomp
from nascomp._resources import library_dir
from nascomp.ops import OPS
from nascomp.spec._yaml import load_yaml
from nascomp.spec.library import builtin_library
from nascomp.spec.model import RESERVED_NODE_KEYS

SCHEMA_DIR = importlib.resources.files("nascomp.spec")
REPO = Path(__file__).resolve().parents[2]


def _schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text())


def _registry() -> Registry:
    def retrieve(uri: str) -> Resource:
        return Resource.from_contents(_schema(Path(uri).name))

    return Registry(retrieve=retrieve)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema(name), registry=_registry())


SPEC = _validator("spec.schema.json")
BLOCK = _validator("block.schema.json")


def _errors(validator, instance) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def _yaml(path: Path):
    return load_yaml(path.read_text(), file=str(path))


@pytest.mark.parametrize("name", ["spec.schema.json", "block.schema.json"])
def test_schema_is_valid_draft_2020_12(name):
    schema = _schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", sorted(library_dir("zoo").glob("*.yaml")), ids=lambda p: p.name)
def test_zoo_specs_validate(path):
    assert _errors(SPEC, _yaml(path)) == []


@pytest.mark.parametrize("path", sorted(library_dir("blocks").glob("*.yaml")), ids=lambda p: p.name)
def test_block_files_validate(path):
    assert _errors(BLOCK, _yaml(path)) == []
    assert _errors(SPEC, _yaml(path)), "a block file is not a spec"


@pytest.mark.parametrize("path", sorted(library_dir("search_spaces").glob("*.yaml")), ids=lambda p: p.name)
def test_search_space_architectures_validate(path):
    """A search space embeds a parametric spec under ``architecture:``; the rest of the file is the search
    engineer's format and is not covered by this schema."""
    raw = _yaml(path)
    assert isinstance(raw, dict) and "architecture" in raw  # load_space requires one
    assert _errors(SPEC, raw["architecture"]) == []


def test_custom_net_of_the_docs_validates():
    from tests.spec.test_custom_net import SPEC as CUSTOM

    assert _errors(SPEC, load_yaml(CUSTOM)) == []


def test_known_types_equal_the_registries():
    enum = next(alt["enum"] for alt in _schema("spec.schema.json")["$defs"]["node_type"]["anyOf"] if "enum" in alt)
    expected = sorted([*OPS.names(), *builtin_library().blocks.names(), "group"])
    assert sorted(enum) == expected, "regenerate the node_type enum of spec.schema.json"


def test_param_types_equal_the_engine():
    from nascomp.spec.params import PARAM_TYPES

    decl = _schema("spec.schema.json")["$defs"]["param_decl"]["anyOf"][0]
    assert decl["properties"]["type"]["enum"] == list(PARAM_TYPES)


GOOD = "name: t\ninput_shape: [3, 32, 32]\nnodes:\n"

VALID = {
    "expressions_everywhere": "name: t\ninput_shape: [3, 32, 32]\nparams: {n: 2}\nnodes:\n"
                              "  - {id: c, type: conv_bn_act, out_channels: '${n * 8}', repeat: '${n}', when: '${n > 0}'}\n",
    "group_with_output": GOOD + "  - id: g\n    type: group\n    output: b\n    nodes:\n      - {id: a, type: relu}\n"
                                "      - {id: b, type: relu, inputs: input}\n",
    "dense_repeat": GOOD + "  - {id: d, type: dense_layer, growth_rate: 4, repeat: {count: 2, id: 'layer{n}', connect: dense}}\n",
    "digit_ids_and_lists": GOOD + "  - {id: '0', type: relu}\n  - {id: 1, type: add, inputs: [input, '0']}\n",
    "local_block": "name: t\ninput_shape: [3, 8, 8]\nblocks:\n  my_block:\n    params:\n      k: {type: int, default: 3, min: 1}\n"
                   "      width: 8\n    let: {half: '${k // 2}'}\n    nodes:\n      - {id: c, type: conv2d, out_channels: '${width}', "
                   "kernel_size: '${k}', padding: '${half}'}\nnodes:\n  - {id: b, type: my_block}\n",
}


@pytest.mark.parametrize("case", sorted(VALID))
def test_valid_specs_pass(case):
    text = VALID[case]
    assert _errors(SPEC, load_yaml(text)) == []
    nascomp.profile(text)  # and the engine agrees they are valid


INVALID = {
    "missing_nodes": ("name: t\ninput_shape: [3, 32, 32]\n", "'nodes' is a required property"),
    "empty_nodes": ("name: t\ninput_shape: [3, 32, 32]\nnodes: []\n", "should be non-empty"),
    "unknown_top_level_key": (GOOD + "  - {id: a, type: relu}\nlayers: []\n", "Additional properties"),
    "two_dimensional_input": ("name: t\ninput_shape: [32, 32]\nnodes: [{id: a, type: relu}]\n", "is too short"),
    "zero_input": ("name: t\ninput_shape: [3, 0, 32]\nnodes: [{id: a, type: relu}]\n", "input_shape/1"),
    "node_without_type": (GOOD + "  - {id: a}\n", "'type' is a required property"),
    "node_without_id": (GOOD + "  - {type: relu}\n", "'id' is a required property"),
    "id_with_dot": (GOOD + "  - {id: a.b, type: relu}\n", "nodes/0/id"),
    "id_input": (GOOD + "  - {id: input, type: relu}\n", "nodes/0/id"),
    "nodes_on_non_group": (GOOD + "  - {id: a, type: relu, nodes: [{id: b, type: relu}]}\n", "nodes/0"),
    "group_without_nodes": (GOOD + "  - {id: g, type: group}\n", "'nodes' is a required property"),
    "bad_when": (GOOD + "  - {id: a, type: relu, when: sometimes}\n", "nodes/0/when"),
    "dense_without_id": (GOOD + "  - {id: a, type: relu, repeat: {count: 2, connect: dense}}\n", "nodes/0/repeat"),
    "bad_connect": (GOOD + "  - {id: a, type: relu, repeat: {count: 2, id: 'x{i}', connect: star}}\n", "nodes/0/repeat"),
    "empty_inputs": (GOOD + "  - {id: a, type: relu, inputs: []}\n", "nodes/0/inputs"),
    "not_an_expression": ("name: t\ninput_shape: [3, '$size', 32]\nnodes: [{id: a, type: relu}]\n", "input_shape/1"),
    "bad_param_decl_type": ("name: t\ninput_shape: [3, 8, 8]\nblocks:\n  b:\n    params: {k: {type: integer}}\n"
                            "    nodes: [{id: a, type: relu}]\nnodes: [{id: x, type: b}]\n", "blocks/b/params/k"),
    "block_without_nodes": ("name: t\ninput_shape: [3, 8, 8]\nblocks:\n  b: {params: {}}\nnodes: [{id: x, type: b}]\n",
                            "'nodes' is a required property"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_malformed_specs_fail(case):
    text, fragment = INVALID[case]
    errors = _errors(SPEC, load_yaml(text))
    assert errors, f"{case} validated"
    assert any(fragment in e for e in errors), errors
    with pytest.raises(nascomp.SpecError):  # the engine rejects them too
        nascomp.profile(text)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("blocks: {b: {nodes: [{id: a, type: relu}]}}\nversion: 2\n", "Additional properties"),
        ("doc: no blocks\n", "'blocks' is a required property"),
        ("blocks: {b: {nodes: [{id: a, type: relu}], param: {}}}\n", "blocks/b"),
        ("blocks: {my-block: {nodes: [{id: a, type: relu}]}}\n", "my-block"),
    ],
)
def test_malformed_block_files_fail(text, fragment):
    errors = _errors(BLOCK, load_yaml(text))
    assert any(fragment in e for e in errors), errors


def _doc_examples() -> list[str]:
    doc = (REPO / "docs" / "spec-format.md").read_text()
    texts = [b.split("```")[0] for b in doc.split("```yaml\n")[1:]]
    return [t for t in texts if "\nnodes:" in t and "input_shape:" in t and "..." not in t]


def test_worked_examples_of_the_docs_validate_and_build():
    examples = _doc_examples()
    assert examples, "no complete spec example in docs/spec-format.md"
    for text in examples:
        assert _errors(SPEC, load_yaml(text)) == []
        nascomp.profile(text)


def test_docs_tell_editors_how_to_use_the_schema():
    doc = (REPO / "docs" / "spec-format.md").read_text()
    assert "yaml-language-server: $schema=" in doc
    assert "spec.schema.json" in doc and "block.schema.json" in doc


# --- per-type parameter rules, generated from the registries -------------------------------------------------------

RESERVED = list(RESERVED_NODE_KEYS)
_EXPR_REF = {"$ref": "#/$defs/expr"}


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


def _param_schema(decl) -> dict:
    """JSON Schema of one declared parameter (``nascomp.spec.params.ParamDecl``); ``${...}`` always allowed."""
    bounds = {k: v for k, v in (("minimum", decl.min), ("maximum", decl.max)) if v is not None}
    base = {
        "int": {"type": "integer", **bounds},
        "float": {"type": "number", **bounds},
        "bool": {"type": "boolean"},
        "str": {"type": "string"},
        "int_or_pair": {"anyOf": [
            {"type": "integer", **bounds},
            {"type": "array", "minItems": 2, "maxItems": 2, "items": {"anyOf": [{"type": "integer", **bounds}, _EXPR_REF]}},
        ]},
        "list": {"type": "array"},
        "any": {},
    }[decl.type]
    if decl.choices is not None:
        base = {"enum": [_json_value(c) for c in decl.choices]}
    alternatives = [base, _EXPR_REF] if base else []
    if not decl.required and decl.default is None:
        alternatives.append({"type": "null"})
    out: dict = {"anyOf": alternatives} if alternatives else {}
    if decl.doc:
        out["description"] = decl.doc
    if not decl.required:
        out["default"] = _json_value(decl.default)
    return out


def type_rules() -> list[dict]:
    """For every registered op and built-in block: its parameters (names for completion, types, ranges, defaults)."""
    decls = {name: list(OPS.get(name).params) for name in OPS.names()}
    library = builtin_library()
    decls.update({name: list(library.get(name).params.values()) for name in library.blocks.names()})
    rules = []
    for name in sorted(decls):
        params = decls[name]
        then: dict = {
            "properties": {d.name: _param_schema(d) for d in params},
            "propertyNames": {"enum": RESERVED + [d.name for d in params]},
        }
        required = [d.name for d in params if d.required]
        if required:
            then["required"] = required
        rules.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": then})
    return rules


def _write_type_rules() -> None:
    """Regenerate the derived parts of spec.schema.json (known types, param types, per-type rules) from the
    registries: ``python tests/spec/test_schema.py``. The parser and the registries are the source of truth."""
    path = Path(__file__).resolve().parents[2] / "nascomp" / "spec" / "spec.schema.json"
    schema = json.loads(path.read_text())
    node = schema["$defs"]["node"]
    group_rule = {k: node.pop(k) for k in ("if", "then", "else") if k in node}
    if group_rule:
        node["allOf"] = [group_rule]
    node["allOf"] = node["allOf"][:1] + type_rules()
    from nascomp.spec.params import PARAM_TYPES

    enum_alt = next(alt for alt in schema["$defs"]["node_type"]["anyOf"] if "enum" in alt)
    enum_alt["enum"] = sorted([*OPS.names(), *builtin_library().blocks.names(), "group"])
    schema["$defs"]["param_decl"]["anyOf"][0]["properties"]["type"]["enum"] = list(PARAM_TYPES)
    path.write_text(json.dumps(schema, indent=2) + "\n")


def test_type_rules_equal_the_registries():
    """Editors complete and check the parameters of every op and built-in block (regenerate if this fails)."""
    assert _schema("spec.schema.json")["$defs"]["node"]["allOf"][1:] == type_rules(), (
        "the per-type rules of spec.schema.json are stale: run `python tests/spec/test_schema.py`"
    )


@pytest.mark.parametrize(
    "node, fragment",
    [
        ("{id: c, type: conv2d, out_chanels: 8, kernel_size: 3}", "out_chanels"),
        ("{id: c, type: conv2d, kernel_size: 3}", "'out_channels' is a required property"),
        ("{id: c, type: conv2d, out_channels: 0, kernel_size: 3}", "out_channels"),
        ("{id: c, type: conv2d, out_channels: 8, kernel_size: [1, 2, 3]}", "kernel_size"),
        ("{id: c, type: conv2d, out_channels: 8, kernel_size: 3, bias: on}", "bias"),
        ("{id: g, type: global_pool, mode: mean}", "mode"),
        ("{id: b, type: bottleneck, planes: 8, se_ratio: 16}", "se_ratio"),
    ],
)
def test_bad_params_of_known_types_fail(node, fragment):
    errors = _errors(SPEC, load_yaml(GOOD + f"  - {node}\n"))
    assert any(fragment in e for e in errors), errors


if __name__ == "__main__":
    _write_type_rules()


def test_schema_keys_equal_the_parser():
    """The keys the schema allows are the keys the parser accepts (top level, nodes, blocks, params, repeat)."""
    from nascomp.spec import parse

    schema = _schema("spec.schema.json")
    defs = schema["$defs"]
    assert sorted(schema["properties"]) == sorted(parse.SPEC_KEYS)
    assert sorted(defs["node"]["properties"]) == sorted(RESERVED_NODE_KEYS)
    assert sorted(defs["block"]["properties"]) == sorted(parse.BLOCK_KEYS)
    assert sorted(defs["param_decl"]["anyOf"][0]["properties"]) == sorted(parse.PARAM_DECL_KEYS)
    repeat = next(alt for alt in defs["repeat"]["anyOf"] if alt.get("type") == "object")
    assert sorted(repeat["properties"]) == sorted(parse.REPEAT_KEYS)
