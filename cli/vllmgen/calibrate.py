"""`vllmgen calibrate`: the spec's `startup:` block that fits measured starts.

The supervisor logs one `startup-measured` JSON line when a start reaches Ready (supervisor/progress.measured):
every budget term as it took, the weights and downloaded bytes. `starts` finds those lines in logs as `kubectl
logs` prints them (vLLM's output and the supervisor's JSON lines interleaved, maybe behind `--timestamps` or
`--prefix`); `fit` turns them into spec fields that cover every start: the slowest bandwidth, the longest compile
and process start; `render` prints the block with the arithmetic and the spread. Pure: the command reads the
files.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator

from vllmgen.budget import MB, QUIET_START_SECONDS, STALL_MARGIN, startup_budget
from vllmgen.errors import InputError

#: The supervisor's logger name on every JSON line it writes (supervisor/serve.PhaseLog).
LOGGER = "vllmgen.serve"
MEASURED = "startup-measured"
#: Significant digits kept of a fitted bandwidth (rounded down, so the block never promises more).
BANDWIDTH_DIGITS = 3
TERMS = ("download", "load", "compile", "start")
#: Most bytes read of one log: kubelet rotates a container's log at 10 MiB (containerLogMaxSize) and `kubectl
#: logs` prints the newest file; a stream past 64 MiB (/dev/zero, `yes`, a FIFO that never ends) is not one.
MAX_LOG_BYTES = 64 * 1024 * 1024
#: Longest log line read: the supervisor's JSON lines are under 1 KiB, vLLM's under a few KiB.
MAX_LINE_BYTES = 1024 * 1024
#: Largest number of seconds a start may measure (about 4 months) and of bytes it may load (1 PB): beyond them
#: the line is not the supervisor's, and the arithmetic of the fit would overflow a float.
MAX_SECONDS = 1e7
MAX_BYTES = 1e15
#: A term shorter than this gives no bandwidth (bytes over a zero-length time).
MIN_BANDWIDTH_SECONDS = 1e-3


@dataclass(frozen=True)
class Start:
    """One start that reached Ready, as its `startup-measured` line says."""

    where: str  # file:line
    seconds: dict  # term -> seconds
    total: float
    weights_bytes: float | None = None
    downloaded_bytes: float = 0.0
    longest_quiet: float | None = None

    @property
    def load_mbps(self) -> float | None:
        return self.weights_bytes / MB / self.seconds["load"] \
            if self.weights_bytes and self.weights_bytes >= 1 and self.seconds["load"] >= MIN_BANDWIDTH_SECONDS else None

    @property
    def download_mbps(self) -> float | None:
        return self.downloaded_bytes / MB / self.seconds["download"] \
            if self.downloaded_bytes >= 1 and self.seconds["download"] >= MIN_BANDWIDTH_SECONDS else None


@dataclass(frozen=True)
class Found:
    starts: list
    stalled: list = field(default_factory=list)  # "file:line: reason" of starts the supervisor ended stalled


def bounded_lines(stream: BinaryIO, name: str) -> Iterator[str]:
    """The lines of a binary stream as text (undecodable bytes replaced), refusing a line longer than
    MAX_LINE_BYTES or a stream longer than MAX_LOG_BYTES with one InputError naming the bound."""
    total = 0
    for n, raw in enumerate(iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""), 1):
        total += len(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise InputError(name, "", f"line longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB: not a pod log "
                             f"(a device or binary file?)", n)
        if total > MAX_LOG_BYTES:
            raise InputError(name, "", f"more than {MAX_LOG_BYTES // (1024 * 1024)} MiB: not one pod's log (an "
                             f"endless stream?); pass the log of one container", n)
        yield raw.decode("utf-8", errors="replace")


def _json_at(line: str) -> dict | None:
    """The supervisor's JSON object in a log line (after any kubectl timestamp or prefix), else None."""
    at = line.find('{"')
    if at < 0 or LOGGER not in line:
        return None
    try:
        data = json.loads(line[at:])
    except (ValueError, RecursionError):  # not JSON, a number of too many digits, nesting deeper than Python's stack
        return None
    return data if isinstance(data, dict) and data.get("logger") == LOGGER else None


