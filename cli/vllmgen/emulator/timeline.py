"""Recorded endpoint timelines: what each endpoint of one container answered, from when, and how fast.

Times are seconds since the container started. A replay after a (simulated) restart plays the timeline again
from 0 for the new container. YAML or JSON:

```yaml
version: 1
duration: 120.0        # seconds the recording covers; a replay stops there
ready_at: 55.9         # optional: when the model was truly ready (readiness lag is measured from here)
sigterm_exit: 0.5      # optional: seconds the server takes to exit after SIGTERM (default: the grace period)
exit_at: 140.0         # optional: the container exits by itself this long after it started (a supervisor that
                       # ended a stalled load); kubelet restarts it (restartPolicy, crash-loop back-off)
endpoints:
  - path: /health      # the request path (a query string in a probe's path is ignored when matching)
    port: 8000         # optional: without it the answers hold for this path on any port
    answers:           # each answer holds from `at` until the next answer's `at` (the last: until the end)
      - {at: 0, answer: refused}                 # TCP connection refused (fails at once)
      - {at: 55.9, answer: 200, latency: 0.003}  # an HTTP status, answered after `latency` s (default 0.001)
  - path: /startupz
    port: 8090
    answers:
      - {at: 0, answer: refused}
      - {at: 2.0, answer: hold, hold: 9.0, then: 503}   # long-poll: the request is held until the next
                                                        # answer starts (then answered as that one) or for
                                                        # `hold` s, then answered with status `then`
      - {at: 55.9, answer: 200}
      - {at: 90.0, answer: timeout}              # accepts the connection but never answers
      - {at: 95.0, answer: error}                # accepts, then no valid HTTP answer (a reset, a reply that
                                                 # is not HTTP, a redirect loop): a failure after `latency` s
      - {at: 99.0, answer: stall}                # the status line and headers come, the body never ends:
                                                 # kubelet's read errors out, so the probe is retried and
                                                 # then discarded (it counts neither way)
```
Before an endpoint's first answer the connection is refused."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from vllmgen import yamlio
from vllmgen.errors import InputError

FORMAT_VERSION = 1
#: Latency of an answer that gives none: a loopback HTTP round trip is about a millisecond.
DEFAULT_LATENCY_S = 0.001
#: Status a held long-poll answers with when its hold runs out (the supervisor's "not ready yet").
DEFAULT_HOLD_STATUS = 503
#: A request answered after at least this long was held by the server (a long-poll), not merely slow:
#: vLLM and the supervisor answer probes in milliseconds (docs/upstream-facts.md#vllm-under-load: p99 12 ms).
HELD_MIN_S = 0.5
#: The longest stretch a replay emulates (six hours: longer than any model load or rollout being checked); the
#: emulation costs time in proportion, so a longer one is refused rather than left to run for minutes.
MAX_DURATION_S = 6 * 3600.0
KINDS = ("refused", "timeout", "hold", "error", "stall")
#: Answers that come after a latency of their own (a timeout never comes; a stall's headers do).
TIMED_KINDS = ("refused", "error", "stall")


@dataclass(frozen=True)
class Answer:
    at: float
    kind: str  # "status" | "refused" | "timeout" | "hold"
    status: int | None = None
    latency: float = DEFAULT_LATENCY_S
    hold: float | None = None
    then: int = DEFAULT_HOLD_STATUS

    def to_data(self) -> dict:
        out: dict[str, Any] = {"at": round(self.at, 4)}
        if self.kind == "status":
            out["answer"] = self.status
            if self.latency != DEFAULT_LATENCY_S:
                out["latency"] = round(self.latency, 4)
        elif self.kind == "hold":
            out.update(answer="hold", hold=round(self.hold, 3), then=self.then)
        else:
            out["answer"] = self.kind
            if self.kind in TIMED_KINDS and self.latency != DEFAULT_LATENCY_S:
                out["latency"] = round(self.latency, 4)
        return out


@dataclass(frozen=True)
class Response:
    """What one request started at `start` got: `kind` status/refused/timeout/error/stall, and when the answer
    came (math.inf for a timeout; for a stall, when the headers came: its body never ends)."""

    start: float
    end: float
    kind: str
    status: int | None = None
    held: bool = False


@dataclass(frozen=True)
class Endpoint:
    path: str
    port: int | None
    answers: tuple[Answer, ...]
    _ats: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_ats", tuple(a.at for a in self.answers))

    def answer_at(self, t: float) -> Answer | None:
        i = bisect_right(self._ats, t) - 1
        return self.answers[i] if i >= 0 else None

    def next_change(self, t: float) -> float:
        i = bisect_right(self._ats, t)
        return self._ats[i] if i < len(self._ats) else math.inf

    def respond(self, t: float) -> Response:
        """The answer to a request sent at `t` (no client timeout applied). A held request that sees the next
        answer start is answered as a request sent then would be (a loop, not recursion: thousands of holds in a
        row are fine)."""
        at, held = t, False
        while True:
            a = self.answer_at(at)
            if a is None or a.kind == "refused":
                return Response(t, at + (a.latency if a else DEFAULT_LATENCY_S), "refused", held=held)
            if a.kind == "timeout":
                return Response(t, math.inf, a.kind, held=held)
            if a.kind in ("error", "stall"):
                return Response(t, at + a.latency, a.kind, held=held)
            if a.kind == "status":
                return Response(t, at + a.latency, "status", a.status, held=held)
            change = self.next_change(at)
            if change - at >= a.hold:
                return Response(t, at + a.hold, "status", a.then, held=True)
            at, held = change, True


@dataclass(frozen=True)
class Timeline:
    endpoints: tuple[Endpoint, ...]
    duration: float
    ready_at: float | None = None
    sigterm_exit: float | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)  # free-form notes kept on save (e.g. what was recorded)
    exit_at: float | None = None  # the container exits by itself this long after each start

    def find(self, port: int, path: str) -> Endpoint | None:
        bare = path.split("?", 1)[0]
        for wanted in (path, bare):
            for ep in self.endpoints:
                if ep.path == wanted and ep.port in (port, None):
                    return ep
        return None

    def describe(self) -> str:
        return ", ".join(f":{e.port}{e.path}" if e.port else e.path for e in self.endpoints) or "none"

    def to_data(self) -> dict:
        out: dict[str, Any] = {"version": FORMAT_VERSION, "duration": round(self.duration, 3)}
        if self.ready_at is not None:
            out["ready_at"] = round(self.ready_at, 4)
        if self.sigterm_exit is not None:
            out["sigterm_exit"] = round(self.sigterm_exit, 3)
        if self.exit_at is not None:
            out["exit_at"] = round(self.exit_at, 3)
        out.update(self.extra)
        out["endpoints"] = [
            {"path": e.path, **({"port": e.port} if e.port is not None else {}),
             "answers": [a.to_data() for a in e.answers]} for e in self.endpoints]
        return out


# --- loading ---------------------------------------------------------------------------------------------

def _number(doc: yamlio.Document, path: tuple, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise doc.error(path, f"must be a number of seconds, not {value!r}")
    if isinstance(value, float) and math.isnan(value):
        raise doc.error(path, "must be a number of seconds, not NaN")
    if value < minimum:
        raise doc.error(path, f"must be at least {minimum:g}")
    if value > MAX_DURATION_S:  # compared before float(): a 400-digit integer does not fit a float
        shown = f"{value:g} s" if isinstance(value, float) or value < 10 ** 15 else \
            f"a {int(value.bit_length() * math.log10(2)) + 1}-digit number"
        raise doc.error(path, f"{shown} is more than a replay emulates (at most {MAX_DURATION_S:g} s)")
    return float(value)


def _status(doc: yamlio.Document, path: tuple, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise doc.error(path, f"must be an HTTP status (100-599), not {value!r}")
    return value


def _answer(doc: yamlio.Document, path: tuple, data: Any) -> Answer:
    if not isinstance(data, dict):
        raise doc.error(path, "an answer must be a mapping like {at: 0, answer: refused}")
    unknown = set(data) - {"at", "answer", "latency", "hold", "then"}
    if unknown:
        raise doc.error(path + (sorted(unknown)[0],), f"unknown field (known: at, answer, latency, hold, then)")
    if "at" not in data:
        raise doc.error(path, "missing `at` (seconds since the container started)")
    if "answer" not in data:
        raise doc.error(path, "missing `answer` (an HTTP status, refused, timeout or hold)")
    at = _number(doc, path + ("at",), data["at"])
    latency = _number(doc, path + ("latency",), data.get("latency", DEFAULT_LATENCY_S))
    raw = data["answer"]
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Answer(at, "status", _status(doc, path + ("answer",), raw), latency)
    if raw not in KINDS:
        raise doc.error(path + ("answer",), f"must be an HTTP status or one of {', '.join(KINDS)}, not {raw!r}")
    if raw == "hold":
        if "hold" not in data:
            raise doc.error(path, "a hold answer needs `hold` (seconds the server holds a request at most)")
        hold = _number(doc, path + ("hold",), data["hold"])
        if hold <= 0:
            raise doc.error(path + ("hold",), "must be more than 0")
        return Answer(at, "hold", hold=hold, then=_status(doc, path + ("then",), data.get("then", 503)))
    for key in ("hold", "then"):
        if key in data:
            raise doc.error(path + (key,), f"`{key}` only applies to answer: hold")
    return Answer(at, raw, latency=latency)


def parse(doc: yamlio.Document) -> Timeline:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a timeline must be a mapping with `version`, `duration` and `endpoints`")
    unknown = set(data) - {"version", "duration", "ready_at", "sigterm_exit", "exit_at", "endpoints", "recorded"}
    if unknown:
        raise doc.error((sorted(unknown)[0],), "unknown field (known: version, duration, ready_at, sigterm_exit, "
                        "exit_at, endpoints, recorded)")
    if data.get("version") != FORMAT_VERSION:
        raise doc.error(("version",), f"unsupported timeline version {data.get('version')!r} (expected "
                        f"{FORMAT_VERSION})")
    if "duration" not in data:
        raise doc.error((), "missing `duration` (seconds the recording covers)")
    duration = _number(doc, ("duration",), data["duration"])
    if duration <= 0:
        raise doc.error(("duration",), "must be more than 0")
    if duration > MAX_DURATION_S:
        raise doc.error(("duration",), f"{duration:g} s is more than a replay emulates (at most "
                        f"{MAX_DURATION_S:g} s)")
    ready_at = None if data.get("ready_at") is None else _number(doc, ("ready_at",), data["ready_at"])
    sigterm = None if data.get("sigterm_exit") is None else _number(doc, ("sigterm_exit",), data["sigterm_exit"])
    exit_at = None if data.get("exit_at") is None else _number(doc, ("exit_at",), data["exit_at"])
    if exit_at is not None and exit_at <= 0:
        raise doc.error(("exit_at",), "must be more than 0 (seconds after the container started)")
    eps = data.get("endpoints")
    if not isinstance(eps, list) or not eps:
        raise doc.error(("endpoints",), "must be a non-empty list of {path, port, answers}")
    endpoints = []
    seen = set()
    for i, ep in enumerate(eps):
        p = ("endpoints", i)
        if not isinstance(ep, dict):
            raise doc.error(p, "an endpoint must be a mapping with `path` and `answers`")
        path = ep.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise doc.error(p + ("path",), f"must be a request path starting with '/', not {path!r}")
        port = ep.get("port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
            raise doc.error(p + ("port",), f"must be a port number (1-65535), not {port!r}")
        if (path, port) in seen:
            raise doc.error(p, f"endpoint {path} (port {port}) appears twice")
        seen.add((path, port))
        answers = ep.get("answers")
        if not isinstance(answers, list) or not answers:
            raise doc.error(p + ("answers",), "must be a non-empty list of answers")
        parsed = [_answer(doc, p + ("answers", j), a) for j, a in enumerate(answers)]
        for j in range(1, len(parsed)):
            if parsed[j].at <= parsed[j - 1].at:
                raise doc.error(p + ("answers", j, "at"), f"answers must be in time order: {parsed[j].at:g} "
                                f"is not after {parsed[j - 1].at:g}")
        endpoints.append(Endpoint(path, port, tuple(parsed)))
    extra = {"recorded": data["recorded"]} if "recorded" in data else {}
    return Timeline(tuple(endpoints), duration, ready_at, sigterm, doc.file, extra, exit_at)


def load(path: str | Path) -> Timeline:
    return parse(yamlio.load_document(path))


def dumps(timeline: Timeline, path: str | Path | None = None) -> str:
    """YAML text (JSON when `path` ends in .json) of a timeline."""
    data = timeline.to_data()
    if path is not None and str(path).endswith(".json"):
        import json

        return json.dumps(data, indent=2) + "\n"
    return "# vllmgen endpoint timeline (times: seconds since the container started)\n" + yamlio.dump(data)


# --- building a timeline from observed requests ----------------------------------------------------------

@dataclass(frozen=True)
class Observation:
    """One real request: sent at `start`, answered (or failed) at `end`; kind status/refused/timeout."""

    start: float
    end: float
    kind: str
    status: int | None = None

    @property
    def latency(self) -> float:
        return self.end - self.start


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def answers_from(observations: Iterable[Observation], exact: Iterable[float] = ()) -> tuple[Answer, ...]:
    """Merge a time-ordered series of requests to one endpoint into answers.

    On a long-poll endpoint (`is_long_poll`) a request answered after HELD_MIN_S or more was held: the endpoint
    holds requests from its start, and the answer it finally gave starts when it came. Other requests sample the endpoint at their
    start; a run of equal answers merges into one, with the median latency. A change seen between two samples
    happened somewhere between them: at an `exact` change time in that window (a long-poll released then, so
    the server's state changed then), else at the later sample."""
    exact = sorted(exact)
    obs = sorted(observations, key=lambda o: o.start)
    answers: list[Answer] = []
    lat: list[float] = []
    long_poll = is_long_poll(obs)
    expired = [o for o in obs if o.kind == "status" and o.latency >= HELD_MIN_S and not _ok(o.status)]
    # the server's hold is the shortest one seen: a longer one is the same hold plus a busy client's delay in
    # reading the answer, and a replay that held as long would answer 200 where the server had given up
    hold = min((o.latency for o in expired), default=None)
    then = expired[0].status if expired else DEFAULT_HOLD_STATUS

    def close_latency() -> None:
        if lat and answers and answers[-1].kind in ("status",) + TIMED_KINDS:
            answers[-1] = Answer(answers[-1].at, answers[-1].kind, answers[-1].status, round(_median(lat), 4))
        lat.clear()

    prev: Observation | None = None
    for o in obs:
        before, prev = prev, o
        held = long_poll and o.kind == "status" and o.latency >= HELD_MIN_S
        if held:
            close_latency()
            h = hold if hold is not None else max(x.latency for x in obs if x.kind == "status")
            if not answers or answers[-1].kind != "hold":
                answers.append(Answer(max(o.start, answers[-1].at + 1e-4 if answers else 0.0), "hold",
                                      hold=round(h, 3), then=then))
            if _ok(o.status):
                answers.append(Answer(o.end, "status", o.status))
            continue
        last = answers[-1] if answers else None
        same = last is not None and last.kind == o.kind and last.status == o.status
        if same:
            lat.append(o.latency)
            continue
        close_latency()
        at = o.start
        if before is not None:
            at = next((e for e in exact if before.start < e <= o.start), o.start)
        if last is not None and at <= last.at:
            at = last.at + 1e-4
        answers.append(Answer(at, o.kind, o.status))
        lat.append(o.latency)
    close_latency()
    if answers and answers[0].at > 0:
        answers[0] = Answer(0.0, answers[0].kind, answers[0].status, answers[0].latency, answers[0].hold,
                            answers[0].then)
    return tuple(answers)


def is_long_poll(obs: list[Observation]) -> bool:
    """An endpoint that holds requests (as /startupz) rather than one that was merely slow once: most of the
    HTTP answers before its first fast success were held."""
    before = []
    for o in obs:
        if o.kind == "status" and _ok(o.status) and o.latency < HELD_MIN_S:
            break
        if o.kind == "status":
            before.append(o)
    slow = sum(1 for o in before if o.latency >= HELD_MIN_S)
    return slow > 0 and 2 * slow >= len(before)


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 400


def from_observations(by_endpoint: dict[tuple[int | None, str], list[Observation]], duration: float,
                      ready_at: float | None = None, sigterm_exit: float | None = None,
                      recorded: dict | None = None) -> Timeline:
    exact = [o.end for obs in by_endpoint.values() if is_long_poll(obs) for o in obs
             if o.kind == "status" and o.latency >= HELD_MIN_S and _ok(o.status)]
    eps = tuple(Endpoint(path, port, answers_from(obs, exact)) for (port, path), obs in by_endpoint.items() if obs)
    return Timeline(eps, duration, ready_at, sigterm_exit, "<recorded>",
                    {"recorded": recorded} if recorded else {})
