"""The startup watch: the I/O around `progress`. It feeds vLLM's output lines (from the output thread) and samples
of CPU time, bytes read, device memory and download bytes (from the supervisor's loop) into the progress record,
publishes it in the snapshot for /status, and logs one JSON line per phase change and, at Ready, the
`startup-measured` line.
"""

from __future__ import annotations

import os
import threading
import time

from vllmgen.supervisor import process, progress
from vllmgen.supervisor.progress import Expected, Progress, Sample

#: How often the loop samples CPU time and download bytes while vLLM loads: a stall is seen within this of
#: stallSeconds, and a look costs a few milliseconds (one /proc scan, one walk of the hub cache).
SAMPLE_PERIOD_S = 1.0


def download_dirs(env: dict, hub_id: str) -> list[str]:
    """Where the hub client puts a download of `hub_id`, as huggingface_hub resolves it (`constants.py`,
    `file_download.repo_folder_name`): the files end up in the repository's folder of HF_HUB_CACHE (default
    HF_HOME/hub), first in the list; chunks may pass through HF_XET_CACHE (default HF_HOME/xet). HF_HOME defaults
    to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface. No hub id (a path or a claim): nothing to watch."""
    if not hub_id:
        return []
    home = env.get("HF_HOME") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache"),
        "huggingface")
    hub = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    xet = env.get("HF_XET_CACHE") or os.path.join(home, "xet")
    return [os.path.join(hub, "models--" + hub_id.replace("/", "--")), xet]


def disk_bytes(dirs: list[str]) -> int:
    """Bytes allocated on disk by the files under `dirs` (blocks, not sizes: a preallocated file fills as it
    downloads); 0 for folders that do not exist yet."""
    total = 0
    for top in dirs:
        for root, _dirs, files in os.walk(top):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_blocks * 512
                except OSError:
                    continue
    return total


#: The two counters of /proc/PID/io (proc(5)) that count reads: `read_bytes` (fetched from the block layer, page
#: faults on a memory-mapped checkpoint included) and `rchar` (passed to read(2) and the like, which covers
#: network filesystems and the page cache).
IO_FIELDS = (b"read_bytes:", b"rchar:")


def io_bytes(pids) -> dict[int, int]:
    """pid -> read_bytes + rchar from /proc/PID/io; a process gone (or unreadable) meanwhile is left out."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/io", "rb") as f:
                text = f.read()
        except OSError:
            continue
        total = 0
        for line in text.splitlines():
            if line.startswith(IO_FIELDS):
                try:
                    total += int(line.split()[1])
                except (IndexError, ValueError):
                    pass
        out[pid] = total
    return out


class DeviceMemory:
    """Device memory in use on the visible accelerators, through NVML (`pynvml`, from the nvidia-ml-py package
    every vLLM GPU image has); `used()` is None where it is not importable or finds no device."""

    def __init__(self):
        self._handles = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # noqa: BLE001 - no library, no driver, no device: no such signal
            self._handles = None

    def used(self) -> int | None:
        if not self._handles:
            return None
        try:
            return sum(int(self._nvml.nvmlDeviceGetMemoryInfo(h).used) for h in self._handles)
        except Exception:  # noqa: BLE001 - a driver error: no reading this time
            return None


class StartupWatch:
    """Progress of one vLLM start. `line` is called from the output thread, `sample` and `ready` from the loop."""

    def __init__(self, store, log, expected: Expected, started: float, dirs: list[str]):
        self.store = store
        self.log = log
        self.expected = expected
        self.dirs = dirs
        self.members = None  # () -> the pids of vLLM's process tree, once it runs
        self.devices = DeviceMemory()
        self._lock = threading.Lock()
        # The baseline is taken before vLLM starts: what the cache already holds is not downloaded by this start,
        # and whatever vLLM writes, however soon, counts.
        self.progress: Progress = progress.on_sample(progress.begin(started), self._look(started, {}))
        store.update(startup=self.progress, startup_expected=expected)

    @property
    def finished(self) -> bool:
        return self.progress.ready_at is not None

    def attach(self, members) -> None:
        """vLLM runs: `members()` lists the processes of its tree, whose CPU time is sampled."""
        self.members = members

    def line(self, text: str) -> None:
        if not self.finished:
            self._apply(lambda p: progress.on_line(p, text, time.monotonic()))

    def sample(self, now: float) -> None:
        pids = self.members() if self.members is not None else []
        s = self._look(now, process.cpu_seconds(pids), io_bytes(pids))
        self._apply(lambda p: progress.on_sample(p, s))

    def _look(self, now: float, cpu: dict, io: dict | None = None) -> Sample:
        return Sample(now, cpu, disk_bytes(self.dirs[:1]), disk_bytes(self.dirs[1:]), io or {},
                      self.devices.used())

    def stalled(self, now: float) -> str | None:
        return progress.stalled(self.progress, now, self.expected.stall_s)

    def ready(self, at: float) -> None:
        """The model is served (at `at`): a last look at the download folders (bytes written since the loop's
        last sample count), then close the last phase and log every term as measured."""
        self.sample(at)
        self._apply(lambda p: progress.on_ready(p, at))
        self.log.emit("startup-measured", **progress.measured(self.progress, self.expected))

    def _apply(self, change) -> None:
        with self._lock:
            old = self.progress
            new = change(old)
            self.progress = new
            self.store.update(startup=new)
            if new.phase != old.phase:
                fields = {"downloadedBytes": progress.downloaded(new)} if old.phase == "download" else {}
                self.log.emit("startup-phase", phase=new.phase, previous=old.phase,
                              secondsInPrevious=round(new.since - old.since, 3), **fields)
