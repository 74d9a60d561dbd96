"""Turn YAML (already loaded safely) into typed records: specs, nodes and block definitions.

Only structure is checked here (required keys, key types, unknown keys); shapes, parameter values and references
are checked when the graph is expanded (:mod:`nascomp.graph.expander`), still before any module is built.
"""

from __future__ import annotations

import keyword
from pathlib import Path
from typing import Any

from nascomp._shape import as_input_shape
from nascomp.errors import SpecError
from nascomp.registry import did_you_mean
from nascomp.spec._module_attrs import MODULE_ATTRIBUTES
from nascomp.spec._yaml import YamlList, YamlMap, check_file_size, load_yaml
from nascomp.spec.expr import is_expr
from nascomp.spec.model import RESERVED_NODE_KEYS, BlockDef, NodeSpec, RepeatSpec, Spec
from nascomp.spec.params import PARAM_TYPES, REQUIRED, ParamDecl, ParamError

__all__ = ["parse_spec", "parse_node", "parse_block_defs", "read_yaml_file"]

SPEC_KEYS = ("name", "doc", "reference", "input_shape", "params", "imports", "blocks", "nodes", "output", "aux_outputs")
BLOCK_KEYS = ("doc", "params", "let", "nodes", "output")
PARAM_DECL_KEYS = ("type", "default", "min", "max", "choices", "doc")
REPEAT_KEYS = ("count", "id", "connect")
# Names a submodule cannot take: attributes of modules and of the compiled GraphModule (and Scope's `kind`).
_MODULE_ATTRIBUTES = MODULE_ATTRIBUTES | {"kind"}


def _line(obj: Any, key: str | None = None) -> int | None:
    if isinstance(obj, YamlMap):
        return obj.line_of(key) if key is not None else obj.line
    return getattr(obj, "line", None)


def _error(
    detail: str, file: str | None, at: Any = None, key: str | None = None, *, line: int | None = None,
    node: str | None = None,
) -> SpecError:
    """The parser's located error: ``detail`` at ``file``, on the line of ``key`` in ``at`` (a YAML mapping), of
    ``at`` itself, or ``line``; ``node`` is the qualified node id when there is one."""
    return SpecError(detail, file=file, line=line if at is None else _line(at, key), node=node)


def _check_keys(raw: YamlMap, allowed: tuple[str, ...], what: str, file: str | None, node: str | None = None) -> None:
    for key in raw:
        if key not in allowed:
            hint = did_you_mean(str(key), list(allowed))
            raise _error(
                f"unknown key '{key}' in {what}{hint} (valid: {', '.join(allowed)})",
                file, raw, key, node=node,
            )


def _kind(value: Any) -> str:
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"a {type(value).__name__}"


def _as_yaml_map(value: Any) -> Any:
    """Convert plain dicts/lists (a spec given as a Python mapping) to the YAML record types, without lines."""
    if isinstance(value, dict) and not isinstance(value, YamlMap):
        out = YamlMap((k, _as_yaml_map(v)) for k, v in value.items())
        out.key_lines = {}
        return out
    if isinstance(value, list) and not isinstance(value, YamlList):
        seq = YamlList(_as_yaml_map(v) for v in value)
        return seq
    return value


