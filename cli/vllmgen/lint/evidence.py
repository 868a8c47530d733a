"""The evidence behind a probe-timing finding (VG005, VG006): what the kubelet does to the pod, emulated by
probe-check's kubelet (vllmgen.emulator) against a server that refuses connections until its model is loaded, as
vLLM does (its port listens only once the model is loaded: docs/upstream-facts.md#vllm-endpoints), and answers
200 on every probed path from then on; SIGTERM ends it within vLLM's teardown time. A container killed mid-load
starts loading again from the beginning.

The result says when the pod is killed, restarted and (if ever) Ready: "killed at 630 s while loading; needs
1439 s". Only httpGet probes can be emulated; a container with another probe gets no evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from vllmgen.emulator import drivers, model, timeline
from vllmgen.errors import InputError
from vllmgen.lint.view import ContainerView
from vllmgen.probes import VLLM_TEARDOWN_S

#: How long past the model's load time the course is followed: long enough to see a kill, the crash-loop back-off
#: and the next attempt's kill of a budget that is short (the back-off tops out at 300 s).
FOLLOW_S = 900.0
#: Events shown, in order, in the one-line summary (the JSON has them all).
SHOWN_EVENTS = ("kill", "container-start", "ready")


@dataclass(frozen=True)
class Course:
    need_s: int
    duration: float
    events: tuple[tuple[float, str, str], ...]  # (time, what, detail) from probe-check's kubelet
    ready_at: Optional[float]
    kills: int

    def summary(self) -> str:
        parts = []
        starts, dying = 0, False
        for t, what, detail in self.events:
            if what == "kill":
                why = detail.split(";", 1)[0]
                parts.append(f"killed at {t:.0f} s while loading" + (f" ({why})" if why else ""))
                dying = True
            elif what == "container-start":
                starts, dying = starts + 1, False
                if starts > 1:
                    parts.append(f"restarted at {t:.0f} s")
            elif what == "ready" and not dying:  # Ready within a container being killed does not last
                parts.append(f"Ready at {t:.0f} s")
                break
            if len(parts) >= 4:
                break
        end = f"needs {self.need_s} s" + ("" if self.ready_at is not None else
                                          f"; never Ready in the {self.duration:.0f} s followed")
        return "; ".join(parts + [end])

    def to_data(self) -> dict:
        return {"source": "probe-check (vllmgen.emulator) against a server that listens once loaded",
                "needs_s": self.need_s, "followed_s": round(self.duration, 3), "kills": self.kills,
                "ready_at": None if self.ready_at is None else round(self.ready_at, 3), "summary": self.summary(),
                "events": [{"t": round(t, 3) + 0.0, "what": what, "detail": detail}
                           for t, what, detail in self.events]}


def course(v: ContainerView, need_s: int) -> Optional[Course]:
    """The kubelet's course for the container's probes against a load of `need_s` seconds; None when a probe
    cannot be emulated (not httpGet, a port that cannot be resolved)."""
    specs = {}
    for kind, probe in v.probes.items():
        try:
            specs[kind] = model.parse_probe(kind, probe.data, v.ld.doc, probe.path, v.ports)
        except InputError:
            return None
    if not specs:
        return None
    pod = model.PodProbes(v.where, **specs, pod_grace=v.grace if v.grace is not None else 30)
    duration = min(float(need_s) + FOLLOW_S, timeline.MAX_DURATION_S)
    endpoints = {(s.port, s.path) for s in specs.values()}
    tl = timeline.Timeline(
        tuple(timeline.Endpoint(path, port, (timeline.Answer(0.0, "refused"),
                                             timeline.Answer(float(need_s), "status", 200)))
              for port, path in sorted(endpoints)),
        duration, ready_at=float(need_s), sigterm_exit=VLLM_TEARDOWN_S,
        source="a server that listens once its model is loaded")
    run = drivers.replay(pod, tl)
    k = run.kubelet
    events = tuple((e.time, e.what, e.detail) for e in k.events if e.what in SHOWN_EVENTS)
    return Course(need_s, duration, events, k.first("ready"), k.kills)
