"""Paths in parsed data (YAML or JSON: dicts, lists and scalars): the one reader of a value at a path, and the one
walk over every leaf. Paths are tuples of keys and list indexes, as JSON pointers are."""

from __future__ import annotations

from typing import Any, Iterator


def value_at(node: Any, path: tuple, default: Any = None) -> Any:
    """The value at `path` (keys and list indexes) in parsed YAML, `default` where the path leads nowhere."""
    for step in path:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return default
    return node


def leaves(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every scalar under `node`, depth first (iterative: deep data does not exhaust the stack)."""
    stack: list[tuple[tuple, Any]] = [(path, node)]
    while stack:
        here, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((here + (k,), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((here + (i,), v) for i, v in reversed(list(enumerate(item))))
        else:
            yield here, item
