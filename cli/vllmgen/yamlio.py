"""Reading and writing YAML: one parse per file into plain data with a line for every JSON path.

Documents are built here from the parse events of ruamel.yaml: libyaml's parser (ruamel.yaml.clib) when it is
installed, ruamel's pure-Python parser otherwise. Nothing is constructed from a tag, and every problem is one
InputError naming the file, the JSON pointer and the line: invalid YAML, duplicate keys, keys that are not
strings, non-finite numbers, alias bombs and nesting bombs. Text that libyaml reads differently from ruamel,
and any text libyaml refuses, goes to the pure parser, so both parsers give the same documents and errors.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from vllmgen.errors import InputError, pointer

#: Largest input file read (bytes): a spec or values file is a few KiB; 4 MiB leaves room for big manifests.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Most nodes YAML aliases may add to one file: stops "billion laughs" before anything is copied.
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
            # O_NONBLOCK: opening a FIFO nobody writes to returns at once, so it can be refused below
            with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb") as fh:
                mode = os.fstat(fh.fileno()).st_mode
                if stat.S_ISDIR(mode):
                    raise InputError(name, "", "is a directory, not a file")
                if not stat.S_ISREG(mode):
                    raise InputError(name, "", "is not a regular file (a FIFO, socket or device); "
                                     "to read a stream, pass - and send it to stdin")
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


# ---------------------------------------------------------------------------------------------------- parsers

@functools.cache
def _libyaml_parser():
    """libyaml's parser from ruamel.yaml.clib, or None when the C extension is not installed."""
    try:
        from ruamel.yaml.cyaml import CParser
    except ImportError:
        return None
    return CParser


