"""Safe YAML loading with line numbers, strict scalars and a cap on alias expansion.

PyYAML's ``SafeLoader`` is used (never the full loader: ``!!python/...`` tags are an error and never run), with
three changes so that YAML 1.1 traps are read right or rejected, never silently wrong:

* ``1e-3`` is a float (YAML 1.1 needs ``1.0e-3`` and PyYAML returns the string ``"1e-3"``);
* only ``true``/``false`` are booleans; ``yes``/``no``/``on``/``off`` stay strings, so a boolean parameter given
  ``on`` fails type checking with a message instead of being read as ``True``;
* a duplicate key in a mapping is an error (PyYAML keeps the last one silently).

Three limits keep a hostile or mistaken input from taking minutes and gigabytes, each refused with its own message:

* a file over :data:`MAX_SPEC_BYTES` is refused before it is read (:func:`check_file_size`), text over it before
  it is parsed;
* a document of more than :data:`MAX_NODES` YAML nodes is refused while its events are counted, before any node is
  built (counting stops at the limit: milliseconds);
* aliases are allowed, but a document whose alias-expanded size exceeds :data:`MAX_EXPANDED_NODES` ("billion
  laughs") is refused before it is expanded, in linear time.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from nascomp.errors import SpecError

__all__ = ["YamlMap", "YamlList", "load_yaml", "check_file_size", "MAX_EXPANDED_NODES", "MAX_NODES",
           "MAX_SPEC_BYTES"]

#: Largest YAML file or text read (bytes). The zoo's largest spec is under 6 KB.
MAX_SPEC_BYTES = 4 * 1024 * 1024
#: Most YAML nodes (keys, values, list items, aliases) in one document as written. The zoo's largest has ~350.
MAX_NODES = 100_000
#: Most nodes in one document with every alias expanded.
MAX_EXPANDED_NODES = 1_000_000

_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class YamlMap(dict):
    """A mapping read from YAML that remembers where it and each of its keys came from."""

    line: int | None = None
    key_lines: dict

    def line_of(self, key: str) -> int | None:
        """1-based line of ``key`` in the file (the mapping's own line when the key is absent)."""
        return self.key_lines.get(key, self.line) if hasattr(self, "key_lines") else self.line


class YamlList(list):
    """A list read from YAML that remembers its line."""

    line: int | None = None


# libyaml's parser (C) when PyYAML was built with it: the same safe constructor and resolvers, ~10x faster parsing.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_RE, list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YamlMap:
    n_explicit = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)  # resolves YAML merge keys (<<): merged entries first, then the explicit ones
    n_merged = len(node.value) - n_explicit
    result = YamlMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    explicit: set = set()
    yield result
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise SpecError("a mapping key must be a plain scalar", line=key_node.start_mark.line + 1) from None
        if index >= n_merged:  # an explicit key overrides a merged one (YAML merge); twice explicit is an error
            if key in explicit:
                raise SpecError(
                    f"duplicate key '{key}' (first at line {result.key_lines[key]}); YAML keeps only one, so remove or "
                    f"rename one of them",
                    line=key_node.start_mark.line + 1,
                )
            explicit.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> YamlList:
    result = YamlList()
    result.line = node.start_mark.line + 1
    yield result
    result.extend(loader.construct_object(child, deep=True) for child in node.value)


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node).replace("_", "")
    special = {".inf": "inf", "+.inf": "inf", "-.inf": "-inf", ".nan": "nan"}.get(text.lower())
    return float(special or text)  # YAML writes infinity .inf and NaN .nan, Python inf and nan


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _expanded_size(root: yaml.Node) -> int:
    """Number of nodes the document would have with every alias expanded (memoised: linear in the graph)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()  # collections being expanded: the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if children_done:
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
            on_path.discard(id(node))
            continue
        if id(node) in on_path:  # `a: &a [*a]`: an alias inside its own anchor would expand forever
            raise SpecError(
                "refused: recursive alias (a collection contains an alias to its own anchor, so it never ends); "
                "remove the alias",
                line=node.start_mark.line + 1,
            )
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB ({n_bytes:,} bytes)" if n_bytes >= 2**20 else f"{n_bytes:,} bytes"


def _too_large(n_bytes: int, file: str | None) -> SpecError:
    what = "the file" if file else "the YAML text"
    return SpecError(
        f"refused: {what} is {_size(n_bytes)}, over the {MAX_SPEC_BYTES // 2**20} MiB limit for a spec or recipe; "
        f"write repeated parts once (blocks, 'repeat:')", file=file)


def check_file_size(path: str, n_bytes: int) -> None:
    """Refuse a file over :data:`MAX_SPEC_BYTES` before reading it.

    Raises:
        SpecError: naming the limit and the file's size.
    """
    if n_bytes > MAX_SPEC_BYTES:
        raise _too_large(n_bytes, path)


def _count_nodes(text: str) -> int:
    """YAML nodes in the document as written (parser events; no node is built), counting stops past
    :data:`MAX_NODES`."""
    loader = _Loader(text)
    n = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
                n += 1
                if n > MAX_NODES:
                    break
    finally:
        loader.dispose()
    return n


def load_yaml(text: str, file: str | None = None) -> Any:
    """Parse one YAML document safely.

    Args:
        text: The YAML text.
        file: The file it came from, for error messages.

    Returns:
        The document: :class:`YamlMap`/:class:`YamlList` for collections, plain scalars otherwise.

    Raises:
        SpecError: malformed YAML, a disallowed tag (``!!python/object``...), a duplicate key, text over
            :data:`MAX_SPEC_BYTES`, more than :data:`MAX_NODES` nodes, or a document whose alias-expanded size
            exceeds :data:`MAX_EXPANDED_NODES`. The message carries file and line.
    """
    n_bytes = len(text.encode("utf-8", errors="surrogatepass")) if len(text) * 4 > MAX_SPEC_BYTES else len(text)
    if n_bytes > MAX_SPEC_BYTES:
        raise _too_large(n_bytes, file)
    loader = _Loader(text)
    try:
        if _count_nodes(text) > MAX_NODES:
            raise SpecError(
                f"refused: this document ({_size(n_bytes)}) has more than {MAX_NODES:,} YAML nodes (keys, values "
                f"and list items), the limit for a spec or recipe; write repeated parts once (blocks, 'repeat:')",
                file=file,
                line=1,
            )
        root = loader.get_single_node()
        if root is None:
            return None
        if _expanded_size(root) > MAX_EXPANDED_NODES:
            raise SpecError(
                f"refused: with its aliases expanded this document has over {MAX_EXPANDED_NODES:,} nodes "
                f"(nested aliases, 'billion laughs'); write the repeated part once and use 'repeat:'",
                file=file,
                line=1,
            )
        return loader.construct_document(root)
    except SpecError as exc:
        raise exc.located(file=file) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        problem = exc.problem or str(exc)
        if "could not determine a constructor" in problem:
            problem = (
                f"the tag {problem.split(' for the tag ')[-1].strip().replace('tag:yaml.org,2002:', '!!')} is not allowed (nascomp loads YAML with the "
                f"safe loader only; remove the tag)"
            )
        raise SpecError(f"invalid YAML: {problem}", file=file, line=mark.line + 1 if mark else None) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise SpecError(f"malformed YAML: {problem}", file=file, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"malformed YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
