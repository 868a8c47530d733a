"""Files that made the CLI hang, crash or break its one-line errors (issue 19), through the real command line:
`vllmgen values --spec F` and `vllmgen lint F` in a subprocess, as a user runs them.

The time bounds are generous (a loaded machine still meets them) yet far below what the defects cost: a 1 MiB
comment took 37-52 s, a FIFO blocked forever. benchmarks/yaml_reader.py prints the actual times."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GOOD_SPEC = "model:\n  source: hf://Qwen/Qwen3-8B\n  parameters: 8.2e9\n"
#: Seconds a 1 MiB input may take end to end, process start included.
BOUND_1MIB = 20
MIB = 1024 * 1024
ERROR_LINE = re.compile(r"^error: \S+?(:\d+)?: (\(document\)|/\S*): \S.*$")


def vllmgen(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "vllmgen", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def one_error_line(res) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and ERROR_LINE.match(lines[0]), res.stderr
    return lines[0]


@pytest.mark.parametrize("where", ["top", "between-keys", "after-a-value"])
@pytest.mark.parametrize("tab", [False, True], ids=["any-parser", "pure-parser"])
def test_a_1mib_comment_is_read_in_bounded_time(tmp_path, where, tab):
    """A tab in the comment sends the text to ruamel's pure-Python parser even where libyaml is installed."""
    comment = "#" + ("\t" if tab else "") + "x" * MIB
    text = {"top": comment + "\n" + GOOD_SPEC,
            "between-keys": GOOD_SPEC.replace("  parameters", f"  {comment}\n  parameters"),
            "after-a-value": GOOD_SPEC.replace("Qwen3-8B\n", f"Qwen3-8B  {comment}\n")}[where]
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    res = vllmgen("values", "--spec", spec, timeout=BOUND_1MIB)
    assert res.returncode == 0, res.stderr
    assert "source: hf://Qwen/Qwen3-8B" in res.stdout


def test_a_large_legal_manifest_is_linted_in_bounded_time(tmp_path):
    """Just under the 4 MiB limit: commented Deployments, one document after another."""
    one = (Path(__file__).parent / "data" / "lint" / "good" / "standalone-deployment.yaml").read_text()
    commented = "".join(line + ("  # a note on this line\n" if line.strip() and not line.lstrip().startswith("#")
                                else "\n") for line in one.splitlines())
    copies = (4 * MIB - 1024) // (len(commented.encode()) + 4)
    manifest = tmp_path / "all.yaml"
    manifest.write_text("---\n".join([commented] * copies))
    assert 3 * MIB < manifest.stat().st_size < 4 * MIB
    res = vllmgen("lint", manifest, timeout=4 * BOUND_1MIB)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no findings; 1 file checked" in res.stderr


def test_a_fifo_is_refused_not_waited_for(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    line = one_error_line(vllmgen("values", "--spec", fifo, timeout=BOUND_1MIB))
    assert line == f"error: {fifo}: (document): is not a regular file (a FIFO, socket or device); to read a " \
                   "stream, pass - and send it to stdin"
    res = vllmgen("lint", fifo, timeout=BOUND_1MIB)
    assert res.returncode == 2 and f"{fifo}: input-error: is not a regular file" in res.stdout


def _without_root_override() -> list[str]:
    """A command prefix under which permission bits apply: root bypasses them unless it drops CAP_DAC_*."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: no way to make a directory untraversable")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def test_an_untraversable_directory_is_one_clear_line(tmp_path):
    good = Path(__file__).parent / "data" / "lint" / "good" / "standalone-deployment.yaml"
    (tmp_path / "ok.yaml").write_text(good.read_text())
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "hidden.yaml").write_text(good.read_text())
    locked.chmod(0)
    try:
        def lint(*paths):
            return subprocess.run([*_without_root_override(), sys.executable, "-m", "vllmgen", "lint", *map(str, paths)],
                                  capture_output=True, text=True, timeout=60)

        res = lint(tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert res.stdout == f"{locked}: input-error: cannot list directory: permission denied\n"
        assert "1 file checked, 1 unusable" in res.stderr  # the readable file is still linted
        res = lint(locked / "hidden.yaml")
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert res.stdout == f"{locked / 'hidden.yaml'}: input-error: permission denied\n"
    finally:
        locked.chmod(0o755)


def test_aliases_are_named_only_when_the_file_has_aliases(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD_SPEC + "junk: [" + ",".join(["1"] * 250_000) + "]\n")
    message = one_error_line(vllmgen("values", "--spec", spec, timeout=BOUND_1MIB)).partition(str(spec))[2]
    assert "alias" not in message and "unknown field 'junk'" in message
    spec.write_text(GOOD_SPEC + "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)))
    line = one_error_line(vllmgen("values", "--spec", spec, timeout=BOUND_1MIB))
    assert "YAML aliases expand the file" in line and "billion laughs" in line


def test_a_key_with_control_characters_keeps_the_error_on_one_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD_SPEC + 'engine:\n  "a\\nb\\u2028c\\x1b": 1\n  "a\\nb\\u2028c\\x1b": 2\n')
    line = one_error_line(vllmgen("values", "--spec", spec))
    assert line == f"error: {spec}:6: /engine/a\\nb\\u2028c\\x1b: duplicate key 'a\\nb\\u2028c\\x1b' (a later " \
                   "value would silently replace the first)"
    res = vllmgen("lint", spec)  # lint reports the duplicate as a finding and checks the rest of the file
    assert res.returncode == 1
    assert f"{spec}:6: VG030 error: /engine/a\\nb\\u2028c\\x1b: duplicate key 'a\\nb\\u2028c\\x1b' (a later value " \
        "would silently replace the first). Fix: " in res.stdout
    assert all(line.startswith(f"{spec}:") for line in res.stdout.splitlines())
