"""Reading and writing YAML safely: size limits, no unsafe tags, duplicate keys and alias bombs refused,
line numbers kept for error messages, and atomic writes."""

from __future__ import annotations

import io
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vllmgen.errors import InputError, pointer

#: Largest input file read (bytes): a spec or values file is a few KiB; 4 MiB leaves room for big manifests.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Largest document after alias expansion (nodes): stops "billion laughs" before anything is expanded.
MAX_EXPANDED_NODES = 200_000
#: Deepest nesting accepted: real specs and manifests stay under 30 levels.
MAX_DEPTH = 64


@dataclass
class Document:
    """One parsed YAML document: plain data (dict/list/str/int/float/bool/None) plus its line map."""

    data: Any
    file: str
    _lines: dict[tuple, int]

    def line(self, path: Iterable) -> int | None:
        """1-based line of the deepest known node on `path` (keys and indices), or None."""
        path = tuple(path)
        while True:
            if path in self._lines:
                return self._lines[path]
            if not path:
                return None
            path = path[:-1]

    def error(self, path: Iterable, message: str) -> InputError:
        path = tuple(path)
        return InputError(self.file, pointer(path), message, self.line(path))


def read_text(path: str | Path, limit: int = MAX_FILE_BYTES) -> str:
    """Read a UTF-8 text file (or "-" for stdin) with a size limit; every failure is an InputError."""
    name = str(path)
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(limit + 1)
            name = "<stdin>"
        else:
            p = Path(path)
            if p.is_dir():
                raise InputError(name, "", "is a directory, not a file")
            with open(p, "rb") as fh:
                raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise InputError(name, "", "no such file") from None
    except PermissionError:
        raise InputError(name, "", "permission denied") from None
    except IsADirectoryError:
        raise InputError(name, "", "is a directory, not a file") from None
    except OSError as exc:
        raise InputError(name, "", f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise InputError(name, "", f"file is larger than {limit // (1024 * 1024)} MiB; refusing to read it")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(name, "", f"not UTF-8 text (byte {exc.start}); is this a binary file?") from None


def _depth_error(scanner):
    from ruamel.yaml.scanner import ScannerError

    return ScannerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", scanner.reader.get_mark())


_SCANNERS: dict = {}


def depth_limited(base):
    """`base` (a ruamel scanner class) with a nesting limit: without it `[[[[...` 3000 deep costs ~25 s (the
    scanner's simple-key bookkeeping is quadratic in the depth) before the recursive composer even starts."""
    if base not in _SCANNERS:

        class DepthLimitedScanner(base):
            def fetch_flow_collection_start(self, TokenClass, to_push):
                if len(self.flow_context) >= MAX_DEPTH:
                    raise _depth_error(self)
                super().fetch_flow_collection_start(TokenClass, to_push)

            def add_indent(self, column):
                if len(self.indents) >= MAX_DEPTH:
                    raise _depth_error(self)
                return super().add_indent(column)

        _SCANNERS[base] = DepthLimitedScanner
    return _SCANNERS[base]


def _yaml():
    from ruamel.yaml import YAML

    y = YAML(typ="rt")  # round-trip: keeps line numbers; it constructs no arbitrary Python objects
    from ruamel.yaml.scanner import RoundTripScanner

    y.Scanner = depth_limited(RoundTripScanner)
    y.allow_duplicate_keys = False
    return y


def _mark_line(exc) -> int | None:
    for attr in ("problem_mark", "context_mark"):
        mark = getattr(exc, attr, None)
        if mark is not None:
            return mark.line + 1
    return None


def _first_line(message: str) -> str:
    return " ".join(message.strip().split("\n")[0].split())


def _check_expansion(nodes, file: str) -> None:
    """Refuse a document whose alias-expanded size is huge, before anything is constructed."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    memo: dict[int, int] = {}

    def size(node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise InputError(file, "", f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        key = id(node)
        if key in memo:
            return memo[key]
        memo[key] = 1  # a recursive alias counts once; the constructor rejects real cycles below
        total = 1
        if isinstance(node, MappingNode):
            for k, v in node.value:
                total += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(node, SequenceNode):
            for v in node.value:
                total += size(v, depth + 1)
        if total > MAX_EXPANDED_NODES:
            raise InputError(file, "", f"document expands to more than {MAX_EXPANDED_NODES} nodes through "
                             f"YAML aliases; refusing it (a 'billion laughs' file?)", node.start_mark.line + 1)
        memo[key] = total
        return total

    for node in nodes:
        if node is not None:
            size(node, 0)


def _find_duplicate(nodes) -> tuple[tuple, str, int] | None:
    """Path, key and line of the first duplicate mapping key in composed YAML nodes."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    def walk(node, path, seen_nodes):
        if id(node) in seen_nodes:
            return None
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            keys = set()
            for k, v in node.value:
                name = k.value if isinstance(k, ScalarNode) else None
                if name is not None and name in keys:
                    return path, name, k.start_mark.line + 1
                keys.add(name)
                found = walk(v, path + ((name if name is not None else "?"),), seen_nodes)
                if found:
                    return found
        elif isinstance(node, SequenceNode):
            for i, v in enumerate(node.value):
                found = walk(v, path + (i,), seen_nodes)
                if found:
                    return found
        return None

    for node in nodes:
        if node is not None:
            found = walk(node, (), set())
            if found:
                return found
    return None


def _plain(node, file: str, path: tuple, lines: dict, depth: int, active: set):
    """ruamel round-trip data -> plain JSON-like data; records lines; rejects what JSON cannot hold."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if depth > MAX_DEPTH:
        raise InputError(file, pointer(path), f"nesting deeper than {MAX_DEPTH} levels", lines.get(path))
    if isinstance(node, (dict, list)):
        if id(node) in active:
            raise InputError(file, pointer(path), "recursive YAML alias", lines.get(path))
        active = active | {id(node)}
    if isinstance(node, dict):
        out = {}
        for i, (key, value) in enumerate(node.items()):
            line = None
            if isinstance(node, CommentedMap):
                try:
                    line = node.lc.key(key)[0] + 1
                except (KeyError, TypeError, AttributeError):
                    line = None
            if not isinstance(key, str):
                raise InputError(file, pointer(path), f"mapping key {key!r} is not a string (quote it)",
                                 line or lines.get(path))
            sub = path + (key,)
            if line is not None:
                lines[sub] = line
            out[key] = _plain(value, file, sub, lines, depth + 1, active)
        return out
    if isinstance(node, list):
        out = []
        for i, value in enumerate(node):
            sub = path + (i,)
            if isinstance(node, CommentedSeq):
                try:
                    lines[sub] = node.lc.item(i)[0] + 1
                except (KeyError, TypeError, AttributeError, IndexError):
                    pass
            out.append(_plain(value, file, sub, lines, depth + 1, active))
        return out
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        if not math.isfinite(node):
            raise InputError(file, pointer(path), f"{node} is not a finite number", lines.get(path))
        return float(node)
    if isinstance(node, str):
        return str(node)
    # timestamps, binary and other YAML types: keep their text, as check-jsonschema does for dates
    return str(node)


def parse_documents(text: str, file: str) -> list[Document]:
    """Parse every YAML document in `text`. Raises InputError with file and line on any problem."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    y = _yaml()
    nodes: list = []
    try:
        nodes = list(y.compose_all(io.StringIO(text)))
        _check_expansion(nodes, file)
        raw_docs = list(_yaml().load_all(io.StringIO(text)))
    except InputError:
        raise
    except MarkedYAMLError as exc:
        if "duplicate key" in str(exc):
            found = _find_duplicate(nodes)
            if found:
                path, key, line = found
                raise InputError(file, pointer(path + (key,)), f"duplicate key {key!r} (a later value would "
                                 "silently replace the first)", line) from None
        problem = exc.problem or exc.context or "syntax error"
        if problem.startswith("nesting deeper"):
            raise InputError(file, "", problem, _mark_line(exc)) from None
        raise InputError(file, "", f"invalid YAML: {_first_line(problem)}", _mark_line(exc)) from None
    except YAMLError as exc:
        raise InputError(file, "", f"invalid YAML: {_first_line(str(exc))}", _mark_line(exc)) from None
    except RecursionError:
        raise InputError(file, "", f"nesting deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(file, "", f"invalid YAML value: {_first_line(str(exc))}") from None
    docs = []
    for raw in raw_docs:
        lines: dict[tuple, int] = {}
        try:
            data = _plain(raw, file, (), lines, 0, set())
        except RecursionError:
            raise InputError(file, "", f"nesting deeper than {MAX_DEPTH} levels") from None
        docs.append(Document(data, file, lines))
    return docs


def parse_document(text: str, file: str, *, allow_empty: bool = False) -> Document:
    """Exactly one YAML document (a spec or values file)."""
    docs = [d for d in parse_documents(text, file)]
    if not docs or (len(docs) == 1 and docs[0].data is None):
        if allow_empty:
            return Document(None, file, {})
        raise InputError(file, "", "file is empty")
    if len(docs) > 1:
        raise InputError(file, "", f"expected one YAML document, found {len(docs)}")
    return docs[0]


def load_document(path: str | Path, *, allow_empty: bool = False) -> Document:
    name = "<stdin>" if str(path) == "-" else str(path)
    return parse_document(read_text(path), name, allow_empty=allow_empty)


def dump(data: Any) -> str:
    """YAML text of `data` (ruamel CommentedMap comments are kept), block style, key order preserved."""
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.default_flow_style = False
    y.width = 120
    y.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` so readers see the old file or the whole new one, never a part."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except FileNotFoundError:
        raise InputError(str(path), "", "output directory does not exist") from None
    except PermissionError:
        raise InputError(str(path), "", "permission denied") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            try:
                os.chmod(tmp, target.stat().st_mode & 0o777)
            except OSError:
                pass
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