def _number(value, file: str, n: int, key: str, most: float = MAX_SECONDS) -> float:
    # compared before float(): an integer of 400 digits does not fit a float
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= most:
        shown = repr(value) if not isinstance(value, int) or abs(value) < 10 ** 20 else "a number this large"
        raise InputError(file, "/" + key.replace(".", "/"), f"`{MEASURED}` line: {shown[:80]} is not a number of "
                         f"seconds or bytes (0 to {most:g})", n)
    return float(value)


def starts(lines: Iterable[str], file: str) -> Found:
    """The starts in one log: each `startup-measured` line, and each start ended as stalled."""
    found, stalled = [], []
    for n, line in enumerate(lines, 1):
        data = _json_at(line)
        if data is None:
            continue
        if data.get("event") == "exit" and str(data.get("reason", "")).startswith("startup stalled"):
            reason = " ".join(str(data["reason"]).split())  # one comment line, whatever the log holds
            stalled.append(f"{file}:{n}: {reason[:200]}")
        if data.get("event") != MEASURED:
            continue
        seconds = data.get("seconds")
        if not isinstance(seconds, dict) or any(t not in seconds for t in TERMS):
            raise InputError(file, "/seconds", f"`{MEASURED}` line without the terms {', '.join(TERMS)}", n)
        terms = {t: _number(seconds[t], file, n, f"seconds.{t}") for t in TERMS}
        weights = data.get("weightsBytes")
        quiet = data.get("longestQuietSeconds")
        found.append(Start(
            where=f"{file}:{n}", seconds=terms,
            total=_number(data.get("totalSeconds", sum(terms.values())), file, n, "totalSeconds", 4 * MAX_SECONDS),
            weights_bytes=None if weights is None else _number(weights, file, n, "weightsBytes", MAX_BYTES),
            downloaded_bytes=_number(data.get("downloadedBytes", 0), file, n, "downloadedBytes", MAX_BYTES),
            longest_quiet=None if quiet is None else _number(quiet, file, n, "longestQuietSeconds")))
    return Found(found, stalled)


def merge(logs: list[tuple[str, Found]]) -> Found:
    """The starts of every log; a log without any (a wrong file) is an error, and so is no start at all."""
    found, stalled = [], []
    for name, got in logs:
        if not got.starts and not got.stalled:
            raise InputError(name, "", f"no `{MEASURED}` line: this log holds no start of `vllmgen serve` that "
                             f"reached Ready (pass the supervisor's log, as `kubectl logs POD` prints it)")
        found += got.starts
        stalled += got.stalled
    if not found:
        raise InputError(logs[-1][0] if logs else "<command line>", "", "no start reached Ready in these logs")
    return Found(found, stalled)


# --- fitting ---------------------------------------------------------------------------------------------------

def _down(x: float) -> float:
    """Round a bandwidth down to BANDWIDTH_DIGITS significant digits."""
    if x <= 0:
        return x
    scale = 10 ** (BANDWIDTH_DIGITS - 1 - math.floor(math.log10(x)))
    return math.floor(x * scale) / scale


def _spread(values: list[float], unit: str, fmt: str = "{:.3g}") -> str:
    listed = ", ".join(fmt.format(v) for v in values)
    if len(values) < 2:
        return f"{listed} {unit}"
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    rel = f" (-{(med - lo) / med:.0%}/+{(hi - med) / med:.0%})" if med > 0 else ""
    return f"{listed} {unit}; median {fmt.format(med)}{rel}"


@dataclass(frozen=True)
class Field:
    name: str
    value: float
    why: str  # the comment: which start decided, the spread, the arithmetic


@dataclass(frozen=True)
class Calibration:
    starts: list
    fields: list  # [Field], in the schema's order
    notes: list  # comment lines about what could not be fitted
    stalled: list = field(default_factory=list)

    def block(self) -> dict:
        return {f.name: f.value for f in self.fields}


