"""Every string the chart interpolates into YAML is quoted: a scan of charts/vllm/templates for `{{ ... }}` in a
YAML key or value position whose pipeline does not end in `quote` (or `toJson`, `toYaml`, `int`, ...).

An unquoted `image: {{ .image }}` is retyped by the YAML reader when the value looks like another type (`yes`,
`0755`, `1:20`, `.inf`, `~`) and breaks the document when it holds `: ` or `#`. A number goes through `int64`
(an unpiped `{{ .replicas }}` of 1,000,000 prints `1e+06`), but for a few keys that take a number or a name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[1] / "charts" / "vllm" / "templates"

ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
#: Actions that print nothing, or print YAML structure rather than a scalar.
CONTROL = re.compile(r"^(if|else|end|range|with|define|template|block|/\*|fail|break|continue)\b|^\$[\w.]*\s*:?=")
#: The last function of a pipeline that makes its output a scalar of a fixed type (or YAML structure).
TYPED = {"quote", "squote", "toJson", "toYaml", "toRawJson", "toPrettyJson", "int", "int64", "float64", "nindent",
         "indent", "tpl"}
#: Keys whose values may be a number or a string (a port name, a percentage, a quantity): they stay unquoted, and
#: the values schema bounds their numbers (ports) or types them as strings. Every other number goes through `int64`:
#: Helm holds values numbers as float64, and Go prints 1,000,000 or more in exponent form (`1e+06`), which the API
#: server's JSON decoder refuses for an integer field.
INT_OR_STRING_KEYS = {"port", "targetPort", "maxUnavailable", "maxSurge", "value", "averageValue", "threshold",
                      "activationThreshold"}
#: Whole-scalar interpolations of facts that are never retyped (the loop index; Helm's constant release service).
SAFE = {"$i", ".Release.Service", "$.Release.Service", ".root.Release.Service"}
KEY = re.compile(r"^\s*(?:-\s+)?([\w./-]+):\s")


def _last_function(body: str) -> str:
    stage = body.rsplit("|", 1)[-1].strip() if "|" in body else body.split()[0]
    return stage.split()[0] if stage else ""


def unquoted(text: str) -> list[tuple[int, str]]:
    """(line, action) for each interpolation in a YAML key or value position that is not typed by its pipeline."""
    found = []
    block_indent = None  # inside a `key: |` block scalar: its text is not YAML
    for number, line in enumerate(text.splitlines(), 1):
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                continue
            block_indent = None
        if re.search(r":\s*[|>][-+]?\s*$", line):
            block_indent = indent
        for match in ACTION.finditer(line):
            body = match.group(1)
            if not body or CONTROL.match(body) or body in SAFE:
                continue
            if "|" in body and _last_function(body) in TYPED or body.split()[0] in TYPED:
                continue
            before = line[:match.start()]
            if before.count('"') % 2 == 1:
                continue  # inside a double-quoted scalar
            if before.strip() == "" and line[match.end():].strip() == "":
                continue  # a line of its own: an include of YAML structure, or a define's result
            key = KEY.match(line)
            if not key and line.lstrip().startswith("{{") and not re.match(r"\s*\{\{[^}]*\}\}:\s", line):
                continue  # a helper's output after its own logic (`{{- if ... }}{{ .port }}`): no YAML here
            if key and key.group(1) in INT_OR_STRING_KEYS and key.end() == match.start():
                continue
            scalar = before[key.end():] if key else re.sub(r"^\s*-\s+", "", before)
            if re.match(r"[A-Za-z][\w-]*-$", scalar) and body in SAFE | {"$i"}:
                continue
            found.append((number, match.group(0)))
    return found


FILES = sorted(p for p in TEMPLATES.iterdir() if p.suffix in (".yaml", ".tpl"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_interpolated_string_is_quoted(path):
    found = unquoted(path.read_text())
    assert not found, "\n".join(f"{path.name}:{n}: {action} is not quoted (pipe it to quote, or a number to "
                                                                 "int64)" for n, action in found)


@pytest.mark.parametrize("line,flagged", [
    ("image: {{ $epp.image }}", True),
    ("image: {{ $epp.image | quote }}", False),
    ('image: "{{ .repository }}:{{ .tag }}"', False),
    ("replicas: {{ $ctx.cfg.replicas }}", True),
    ("replicas: {{ $ctx.cfg.replicas | int64 }}", False),
    ("targetPort: {{ include \"vllm.servingPortName\" $ctx }}", False),
    ("priorityClassName: {{ . }}", True),
    ("- --pool-namespace={{ .Release.Namespace }}", True),
    ("{{- if .Values.x }}", False),
    ("  {{- include \"vllm.labels\" . | nindent 4 }}", False),
    ("{{ $path | replace \"/\" \"_\" }}: |", True),
    ("name: lora-adapter-{{ $i }}", False),
])
def test_the_scan_tells_quoted_from_unquoted(line, flagged):
    assert bool(unquoted(line)) is flagged
