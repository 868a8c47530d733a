"""`vllmgen calibrate` on logs as `kubectl logs` prints them: it finds the supervisor's `startup-measured` lines
among vLLM's output (behind `--timestamps` or `--prefix` too), fits the startup block that covers every start,
and refuses a log without any start in one clear line. Real starts: tests/test_startup_vllm.py."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from tests.support.vllm_server import REPO
from vllmgen import calibrate
from vllmgen.spec import parse_spec


def measured(download=0.0, load=30.0, compile_=80.0, start=50.0, weights=16.4e9, downloaded=0, quiet=3.0):
    line = {"ts": "2026-11-27T06:38:59.234+00:00", "logger": "vllmgen.serve", "event": "startup-measured",
            "t": 1.0, "seconds": {"download": download, "load": load, "compile": compile_, "start": start},
            "totalSeconds": download + load + compile_ + start, "weightsBytes": weights,
            "downloadedBytes": downloaded, "longestQuietSeconds": quiet}
    return json.dumps(line, separators=(",", ":"))


def pod_log(*lines: str) -> str:
    """A pod log: vLLM's lines around the supervisor's JSON lines."""
    out = ["(APIServer pid=7) INFO 11-27 06:29:27 [api_utils.py:347]  version 0.32.0"]
    for line in lines:
        out += [line, "INFO:     Application startup complete."]
    return "\n".join(out) + "\n"


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "vllmgen", "calibrate", *map(str, args)], capture_output=True,
                          text=True, timeout=60, cwd=REPO, input=stdin)


def test_the_block_covers_every_start_with_the_slowest_bandwidths_and_longest_phases(tmp_path):
    logs = []
    for i, (dl, load, comp, start) in enumerate([(400, 40, 85, 55), (330, 33, 95, 61), (500, 30, 80, 49)]):
        path = tmp_path / f"pod{i}.log"
        path.write_text(pod_log(measured(dl, load, comp, start, downloaded=16.4e9)))
        logs.append(path)
    r = run(*logs)
    assert r.returncode == 0, r.stderr
    block = YAML(typ="safe").load(r.stdout)["startup"]
    # 16.4 GB in 500 s = 32.8 MB/s (the slowest download); in 40 s = 410 MB/s (the slowest load)
    assert block == {"downloadMBps": 32.8, "loadMBps": 410, "compileSeconds": 95, "processStartSeconds": 61}
    assert "slowest of 3 downloads: 41, 49.7, 32.8 MB/s; median 41" in r.stdout
    assert "longest of 3, rounded up: 85.0, 95.0, 80.0 s; median 85.0" in r.stdout
    # each start's terms as measured, then as the block estimates them: never less
    assert f"400.0 ->  500.0" in r.stdout and f"{logs[0]}:2" in r.stdout
    spec = parse_spec("model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n", "t.yaml")
    cal = calibrate.fit(calibrate.merge([(str(p), calibrate.starts(p.read_text().splitlines(), str(p)))
                                         for p in logs]))
    for s in cal.starts:
        est = calibrate.estimate_for(cal, s)
        assert all(est[t] >= s.seconds[t] - 1e-9 for t in calibrate.TERMS)
    assert "with this block the spec's startup budget is (500 download + 40 load + 95 compile + 61 start) x 1.5" \
        in calibrate.budget_change(spec, cal)


def test_kubectl_timestamps_prefixes_and_stdin_are_read(tmp_path):
    line = measured()
    text = pod_log(f"2026-11-27T06:38:59.234567890Z {line}") + pod_log(f"[pod/vllm-0/vllm] {line}")
    r = run("-", stdin=text)
    assert r.returncode == 0, r.stderr
    assert ": 2 start(s) that reached Ready" in r.stdout.splitlines()[0] and "<stdin>:2" in r.stdout


def test_stalled_starts_are_listed_and_quiet_stretches_raise_the_stall_window_only(tmp_path):
    stalled = json.dumps({"logger": "vllmgen.serve", "event": "exit", "exitCode": 1,
                          "reason": "startup stalled: no progress for 120 s (stallSeconds 120) in phase download"})
    path = tmp_path / "pod.log"
    path.write_text(pod_log(stalled, measured(quiet=3.0)))
    r = run(path)
    assert r.returncode == 0 and f"# ended stalled, not fitted: {path}:2: startup stalled" in r.stdout
    assert "stallSeconds" not in YAML(typ="safe").load(r.stdout)["startup"]
    assert "the longest stretch without progress was 3.0 s" in r.stdout
    path.write_text(pod_log(measured(quiet=95.0)))
    assert YAML(typ="safe").load(run(path).stdout)["startup"]["stallSeconds"] == 190


def test_a_log_without_a_start_is_refused_in_one_line(tmp_path):
    empty = tmp_path / "vllm-only.log"
    empty.write_text(pod_log())
    r = run(empty)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"error: {empty}: (document): no `startup-measured` line: this log holds no start of "
                        f"`vllmgen serve` that reached Ready (pass the supervisor's log, as `kubectl logs POD` "
                        f"prints it)\n")
    r = run(tmp_path / "missing.log")
    assert r.returncode == 2 and "missing.log: (document): cannot read: No such file or directory" in r.stderr


@pytest.mark.parametrize("broken, pointer", [
    ('"seconds":{"download":0}', "/seconds"),
    ('"seconds":{"download":0,"load":1,"compile":"slow","start":1}', "/seconds/compile"),
])
def test_a_broken_measured_line_names_the_line_and_field(tmp_path, broken, pointer):
    path = tmp_path / "pod.log"
    path.write_text(pod_log('{"logger":"vllmgen.serve","event":"startup-measured",' + broken + "}"))
    r = run(path)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {path}:2: {pointer}: ") and "Traceback" not in r.stderr


# --- hostile input (issue 30): bounded reads, and no traceback whatever a line holds ----------------------------

ONE_LINE = re.compile(r"^error: \S+?(:\d+)?: \(document\): \S.*\n$")


def _bounded_refusal(r, name: str, bound: str) -> None:
    assert r.returncode == 2 and r.stdout == "" and ONE_LINE.match(r.stderr), r.stderr
    assert r.stderr.startswith(f"error: {name}:") and bound in r.stderr, r.stderr


def test_a_device_is_read_up_to_one_line_bound():
    """/dev/zero is one endless line: it was read into memory until the process died."""
    _bounded_refusal(run("/dev/zero"), "/dev/zero", "line longer than 1 MiB")


def test_an_endless_stream_on_stdin_ends_at_the_size_bound():
    """An endless writer into stdin (`yes`): it was read until killed."""
    writer = subprocess.Popen([sys.executable, "-c", "import sys\nline = b'INFO engine step\\n' * 4096\n"
                               "while True: sys.stdout.buffer.write(line)"], stdout=subprocess.PIPE)
    try:
        r = subprocess.run([sys.executable, "-m", "vllmgen", "calibrate", "-"], capture_output=True, text=True,
                           timeout=120, cwd=REPO, stdin=writer.stdout)
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    _bounded_refusal(r, "<stdin>", "more than 64 MiB")


def test_a_fifo_is_bounded_too(tmp_path):
    fifo = tmp_path / "pod.log"
    os.mkfifo(fifo)
    # nobody writes: read as an empty log at once, not waited for
    r = run(fifo)
    assert r.returncode == 2 and "no `startup-measured` line" in r.stderr
    # an endless writer: ends at the size bound
    writer = subprocess.Popen([sys.executable, "-c", f"import sys\nout = open({str(fifo)!r}, 'wb')\n"
                               "line = b'INFO engine step\\n' * 4096\nwhile True: out.write(line)"],
                              stderr=subprocess.DEVNULL)
    try:
        _bounded_refusal(subprocess.run([sys.executable, "-m", "vllmgen", "calibrate", str(fifo)],
                                        capture_output=True, text=True, timeout=120, cwd=REPO),
                         str(fifo), "more than 64 MiB")
    finally:
        writer.kill()
        writer.wait()


MEASURED_KEYS = ("download", "load", "compile", "start")
_numbers = st.one_of(st.integers(min_value=-10 ** 400, max_value=10 ** 400), st.floats(allow_nan=True),
                     st.sampled_from([10 ** 400, -1, 0, 1e308, 5e-324, float("nan"), float("inf")]))
_json_values = st.recursive(st.one_of(st.none(), st.booleans(), _numbers, st.text(max_size=20)),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)


def _dumps(value) -> str:
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # a log may hold numbers longer than Python prints by default
    try:
        return json.dumps(value)
    finally:
        sys.set_int_max_str_digits(limit)


@st.composite
def _measured_lines(draw) -> bytes:
    seconds = {k: draw(_numbers) for k in MEASURED_KEYS if draw(st.integers(0, 9))}
    line = {"logger": "vllmgen.serve", "event": draw(st.sampled_from(["startup-measured", "exit"])),
            "seconds": seconds, "reason": draw(st.text(max_size=30).map(lambda t: "startup stalled" + t))}
    for key in ("totalSeconds", "weightsBytes", "downloadedBytes", "longestQuietSeconds"):
        if draw(st.booleans()):
            line[key] = draw(_numbers)
    if draw(st.booleans()):
        line[draw(st.text(max_size=5))] = draw(_json_values)
    prefix = draw(st.sampled_from(["", "2026-11-27T06:38:59.234Z ", "[pod/vllm-0/vllm] "]))
    return (prefix + _dumps(line)).encode()


_lines = st.one_of(
    _measured_lines(),
    st.binary(max_size=60),  # non-UTF-8 included
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b'{"logger":"vllmgen.serve","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),  # deeper than the stack
    st.just(b'{"logger":"vllmgen.serve","event":"startup-measured","seconds":' + b"9" * 5000 + b"}"),
)


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@example(lines=[measured(load=5e-324, weights=1e15).encode(), measured(compile_=1e308).encode()])
@example(lines=[measured(weights=10 ** 400).encode()])
@example(lines=[measured(load=1e-3, weights=1e-300).encode()])
@example(lines=[b'{"logger":"vllmgen.serve","event":"exit","reason":"startup stalled\\nstartup:\\n  x: 1"}',
                measured().encode()])
@given(lines=st.lists(_lines, max_size=6))
def test_hostile_log_lines_never_raise(lines):
    """Whatever the lines hold (huge numbers, NaN, negative durations, non-UTF-8, deep nesting), calibrate
    prints a block or refuses with an InputError: no other exception."""
    from vllmgen.errors import InputError

    spec = parse_spec("model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n", "t.yaml")
    stream = io.BytesIO(b"\n".join(lines) + b"\n")
    try:
        cal = calibrate.fit(calibrate.merge([("pod.log", calibrate.starts(
            calibrate.bounded_lines(stream, "pod.log"), "pod.log"))]))
        text = calibrate.render(cal) + calibrate.budget_change(spec, cal)
    except InputError as exc:
        assert "\n" not in exc.format()
        return
    block = YAML(typ="safe").load(text)["startup"]  # the printed block stays YAML with only startup fields
    assert set(block) <= {"downloadMBps", "loadMBps", "compileSeconds", "processStartSeconds", "stallSeconds"}
