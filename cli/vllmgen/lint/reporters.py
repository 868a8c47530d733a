"""Writing a lint result: text (`file:line: VG001 error: message`), JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
import re
from typing import Callable

from vllmgen.errors import one_line
from vllmgen.lint.findings import Result
from vllmgen.lint.rules import R

#: GitHub annotation level per severity (workflow commands know error, warning and notice).
GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _where(file: str, line) -> str:
    return file if line is None else f"{file}:{line}"


def summary(result: Result) -> str:
    c = result.counts()
    n = len(result.findings)
    parts = [f"{c[s]} {s}{'s' if c[s] != 1 and s != 'info' else ''}" for s in ("error", "warning", "info") if c[s]]
    head = "no findings" if n == 0 else f"{n} finding{'s' if n != 1 else ''} ({', '.join(parts)})"
    tail = f"{result.files_checked} file{'s' if result.files_checked != 1 else ''} checked"
    if result.unusable:
        tail += f", {len(result.unusable)} unusable"
    inspected = len(result.containers)
    seen = f"{inspected} container{'s' if inspected != 1 else ''} inspected, " + (
        f"{result.vllm_containers} run{'s' if result.vllm_containers == 1 else ''} vLLM" if result.vllm_containers
        else "no vLLM container found")
    return f"{head}; {tail}; {seen}"


def text(result: Result) -> str:
    lines = [f"{_where(u.file, u.line)}: input-error: {u.message}" for u in result.unusable]
    for f in result.findings:
        line = f"{_where(f.file, f.line)}: {f.rule} {f.severity}: {f.message}. Fix: {f.fix}"
        if f.evidence:
            line += f". probe-check: {f.evidence['summary']}"
        lines.append(line)
    return "".join(one_line(line) + "\n" for line in lines)


def as_json(result: Result) -> str:
    status = "error" if result.unusable else ("fail" if result.findings else "ok")
    doc = {
        "status": status,
        "summary": {**result.counts(), "files_checked": result.files_checked,
                    "documents_checked": result.documents_checked,
                    "containers_inspected": len(result.containers), "vllm_containers": result.vllm_containers},
        "findings": [
            {"file": f.file, "line": f.line, "document": f.document, "pointer": f.pointer, "rule": f.rule,
             "name": R[f.rule].name, "severity": f.severity, "message": f.message, "fix": f.fix,
             "container": f.container, **({"evidence": f.evidence} if f.evidence else {})}
            for f in result.findings
        ],
        "containers": [
            {"file": c.file, "document": c.document, "pointer": c.pointer, "name": c.name, "runs_vllm": c.runs_vllm,
             "server": c.server, "evidence": c.evidence}
            for c in result.containers
        ],
        "unusable": [{"file": u.file, "line": u.line, "message": u.message} for u in result.unusable],
        "notes": result.notes,
    }
    return json.dumps(doc, indent=2) + "\n"


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def github(result: Result) -> str:
    """GitHub Actions workflow commands: `::error file=F,line=L,title=VG001 probe-port::message`."""
    lines = []
    for u in result.unusable:
        props = f"file={_escape_property(u.file)}" + (f",line={u.line}" if u.line else "")
        lines.append(f"::error {props},title=vllmgen lint: unusable input::{_escape_data(u.message)}")
    for f in result.findings:
        props = f"file={_escape_property(f.file)}" + (f",line={f.line}" if f.line else "")
        title = _escape_property(f"{f.rule} {R[f.rule].name}")
        lines.append(f"::{GITHUB_LEVEL[f.severity]} {props},title={title}::"
                     f"{_escape_data(f'{f.message}. Fix: {f.fix}')}")
    return "\n".join(lines) + ("\n" if lines else "")


REPORTERS: dict[str, Callable[[Result], str]] = {"text": text, "json": as_json, "github": github}


#: SARIF result level per severity (SARIF 2.1.0, section 3.27.10: error, warning, note).
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"


#: A code point JSON text may not hold alone: a file name that is not UTF-8 reaches Python as lone surrogates
#: (os.fsdecode's surrogateescape), and SARIF readers refuse them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _uri(path: str) -> str:
    """A relative file reference as SARIF wants it (forward slashes, percent-encoded): the file name's own bytes,
    so that a name that is not UTF-8 keeps them (b'\\xff' is %FF)."""
    from urllib.parse import quote

    path = path.replace("\\", "/")
    path = path[2:] if path.startswith("./") else path
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file name decodes to
        raw = _SURROGATE.sub("\ufffd", path).encode("utf-8")
    return quote(raw)


def _valid_text(value):
    """Every string of a JSON document without lone surrogates (U+FFFD in their place)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value


def sarif(result: Result) -> str:
    """SARIF 2.1.0 for code scanning (GitHub's `upload-sarif`): every rule, every finding with its file and
    line, unusable inputs as tool notifications."""
    from vllmgen import __version__

    rules = list(R.values())
    index = {r.id: i for i, r in enumerate(rules)}
    run = {
        "tool": {"driver": {
            "name": "vllmgen lint",
            "version": __version__,
            "rules": [{"id": r.id, "name": r.name, "shortDescription": {"text": r.reason},
                       "help": {"text": f"Fix: {r.fix}"},
                       "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]}} for r in rules],
        }},
        "results": [],
        "invocations": [{
            "executionSuccessful": not result.unusable,
            "toolExecutionNotifications": [
                {"level": "error", "message": {"text": u.message},
                 "locations": [_location(u.file, u.line)]} for u in result.unusable],
        }],
    }
    for f in result.findings:
        entry = {"ruleId": f.rule, "ruleIndex": index[f.rule], "level": SARIF_LEVEL[f.severity],
                 "message": {"text": f"{f.message}. Fix: {f.fix}"}, "locations": [_location(f.file, f.line)]}
        if f.pointer:
            entry["properties"] = {"pointer": f.pointer, "document": f.document}
        run["results"].append(entry)
    doc = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [_valid_text(run)]}
    return json.dumps(doc, indent=2) + "\n"


def _location(file: str, line) -> dict:
    physical = {"artifactLocation": {"uri": _uri(file)}}
    if line:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


REPORTERS["sarif"] = sarif
