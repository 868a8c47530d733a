"""`vllmgen probe-check --replay` as a user runs it (a subprocess, JSON out), for tests that replay recorded
timelines against several probe configurations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The recorded and hand-written timelines the replays read.
TIMELINES = REPO / "tests" / "data" / "timelines"


def probe_check(config, timeline_file, *args) -> dict:
    """The first run of `vllmgen probe-check CONFIG --replay TIMELINE --format json ARGS`; fails the test on exit 1 or 2."""
    r = subprocess.run([sys.executable, "-m", "vllmgen", "probe-check", str(config), "--replay", str(timeline_file),
                        "--format", "json", *args], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["runs"][0]
