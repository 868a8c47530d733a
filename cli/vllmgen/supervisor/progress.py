"""A start of vLLM measured as it goes, as pure values and functions (no clock, no I/O: times are passed in).

- Phase: from vLLM's log lines (`vllmlog.marker`) and, for the download, from bytes arriving in the hub cache.
- Progress: anything that moves counts: a log line, a downloaded byte, CPU_PROGRESS_S of CPU time in vLLM's
  processes, IO_PROGRESS_BYTES read by them (a load from a PVC or a local disk waits on storage, with little CPU
  and no hub bytes), GPU_PROGRESS_BYTES more device memory in use (where NVML is available). `stalled` is the
  stall rule: nothing moved for `stallSeconds`.
- Estimate: what the spec's budget terms leave of the terms not done yet (the download from its measured rate).
- Measured: at Ready, every budget term (download, load, compile, start) as it really took, summing to the
  total, with the bandwidths they imply (what `vllmgen calibrate` reads back).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from vllmgen.supervisor.vllmlog import marker

#: The budget term (vllmgen.budget.startup_budget) each phase's time counts towards; they add up to the start.
TERM_OF = {"process-start": "start", "download": "download", "weights-load": "load", "compile": "compile",
           "graph-capture": "compile", "warm-up": "compile", "api-start": "start"}
TERMS = ("download", "load", "compile", "start")
#: Phase order for moving on: download and weights-load share a rank (vLLM downloads inside its weight loading),
#: and so do graph-capture and warm-up (the warm-up JIT runs after the capture on vLLM 0.26, before it on 0.32).
_RANK = {"process-start": 0, "download": 1, "weights-load": 1, "compile": 2, "graph-capture": 3, "warm-up": 3,
         "api-start": 4, "ready": 5}
#: Moves between phases of one rank: (from, to).
_ALTERNATE = {("download", "weights-load"), ("graph-capture", "warm-up"), ("warm-up", "graph-capture")}
#: CPU time of vLLM's processes that counts as progress. A working start keeps at least a core busy and earns
#: this in half a second (in 5 s on a tenth of a core, on a saturated node); processes blocked on a lock, a
#: dead mount or a peer use milliseconds a minute (pollers waking up).
CPU_PROGRESS_S = 0.5
#: Bytes read by vLLM's processes (/proc/PID/io read_bytes + rchar, summed over the tree) that count as progress:
#: a load reads gigabytes (1 MiB is 2 ms at 500 MB/s, 0.1 s at 10 MB/s), while a process blocked on a lock, a
#: dead mount or a peer reads nothing, and pollers of small /proc files read kilobytes a minute.
IO_PROGRESS_BYTES = 1 << 20
#: Growth of device memory in use (NVML, all visible devices) that counts as progress: weights and the KV cache
#: arrive in accelerator memory in hundreds of MiB; allocator noise is smaller.
GPU_PROGRESS_BYTES = 16 << 20
#: /status warns once a start has shown no progress for this share of stallSeconds.
STALL_WARN_FRACTION = 0.5
MB = 1_000_000


@dataclass(frozen=True)
class Expected:
    """What the spec estimates for this start."""

    terms: dict  # budget term -> seconds (vllmgen.budget terms, before the safety factor)
    stall_s: float  # stallSeconds
    weights_bytes: float | None = None  # the size the budget used, None when unknown
    download_bytes: float | None = None  # bytes the start is expected to download (None: nothing expected)
    ceiling_s: float | None = None  # when kubelet gives up on the start (the startup probe's allowance)
    caches_warm: bool = False  # the compile caches held an earlier start's work: the compile term is the warm one

    @property
    def estimate_s(self) -> float:
        return sum(self.terms.values())


@dataclass(frozen=True)
class Sample:
    """One look at vLLM's processes and the download folders, at time `t`."""

    t: float
    cpu: dict  # pid -> CPU seconds (its own and its waited-for children's)
    disk: int | None = None  # bytes on disk in the hub cache, where downloaded files end up
    staging: int | None = None  # bytes on disk in folders a download passes through (xet's chunk cache)
    io: dict = field(default_factory=dict)  # pid -> bytes read (read_bytes + rchar), /proc/PID/io
    gpu_memory: int | None = None  # device memory in use on the visible accelerators (NVML), None when unknown


@dataclass(frozen=True)
class Progress:
    started: float  # the supervisor's start (the start's time 0)
    phase: str = "process-start"
    since: float = 0.0  # when the current phase began
    done: tuple = ()  # finished phases: ((name, seconds), ...) in order; a phase may appear twice
    last_progress: float = 0.0
    last_signal: str = "start"  # what moved last: log output, CPU time, download
    longest_quiet: float = 0.0  # the longest stretch without progress before the current one
    lines: int = 0
    cpu: float = 0.0  # CPU seconds seen used by vLLM's processes since the start
    cpu_mark: float = 0.0  # `cpu` when CPU time last counted as progress
    cpu_by_pid: dict = field(default_factory=dict)
    io: int = 0  # bytes read by vLLM's processes since the start
    io_mark: int = 0  # `io` when reads last counted as progress
    io_by_pid: dict = field(default_factory=dict)
    gpu_mark: int | None = None  # device memory in use when it last counted as progress
    disk_first: int | None = None  # bytes on disk at the first sample
    disk: int | None = None
    disk_at_load: int | None = None  # bytes on disk when the download phase began
    staging: int | None = None
    files_local: bool = False  # vLLM reads the checkpoint files: any download is over
    reported: dict = field(default_factory=dict)  # numbers vLLM logged (vllmlog names)
    ready_at: float | None = None


