"""`vllmgen probe-check`: read the configurations, pick the mode, run, and render. Returns the text to print;
raises InputError for anything the user must fix (exit 2, no partial output file)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from vllmgen import yamlio
from vllmgen.emulator import drivers, kubelet, model, report, timeline
from vllmgen.emulator.kubelet import KubeletModel
from vllmgen.errors import InputError

#: Live runs last this long unless --duration says otherwise: a CPU vLLM start takes 40-90 s.
DEFAULT_LIVE_DURATION_S = 180.0
#: Separates a --compare file from the role (and container) to read in it: other.yaml#decode, pod.yaml#vllm/main.
COMPARE_SELECTOR = "#"
#: Shortest pod resync period emulated: kubelet's --sync-frequency must be above 0, and one below a second would
#: only multiply the events of a run (0 looped forever).
MIN_RESYNC_PERIOD_S = 1.0
#: Shortest live recording interval (0 turns recording requests off): below it the recorder would spin.
MIN_RECORD_INTERVAL_S = 0.01


@dataclass(frozen=True)
class Timing:
    """The user-settable constants of the emulated kubelet and cluster (None: the model's default)."""

    pleg_delay: float | None = None
    resync_period: float | None = None
    endpoint_delay: float | None = None
    kubelet_version: str | None = None

    def model(self) -> KubeletModel:
        base = KubeletModel()
        for option, value, minimum in (("--pleg-delay", self.pleg_delay, 0.0),
                                       ("--resync-period", self.resync_period, MIN_RESYNC_PERIOD_S),
                                       ("--endpoint-delay", self.endpoint_delay, 0.0)):
            _finite(option, value, minimum=minimum)
        version = base.version
        if self.kubelet_version is not None:
            version = kubelet.parse_version(self.kubelet_version)
            if version is None:
                raise InputError("--kubelet-version", "", f"must be a Kubernetes release 1.N from "
                                 f"1.{kubelet.OLDEST_KUBELET_MINOR} (for example {base.version}), not "
                                 f"{self.kubelet_version!r}")
        return KubeletModel(
            pleg_delay=base.pleg_delay if self.pleg_delay is None else self.pleg_delay,
            resync_period=base.resync_period if self.resync_period is None else self.resync_period,
            endpoint_delay=base.endpoint_delay if self.endpoint_delay is None else self.endpoint_delay,
            version=version)


def _finite(option: str, value: float | None, limit: float = timeline.MAX_DURATION_S, minimum: float = 0.0) -> None:
    if value is not None and not (math.isfinite(value) and minimum <= value <= limit):
        raise InputError(option, "", f"must be a number of seconds from {minimum:g} to {limit:g}, not {value!r}")


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


def _load_compare(entry: str, role: str | None, container: str | None,
                  how: model.Rendering = model.Rendering()) -> model.PodProbes:
    """--compare FILE[#ROLE[/CONTAINER]]. Without a selector the file is read with --role/--container, and when
    those name nothing there, as if none were given (a file holding one configuration needs no selector)."""
    path, sep, selector = entry.partition(COMPARE_SELECTOR)
    if sep and not Path(entry).exists():
        sel_role, _, sel_container = selector.partition("/")
        return model.load(path, sel_role or None, sel_container or None, how)
    try:
        return model.load(entry, role, container, how)
    except InputError as first:
        if role is None and container is None:
            raise
        try:
            return model.load(entry, None, None, how)
        except InputError as second:
            raise InputError(second.file, second.pointer, f"{second.message} (a --compare file takes its own as "
                             f"{entry}{COMPARE_SELECTOR}ROLE[/CONTAINER])", second.line) from None


def probe_check(*, config: str, role: str | None, container: str | None, url: str | None,
                replay_file: Path | None, record: Path | None, duration: float | None, compare: list,
                lead: float, port_map: list[str], record_interval: float, details: bool | None,
                fmt: str, until_ready: bool = False, delete_at: float | None = None,
                timing: Timing = Timing(), how: model.Rendering = model.Rendering(),
                on_progress=None) -> tuple[str, int]:
    """The report text and the exit code (1 only with `until_ready` when the pod never turned Ready).
    `on_progress`: live mode reports where it stands (drivers.Progress) while it runs."""
    if fmt not in ("text", "json"):
        raise InputError("--format", "", f"must be text or json, not {fmt!r}")
    if (url is None) == (replay_file is None):
        raise InputError("probe-check", "", "give exactly one of --url URL (live) or --replay TIMELINE")
    if record is not None and url is None:
        raise InputError("--record", "", "recording needs live mode (--url)")
    if until_ready and url is None:
        raise InputError("--until-ready", "", "applies to live mode (--url)")
    if not math.isfinite(lead):
        raise InputError("--lead", "", f"must be a finite number of seconds, not {lead!r}")
    kubelet_model = timing.model()
    if record_interval:
        _finite("--record-interval", record_interval, minimum=MIN_RECORD_INTERVAL_S)
    how_compare = model.Rendering(sets=how.sets, set_strings=how.set_strings, chart=how.chart)
    pods = [model.load(config, role, container, how)] + [_load_compare(str(c), role, container, how_compare)
                                                         for c in compare]
    ports = _port_map(port_map)
    _finite("--duration", duration)  # live runs too: 1e400 read as inf ran forever
    if replay_file is not None:
        tl = timeline.load(replay_file)
        end = tl.duration if duration is None else duration
        _check_delete_at(delete_at, end, pods, kubelet_model)
        runs = [drivers.replay(p, tl, lead=lead, until=duration, port_map=ports, model=kubelet_model,
                               delete_at=delete_at) for p in pods]
    else:
        target = drivers.parse_target(url, pods, ports)
        run_for = duration or DEFAULT_LIVE_DURATION_S
        _check_delete_at(delete_at, run_for, pods, kubelet_model)
        result = drivers.live(pods, target, run_for, lead=lead,
                              record_interval=record_interval or None,
                              record=record is not None or len(pods) > 1,
                              stop_after_ready=0.0 if until_ready else None, model=kubelet_model,
                              delete_at=delete_at, on_progress=on_progress)
        _check_reachable(result, url)
        runs = [result.run]
        for p in pods[1:]:
            try:
                runs.append(drivers.replay(p, result.timeline, lead=lead, model=kubelet_model,
                                           delete_at=delete_at))
            except InputError as exc:
                raise InputError(str(p.name), "", f"cannot replay on the live recording: {exc.message}") from None
        if record is not None:
            yamlio.write_atomic(record, timeline.dumps(result.timeline, record))
    code = 1 if until_ready and runs[0].kubelet.first("ready") is None else 0
    if fmt == "json":
        return report.to_json(runs), code
    return report.to_text(runs, details=len(runs) == 1 if details is None else details), code


def _check_delete_at(delete_at: float | None, end: float, pods: list[model.PodProbes],
                     kubelet_model: KubeletModel) -> None:
    if delete_at is None:
        return
    if not (math.isfinite(delete_at) and 0 <= delete_at < end):
        raise InputError("--delete-at", "", f"must be a time within the run (0 to {end:g} s), not {delete_at!r}")
    longest = max(drivers.deletion_horizon(p, kubelet_model, delete_at) for p in pods)
    if longest > timeline.MAX_DURATION_S:
        raise InputError("--delete-at", "", f"the deletion's grace period would need emulating until "
                         f"{longest:g} s, more than {timeline.MAX_DURATION_S:g} s")


def _check_reachable(result: drivers.LiveResult, url: str) -> None:
    """A live run where no request ever got any answer (every one refused or timed out) means a wrong address,
    not a slow start. A broken answer (a reset, a reply that is not HTTP, a redirect loop) is an answer: the pod
    is there and its probes fail, which the verdict reports."""
    tl = result.timeline
    asked = bool(result.run.kubelet.records) or (tl is not None and any(e.answers for e in tl.endpoints))
    answered = result.answered or (tl is not None and any(a.kind == "hold" for e in tl.endpoints
                                                          for a in e.answers))
    if asked and not answered:
        raise InputError("--url", "", f"nothing answered at {url} in {result.run.duration:.0f} s (every request "
                         f"was refused or timed out): is the server running, and are the probe ports right? "
                         f"(probe ports: {', '.join(sorted({str(p.port) for p in result.run.pod.probes()}))})")
