"""Turning rules off: per file with a comment, or for the whole run with `--disable`.

    # vllmgen-lint: disable=VG003,VG008     (anywhere in the file; rule ids or names; `all` silences the file)
"""

from __future__ import annotations

import re
from typing import Iterable

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
