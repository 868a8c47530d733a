"""`-o` writes the whole file or nothing, and an unusable path is one line naming it (exit 2, no traceback):
a directory, a file under a file, a missing directory; a symlink stays a symlink; /dev/stdout is written to,
never replaced."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _values(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vllmgen", "values", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("where", ["dir", "dot", "under-a-file", "missing-dir"])
def test_unusable_output_paths_exit_2_with_one_line(tmp_path, where):
    (tmp_path / "file").write_text("keep")
    out = {"dir": tmp_path, "dot": ".", "under-a-file": tmp_path / "file" / "x",
           "missing-dir": tmp_path / "nope" / "x"}[where]
    before = sorted(os.listdir(tmp_path))
    res = _values("-o", out, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr, res.stderr
    assert sorted(os.listdir(tmp_path)) == before  # no partial or temporary file left
    assert (tmp_path / "file").read_text() == "keep"


def test_a_symlinked_output_stays_a_link(tmp_path):
    target = tmp_path / "target.yaml"
    target.write_text("old")
    link = tmp_path / "values.yaml"
    link.symlink_to(target)
    assert _values("-o", link).returncode == 0
    assert link.is_symlink() and target.read_text().startswith("# Helm values")


def test_dev_stdout_is_written_not_replaced():
    res = subprocess.run([sys.executable, "-m", "vllmgen", "values", "-o", "/dev/stdout"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("# Helm values"), res.stderr
    assert os.path.islink("/dev/stdout")