def read_yaml_file(path: Path) -> Any:
    """Read and safely parse a YAML file.

    Raises:
        SpecError: the file is missing, unreadable, not UTF-8, or malformed YAML.
    """
    try:
        check_file_size(str(path), path.stat().st_size)  # before reading: a huge file costs nothing
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise SpecError(f"expected a YAML file, found a directory: {path}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"not a UTF-8 text file ({exc.reason})", file=str(path)) from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    return load_yaml(text, file=str(path))


def _parse_repeat(raw: Any, file: str | None, line: int | None, node_id: str) -> RepeatSpec:
    if isinstance(raw, bool):
        raise _error(f"'repeat' must be a count or a mapping, found {raw}", file, line=line, node=node_id)
    if isinstance(raw, int) or is_expr(raw):
        return RepeatSpec(count=raw)
    if isinstance(raw, YamlMap):
        _check_keys(raw, REPEAT_KEYS, "repeat", file, node_id)
        if "count" not in raw:
            raise _error("'repeat' needs a 'count'", file, line=line, node=node_id)
        count = raw["count"]
        if isinstance(count, bool) or not (isinstance(count, int) or is_expr(count)):
            raise _error(f"'repeat.count' must be an integer, found {count!r}", file, line=line, node=node_id)
        id_format = raw.get("id")
        if id_format is not None and (not isinstance(id_format, str) or ("{i}" not in id_format and "{n}" not in id_format)):
            raise _error(
                f"'repeat.id' must be a pattern holding {{i}} (0-based) or {{n}} (1-based), found {id_format!r}",
                file, line=line, node=node_id,
            )
        connect = raw.get("connect", "chain")
        if connect not in ("chain", "dense"):
            raise _error(f"'repeat.connect' must be chain or dense, found {connect!r}", file, line=line, node=node_id)
        if connect == "dense" and id_format is None:
            raise _error(
                "'repeat.connect: dense' needs an 'id' pattern such as 'denselayer{n}'",
                file, line=line, node=node_id,
            )
        return RepeatSpec(count=count, id_format=id_format, connect=connect)
    raise _error(f"'repeat' must be a count or a mapping, found {raw!r}", file, line=line, node=node_id)


def parse_node(raw: Any, file: str | None, index: int, scope: str = "") -> NodeSpec:
    """Parse one node mapping.

    Raises:
        SpecError: not a mapping, missing ``id``/``type``, malformed ``inputs``/``repeat``/``nodes``.
    """
    if not isinstance(raw, YamlMap):
        raise _error(
            f"node #{index + 1} must be a mapping with 'id' and 'type', found {type(raw).__name__} {raw!r}",
            file, raw,
        )
    line = raw.line
    node_id = raw.get("id")
    if node_id is None:
        raise _error(f"node #{index + 1} has no 'id' (every node needs a unique id)", file, line=line)
    if isinstance(node_id, int) and not isinstance(node_id, bool):
        node_id = str(node_id)
    if not isinstance(node_id, str) or not node_id or "." in node_id or node_id == "input":
        raise _error(
            f"invalid id {node_id!r}: expected a non-empty string without '.', other than 'input'",
            file, raw, "id",
        )
    qualified = f"{scope}.{node_id}" if scope else node_id
    if keyword.iskeyword(node_id) or node_id in _MODULE_ATTRIBUTES:
        what = "a Python keyword" if keyword.iskeyword(node_id) else "an attribute of torch.nn.Module"
        raise _error(
            f"id '{node_id}' is {what}, so it cannot name a module; rename it (e.g. '{node_id}_')",
            file, raw, "id", node=qualified,
        )
    node_type = raw.get("type")
    if not isinstance(node_type, str) or not node_type:
        raise _error(
            f"missing or invalid 'type' (found {node_type!r}); expected an op or block name such as conv2d",
            file, raw, "type", node=qualified,
        )
    inputs = raw.get("inputs")
    if inputs is not None:
        if isinstance(inputs, (str, int)) and not isinstance(inputs, bool):
            inputs = (str(inputs),)
        elif isinstance(inputs, list) and inputs and all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in inputs):
            inputs = tuple(str(i) for i in inputs)
        else:
            raise _error(
                f"'inputs' must be an id or a non-empty list of ids, found {inputs!r}",
                file, raw, "inputs", node=qualified,
            )
    repeat = raw.get("repeat")
    if repeat is not None:
        repeat = _parse_repeat(repeat, file, _line(raw, "repeat"), qualified)
    nodes = None
    output = raw.get("output")
    if node_type == "group":
        body = raw.get("nodes")
        if not isinstance(body, list) or not body:
            raise _error("a group needs a non-empty 'nodes' list", file, line=line, node=qualified)
        nodes = tuple(parse_node(child, file, i, qualified) for i, child in enumerate(body))
        if output is not None and not isinstance(output, (str, int)):
            raise _error(f"'output' must be an id, found {output!r}", file, raw, "output", node=qualified)
        output = str(output) if output is not None else None
    else:
        for key in ("nodes", "output"):
            if key in raw:
                raise _error(
                    f"'{key}' is only allowed on nodes of type 'group' (this node is '{node_type}')",
                    file, raw, key, node=qualified,
                )
    params = {k: v for k, v in raw.items() if k not in RESERVED_NODE_KEYS}
    return NodeSpec(
        id=node_id,
        type=node_type,
        params=params,
        inputs=inputs,
        repeat=repeat,
        when=raw.get("when"),
        nodes=nodes,
        output=output,
        file=file,
        line=line,
        param_lines={k: raw.line_of(k) for k in params},
    )