#: Text libyaml reads differently from ruamel: tabs and a comment glued to a block scalar header (libyaml
#: accepts them), NEL / LS / PS (line breaks to libyaml, YAML 1.1, not to ruamel), and characters ruamel's
#: reader refuses (so that the error is ruamel's).
_PURE_ONLY = re.compile("[\t\x85\u2028\u2029]|[|>][-+0-9]*#"
                        "|[^\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _NotForLibyaml(Exception):
    """Text the pure parser must read: libyaml refused it (ruamel words the error) or reads it differently."""


def _libyaml_events(text: str) -> Iterator:
    from ruamel.yaml.error import YAMLError

    parser = _libyaml_parser()(text)
    try:
        while parser.check_event():
            event = parser.get_event()
            if getattr(event, "anchor", None) is not None or getattr(event, "tag", None) is not None:
                raise _NotForLibyaml  # libyaml ends anchor names and tags elsewhere than ruamel (`*a:`, `!:!`)
            yield event
    except (YAMLError, UnicodeError) as exc:
        raise _NotForLibyaml from exc
    finally:
        parser.dispose()


def _nesting_error(scanner):
    from ruamel.yaml.scanner import ScannerError

    return ScannerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", scanner.reader.get_mark())


_PURE_SCANNER: list = []


def _pure_scanner():
    """ruamel's scanner with a nesting limit: without it `[[[[...` 3000 deep costs ~25 s (its simple-key
    bookkeeping is quadratic in the depth) before any event reaches the depth check of the builder."""
    if not _PURE_SCANNER:
        from ruamel.yaml.scanner import Scanner

        class DepthLimitedScanner(Scanner):
            def fetch_flow_collection_start(self, TokenClass, to_push):
                if len(self.flow_context) >= MAX_DEPTH:
                    raise _nesting_error(self)
                super().fetch_flow_collection_start(TokenClass, to_push)

            def add_indent(self, column):
                if len(self.indents) >= MAX_DEPTH:
                    raise _nesting_error(self)
                return super().add_indent(column)

            def scan_to_next_token(self):
                """ruamel's, with libyaml's rule for tabs between tokens (scanner.c,
                yaml_parser_scan_to_next_token): "Tabs are allowed: in the flow context; in the block context, but
                not at the beginning of the line or after '-', '?', or ':' (complex value)", i.e. wherever no
                simple key may start. go-yaml, which kubectl reads with, is a port of it: a tab after a value
                (`type: LoadBalancer<TAB>`) is whitespace to both, where ruamel refuses it."""
                srp, srf = self.reader.peek, self.reader.forward
                if self.reader.index == 0 and srp() == "\uFEFF":
                    srf()
                while True:
                    white = " \t" if self.flow_level > 0 or not self.allow_simple_key else " "
                    while srp() in white:
                        srf()
                    if srp() == "#":
                        while srp() not in "\0\r\n\x85\u2028\u2029":
                            srf()
                    if self.scan_line_break():
                        if not self.flow_level:
                            self.allow_simple_key = True
                    else:
                        return None

            def scan_plain_spaces(self, indent, start_mark):
                """ruamel's, with libyaml's rule for tabs inside a plain scalar (scanner.c,
                yaml_parser_scan_plain_scalar consumes "a space or a tab character" between its words): go-yaml reads
                `command: run\tnow` as one string, where ruamel ends the scalar at the tab and refuses the line."""
                srp = self.reader.peek
                length = 0
                while srp(length) in " \t":
                    length += 1
                blanks = self.reader.prefix(length)
                if "\t" not in blanks:
                    return super().scan_plain_spaces(indent, start_mark)
                self.reader.forward(length)
                if srp() in "\r\n\x85\u2028\u2029":
                    return super().scan_plain_spaces(indent, start_mark)  # blanks before a break are not content
                return [blanks]

        _PURE_SCANNER.append(DepthLimitedScanner)
    return _PURE_SCANNER[0]


def _pure_events(text: str, file: str) -> Iterator:
    """ruamel's pure-Python parse events; its errors become InputErrors with ruamel's wording."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    y = YAML(typ="safe", pure=True)
    y.Scanner = _pure_scanner()
    try:
        yield from y.parse(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = _first_line(exc.problem or exc.context or "syntax error")
        raise InputError(file, "", problem if problem.startswith("nesting deeper") else f"invalid YAML: {problem}",
                         line) from None
    except YAMLError as exc:  # the reader: a character YAML does not allow
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        raise InputError(file, "", f"invalid YAML: {_first_line(str(exc))}", line) from None


def _first_line(message: str) -> str:
    return " ".join(message.strip().split("\n")[0].split())


# ---------------------------------------------------------------------------------------------------- scalars

_CORE = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT, _MERGE = (_CORE + t for t in ("str", "null", "bool", "int", "float", "merge"))
#: Core tags whose scalars are kept as their text (JSON has no dates; `=` is YAML 1.1's "value" key).
_AS_TEXT = {_STR, _CORE + "timestamp", _CORE + "value", _MERGE}


class _BadValue(Exception):
    """A scalar JSON cannot hold; the builder adds the file, pointer and line."""


class _Scalars:
    """Plain data of scalars under one YAML version, with ruamel's resolver and constructors."""

    def __init__(self, version: tuple):
        from ruamel.yaml import YAML
        from ruamel.yaml.nodes import ScalarNode

        y = YAML(typ="safe", pure=True)
        y.version = version
        self._resolve, self._ctor, self._node = y.resolver.resolve, y.constructor, ScalarNode
        self._plain: dict[str, Any] = {}  # resolved plain scalars: keys and values repeat in every file

    def plain(self, text: str) -> Any:
        try:
            return self._plain[text]
        except KeyError:
            value = self._plain[text] = self.tagged(str(self._resolve(self._node, text, (True, False))), text)
            return value

    def tagged(self, tag: str, text: str) -> Any:
        if tag in _AS_TEXT or not tag.startswith(_CORE):
            return text  # application tags (`!secret x`) construct nothing: the text is the value
        try:
            node = self._node(tag, text)
            if tag == _NULL:
                return None
            if tag == _BOOL:
                return bool(self._ctor.construct_yaml_bool(node))
            if tag == _INT:
                return int(self._ctor.construct_yaml_int(node))
            if tag == _FLOAT:
                number = float(self._ctor.construct_yaml_float(node))
                if not math.isfinite(number):
                    raise _BadValue(f"{number} is not a finite number")
                return number
        except (ValueError, TypeError, OverflowError) as exc:
            raise _BadValue(f"invalid YAML value: {_first_line(str(exc))}") from None
        raise _BadValue(f"YAML tag {_short(tag)} is not read: only strings, numbers, booleans, null, lists and "
                        "mappings are")


_SURROGATE = re.compile("[\ud800-\udfff]")
#: What ends a plain scalar inside a flow collection for go-yaml (sigs.k8s.io/yaml, the reader of Helm and
#: kubectl: scannerc.go, yaml_parser_scan_plain_scalar): `?` anywhere, and `:` before `,?[]{}`. YAML 1.2 readers
#: (ruamel) read `[a?b]` as one string; Helm refuses the file ("did not find expected ',' or ']'").
_GO_FLOW_PLAIN_END = re.compile(r"\?|:[,?\[\]{}]")


def _join_surrogates(text: str) -> str:
    """`"\\ud83d\\ude00"` is one character, as in JSON (which YAML 1.2 reads); ruamel's parser leaves two halves
    that no UTF-8 file can hold."""
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise _BadValue("invalid YAML value: an escaped UTF-16 surrogate without its other half is not a "
                        "character") from None


def _short(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


# ---------------------------------------------------------------------------------------------------- builder

_KEY = object()  # a mapping waiting for its next key
_MERGE_KEY = object()  # a mapping reading the value of its `<<` key


@dataclass(eq=False)
class _Collection:
    """A mapping or list being built: where it sits, and what it adds up to so far."""

    value: dict | list
    path: tuple
    line: int
    anchor: str | None
    first: int  # index of its first descendant's line in the document's line list
    key: Any = _KEY
    size: int = 1  # nodes, aliases expanded
    height: int = 1  # collections on the longest way down, itself included
    merges: list | None = None  # (value, path, first line index, end line index, line) of `<<` values
    flow: bool = False  # a flow collection (`[...]`, `{...}`), or inside one


@dataclass(eq=False)
class _Anchored:
    value: Any
    size: int
    height: int
    span: tuple  # (first, end) of its descendants' lines, and the length of its own path
    below: list | None = None  # (path below the anchored node, line), made at the first alias


class _Builder:
    """Documents from parse events, checked as they come: one pass, no tree of nodes in between."""

    def __init__(self, file: str, *, libyaml: bool = False, duplicates: list | None = None):
        self.file = file
        self.libyaml = libyaml
        self.duplicates = duplicates  # when a list: duplicate keys are noted here, the later value kept
        self.docs: list[Document] = []
        self.expanded = 0  # nodes added through aliases in the whole file
        self._by_version: dict[tuple, _Scalars] = {}
        self._handlers = {"ScalarEvent": self.scalar, "AliasEvent": self.alias,
                          "MappingStartEvent": self.start, "SequenceStartEvent": self.start,
                          "MappingEndEvent": self.end, "SequenceEndEvent": self.end,
                          "DocumentStartEvent": self.document_start, "DocumentEndEvent": self.document_end}

    def build(self, events: Iterable) -> list[Document]:
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event).__name__)
            if handler is not None:
                handler(event)
        return self.docs

    def document_start(self, event) -> None:
        version = (1, 1) if (event.version or (1, 2)) <= (1, 1) else (1, 2)
        if version not in self._by_version:
            self._by_version[version] = _Scalars(version)
        self.scalars = self._by_version[version]
        self.stack: list[_Collection] = []
        self.lines: list = []  # (path, line) in document order
        self.merged: list[tuple] = []  # spans of `lines` under `<<` keys: the data has no such path
        self.anchors: dict[str, _Anchored] = {}
        self.open_anchors: set[str] = set()
        self.root: Any = None

    def document_end(self, event) -> None:
        for first, end in self.merged:
            self.lines[first:end] = [None] * (end - first)
        self.docs.append(Document(self.root, self.file, dict(e for e in self.lines if e is not None)))

    def _error(self, path: tuple, message: str, line: int | None) -> InputError:
        return InputError(self.file, pointer(path), message, line)

    def _next_path(self) -> tuple:
        """Path of the node about to be read (a key's own path is its mapping's)."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return top.path + (len(top.value),)
        return top.path if top.key is _KEY else top.path + (top.key,)

    def _item_line(self, path: tuple, line: int) -> None:
        """A list item's line (a mapping value has its key's line)."""
        if self.stack and isinstance(self.stack[-1].value, list):
            self.lines.append((path, line))

    def _place(self, value: Any, line: int, size: int, height: int, first: int) -> None:
        """Put a finished node into its collection, or make it the document."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if isinstance(top.value, list):
            top.value.append(value)
        elif top.key is _KEY:
            self._key(top, value, line)
        elif top.key is _MERGE_KEY:
            top.merges.append((value, top.path + ("<<",), first, len(self.lines), line))
            top.key = _KEY
        else:
            top.value[top.key] = value
            top.key = _KEY
        top.size += size
        top.height = max(top.height, height + 1)

    def _key(self, top: _Collection, key: Any, line: int) -> None:
        if key is _MERGE_KEY:
            if top.merges is not None:
                raise self._error(top.path + ("<<",), "duplicate key '<<' (a later value would silently replace "
                                  "the first)", line)
            top.merges = []
        elif not isinstance(key, str):
            raise self._error(top.path, f"mapping key {key!r} is not a string (quote it)", line)
        elif key in top.value:
            error = self._error(top.path + (key,), f"duplicate key {key!r} (a later value would silently replace "
                                "the first)", line)
            if self.duplicates is None:
                raise error
            self.duplicates.append(error)
            del top.value[key]  # the later value takes the key's place, as most readers do silently
            self.lines.append((top.path + (key,), line))
        else:
            self.lines.append((top.path + (key,), line))
        top.key = key

    def scalar(self, event) -> None:
        line = event.start_mark.line + 1
        path = self._next_path()
        tag, text, plain = event.tag, event.value, event.implicit[0]
        try:
            if event.style == '"' and _SURROGATE.search(text):
                text = _join_surrogates(text)
            if tag is None or tag == "!":
                value = self.scalars.plain(text) if plain and tag is None else text
            else:
                value = self.scalars.tagged(str(tag), text)
        except _BadValue as exc:
            raise self._error(path, str(exc), line) from None
        top = self.stack[-1] if self.stack else None
        if plain and event.style is None and top is not None and top.flow and _GO_FLOW_PLAIN_END.search(text):
            raise self._error(path, f"{text[:60]!r} unquoted inside a [...] or {{...}} list: Helm and kubectl "
                              "(go-yaml) end the value at its '?' or ':' and refuse the file; quote it", line)
        if self.libyaml and top is None and event.style in ("|", ">"):
            raise _NotForLibyaml  # a document that is one block scalar: libyaml reads its indentation differently
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(value, 1, 0, (0, 0, 0), [])
        self._item_line(path, line)
        if text == "<<" and plain and tag is None and top is not None and top.key is _KEY \
                and isinstance(top.value, dict):
            value = _MERGE_KEY
        self._place(value, line, 1, 0, len(self.lines))

    def alias(self, event) -> None:
        line = event.start_mark.line + 1
        path = self._next_path()
        name = event.anchor
        if name in self.open_anchors:
            raise self._error(path, f"recursive YAML alias {name!r}", line)
        if name not in self.anchors:
            raise self._error(path, f"invalid YAML: found undefined alias {name!r}", line)
        target = self.anchors[name]
        self.expanded += target.size
        if self.expanded > MAX_EXPANDED_NODES:
            raise self._error((), f"YAML aliases expand the file to more than {MAX_EXPANDED_NODES} nodes; "
                              "refusing it (a 'billion laughs' file?)", line)
        if len(self.stack) + target.height > MAX_DEPTH:
            raise self._error(path, f"nesting deeper than {MAX_DEPTH} levels through the YAML alias {name!r}",
                              line)
        if target.below is None:
            first, end, depth = target.span
            target.below = [(p[depth:], at) for p, at in self.lines[first:end]]
        self._item_line(path, line)
        first = len(self.lines)
        self.lines.extend((path + below, at) for below, at in target.below)
        self._place(_copy(target.value), line, target.size, target.height, first)

    def start(self, event) -> None:
        line = event.start_mark.line + 1
        path = self._next_path()
        mapping = type(event).__name__ == "MappingStartEvent"
        if len(self.stack) >= MAX_DEPTH:
            raise self._error((), f"nesting deeper than {MAX_DEPTH} levels", line)
        if event.tag is not None and str(event.tag).startswith(_CORE) \
                and str(event.tag) != _CORE + ("map" if mapping else "seq"):
            raise self._error(path, f"YAML tag {_short(str(event.tag))} is not read: only strings, numbers, "
                              "booleans, null, lists and mappings are", line)
        self._item_line(path, line)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        flow = bool(event.flow_style) or bool(self.stack and self.stack[-1].flow)
        self.stack.append(_Collection({} if mapping else [], path, line, event.anchor, len(self.lines), flow=flow))

    def end(self, event) -> None:
        node = self.stack.pop()
        if node.merges:
            self._merge(node)
        if node.anchor is not None:
            self.open_anchors.discard(node.anchor)
            span = (node.first, len(self.lines), len(node.path))
            self.anchors[node.anchor] = _Anchored(node.value, node.size, node.height, span)
        self._place(node.value, node.line, node.size, node.height, node.first)

    def _merge(self, node: _Collection) -> None:
        """`<<: *base` or `<<: [*a, *b]`: each key the mapping lacks, from the first source that has it."""
        for value, path, first, end, line in node.merges:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                raise self._error(path, "invalid YAML: expected a mapping or list of mappings for merging", line)
            origin: dict = {}  # merged key -> index of its source
            for i, source in enumerate(sources):
                for key, item in source.items():
                    if key not in node.value:
                        node.value[key] = item
                        origin[key] = i
            listed = isinstance(value, list)
            depth = len(path) + listed
            for p, at in self.lines[first:end]:
                if len(p) > depth and origin.get(p[depth]) == (p[depth - 1] if listed else 0):
                    self.lines.append((node.path + p[depth:], at))
            self.merged.append((first, end))


