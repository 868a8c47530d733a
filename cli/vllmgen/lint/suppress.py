"""Turning rules off: with a comment for the object or container it annotates, or for the whole run with
`--disable`.

    # vllmgen-lint: disable=VG003,VG008     (rule ids or names; `all` silences everything it annotates)

A comment on its own line annotates what starts on the next line (the deepest thing starting there: a
container rather than the object holding it); a comment at the end of a line, or above something that is not
a document, object or container, annotates the innermost of those holding it. A comment at the top of a file
annotates the first document.
"""

from __future__ import annotations

import bisect
import heapq
import re
from dataclasses import dataclass
from typing import Iterable, Optional

from vllmgen import yamlio
from vllmgen.lint.rules import R

MARK = "vllmgen-lint"
DISABLE_COMMENT = re.compile(r"#\s*vllmgen-lint:\s*disable\s*=\s*([A-Za-z0-9_,\- ]+)")
ALL = "all"
_BY_NAME = {r.name: r.id for r in R.values()}


def resolve(names: Iterable[str]) -> tuple[set[str], list[str]]:
    """Rule ids for ids or names (case-insensitive ids, comma lists allowed) and the names not understood."""
    ids, unknown = set(), []
    for chunk in names:
        for raw in str(chunk).split(","):
            name = raw.strip()
            if not name:
                continue
            if name.lower() == ALL:
                ids.add(ALL)
            elif name.upper() in R:
                ids.add(name.upper())
            elif name.lower() in _BY_NAME:
                ids.add(_BY_NAME[name.lower()])
            else:
                unknown.append(name)
    return ids, unknown


def _directives(text: str) -> tuple[list[str], list[tuple[int, re.Match]]]:
    """The text's lines and (line, match) of each disable comment: the first match on a line that is a comment,
    not text inside a quoted or block scalar. One regex search per line that names the tool: linear time."""
    lines = text.splitlines()
    hits = [(n, list(DISABLE_COMMENT.finditer(line))) for n, line in enumerate(lines, 1) if MARK in line]
    hits = [(n, found) for n, found in hits if found]
    if not hits:
        return lines, []
    spans = yamlio.string_spans(text, MARK)
    starts = [start for start, _ in spans]
    out = []
    for n, found in hits:
        for m in found:
            at = (n - 1, m.start())
            i = bisect.bisect_right(starts, at) - 1
            if i < 0 or not at < spans[i][1]:
                out.append((n, m))
                break
    return lines, out


def file_disables(text: str) -> tuple[set[str], list[tuple[int, str]]]:
    """Rules a file's disable comments turn off, and (line, name) for names that are not rules."""
    ids: set[str] = set()
    unknown: list[tuple[int, str]] = []
    if MARK not in text:
        return ids, unknown
    for lineno, m in _directives(text)[1]:
        found, bad = resolve([m.group(1)])
        ids |= found
        unknown += [(lineno, b) for b in bad]
    return ids, unknown


def is_disabled(rule: str, disabled: set[str]) -> bool:
    return ALL in disabled or rule in disabled


# --- what a disable comment annotates -------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """Something a disable comment can annotate: a document, an object in a list, a container."""

    document: int
    path: tuple
    first: int  # first and last line of its text
    last: int


def span(lines: dict, prefix: tuple) -> Optional[tuple[int, int]]:
    """First and last line of the nodes under `prefix` in a document's line map."""
    n = len(prefix)
    found = [line for path, line in lines.items() if path[:n] == prefix]
    return (min(found), max(found)) if found else None


def annotated(text: str, units: list[Unit]) -> tuple[list[tuple[Unit, set[str]]], list[tuple[int, str]]]:
    """(unit, rule ids) for every disable comment, and (line, name) for names that are not rules.

    A comment annotates the unit that starts on the next line that holds YAML (the deepest one: a container
    rather than its object), else the innermost unit whose text holds the comment, else the document after it.
    One pass over the lines and one over the units, however many comments there are (one scan of the lines
    below each comment was quadratic: 20,000 comment lines took a minute).
    """
    out: list[tuple[Unit, set[str]]] = []
    unknown: list[tuple[int, str]] = []
    if MARK not in text:
        return out, unknown
    lines, directives = _directives(text)
    if not directives:
        return out, unknown
    following = _next_yaml_lines(lines)
    starting: dict[int, Unit] = {}
    for u in units:
        if u.first not in starting or len(u.path) > len(starting[u.first].path):
            starting[u.first] = u
    holding = _innermost_holding(units, [n for n, _ in directives])
    documents = sorted((u.first, i) for i, u in enumerate(units) if not u.path)
    for lineno, m in directives:
        found, bad = resolve([m.group(1)])
        unknown += [(lineno, b) for b in bad]
        unit = None
        if not lines[lineno - 1][:m.start()].strip():  # a comment on its own line: what starts next
            unit = starting.get(following[lineno])
        if unit is None:
            unit = holding.get(lineno)
        if unit is None:
            at = bisect.bisect_right(documents, (lineno, len(units)))
            unit = units[documents[at][1]] if at < len(documents) else None
        if unit is not None and found:
            out.append((unit, found))
    return out, unknown


def _is_yaml(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#") and stripped not in ("---", "...")


def _next_yaml_lines(lines: list[str]) -> list[int]:
    """For each 1-based line number, the first line after it that holds YAML (len(lines) + 1: none)."""
    following = [0] * (len(lines) + 2)
    nxt = len(lines) + 1
    for n in range(len(lines), 0, -1):
        following[n] = nxt
        if _is_yaml(lines[n - 1]):
            nxt = n
    following[0] = nxt
    return following


def _innermost_holding(units: list[Unit], linenos: list[int]) -> dict[int, Unit]:
    """For each line (ascending), the innermost unit whose text holds it (deepest, then first starting, then
    first listed), by one sweep with a heap instead of a scan of every unit per line."""
    order = sorted(range(len(units)), key=lambda i: units[i].first)
    heap: list[tuple[int, int, int]] = []
    out: dict[int, Unit] = {}
    k = 0
    for lineno in sorted(set(linenos)):
        while k < len(order) and units[order[k]].first <= lineno:
            u = units[order[k]]
            heapq.heappush(heap, (-len(u.path), u.first, order[k]))
            k += 1
        while heap and units[heap[0][2]].last < lineno:
            heapq.heappop(heap)
        if heap:
            out[lineno] = units[heap[0][2]]
    return out


def covers(unit: Unit, document: int, pointer_text: str) -> bool:
    """The finding at `pointer_text` of `document` lies inside the unit."""
    if unit.document != document:
        return False
    prefix = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in unit.path)
    return pointer_text == prefix or pointer_text.startswith(prefix + "/") or not prefix
