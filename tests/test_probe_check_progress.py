"""Live `probe-check` can run for up to 30 minutes: on a terminal it shows one line of progress on stderr
(elapsed time, each probe's last answer, the pod's state), rewritten in place and gone when the report prints;
when its output is not a terminal it prints nothing extra."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from tests.test_emulator_live import PLAIN, fake_pod, values  # noqa: F401  (fixture)
from vllmgen.emulator import drivers, model

REPO = Path(__file__).resolve().parents[1]
AS_VLLMGEN = "import sys; sys.argv[0] = 'vllmgen'; from vllmgen.cli import main; main()"


def test_the_progress_line():
    line = drivers.progress_line(drivers.Progress(42.4, 180, {"startup": "503", "readiness": "-"}, False, False))
    assert line == "probe-check 42 s / 180 s | startup 503 | readiness - | not started"
    ready = drivers.Progress(61, 180, {"startup": "200", "readiness": "200"}, True, True)
    assert drivers.progress_line(ready).endswith("| Ready")


def test_a_live_run_reports_its_progress_as_it_goes(tmp_path, fake_pod):  # noqa: F811
    fake = fake_pod(ready_after=2.2)
    pod = model.load(values(tmp_path, fake, PLAIN))
    seen: list[drivers.Progress] = []
    drivers.live([pod], drivers.parse_target("http://127.0.0.1", [pod]), 4.0, on_progress=seen.append)
    elapsed = [p.elapsed for p in seen]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 2.5
    # at most a progress interval between reports
    assert all(b - a <= drivers.PROGRESS_INTERVAL_S + 0.5 for a, b in zip(elapsed, elapsed[1:]))
    assert any(p.probes["startup"] == "refused" and not p.started for p in seen)
    assert seen[-1].probes["startup"] == "200" and seen[-1].ready


def _run(args: list[str], *, tty: bool) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "cli"), "TERM": "xterm", "COLUMNS": "200"}
    for var in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CI", "GITHUB_ACTIONS"):
        env.pop(var, None)
    cmd = [sys.executable, "-c", AS_VLLMGEN, *args]
    if not tty:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        return res.returncode, res.stdout, res.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode()
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_one_progress_line_shows_and_nothing_otherwise(tmp_path, fake_pod):  # noqa: F811
    fake = fake_pod(ready_after=1.5)
    args = ["probe-check", str(values(tmp_path, fake, PLAIN)), "--url", "http://127.0.0.1", "--duration", "4"]
    code, out, err = _run(args, tty=True)
    assert code == 0, err
    assert "probe-check " in err and " s / 4 s | startup " in err, err
    assert "probe-check " not in out.split("\n")[0] or "|" not in out, "the report on stdout carries no progress"
    code, out, err = _run(args, tty=False)
    assert code == 0, err
    assert " s / 4 s | startup" not in err + out and "\r" not in err and "\x1b" not in err, err