def _parse_nodes(raw: Any, file: str | None, line: int | None, what: str) -> tuple[NodeSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise _error(f"{what} needs a non-empty 'nodes' list", file, line=line)
    return tuple(parse_node(item, file, i) for i, item in enumerate(raw))


def _check_output(
    output: str | None, nodes: tuple[NodeSpec, ...], file: str | None, line: int | None, what: str, key: str = "output"
) -> None:
    """An ``output:`` must name a node of the same node list (or ``input``), checked where it is written."""
    ids = [n.id for n in nodes]
    if output is not None and output not in ids and output != "input":
        hint = did_you_mean(output, ids)
        raise _error(
            f"{key} '{output}' of {what} is not one of its node ids{hint} (ids: {', '.join(ids)})",
            file, line=line,
        )


def _parse_param_decl(name: str, raw: Any, file: str | None, line: int | None, block: str) -> ParamDecl:
    if not isinstance(raw, YamlMap):  # shorthand: `stride: 1` declares an untyped param with a default
        return ParamDecl(name=name, type="any", default=raw)
    _check_keys(raw, PARAM_DECL_KEYS, f"the declaration of param '{name}' of block '{block}'", file)
    ptype = raw.get("type", "any")
    if ptype not in PARAM_TYPES:
        raise _error(
            f"param '{name}' of block '{block}': unknown type '{ptype}' (valid: {', '.join(PARAM_TYPES)})",
            file, raw, "type",
        )
    for bound in ("min", "max"):  # compared with values later: a number, or absent
        value = raw.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value != value):
            raise _error(f"param '{name}' of block '{block}': '{bound}' must be a number, found {value!r}",
                         file, raw, bound)
    choices = raw.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise _error(f"param '{name}' of block '{block}': 'choices' must be a list, found {choices!r}",
                     file, raw, "choices")
    if choices is not None:
        try:
            hash(tuple(choices))
        except TypeError:
            raise _error(f"param '{name}' of block '{block}': 'choices' must be a list of plain values "
                         f"(numbers, strings, true/false)", file, raw, "choices") from None
    decl = ParamDecl(
        name=name,
        type=ptype,
        default=raw.get("default", REQUIRED),
        min=raw.get("min"),
        max=raw.get("max"),
        choices=tuple(choices) if isinstance(choices, list) else None,
        doc=str(raw.get("doc", "")),
    )
    if not decl.required and decl.default is not None and not is_expr(decl.default):
        try:
            decl.check(decl.default)
        except ParamError as exc:
            raise _error(f"block '{block}': default of {exc}", file, raw, "default") from None
    return decl


