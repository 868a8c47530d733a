"""Turning rules off: with a comment for the object or container it annotates, or for the whole run with
`--disable`.

    # vllmgen-lint: disable=VG003,VG008     (rule ids or names; `all` silences everything it annotates)

A comment on its own line annotates what starts on the next line (the deepest thing starting there: a
container rather than the object holding it); a comment at the end of a line, or above something that is not
a document, object or container, annotates the innermost of those holding it. A comment at the top of a file
annotates the first document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

from vllmgen.lint.rules import R

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


def file_disables(text: str) -> tuple[set[str], list[tuple[int, str]]]:
    """Rules a file's disable comments turn off, and (line, name) for names that are not rules."""
    ids: set[str] = set()
    unknown: list[tuple[int, str]] = []
    if "vllmgen-lint" not in text:
        return ids, unknown
    for lineno, line in enumerate(text.splitlines(), 1):
        m = DISABLE_COMMENT.search(line)
        if m:
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
    """
    out: list[tuple[Unit, set[str]]] = []
    unknown: list[tuple[int, str]] = []
    if "vllmgen-lint" not in text:
        return out, unknown
    lines = text.splitlines()
    for lineno, line in enumerate(lines, 1):
        m = DISABLE_COMMENT.search(line)
        if not m:
            continue
        found, bad = resolve([m.group(1)])
        unknown += [(lineno, b) for b in bad]
        unit = _annotated_unit(lines, lineno, units)
        if unit is not None and found:
            out.append((unit, found))
    return out, unknown


def _annotated_unit(lines: list[str], lineno: int, units: list[Unit]) -> Optional[Unit]:
    own_line = lines[lineno - 1].split("#", 1)[0].strip() != ""
    if not own_line:
        following = lineno + 1
        while following <= len(lines) and (not lines[following - 1].strip()
                                           or lines[following - 1].strip().startswith("#")
                                           or lines[following - 1].strip() in ("---", "...")):
            following += 1
        starting = [u for u in units if u.first == following]
        if starting:
            return max(starting, key=lambda u: len(u.path))
    holding = [u for u in units if u.first <= lineno <= u.last]
    if holding:
        return max(holding, key=lambda u: (len(u.path), -u.first))
    after = [u for u in units if u.first > lineno and not u.path]
    return min(after, key=lambda u: u.first) if after else None


def covers(unit: Unit, document: int, pointer_text: str) -> bool:
    """The finding at `pointer_text` of `document` lies inside the unit."""
    if unit.document != document:
        return False
    prefix = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in unit.path)
    return pointer_text == prefix or pointer_text.startswith(prefix + "/") or not prefix
