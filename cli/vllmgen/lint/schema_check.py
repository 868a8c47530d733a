"""Schema errors of values files against the chart's values schema.

The validator is built once and reused for every file of the run: that, and parsing YAML in-process, is
why one `vllmgen lint` over a repository beats one `check-jsonschema` process per file. Errors come from
`iter_errors` (all of them, as check-jsonschema reports them), each with its JSON pointer and YAML line.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from vllmgen.errors import InputError, pointer
from vllmgen.spec import exclusion_message
from vllmgen.yamlio import Document

#: Where the chart's values schema lives when `vllmgen.schemas.chart_values_schema()` is not available.
PACKAGED_SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "values.schema.json"


@dataclass(frozen=True)
class SchemaError:
    path: tuple
    json_path: str      # check-jsonschema's location syntax ($.a[0].b), for comparison with it
    message: str
    line_path: tuple    # where the line comes from: the unexpected key itself for additional properties


def chart_values_schema(path: Optional[str] = None) -> Optional[dict]:
    """The schema to check values against: an explicit file, the chart's (from vllmgen.schemas), or none."""
    if path is not None:
        from vllmgen.yamlio import parse_json_document, read_text
        text = read_text(path)
        # nesting deeper than yamlio.MAX_DEPTH is refused in one line: json and jsonschema recurse, and a deep
        # schema ended in a RecursionError traceback
        return parse_json_document(text, path).data
    try:
        from vllmgen import schemas
        return schemas.chart_values_schema()
    except (ImportError, AttributeError, FileNotFoundError, OSError):
        pass
    if PACKAGED_SCHEMA.exists():
        return json.loads(PACKAGED_SCHEMA.read_text(encoding="utf-8"))
    return None


#: Longest a user's schema may take on one document. A `pattern` that backtracks (`^(a+)+$`) can take years;
#: Python's regex engine checks for signals, so an alarm ends it.
USER_SCHEMA_SECONDS = 5.0


class SchemaTimeout(Exception):
    """A user's schema took longer than USER_SCHEMA_SECONDS on one document."""


@contextlib.contextmanager
def _time_limit(seconds: float | None):
    """Raise SchemaTimeout in the main thread after `seconds` (no limit elsewhere, or when None)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise SchemaTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class SchemaChecker:
    def __init__(self, schema: dict, source: str = "values schema", *, check: bool = True):
        """`check`: validate the schema itself first (a user's file); the chart's own schema is checked by the
        test suite, and checking its ~125 KB against the meta-schema would cost every run about a second."""
        import jsonschema
        from jsonschema.exceptions import SchemaError as BadSchema

        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            if check:
                cls.check_schema(schema)
        except BadSchema as exc:
            raise InputError(source, pointer(exc.path), f"invalid JSON schema: {exc.message}") from None
        self._validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        self._source = source
        self._limit = USER_SCHEMA_SECONDS if check else None  # a user's schema is bounded, the chart's trusted

    def errors(self, doc: Document, overlay: bool = False) -> list[SchemaError]:
        """Every schema error; for an overlay (a partial values file Helm layers over others) none about a
        required property, which another file may well set."""
        out = []
        try:
            with _time_limit(self._limit):
                found = list(self._validator.iter_errors(doc.data))
        except SchemaTimeout:
            return [SchemaError((), "$", f"the schema took more than {self._limit:g} s on this document (a "
                                         "`pattern` that backtracks?); not checked", ())]
        except RecursionError:  # a `$ref` that leads back to itself without consuming the document
            raise InputError(self._source, "", "the schema refers to itself without end (a `$ref` loop): "
                             "validation recursed deeper than Python allows") from None
        for err in found:
            if overlay and _only_required(err):
                continue
            path = tuple(err.absolute_path)
            out.append(SchemaError(path, err.json_path, exclusion_message(err) or err.message,
                                   path + _unexpected_key(err)))
        out.sort(key=lambda e: (doc.line(e.line_path) or 0, e.json_path, e.message))
        return out


def _only_required(err) -> bool:
    """The error is a missing required property (or a choice between branches that all miss one)."""
    if err.validator == "required":
        return True
    return bool(err.context) and err.validator in ("anyOf", "oneOf") and all(_only_required(e) for e in err.context)


def _unexpected_key(err) -> tuple:
    """For "additional properties ... were unexpected" errors: the first such key, so the line is its line."""
    if err.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(err.instance, dict):
        known = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
        for key in err.instance:
            if key not in known and key in err.message:
                return (key,)
    return ()