def parse_block_defs(raw: Any, file: str | None, line: int | None = None) -> dict[str, BlockDef]:
    """Parse a ``blocks:`` mapping (of a block file or a spec) into block definitions by name.

    Raises:
        SpecError: malformed definitions.
    """
    if not isinstance(raw, YamlMap):
        raise _error(
            f"'blocks' must be a mapping of block name to definition, found {type(raw).__name__}",
            file, line=line,
        )
    out: dict[str, BlockDef] = {}
    for name, body in raw.items():
        bline = raw.line_of(name)
        if not isinstance(name, str) or not name.isidentifier():
            raise _error(f"invalid block name {name!r}: expected a snake_case identifier", file, line=bline)
        if not isinstance(body, YamlMap):
            raise _error(f"block '{name}' must be a mapping with 'params' and 'nodes'", file, line=bline)
        _check_keys(body, BLOCK_KEYS, f"block '{name}'", file)
        params_raw = body.get("params") or YamlMap()
        if not isinstance(params_raw, dict):
            raise _error(f"block '{name}': 'params' must be a mapping", file, body, "params")
        params = {
            pname: _parse_param_decl(pname, praw, file, params_raw.line_of(pname) if isinstance(params_raw, YamlMap) else bline, name)
            for pname, praw in params_raw.items()
        }
        let_raw = body.get("let") or {}
        if not isinstance(let_raw, dict):
            raise _error(f"block '{name}': 'let' must be a mapping of name to value", file, body, "let")
        nodes = _parse_nodes(body.get("nodes"), file, bline, f"block '{name}'")
        output = str(body["output"]) if body.get("output") is not None else None
        _check_output(output, nodes, file, body.line_of("output"), f"block '{name}'")
        out[name] = BlockDef(
            name=name,
            doc=str(body.get("doc", "")),
            params=params,
            let=tuple(let_raw.items()),
            nodes=nodes,
            output=output,
            file=file,
            line=bline,
        )
    return out


def parse_spec(raw: Any, file: str | None, base_dir: Path | None) -> tuple[Spec, list[tuple[Path, int | None]]]:
    """Parse a spec mapping. Returns the spec (without imported blocks) and the import paths with their lines.

    Raises:
        SpecError: missing or malformed top-level keys.
    """
    if isinstance(raw, dict) and not isinstance(raw, YamlMap):
        raw = _as_yaml_map(raw)
    if not isinstance(raw, YamlMap):
        raise _error(
            f"a spec must be a YAML mapping with 'name', 'input_shape' and 'nodes', found {_kind(raw)}",
            file, line=_line(raw) or 1,
        )
    _check_keys(raw, SPEC_KEYS, "the spec", file)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _error("the spec needs a 'name' (a string)", file, raw, "name")
    shape = raw.get("input_shape")
    if not isinstance(shape, list) or as_input_shape(shape) is None:
        raise _error(f"'input_shape' must be [C, H, W] of positive integers, found {shape!r}", file, raw, "input_shape")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise _error("'params' must be a mapping of name to default value", file, raw, "params")
    for pname in params:
        if not isinstance(pname, str) or not pname.isidentifier():
            raise _error(f"invalid param name {pname!r}: expected an identifier", file, raw, "params")
    blocks = parse_block_defs(raw["blocks"], file, raw.line_of("blocks")) if raw.get("blocks") is not None else {}
    imports_raw = raw.get("imports") or []
    if not isinstance(imports_raw, list) or not all(isinstance(i, str) for i in imports_raw):
        raise _error("'imports' must be a list of block file paths", file, raw, "imports")
    imports = [((base_dir or Path.cwd()) / p, raw.line_of("imports")) for p in imports_raw]
    reference = raw.get("reference")
    if reference is not None and not isinstance(reference, dict):
        raise _error("'reference' must be a mapping (source, params, macs...)", file, raw, "reference")
    aux = raw.get("aux_outputs") or []
    if isinstance(aux, str):
        aux = [aux]
    if not isinstance(aux, list) or not all(isinstance(a, str) for a in aux):
        raise _error("'aux_outputs' must be a list of top-level node ids", file, raw, "aux_outputs")
    output = str(raw["output"]) if raw.get("output") is not None else None
    nodes = _parse_nodes(raw.get("nodes"), file, raw.line, "the spec")
    _check_output(output, nodes, file, raw.line_of("output"), "the spec")
    for aux_id in aux:
        if aux_id == "input":
            raise _error("'aux_outputs' must name nodes, found 'input'", file, raw, "aux_outputs")
        _check_output(aux_id, nodes, file, raw.line_of("aux_outputs"), "the spec", key="aux output")
    spec = Spec(
        name=name,
        doc=str(raw.get("doc", "")),
        input_shape=tuple(shape),
        params=dict(params),
        nodes=nodes,
        output=output,
        blocks=blocks,
        source=Path(file) if file else None,
        raw=raw,
        reference=dict(reference) if reference is not None else None,
        aux_outputs=tuple(aux),
    )
    return spec, imports
