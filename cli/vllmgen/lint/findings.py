"""What a lint run produces: findings (rule hits), unusable inputs, and the result that collects both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from vllmgen.workloads import Probe

#: Severities, most serious first. `info` never fails a run by default: it explains, it does not block.
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    """A lint rule: id (as written in `--disable` and disable comments), severity, one-line reason, the fix."""

    id: str
    name: str
    severity: str
    reason: str
    fix: str


@dataclass(frozen=True)
class Finding:
    file: str
    line: Optional[int]
    rule: str
    severity: str
    message: str
    fix: str
    pointer: str = ""  # JSON pointer of the field inside its YAML document ("" = the document)
    document: int = 0  # 0-based index of the document in a multi-document file
    container: str = ""  # JSON pointer of the container it is about ("" = none in particular)
    #: What shows it (a probe-timing finding: probe-check's course of the pod, `lint.evidence.Course.to_data`)
    evidence: Optional[dict] = field(default=None, compare=False, hash=False)

    def sort_key(self):
        return (self.file, self.document, self.line or 0, self.rule, self.message)


@dataclass(frozen=True)
class Unusable:
    """A path that could not be linted at all (missing, unreadable, not YAML): exit code 2."""

    file: str
    line: Optional[int]
    message: str


@dataclass(frozen=True)
class Inspected:
    """A container lint looked at: where, and whether (and why) it runs vLLM."""

    file: str
    document: int
    pointer: str
    name: Optional[str]
    runs_vllm: bool
    server: Optional[str]  # what it is reviewed as (lint.identify), None when it runs no model server
    evidence: str


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    containers: list[Inspected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the run could not do (a hub look-up that failed)
    files_checked: int = 0
    documents_checked: int = 0

    @property
    def vllm_containers(self) -> int:
        return sum(1 for c in self.containers if c.runs_vllm)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            out[f.severity] += 1
        return out


@dataclass
class Hit:
    rule: str
    path: tuple
    message: str
    fix: Optional[str] = None   # a fix specific to this hit (default: the rule's)
    line_path: Optional[tuple] = None  # where to take the line from, when not `path` (an unexpected key)
    evidence: Optional[dict] = None  # what shows it (set by the runner: lint.evidence)
    load_s: Optional[int] = None  # the start it is about, when not estimated_load's (seconds)


def probe_name(p: "Probe") -> str:
    """The probe's field name in a container (`startupProbe`), as messages name it."""
    return f"{p.kind}Probe"