def begin(now: float) -> Progress:
    return Progress(started=now, since=now, last_progress=now)


# --- observations --------------------------------------------------------------------------------------------------

def _progressed(p: Progress, now: float, signal: str) -> Progress:
    return replace(p, last_progress=max(p.last_progress, now), last_signal=signal,
                   longest_quiet=max(p.longest_quiet, now - p.last_progress))


def _enter(p: Progress, phase: str, now: float) -> Progress:
    if phase == p.phase:
        return p
    extra = {"disk_at_load": p.disk} if phase == "download" else {}
    return replace(p, phase=phase, since=now, done=p.done + ((p.phase, now - p.since),), **extra)


def _moves(p: Progress, target: str) -> bool:
    """Phases only move forward, except that a download and the weight loading around it alternate, and so do the
    CUDA graph capture and the warm-up."""
    if _RANK[target] > _RANK[p.phase]:
        return True
    if (p.phase, target) in _ALTERNATE:
        return True
    return (p.phase, target) == ("weights-load", "download") and not p.files_local


def on_line(p: Progress, line: str, now: float) -> Progress:
    """One line of vLLM's output: progress; a phase change when it marks one."""
    p = replace(_progressed(p, now, "log output"), lines=p.lines + 1)
    m = marker(line)
    if m is None:
        return p
    if m.reported:
        p = replace(p, reported={**p.reported, **m.reported})
    if m.files_local:
        p = replace(p, files_local=True)
    return _enter(p, m.phase, now) if _moves(p, m.phase) else p


def on_sample(p: Progress, s: Sample) -> Progress:
    """A look at CPU time and download bytes: progress when either moved; the download phase when bytes arrive
    while vLLM is loading its weights."""
    new_cpu = sum(max(0.0, sec - p.cpu_by_pid.get(pid, 0.0)) for pid, sec in s.cpu.items())
    p = replace(p, cpu=p.cpu + new_cpu, cpu_by_pid=dict(s.cpu))
    if p.cpu - p.cpu_mark >= CPU_PROGRESS_S:
        p = replace(_progressed(p, s.t, "CPU time"), cpu_mark=p.cpu)
    new_io = sum(max(0, n - p.io_by_pid.get(pid, 0)) for pid, n in s.io.items())
    p = replace(p, io=p.io + new_io, io_by_pid=dict(s.io))
    if p.io - p.io_mark >= IO_PROGRESS_BYTES:
        p = replace(_progressed(p, s.t, "storage reads"), io_mark=p.io)
    if s.gpu_memory is not None:
        if p.gpu_mark is None:
            p = replace(p, gpu_mark=s.gpu_memory)
        elif s.gpu_memory - p.gpu_mark >= GPU_PROGRESS_BYTES:
            p = replace(_progressed(p, s.t, "device memory"), gpu_mark=s.gpu_memory)
    if s.disk is not None or s.staging is not None:
        grew = (p.disk is not None and s.disk is not None and s.disk > p.disk) or \
               (p.staging is not None and s.staging is not None and s.staging > p.staging)
        p = replace(p, disk=s.disk, staging=s.staging,
                    disk_first=s.disk if p.disk_first is None else p.disk_first)
        if grew:
            p = _progressed(p, s.t, "download")
            if p.phase == "weights-load" and _moves(p, "download"):
                p = _enter(p, "download", s.t)
    return p


def on_ready(p: Progress, now: float) -> Progress:
    """The model is served: the last phase ends."""
    return replace(_enter(p, "ready", now), ready_at=now)


# --- decisions -----------------------------------------------------------------------------------------------------

def quiet_seconds(p: Progress, now: float) -> float:
    return max(0.0, now - p.last_progress)


def stalled(p: Progress, now: float, stall_s: float) -> str | None:
    """The stall rule: the reason to end the start when nothing progressed for `stall_s`, else None."""
    quiet = quiet_seconds(p, now)
    if p.ready_at is not None or quiet < stall_s:
        return None
    return (f"startup stalled: no progress for {quiet:.1f} s (stallSeconds {stall_s:g}) in phase {p.phase}: no "
            f"vLLM log line, no downloaded byte, less than {CPU_PROGRESS_S:g} s of CPU time and "
            f"{IO_PROGRESS_BYTES >> 20} MiB read in vLLM's processes, no device memory growth; last progress: "
            f"{p.last_signal} at {p.last_progress - p.started:.1f} s")


def stall_warning(p: Progress, now: float, stall_s: float) -> str | None:
    """What /status says while a start is quiet for long enough to worry (before the stall rule ends it)."""
    quiet = quiet_seconds(p, now)
    if p.ready_at is not None or quiet < STALL_WARN_FRACTION * stall_s:
        return None
    return (f"no progress for {quiet:.0f} s in phase {p.phase} (no vLLM log line, no downloaded byte, no CPU "
            f"time, no storage read); vLLM is ended after {stall_s:g} s without progress")


