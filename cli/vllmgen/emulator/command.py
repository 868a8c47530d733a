"""`vllmgen probe-check`: read the configurations, pick the mode, run, and render. Returns the text to print;
raises InputError for anything the user must fix (exit 2, no partial output file)."""

from __future__ import annotations

from pathlib import Path

from vllmgen import yamlio
from vllmgen.emulator import drivers, model, report, timeline
from vllmgen.errors import InputError

#: Live runs last this long unless --duration says otherwise: a CPU vLLM start takes 40-90 s.
DEFAULT_LIVE_DURATION_S = 180.0


def _port_map(entries: list[str]) -> dict[int, int]:
    out = {}
    for entry in entries:
        try:
            a, b = entry.split("=", 1)
            src, dst = int(a), int(b)
            if not (1 <= src <= 65535 and 1 <= dst <= 65535):
                raise ValueError
        except ValueError:
            raise InputError("--port-map", "", f"expected FROM=TO port numbers, not {entry!r}") from None
        out[src] = dst
    return out


def probe_check(*, config: str, role: str | None, container: str | None, url: str | None,
                replay_file: Path | None, record: Path | None, duration: float | None, compare: list[Path],
                lead: float, port_map: list[str], record_interval: float, details: bool | None,
                fmt: str, until_ready: bool = False) -> tuple[str, int]:
    """The report text and the exit code (1 only with `until_ready` when the pod never turned Ready)."""
    if fmt not in ("text", "json"):
        raise InputError("--format", "", f"must be text or json, not {fmt!r}")
    if (url is None) == (replay_file is None):
        raise InputError("probe-check", "", "give exactly one of --url URL (live) or --replay TIMELINE")
    if record is not None and url is None:
        raise InputError("--record", "", "recording needs live mode (--url)")
    if until_ready and url is None:
        raise InputError("--until-ready", "", "applies to live mode (--url)")
    pods = [model.load(config, role, container)] + [model.load(str(c), role, container) for c in compare]
    if replay_file is not None:
        tl = timeline.load(replay_file)
        runs = [drivers.replay(p, tl, lead=lead, until=duration) for p in pods]
    else:
        target = drivers.parse_target(url, pods, _port_map(port_map))
        result = drivers.live(pods, target, duration or DEFAULT_LIVE_DURATION_S, lead=lead,
                              record_interval=record_interval or None,
                              record=record is not None or len(pods) > 1,
                              stop_after_ready=0.0 if until_ready else None)
        _check_reachable(result, url)
        runs = [result.run]
        if len(pods) > 1:
            for p in pods[1:]:
                try:
                    runs.append(drivers.replay(p, result.timeline, lead=lead))
                except InputError as exc:
                    raise InputError(str(p.name), "", f"cannot replay on the live recording: {exc.message}"
                                     ) from None
        if record is not None:
            yamlio.write_atomic(record, timeline.dumps(result.timeline, record))
    code = 1 if until_ready and runs[0].kubelet.first("ready") is None else 0
    if fmt == "json":
        return report.to_json(runs), code
    return report.to_text(runs, details=len(runs) == 1 if details is None else details), code


def _check_reachable(result: drivers.LiveResult, url: str) -> None:
    """A live run where no request ever got an HTTP answer means a wrong address, not a slow start."""
    recs = [r for r in result.run.kubelet.records if r.result is not None]
    answered = any(not r.detail.startswith(("refused", "timeout")) for r in recs)
    tl = result.timeline
    asked = bool(recs)
    if tl is not None:
        asked = asked or any(e.answers for e in tl.endpoints)
        answered = answered or any(a.kind in ("status", "hold") for e in tl.endpoints for a in e.answers)
    if asked and not answered:
        raise InputError("--url", "", f"nothing answered at {url} in {result.run.duration:.0f} s (every request "
                         f"was refused or timed out): is the server running, and are the probe ports right? "
                         f"(probe ports: {', '.join(sorted({str(p.port) for p in result.run.pod.probes()}))})")