def _copy(value: Any) -> Any:
    """A fresh copy of an anchored node for each alias, so changing one place never changes another."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def parse_documents(text: str, file: str, *, duplicates: list | None = None) -> list[Document]:
    """Every YAML document in `text`. Raises InputError with file, pointer and line on any problem.

    With a `duplicates` list, a duplicate key is not an error: it is appended there (an InputError naming its
    line) and the later value is kept, so a linter can report it and still read the rest of the file."""
    if _libyaml_parser() is not None and not _PURE_ONLY.search(text):
        found: list | None = None if duplicates is None else []
        try:
            docs = _Builder(file, libyaml=True, duplicates=found).build(_libyaml_events(text))
            if duplicates is not None:
                duplicates.extend(found)
            return docs
        except (_NotForLibyaml, InputError):
            pass  # every error comes from the pure parser: libyaml can stop at another place, or not at all
    return _Builder(file, duplicates=duplicates).build(_pure_events(text, file))


def string_spans(text: str, needle: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """((line, column), (line, column)) from start to end, 0-based and in text order, of every scalar whose value
    holds `needle`: text that looks like a comment there is part of a string. Read by the parser that
    `parse_documents` uses; empty when the text is not YAML."""
    def collect(events: Iterable) -> list:
        return [((e.start_mark.line, e.start_mark.column), (e.end_mark.line, e.end_mark.column))
                for e in events if type(e).__name__ == "ScalarEvent" and needle in e.value]

    if _libyaml_parser() is not None and not _PURE_ONLY.search(text):
        try:
            return collect(_libyaml_events(text))
        except _NotForLibyaml:
            pass
    try:
        return collect(_pure_events(text, "<text>"))
    except InputError:
        return []


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


def _refuse_duplicates(file: str):
    def pairs(items: list) -> dict:
        seen: dict = {}
        for key, value in items:
            if key in seen:
                raise InputError(file, "", f"duplicate key {key!r} (a later value would silently replace the first)")
            seen[key] = value
        return seen
    return pairs


def parse_json_document(text: str, file: str) -> Document:
    """One JSON document, read with the standard library alone: the chart-delivered supervisor runs where
    ruamel.yaml is not installed. Duplicate keys and deep nesting are refused as in YAML; the line map is empty
    (errors name the JSON pointer)."""
    import json

    def refuse_constant(name: str):
        raise InputError(file, "", f"{name} is not a JSON number (JSON has no NaN or Infinity): write a number")

    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicates(file), parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(file, "", f"invalid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise InputError(file, "", f"nesting deeper than {MAX_DEPTH} levels") from None
    if _depth(data) > MAX_DEPTH:
        raise InputError(file, "", f"nesting deeper than {MAX_DEPTH} levels")
    if data is None:
        raise InputError(file, "", "file is empty")
    return Document(data, file, {})


def _depth(data: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def is_json_text(text: str) -> bool:
    """Text that is a JSON object (which YAML also reads): parse it with `parse_json_document`."""
    return text.lstrip().startswith("{")


def load_document(path: str | Path, *, allow_empty: bool = False) -> Document:
    name = "<stdin>" if str(path) == "-" else str(path)
    return parse_document(read_text(path), name, allow_empty=allow_empty)


def _yaml11_resolver():
    from ruamel.yaml.resolver import VersionedResolver

    return VersionedResolver(version=(1, 1))


def _printable(text: str) -> bool:
    return all(ch == "\n" or (ch.isprintable() and ch not in "\u2028\u2029\x85\ufeff") for ch in text)


#: Plain scalars go-yaml (Helm's and Kubernetes' reader) takes for numbers where ruamel's YAML 1.1 resolver sees a
#: string: floats without a dot (`.5e1`, `1e3`) and YAML 1.2 octal and binary integers (go-yaml v2, resolve.go
#: yamlStyleFloat; go-yaml v3, resolve.go).
_GO_YAML_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|[-+]?0b[01_]+"
                             r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def yaml11_safe(node: Any) -> Any:
    """`node` with every string a YAML 1.1 reader would not read back as that string double-quoted: Helm and
    Kubernetes (sigs.k8s.io/yaml) read `yes`, `on`, `0x10`, `1:20` as booleans and numbers, and a literal block
    cannot hold control characters. Containers are changed in place (ruamel keeps their comments)."""
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

    resolver = _yaml11_resolver()

    def fix(value):
        if isinstance(value, (dict, list)):
            yaml11_safe(value)
            return value
        if not isinstance(value, str):
            return value
        if isinstance(value, LiteralScalarString):
            return value if _printable(value) else DoubleQuotedScalarString(value)
        plain = (resolver.resolve(ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"
                 and not _GO_YAML_NUMBER.fullmatch(value))
        return value if plain and _printable(value) else DoubleQuotedScalarString(value)

    if isinstance(node, dict):
        keys = list(node)
        for key in keys:
            node[key] = fix(node[key])
        if any(isinstance(k, str) and fix(k) is not k for k in keys):  # keys too: `Y:` would become `true:`
            items = [(fix(k), node.pop(k)) for k in keys]
            for k, v in items:
                node[k] = v
    elif isinstance(node, list):
        for i, item in enumerate(node):
            node[i] = fix(item)
    else:
        return fix(node)
    return node


#: A string a flow collection (`[a, b]`) may hold unquoted for every reader: a word or path of letters, digits, `._/-`.
_FLOW_WORD = re.compile(r"[A-Za-z0-9/][A-Za-z0-9._/-]*")


def flow_word(text: str) -> bool:
    """Whether `text` may sit in a flow collection as written: anything else (a URL with `?`, a `:` before a
    comma, braces) reads differently under go-yaml, Helm's reader, so its list is written in block style."""
    return bool(_FLOW_WORD.fullmatch(text))


