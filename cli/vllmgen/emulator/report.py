"""What a run means to a user: the verdict (started at, Ready at, readiness lag, restarts, probe requests per
second, a deletion's course, the modelled constants) and the probe-by-probe table, as plain text or JSON; several
runs side by side."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from vllmgen.emulator import termination
from vllmgen.emulator.drivers import Run


@dataclass(frozen=True)
class Verdict:
    name: str
    mode: str
    source: str
    duration: float
    lead: float
    started_at: float | None
    ready_at: float | None
    model_ready_at: float | None
    lag: float | None  # Ready - model truly ready
    restarts: int
    kills: int
    restarted_at: float | None  # when the first restart started a new container
    probe_requests: int
    requests_per_s: float
    requests_per_s_ready: float | None  # once Ready (steady state)
    ready_at_end: bool
    wall_start: float | None  # live runs: Unix time of t = 0
    model: dict  # the modelled constants (PLEG delay, resync period, endpoint propagation)
    deletion: dict | None = None  # the course of --delete-at (termination.Deletion)


def verdict(run: Run) -> Verdict:
    k = run.kubelet
    ready_at = k.first("ready")
    reqs = k.requests(run.duration)
    after = [r for r in reqs if ready_at is not None and r.start >= ready_at]
    steady = run.duration - ready_at if ready_at is not None else 0.0
    truth = run.model_ready_at
    return Verdict(
        name=run.pod.name, mode=run.mode, source=run.source, duration=round(run.duration, 3), lead=run.lead,
        started_at=_r(k.first("started")), ready_at=_r(ready_at), model_ready_at=_r(truth),
        lag=_r(ready_at - truth) if ready_at is not None and truth is not None else None,
        restarts=k.restarts, kills=k.kills,
        restarted_at=_r(next((c.start for c in k.containers[1:] if c.start <= run.duration), None)),
        probe_requests=len(reqs), requests_per_s=round(len(reqs) / run.duration, 4) if run.duration else 0.0,
        requests_per_s_ready=round(len(after) / steady, 4) if steady > 0 else None,
        ready_at_end=k.ready, wall_start=run.wall_start, model=run.model.shown(),
        deletion=_deletion(run))


def _deletion(run: Run) -> dict | None:
    d = termination.deletion(run.kubelet, run.delete_at, run.model.endpoint_delay)
    if d is None:
        return None
    return {k: _r(v) if isinstance(v, float) else v for k, v in asdict(d).items()}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3) + 0.0  # + 0.0: no "-0.0"


def rows(run: Run) -> list[dict]:
    """Probe requests and pod events in time order."""
    out = []
    for r in run.kubelet.requests(run.duration):
        out.append({"time": _r(r.start), "probe": r.kind, "cause": r.cause, "container": r.container,
                    "endpoint": f":{r.port}{r.path}", "result": r.result or "in flight",
                    "answer": r.detail, "latency": None if r.end is None else round(r.end - r.start, 4)})
    for e in run.kubelet.events:
        if e.time <= run.duration:
            out.append({"time": _r(e.time), "event": e.what, "detail": e.detail})
    out.sort(key=lambda row: (row["time"], "event" not in row))
    return out


def to_json(runs: list[Run]) -> str:
    return json.dumps({"runs": [{"verdict": asdict(verdict(r)), "notes": r.notes, "timeline": rows(r)}
                                for r in runs]}, indent=2) + "\n"


def _s(x: float | None, unit: str = " s") -> str:
    return "-" if x is None else f"{x:.2f}{unit}"


def _s3(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def verdict_text(v: Verdict) -> str:
    lines = [f"verdict for {v.name} ({v.mode}, {v.source}; pod synced {v.lead:g} s before the container "
             f"started)"]
    if v.started_at is None:
        lines.append(f"  never started within {v.duration:g} s")
    else:
        lines.append(f"  started at {v.started_at:.3f} s")
    if v.ready_at is None:
        lines.append(f"  never Ready within {v.duration:g} s")
    else:
        lag = "" if v.lag is None else f" (model ready at {v.model_ready_at:.3f} s: lag {v.lag:.3f} s)"
        lines.append(f"  Ready at {v.ready_at:.3f} s{lag}")
    first = "" if v.restarted_at is None else f", the first at {v.restarted_at:.3f} s"
    lines.append(f"  restarts: {v.restarts}" + (f" (kills: {v.kills})" if v.kills != v.restarts else "") + first)
    steady = "" if v.requests_per_s_ready is None else f", {v.requests_per_s_ready:.2f}/s once Ready"
    lines.append(f"  probe requests: {v.probe_requests} in {v.duration:g} s ({v.requests_per_s:.2f}/s{steady})")
    if v.deletion is not None:
        lines.extend(deletion_text(v.deletion))
    return "\n".join(lines)


def model_text(m: dict) -> str:
    return (f"modelled: kubelet {m['kubelet_version']}, PLEG relist {m['pleg_delay']:g} s, pod resync "
            f"{m['resync_period']:g} s, endpoint propagation {m['endpoint_delay']:g} s (--kubelet-version, "
            f"--pleg-delay, --resync-period, --endpoint-delay)")


def deletion_text(d: dict) -> list[str]:
    pre = f"preStop {d['pre_stop']:g} s, " if d["pre_stop"] else ""
    lines = [f"  deleted at {d['deleted_at']:.3f} s (grace {d['grace']} s): {pre}SIGTERM at {d['sigterm_at']:.3f} s"]
    left = d["sigkill_at"] - d["sigterm_at"]
    if d["drain_fit"] is True:
        lines.append(f"  drain: exited {d['exit_at'] - d['sigterm_at']:.3f} s after SIGTERM, within the "
                     f"{left:g} s left of the grace period (SIGKILL was due at {d['sigkill_at']:.3f} s)")
    elif d["drain_fit"] is False:
        lines.append(f"  drain: did not fit in the {left:g} s left of the grace period: SIGKILL at "
                     f"{d['sigkill_at']:.3f} s")
    else:
        lines.append(f"  drain: how long the server takes to exit after SIGTERM is not known; SIGKILL at "
                     f"{d['sigkill_at']:.3f} s, {left:g} s after SIGTERM")
    if d["out_of_endpoints_at"] is None:
        lines.append("  endpoints: the pod was never in the Service's ready endpoints")
    elif d["in_endpoints_after_sigterm"]:
        lines.append(f"  endpoints: new connections still came {d['in_endpoints_after_sigterm']:.3f} s after "
                     f"SIGTERM (out of the ready endpoints at {d['out_of_endpoints_at']:.3f} s)")
    else:
        early = d["sigterm_at"] - d["out_of_endpoints_at"]
        lines.append(f"  endpoints: out of the ready endpoints at {d['out_of_endpoints_at']:.3f} s, "
                     + (f"{early:.3f} s before SIGTERM" if early > 0 else "as SIGTERM came"))
    if d["serving_until"] is not None:
        lines.append(f"  serving (terminating but Ready) until {d['serving_until']:.3f} s: a Service with no other "
                     f"ready endpoint still routes to it until then")
    return lines


def table_text(run: Run) -> str:
    header = f"{'time':>9}  {'probe':<9} {'why':<8} {'result':<8} {'answer':<36} {'latency':>9}"
    lines = [f"timeline of {run.pod.name}", header]
    for row in rows(run):
        if "event" in row:
            lines.append(f"{row['time']:>9.3f}  == {row['event']}" + (f": {row['detail']}" if row["detail"] else ""))
        else:
            lat = "-" if row["latency"] is None else f"{row['latency'] * 1000:.1f} ms"
            lines.append(f"{row['time']:>9.3f}  {row['probe']:<9} {row['cause']:<8} {row['result']:<8} "
                         f"{(row['endpoint'] + ' ' + row['answer'])[:36]:<36} {lat:>9}")
    return "\n".join(lines)


def compare_text(runs: list[Run]) -> str:
    vs = [verdict(r) for r in runs]
    width = max(len("configuration"), *(len(v.name) for v in vs))
    header = (f"{'configuration':<{width}}  {'mode':<6} {'started':>8} {'Ready':>8} {'lag':>7} {'restarts':>8} "
              f"{'probes/s':>8} {'once Ready':>10}")
    lines = [header]
    for v in vs:
        steady = "-" if v.requests_per_s_ready is None else f"{v.requests_per_s_ready:.2f}"
        lines.append(f"{v.name:<{width}}  {v.mode:<6} {_s(v.started_at, ''):>8} {_s(v.ready_at, ''):>8} "
                     f"{_s3(v.lag):>7} {v.restarts:>8} {v.requests_per_s:>8.2f} {steady:>10}")
    return "\n".join(lines)


def to_text(runs: list[Run], details: bool = True) -> str:
    parts = []
    for r in runs:
        if details:
            parts.append(table_text(r))
        parts.append(verdict_text(verdict(r)))
        parts.extend(f"  note: {n}" for n in r.notes)
    if len(runs) > 1:
        parts.append("side by side (times in s since the container started):\n" + compare_text(runs))
    parts.append(model_text(runs[0].model.shown()))
    return "\n\n".join(parts) + "\n"
