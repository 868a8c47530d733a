"""A faster reader for the YAML files lint sees by the hundred, giving exactly what `yamlio.parse_documents`
gives (same plain data, same line map) for ordinary files.

yamlio parses twice with ruamel's round-trip parser (it keeps comments, which lint does not need): about
38 ms for a 150-line values file here. This module reads the parse events of libyaml (PyYAML's C parser, when
it is installed: about 1 ms), or else composes once with ruamel's safe parser (about 12 ms), and builds the
plain data and the line map itself, resolving plain scalars with ruamel's YAML 1.2 resolver as yamlio does.
Anything out of the ordinary (aliases, merge keys, non-string keys, duplicate keys, explicit tags,
timestamps, non-finite numbers, deep nesting, any parse error) is handed to yamlio, which produces the data
or the precise error message, so the readers can never disagree.
"""

from __future__ import annotations

import io
import math
import re

from vllmgen import yamlio
from vllmgen.yamlio import MAX_DEPTH, Document

_T = "tag:yaml.org,2002:"
STR, NULL, BOOL, INT, FLOAT = (_T + t for t in ("str", "null", "bool", "int", "float"))


class _Unusual(Exception):
    """This document needs the reference loader."""


def parse_documents(text: str, file: str) -> list[Document]:
    for reader in (_libyaml, _fast):
        try:
            return reader(text, file)
        except Exception:  # noqa: BLE001 - whatever a fast path trips on, the next reader decides
            continue
    return yamlio.parse_documents(text, file)


def _ruamel_safe():
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True)


def _scalar(y, value: str, tag: str):
    """Plain data of a scalar whose YAML 1.2 tag is known (ruamel's constructors, as yamlio uses)."""
    from ruamel.yaml.nodes import ScalarNode

    if tag == STR:
        return value
    if tag == NULL:
        return None
    node = ScalarNode(tag, value)
    if tag == BOOL:
        return bool(y.constructor.construct_yaml_bool(node))
    if tag == INT:
        return int(y.constructor.construct_yaml_int(node))
    if tag == FLOAT:
        number = float(y.constructor.construct_yaml_float(node))
        if not math.isfinite(number):
            raise _Unusual
        return number
    raise _Unusual  # timestamps, merge keys, binary: yamlio keeps their text


def _libyaml(text: str, file: str) -> list[Document]:
    """Documents built from libyaml's parse events (no aliases: those go to a reader that bounds expansion)."""
    import yaml
    from ruamel.yaml.nodes import ScalarNode

    if not getattr(yaml, "__with_libyaml__", False) or _LIBYAML_LAXER.search(text):
        raise _Unusual
    y = _ruamel_safe()
    resolve = y.resolver.resolve
    docs: list[Document] = []
    lines: dict[tuple, int] = {}
    # stack of [container, path, pending key (mappings) or next index (sequences)]
    stack: list[list] = []
    root: list = []

    def place(value, line: int) -> None:
        if not stack:
            root.append(value)
            return
        top = stack[-1]
        container, path = top[0], top[1]
        if isinstance(container, dict):
            key = top[2]
            if key is _NO_KEY:
                if not isinstance(value, str) or value in container:
                    raise _Unusual  # a non-string or duplicate key
                top[2] = _Key(value)
                lines[path + (value,)] = line
                return
            container[str(key)] = value
            top[2] = _NO_KEY
        else:
            lines[path + (len(container),)] = line
            container.append(value)

    def child_path() -> tuple:
        if not stack:
            return ()
        top = stack[-1]
        return top[1] + ((str(top[2]),) if isinstance(top[0], dict) else (len(top[0]),))

    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        kind = type(event).__name__
        if kind == "ScalarEvent":
            if event.anchor is not None or event.tag is not None:
                raise _Unusual  # anchors (for aliases) and explicit tags
            if not stack and event.style in ("|", ">"):
                raise _Unusual  # a block scalar as the whole document: ruamel reads its indentation differently
            plain = event.style in (None, "") and event.implicit[0]
            tag = resolve(ScalarNode, event.value, (True, False)) if plain else STR
            value = _scalar(y, event.value, tag)
            if stack and isinstance(stack[-1][0], dict) and stack[-1][2] is _NO_KEY and tag != STR:
                raise _Unusual  # a non-string key: yamlio names the error
            place(value, event.start_mark.line + 1)
        elif kind in ("MappingStartEvent", "SequenceStartEvent"):
            if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
                raise _Unusual
            if stack and isinstance(stack[-1][0], dict) and stack[-1][2] is _NO_KEY:
                raise _Unusual  # a complex key
            path = child_path()
            container: dict | list = {} if kind == "MappingStartEvent" else []
            place(container, event.start_mark.line + 1)
            stack.append([container, path, _NO_KEY])
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            stack.pop()
        elif kind == "AliasEvent":
            raise _Unusual
        elif kind == "DocumentStartEvent":
            if getattr(event, "version", None) or getattr(event, "tags", None):
                raise _Unusual  # %YAML / %TAG directives change how scalars resolve
            root.clear()
            lines = {}
        elif kind == "DocumentEndEvent":
            docs.append(Document(root[0] if root else None, file, lines))
    return docs