def fit(found: Found) -> Calibration:
    """The startup fields that cover every start: the slowest bandwidths, the longest compile and start."""
    ss = found.starts
    fields, notes = [], []
    downloads = [s.download_mbps for s in ss if s.download_mbps]
    if downloads:
        fields.append(Field("downloadMBps", _down(min(downloads)), f"slowest of {len(downloads)} downloads: "
                            + _spread(downloads, "MB/s")))
    else:
        notes.append("downloadMBps: no start downloaded weights (cached, or a PVC); keep the spec's")
    loads = [s.load_mbps for s in ss if s.load_mbps]
    if loads:
        fields.append(Field("loadMBps", _down(min(loads)), f"slowest of {len(loads)}: " + _spread(loads, "MB/s")))
    else:
        notes.append("loadMBps: the logs give no weights size (set model.weightsGiB or model.parameters)")
    compiles = [s.seconds["compile"] for s in ss]
    fields.append(Field("compileSeconds", math.ceil(max(compiles)), f"longest of {len(ss)}, rounded up: "
                        + _spread(compiles, "s", "{:.1f}") + " (profiling, torch.compile, KV cache, warm-up)"))
    startups = [s.seconds["start"] for s in ss]
    fields.append(Field("processStartSeconds", math.ceil(max(startups)), f"longest of {len(ss)}, rounded up: "
                        + _spread(startups, "s", "{:.1f}") + " (interpreter, imports, engine processes, API "
                                                              "server)"))
    quiet = [s.longest_quiet for s in ss if s.longest_quiet is not None]
    if quiet:
        need = math.ceil(max(quiet) * STALL_MARGIN)
        default = QUIET_START_SECONDS * STALL_MARGIN
        if need > default:
            fields.append(Field("stallSeconds", need, f"the longest quiet stretch x {STALL_MARGIN}: "
                                + _spread(quiet, "s", "{:.1f}")))
        else:
            notes.append(f"stallSeconds: the longest stretch without progress was {max(quiet):.1f} s, well inside "
                         f"the computed window ({QUIET_START_SECONDS} x {STALL_MARGIN} = {default} s on one node)")
    return Calibration(ss, fields, notes, found.stalled)


def estimate_for(cal: Calibration, start: Start) -> dict:
    """The terms the calibrated block estimates for the model of `start` (its weights, its download)."""
    b = cal.block()
    out = {"compile": b["compileSeconds"], "start": b["processStartSeconds"], "load": 0.0, "download": 0.0}
    if start.weights_bytes and "loadMBps" in b:
        out["load"] = start.weights_bytes / MB / b["loadMBps"]
    if start.downloaded_bytes and "downloadMBps" in b:
        out["download"] = start.downloaded_bytes / MB / b["downloadMBps"]
    return out


def render(cal: Calibration) -> str:
    """The block as YAML, each field with its arithmetic, and a table of the starts it was fitted to."""
    lines = [f"# vllmgen calibrate: {len(cal.starts)} start(s) that reached Ready; each term as measured, then as "
             f"this block estimates it", "#"]
    head = f"# {'start':<8}" + "".join(f"{t:>18}" for t in TERMS) + f"{'total':>18}   log"
    lines.append(head)
    for i, s in enumerate(cal.starts, 1):
        est = estimate_for(cal, s)
        cells = "".join(f"{s.seconds[t]:>8.1f} -> {est[t]:>6.1f}" for t in TERMS)
        lines.append(f"# {i:<8}{cells}{s.total:>8.1f} -> {sum(est.values()):>6.1f}   {s.where}")
    for why in cal.stalled:
        lines.append(f"# ended stalled, not fitted: {why}")
    for note in cal.notes:
        lines.append(f"# {note}")
    lines.append("startup:")
    for f in cal.fields:
        lines.append(f"  # {f.why}")
        value = f"{f.value:g}" if isinstance(f.value, float) else str(f.value)
        lines.append(f"  {f.name}: {value}")
    return "\n".join(lines) + "\n"


def budget_change(spec: dict, cal: Calibration) -> str:
    """One comment line: the spec's startup budget before and with the calibrated block."""
    before = startup_budget(spec)
    after_spec = copy.deepcopy(spec)
    after_spec["startup"].update(cal.block())
    after_spec["startup"].pop("budgetSeconds", None)
    after = startup_budget(after_spec)
    return f"# with this block the spec's startup budget is {after.arithmetic()} (now: {before.arithmetic()})\n"
