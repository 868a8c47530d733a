"""The serving watchdog's verdicts, as pure values and functions (no clock, no I/O: times are passed in).

While the model is served, the monitor reads vLLM's /metrics about once a second (`Reading`): the engine's
progress counters (steps, prompt and generation tokens, KV-cache usage, request gauges: any change is progress)
and the requests the engine holds (`vllm:num_requests_running` + `vllm:num_requests_waiting`). With the engine
core frozen every one of them stays as it was, while vLLM's /health keeps answering 200.

- Work pending (an engine holds requests, or a canary is out) and no progress since the work was seen, for
  `stall_s`: verdict `stalled` (/readyz 503 at once, with the reason). Each engine of a data-parallel pod
  (vLLM's `engine` label) is judged on its own counters: one frozen engine holding requests is seen while the
  others keep stepping.
- The same for `restart_s`: verdict `wedged` (the supervisor exits 1, the container restarts).
- Nothing pending and no progress for `canary_idle_s`: a canary is due (a 1-token completion); while it is out
  it is the pending work, so a frozen idle engine is caught within canary_idle_s + stall_s.
- Paused (no verdict, windows restart): not served yet, asleep, draining.

A verdict is only ever judged up to the last reading plus READING_SLACK_S: a monitor that could not read
/metrics for a while (a starved machine) never turns its own silence into a stall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

#: Counters and gauges whose change means an engine stepped (per engine, summed over every other label).
PROGRESS_METRICS = (
    "vllm:iteration_tokens_total_count",  # one per engine step that produced output
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:request_success_total",
    "vllm:prefix_cache_queries_total",  # counted as the scheduler admits a prompt
    "vllm:num_preemptions_total",
    "vllm:kv_cache_usage_perc",  # moves with every prefill chunk, before its first token
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
)
#: The requests the engine holds: running and queued (the scheduler's own gauges).
IN_FLIGHT_METRICS = ("vllm:num_requests_running", "vllm:num_requests_waiting")
#: How far past the last reading a verdict may be judged: the monitor reads about once a second.
READING_SLACK_S = 2.0

OK, STALLED, WEDGED, PAUSED = "ok", "stalled", "wedged", "paused"


#: vLLM's label for the engine a series belongs to (one engine core per data-parallel rank).
_ENGINE_LABEL = re.compile(r'[{,]\s*engine="([^"]*)"')


def parse_engines(text: str) -> dict[str, tuple[dict, int]] | None:
    """{engine: (progress metric -> sum over its series, requests the engine holds)} from a /metrics body (an
    unlabelled series counts as engine ""); None when it carries none of the progress metrics (not vLLM's, or its
    metrics are off)."""
    sums: dict[str, dict] = {}
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        name = line.split("{", 1)[0].split(None, 1)[0]
        if name not in PROGRESS_METRICS:
            continue
        try:
            value = float(line.rsplit(None, 1)[1])
        except (IndexError, ValueError):
            continue
        label = _ENGINE_LABEL.search(line.split("}", 1)[0]) if "{" in line else None
        engine = sums.setdefault(label.group(1) if label else "", {})
        engine[name] = engine.get(name, 0.0) + value
    if not sums:
        return None
    return {e: (c, int(sum(c.get(m, 0.0) for m in IN_FLIGHT_METRICS))) for e, c in sorted(sums.items())}


def parse_metrics(text: str) -> tuple[dict, int] | None:
    """(progress metric -> sum over every engine, requests the engines hold) from a /metrics body; None as
    parse_engines."""
    engines = parse_engines(text)
    if engines is None:
        return None
    total: dict = {}
    for counters, _ in engines.values():
        for name, value in counters.items():
            total[name] = total.get(name, 0.0) + value
    return total, sum(held for _, held in engines.values())


@dataclass(frozen=True)
class Config:
    stall_s: float
    restart_s: float
    canary_idle_s: float | None = None  # None: no canary


@dataclass(frozen=True)
class Watch:
    """What the watchdog knows. Times are monotonic seconds."""

    verdict: str = PAUSED
    reason: str | None = None
    paused: str | None = "the model is not served yet"
    counters: tuple | None = None  # the progress metrics at the last reading, in PROGRESS_METRICS order, summed
    engines: tuple = ()  # (engine, its counters as `counters`) at the last reading
    read_at: float | None = None  # the last reading
    last_progress: float | None = None  # last reading whose counters differed from the one before
    in_flight: int = 0  # requests the engines held at the last reading
    api_in_flight: int | None = None  # requests vLLM's API server handled (/load), shown only
    pending_since: float | None = None  # work pending (requests or a canary) since, with no progress since
    engine_pending: tuple = ()  # (engine, requests it holds, since) for engines holding requests, unmoved since
    canary_pending: float | None = None  # a canary out since, with no progress of any engine since
    canary_out: int | None = None  # id of the canary in flight
    canary_sent: float | None = None
    canaries: int = 0  # canaries sent
    canaries_ok: int = 0
    canary_last: str | None = None  # the last canary's outcome, for /status
    canary_at: float | None = None  # when the last canary finished
    verdicts: int = 0  # stalled or wedged verdicts so far


def pause(w: Watch, why: str, now: float) -> Watch:
    """No verdict while `why` holds (asleep, draining, not served): every window starts again after it."""
    if w.paused == why:
        return w
    return replace(w, verdict=PAUSED, reason=None, paused=why, pending_since=None, engine_pending=(),
                   canary_pending=None, canary_out=None, canary_sent=None, last_progress=now)


def _values(counters: dict) -> tuple:
    return tuple(round(counters.get(m, 0.0), 9) for m in PROGRESS_METRICS)


def _pending_since(engine_pending: tuple, canary_pending: float | None) -> float | None:
    times = [since for _, _, since in engine_pending] + ([canary_pending] if canary_pending is not None else [])
    return min(times) if times else None


def observe(w: Watch, engines: dict[str, tuple[dict, int]] | None, now: float,
            api_in_flight: int | None = None) -> Watch:
    """One reading of /metrics at `now` (`parse_engines`; None: /metrics did not answer, nothing is learnt). An
    engine holding requests whose counters did not move since it was first seen so is pending from then."""
    if engines is None:
        return w
    fresh = w.paused is not None or w.counters is None
    before = dict(w.engines)
    was_pending = {e: since for e, _, since in w.engine_pending}
    values = tuple((e, _values(c)) for e, (c, _) in engines.items())
    moved = {e: fresh or before.get(e) != v for e, v in values}
    pending = tuple((e, held, now if moved[e] else was_pending.get(e, now))
                    for e, (_, held) in engines.items() if held > 0)
    any_moved = any(moved.values())
    canary = None
    if w.canary_out is not None:  # it went to one engine or another: any engine's progress may be its answer
        canary = now if any_moved else (w.canary_pending if w.canary_pending is not None else now)
    total: dict = {}
    for counters, _ in engines.values():
        for name, value in counters.items():
            total[name] = total.get(name, 0.0) + value
    return replace(w, counters=_values(total), engines=values, read_at=now,
                   in_flight=sum(held for _, held in engines.values()), api_in_flight=api_in_flight, paused=None,
                   engine_pending=pending, canary_pending=canary, pending_since=_pending_since(pending, canary),
                   last_progress=now if any_moved else w.last_progress)


def canary_due(w: Watch, cfg: Config, now: float) -> bool:
    """Idle (nothing in the engine) with no progress for canary_idle_s and no canary out."""
    if cfg.canary_idle_s is None or w.paused is not None or w.canary_out is not None or w.in_flight > 0:
        return False
    since = max(t for t in (w.last_progress, w.canary_at) if t is not None) if w.last_progress is not None else None
    return since is not None and now - since >= cfg.canary_idle_s


def canary_sent(w: Watch, ident: int, now: float) -> Watch:
    return replace(w, canary_out=ident, canary_sent=now, canaries=w.canaries + 1, canary_pending=now,
                   pending_since=_pending_since(w.engine_pending, now))


def canary_done(w: Watch, ident: int, outcome: str | None, now: float) -> Watch:
    """The canary `ident` answered (`outcome` None) or failed fast (`outcome` says how: an error answer is not
    a frozen engine, so it counts neither way). A stale canary (sent before a pause) is ignored."""
    if w.canary_out != ident:
        return w
    settled = _pending_since(w.engine_pending, None)
    if outcome is None:
        return replace(w, canary_out=None, canary_sent=None, canaries_ok=w.canaries_ok + 1, canary_at=now,
                       canary_pending=None, pending_since=settled,
                       canary_last=f"answered in {now - w.canary_sent:.2f} s")
    return replace(w, canary_out=None, canary_sent=None, canary_last=outcome, canary_at=now, canary_pending=None,
                   pending_since=settled)


def judge(w: Watch, cfg: Config, now: float) -> tuple[str, str | None]:
    """The verdict at `now` (never judged past the last reading + READING_SLACK_S) and its reason."""
    if w.paused is not None:
        return PAUSED, None
    if w.pending_since is None or w.read_at is None:
        return OK, None
    at = min(now, w.read_at + READING_SLACK_S)
    quiet = at - w.pending_since
    if quiet < cfg.stall_s:
        return OK, None
    oldest = min(w.engine_pending, key=lambda p: p[2]) if w.engine_pending else None
    if oldest is None or (w.canary_pending is not None and w.canary_pending < oldest[2]):
        what = f"a canary completion got no answer in {quiet:.1f} s"
    elif len(w.engines) > 1:
        what = (f"{oldest[1]} request(s) in engine {oldest[0]} and no progress of that engine (steps, tokens, KV "
                f"usage) for {quiet:.1f} s")
    else:
        what = (f"{oldest[1]} request(s) in the engine and no engine progress (steps, tokens, KV usage) for "
                f"{quiet:.1f} s")
    if quiet >= cfg.restart_s:
        return WEDGED, f"engine wedged: {what} (restartSeconds {cfg.restart_s:g})"
    return STALLED, f"engine stalled: {what} (stallSeconds {cfg.stall_s:g})"


def settle(w: Watch, cfg: Config, now: float) -> tuple[Watch, str | None]:
    """Store the verdict at `now`; returns the new watch and the verdict when it changed (to be logged)."""
    verdict, reason = judge(w, cfg, now)
    if verdict == w.verdict and reason is not None and w.reason is not None:
        return replace(w, reason=reason), None
    if verdict == w.verdict:
        return w, None
    counted = verdict in (STALLED, WEDGED)
    return replace(w, verdict=verdict, reason=reason, verdicts=w.verdicts + counted), verdict


def status(w: Watch, cfg: Config, now: float) -> dict:
    """The `watchdog` block of /status."""
    verdict, reason = judge(w, cfg, now)
    out = {
        "verdict": verdict,
        "reason": reason or w.paused,
        "stallSeconds": cfg.stall_s,
        "restartSeconds": cfg.restart_s,
        "canaryIdleSeconds": cfg.canary_idle_s,
        "requestsInEngine": w.in_flight,
        "engines": len(w.engines),
        "requestsInServer": w.api_in_flight,
        "secondsSinceProgress": None if w.last_progress is None else round(now - w.last_progress, 3),
        "secondsPending": None if w.pending_since is None else round(now - w.pending_since, 3),
        "secondsSinceReading": None if w.read_at is None else round(now - w.read_at, 3),
        "canaries": {"sent": w.canaries, "answered": w.canaries_ok, "out": w.canary_out is not None,
                     "last": w.canary_last},
        "verdicts": w.verdicts,
    }
    if w.counters is not None:
        out["steps"] = int(w.counters[0])
        out["generationTokens"] = int(w.counters[2])
    return out