def _block_unless_words(node: Any) -> None:
    """Flow collections whose strings are not all `flow_word`s turned to block style, in place."""
    stack = [node]
    while stack:
        item = stack.pop()
        children = list(item.values()) + list(item) if isinstance(item, dict) else item if isinstance(
            item, list) else None
        if children is None:
            continue
        fa = getattr(item, "fa", None)
        if fa is not None and fa.flow_style() and not all(
                flow_word(c) for c in children if isinstance(c, str)):
            fa.set_block_style()
        stack.extend(c for c in children if isinstance(c, (dict, list)))


def dump(data: Any) -> str:
    """YAML text of `data` (ruamel CommentedMap comments are kept), block style but for lists of plain words, key
    order preserved; every string reads back as itself under YAML 1.1 too (`yaml11_safe`)."""
    from ruamel.yaml import YAML

    data = yaml11_safe(data)
    _block_unless_words(data)
    y = YAML(typ="rt")
    y.default_flow_style = False
    y.width = 120
    y.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` so readers see the old file or the whole new one, never a part. A symlink is
    followed (the link stays a link); a target that is not a regular file (`/dev/stdout`, a pipe) is written
    directly. Unusable paths raise InputError naming the path."""
    name = str(path)
    if not name:
        raise InputError("<command line>", "", "output path is empty")
    if os.path.isdir(name):
        raise InputError(name, "", "is a directory: name a file to write")
    if os.path.exists(name) and not os.path.isfile(name):  # /dev/stdout, a pipe: no rename onto it
        try:
            with open(name, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise InputError(name, "", f"cannot write: {exc.strerror or exc}") from None
        return
    target = Path(os.path.realpath(name))
    directory = target.parent
    if not directory.is_dir():
        raise InputError(name, "", "output directory does not exist" if not directory.exists() else
                         f"{directory} is not a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(name, "", f"cannot write here: {exc.strerror or exc}") from None
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
    except OSError as exc:
        _unlink(tmp)
        raise InputError(name, "", f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