#: Text libyaml reads differently from ruamel (and so yamlio): tabs and a comment glued to a block scalar header
#: (libyaml accepts them), and NEL / LS / PS, which are line breaks to libyaml (YAML 1.1) but not to ruamel.
_LIBYAML_LAXER = re.compile("\t|[|>][-+0-9]*#|[\x85\u2028\u2029]")


class _Key(str):
    """A mapping key waiting for its value."""


_NO_KEY = object()


def _fast(text: str, file: str) -> list[Document]:
    from ruamel.yaml import YAML

    from ruamel.yaml.scanner import Scanner

    y = YAML(typ="safe", pure=True)
    y.Scanner = yamlio.depth_limited(Scanner)  # nesting bombs fail in ms here too, then yamlio words the error
    nodes = list(y.compose_all(io.StringIO(text)))
    yamlio._check_expansion(nodes, file)  # alias bombs and depth: the same check, the same message
    ctor = y.constructor  # scalar construction with the same YAML 1.2 resolver
    docs = []
    for node in nodes:
        lines: dict[tuple, int] = {}
        docs.append(Document(_plain(node, ctor, (), lines, 0, frozenset()), file, lines))
    return docs


def _plain(node, ctor, path: tuple, lines: dict, depth: int, active: frozenset):
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    if node is None:
        return None
    if depth > MAX_DEPTH:
        raise _Unusual
    if isinstance(node, MappingNode):
        if id(node) in active:
            raise _Unusual
        active = active | {id(node)}
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != STR or key_node.value in out:
                raise _Unusual  # merge key, non-string key, duplicate key
            sub = path + (key_node.value,)
            lines[sub] = key_node.start_mark.line + 1
            out[key_node.value] = _plain(value_node, ctor, sub, lines, depth + 1, active)
        return out
    if isinstance(node, SequenceNode):
        if id(node) in active:
            raise _Unusual
        active = active | {id(node)}
        out = []
        for i, item in enumerate(node.value):
            sub = path + (i,)
            lines[sub] = item.start_mark.line + 1
            out.append(_plain(item, ctor, sub, lines, depth + 1, active))
        return out
    tag = node.tag
    if tag == STR:
        return node.value
    if tag == NULL:
        return None
    if tag == BOOL:
        return bool(ctor.construct_yaml_bool(node))
    if tag == INT:
        return int(ctor.construct_yaml_int(node))
    if tag == FLOAT:
        value = float(ctor.construct_yaml_float(node))
        if not math.isfinite(value):
            raise _Unusual
        return value
    raise _Unusual  # timestamps, binary, custom tags: yamlio keeps their text