def term_seconds(p: Progress, now: float) -> dict:
    """Seconds spent so far per budget term (the current phase up to `now`)."""
    spent = {t: 0.0 for t in TERMS}
    for name, sec in p.done:
        if name in TERM_OF:
            spent[TERM_OF[name]] += sec
    if p.phase in TERM_OF:
        spent[TERM_OF[p.phase]] += max(0.0, now - p.since)
    return spent


def downloaded(p: Progress) -> int:
    """Bytes that arrived in the download folders since the first sample."""
    if p.disk is None or p.disk_first is None:
        return 0
    return max(0, p.disk - p.disk_first)


def _term_over(p: Progress, term: str) -> bool:
    if term == "download":
        return _RANK[p.phase] > _RANK["weights-load"] or p.files_local
    if term == "start":
        return p.ready_at is not None  # the API server's start comes last
    return all(_RANK[p.phase] > _RANK[ph] for ph, t in TERM_OF.items() if t == term)


def download_rate(p: Progress, now: float) -> float | None:
    """Bytes per second of the download phase so far (None before bytes arrived in it)."""
    if p.phase != "download" or p.disk is None or p.disk_at_load is None or now <= p.since:
        return None
    got = p.disk - p.disk_at_load
    return got / (now - p.since) if got > 0 else None


def seconds_left(p: Progress, exp: Expected, now: float) -> float:
    """What the spec's estimate leaves of each term not done yet; a running download from its measured rate."""
    if p.ready_at is not None:
        return 0.0
    spent = term_seconds(p, now)
    left = 0.0
    for term in TERMS:
        if _term_over(p, term):
            continue
        rate = download_rate(p, now) if term == "download" else None
        if rate and exp.download_bytes:
            left += max(0.0, exp.download_bytes - downloaded(p)) / rate
        else:
            left += max(0.0, exp.terms.get(term, 0.0) - spent[term])
    return left


# --- reports -------------------------------------------------------------------------------------------------------

def _phases(p: Progress) -> list[dict]:
    return [{"phase": name, "seconds": round(sec, 3)} for name, sec in p.done]


def status(p: Progress, exp: Expected, now: float) -> dict:
    """The `startup` block of /status: phase, progress, estimate of the time left, the stall watch."""
    end = p.ready_at if p.ready_at is not None else now
    elapsed = end - p.started
    left = seconds_left(p, exp, now)
    out: dict = {
        "phase": p.phase,
        "secondsInPhase": round(end - p.since, 3),
        "seconds": round(elapsed, 3),
        "phases": _phases(p),
        "estimate": {"seconds": round(exp.estimate_s, 1), "secondsLeft": round(left, 1),
                     "fraction": round(elapsed / (elapsed + left), 3) if elapsed + left > 0 else 1.0,
                     "late": elapsed > exp.estimate_s, "cachesWarm": exp.caches_warm},
    }
    if exp.ceiling_s is not None:
        out["estimate"]["ceilingSeconds"] = exp.ceiling_s
    got = downloaded(p)
    if got or exp.download_bytes:
        dl: dict = {"bytes": got}
        if exp.download_bytes:
            dl.update(expectedBytes=int(exp.download_bytes), fraction=round(min(1.0, got / exp.download_bytes), 3))
        rate = download_rate(p, now)
        if rate:
            dl["MBps"] = round(rate / MB, 2)
        out["download"] = dl
    out["stall"] = {"secondsWithoutProgress": round(quiet_seconds(p, now), 3) if p.ready_at is None else 0.0,
                    "stallSeconds": exp.stall_s, "lastProgress": p.last_signal, "logLines": p.lines,
                    "cpuSeconds": round(p.cpu, 2), "readBytes": p.io,
                    "warning": stall_warning(p, now, exp.stall_s)}
    return out


def measured(p: Progress, exp: Expected) -> dict:
    """At Ready: every budget term as it took, the bandwidths they imply, and what vLLM reported itself."""
    end = p.ready_at if p.ready_at is not None else p.since
    spent = term_seconds(p, end)
    got = downloaded(p)
    out: dict = {
        "seconds": {t: round(spent[t], 3) for t in TERMS},
        "totalSeconds": round(end - p.started, 3),
        "estimate": {t: round(exp.terms.get(t, 0.0), 3) for t in TERMS},
        "phases": _phases(p),
        "downloadedBytes": got,
        "longestQuietSeconds": round(p.longest_quiet, 3),
        "cpuSeconds": round(p.cpu, 2),
        "readBytes": p.io,
        "vllmReported": p.reported,
    }
    if exp.weights_bytes:
        out["weightsBytes"] = int(exp.weights_bytes)
        if spent["load"] > 0:
            out["loadMBps"] = round(exp.weights_bytes / MB / spent["load"], 3)
    if got and spent["download"] > 0:
        out["downloadMBps"] = round(got / MB / spent["download"], 3)
    return out
