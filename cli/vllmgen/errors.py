"""The one error type bad input turns into: a file, a JSON pointer, a message and (where known) a line."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Exit code for unusable input (file, YAML, schema or cross-field errors), as check-jsonschema uses for usage.
EXIT_INPUT = 2


def pointer(path) -> str:
    """JSON pointer (RFC 6901) of a path of keys and indices; "" is the document root."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "".join("/" + p for p in parts)


#: Characters that end or hide a line in a terminal or for str.splitlines(): C0 and C1 controls, DEL, LS, PS.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """`text` with control characters escaped (a key holding a newline stays on the error's one line)."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), m.group().encode("unicode_escape").decode("ascii")), text)


@dataclass
class InputError(Exception):
    """Bad input. `file` is a path or "<stdin>"/"<embedded>", `pointer` a JSON pointer ("" for the file itself)."""

    file: str
    pointer: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return self.format()

    def format(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        field = self.pointer if self.pointer else "(document)"
        return one_line(f"{where}: {field}: {self.message}")


class InputErrors(Exception):
    """Several input errors found in one pass (schema validation reports them all)."""

    def __init__(self, errors: list[InputError]):
        super().__init__("\n".join(e.format() for e in errors))
        self.errors = errors
