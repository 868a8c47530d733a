"""Live mode against a loopback server that behaves like vLLM while it loads (bound but not listening, so
connections are refused, then 200) and like the supervisor's long-poll /startupz; the recording is replayed and
must agree with the live run."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx  # noqa: F401  (imported before the fake pods' clocks start)
import pytest
from typer.testing import CliRunner

from tests.support.values_files import complete_text
from vllmgen.cli import app
from vllmgen.emulator import drivers, model, timeline

#: Poll step of the fake long-poll while it holds a request.
HOLD_STEP_S = 0.005


class FakePod:
    """Two loopback ports: `vllm` refuses connections until `ready_after` s (bound, not listening, as vLLM),
    then answers 200 on /health and /v1/models; `health` listens at once: /startupz holds a request until ready
    (200) or `hold` s (503), /readyz 503 then 200, /livez 200."""

    def __init__(self, ready_after: float, hold: float = 1.75):
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.ready_after = ready_after
        self.hold = hold
        pod = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/startupz":
                    start = time.monotonic()
                    while not pod.ready and time.monotonic() - start < pod.hold:
                        time.sleep(HOLD_STEP_S)
                    code = 200 if pod.ready else 503
                elif path == "/readyz":
                    code = 200 if pod.ready else 503
                elif path in ("/livez", "/health", "/v1/models"):
                    code = 200
                else:
                    code = 404
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.vllm = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.vllm.server_bind()  # bound, not listening: connection refused
        self.health = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.vllm_port = self.vllm.server_address[1]
        self.health_port = self.health.server_address[1]
        for srv in (self.vllm, self.health):
            srv.daemon_threads = True
        self._threads = [threading.Thread(target=self.health.serve_forever, daemon=True),
                         threading.Thread(target=self._open_vllm, daemon=True)]
        self._stop = threading.Event()
        self._serving = threading.Event()
        for th in self._threads:
            th.start()

    @property
    def ready(self) -> bool:
        return time.monotonic() - self.t0 >= self.ready_after

    def restart_clock(self) -> None:
        """Count `ready_after` from now: the command's clock starts after its loading, which a busy machine makes
        longer than any fixed lead."""
        self.t0, self.t0_wall = time.monotonic(), time.time()

    def _open_vllm(self):
        while not self.ready:
            if self._stop.wait(HOLD_STEP_S):
                return
        self.vllm.server_activate()
        self.listening_since = time.time()
        self._serving.set()
        self.vllm.serve_forever()

    def close(self):
        self._stop.set()
        self.health.shutdown()
        # shutdown() waits for serve_forever to end, so only once it runs: a pod closed as it turned ready (its
        # opener still in its wait on a busy machine) never serves, and waiting on it hung a CI run
        if self._serving.is_set():
            self.vllm.shutdown()
        for th in self._threads:
            th.join(timeout=10)
        self.vllm.server_close()
        self.health.server_close()


@pytest.fixture
def fake_pod(request):
    pods = []

    def make(**kw):
        pods.append(FakePod(**kw))
        return pods[-1]

    yield make
    for p in pods:
        p.close()


def values(tmp_path: Path, fake: FakePod, probes: str) -> Path:
    f = tmp_path / "values.yaml"
    f.write_text(complete_text(f"probeMode: supervised\nsupervisor: {{port: {fake.health_port}}}\nstandalone:\n"
                               f"  port: {fake.vllm_port}\n  probes:\n{probes}"))
    return f


PLAIN = """\
    startup: {httpGet: {path: /health, port: vllm}, periodSeconds: 1, failureThreshold: 30}
    readiness: {httpGet: {path: /v1/models, port: vllm}, periodSeconds: 1, timeoutSeconds: 10}
"""
SUPERVISED = """\
    startup: {httpGet: {path: /startupz, port: health}, periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 9}
    readiness: {httpGet: {path: /readyz, port: health}, periodSeconds: 1}
    liveness: {httpGet: {path: /livez, port: health}, periodSeconds: 1}
"""


def test_live_plain_against_refuse_then_200_and_replay_of_the_recording(tmp_path, fake_pod):
    fake = fake_pod(ready_after=2.7)  # its clock starts before the command's (imports, loading)
    rec = tmp_path / "rec.yaml"
    res = CliRunner().invoke(app, ["probe-check", str(values(tmp_path, fake, PLAIN)), "--url",
                                   "http://127.0.0.1", "--duration", "4.5", "--record", str(rec),
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    live = json.loads(res.output)["runs"][0]
    v = live["verdict"]
    listening = fake.listening_since - v["wall_start"]  # when the fake's vLLM port began listening
    # every startup probe before that was refused, the first one after it got 200 and started the pod;
    # startup runs every 1 s, so that is within a second. Readiness runs at the next pod sync: at once (the
    # manual trigger) when the last sync was long ago, else after the PLEG relist it waits for (up to 1 s; where
    # the fake's start falls among the relists depends on how busy the machine is), and its first answer turns
    # the pod Ready
    startup = [r for r in live["timeline"] if r.get("probe") == "startup"]
    assert startup[0]["answer"] == "refused" and startup[-1]["answer"] == "200"
    assert all(r["answer"] == "refused" for r in startup if r["time"] < listening - 0.01)
    assert 0 <= v["started_at"] - listening <= 1.1
    readiness = [r for r in live["timeline"] if r.get("probe") == "readiness"]
    assert readiness[0]["result"] == "Success" and 0 <= readiness[0]["time"] - v["started_at"] <= 1.1
    assert v["ready_at"] == pytest.approx(readiness[0]["time"] + readiness[0]["latency"], abs=0.05)
    assert any(r["cause"] == "trigger" for r in readiness), "the manual readiness run after Started"
    # the recording: /health refused, then 200 from when the fake began listening (polled every 0.1 s)
    tl = timeline.load(rec)
    health = tl.find(fake.vllm_port, "/health")
    assert [a.kind for a in health.answers] == ["refused", "status"]
    assert listening - 0.01 <= health.answers[1].at <= listening + 0.15
    # the replay of the same configuration on the recording agrees with the live run
    again = drivers.replay(model.load(tmp_path / "values.yaml"), tl)
    assert again.kubelet.first("ready") == pytest.approx(v["ready_at"], abs=0.15)


def test_live_long_poll_is_recorded_as_a_hold(tmp_path, fake_pod):
    pod = model.load(values(tmp_path, fake := fake_pod(ready_after=4.3, hold=1.75), SUPERVISED))
    target = drivers.parse_target("http://127.0.0.1", [pod])
    fake.restart_clock()
    result = drivers.live([pod], target, 6.0, record=True)
    k = result.run.kubelet
    st = [r for r in k.records if r.kind == "startup"]
    # startup ticks at 2 s (held 1.75 s, 503) and 4 s (held until the model is ready at 4.3 s -> 200)
    assert [(round(r.start), r.result) for r in st] == [(2, "Failure"), (4, "Success")]
    assert st[0].end - st[0].start == pytest.approx(1.75, abs=0.1)
    ready = fake.t0_wall + 4.3 - result.run.wall_start  # the fake's ready moment on the run's clock
    assert 4.0 < ready <= 4.3
    assert k.first("ready") == pytest.approx(ready, abs=0.1)
    startupz = result.timeline.find(fake.health_port, "/startupz")
    kinds = [a.kind for a in startupz.answers]
    assert kinds == ["hold", "status"], startupz.answers
    assert startupz.answers[0].hold == pytest.approx(1.75, abs=0.1) and startupz.answers[0].then == 503
    assert startupz.answers[1].at == pytest.approx(ready, abs=0.05)
    # the replay on the recording agrees with the live run
    again = drivers.replay(pod, result.timeline)
    assert again.kubelet.first("ready") == pytest.approx(k.first("ready"), abs=0.1)


def test_unreachable_url_is_a_clear_error(tmp_path, fake_pod):
    fake = fake_pod(ready_after=1000)  # never listens
    rec = tmp_path / "rec.yaml"
    res = CliRunner().invoke(app, ["probe-check", str(values(tmp_path, fake, PLAIN)), "--url",
                                   f"http://127.0.0.1:{fake.vllm_port}", "--duration", "2.5", "--record", str(rec)])
    assert res.exit_code == 2
    assert res.output.startswith(f"error: --url: (document): nothing answered at http://127.0.0.1:{fake.vllm_port}")
    assert not rec.exists()  # no partial output file


def test_until_ready_stops_at_ready_and_fails_when_never_ready(tmp_path, fake_pod):
    fake = fake_pod(ready_after=1.5)
    cfg = values(tmp_path, fake, PLAIN)
    started = time.monotonic()
    res = CliRunner().invoke(app, ["probe-check", str(cfg), "--url", "http://127.0.0.1", "--duration", "30",
                                   "--until-ready", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["runs"][0]["verdict"]["ready_at_end"] is True
    assert time.monotonic() - started < 10  # stopped at Ready, not after 30 s
    late = fake_pod(ready_after=60)  # /readyz answers 503 throughout
    readiness_only = "    readiness: {httpGet: {path: /readyz, port: health}, periodSeconds: 1}\n"
    res = CliRunner().invoke(app, ["probe-check", str(values(tmp_path, late, readiness_only)), "--url",
                                   "http://127.0.0.1", "--duration", "2.5", "--until-ready"])
    assert res.exit_code == 1 and "never Ready within 2.5 s" in res.output


def test_live_delete_at_models_the_termination(tmp_path, fake_pod):
    """--delete-at in live mode: the pod is deleted on the emulator's clock (the server gets no signal); liveness
    and startup stop, readiness keeps probing the real server, preStop 1 s, then SIGTERM; with a 3 s grace period
    2 s are left (SIGKILL due 2 s after SIGTERM, taken as the exit: how fast the server drains is unknown)."""
    fake = fake_pod(ready_after=0.3)
    cfg = tmp_path / "values.yaml"
    cfg.write_text(complete_text(f"probeMode: supervised\nsupervisor: {{port: {fake.health_port}}}\nstandalone:\n"
                                 f"  port: {fake.vllm_port}\n  terminationGracePeriodSeconds: 3\n"
                                 f"  preStopSleepSeconds: 1\n  probes:\n{SUPERVISED}"))
    # (Ready a little after 3.0: startup succeeds at its tick at 2.0, and the sync that runs readiness at once
    # waits for the relist at 3.0, since the startup worker's initial Unknown had the pod synced at 2.0)
    res = CliRunner().invoke(app, ["probe-check", str(cfg), "--url", "http://127.0.0.1", "--duration", "4.5",
                                   "--delete-at", "4", "--format", "json"])
    assert res.exit_code == 0, res.output
    run = json.loads(res.output)["runs"][0]
    assert run["verdict"]["ready_at"] < 4, run["timeline"]
    d = run["verdict"]["deletion"]
    assert (d["deleted_at"], d["sigterm_at"], d["sigkill_at"], d["exit_at"]) == (4, 5, 7, 7)
    assert d["drain_fit"] is None and d["out_of_endpoints_at"] == 5 and d["in_endpoints_after_sigterm"] == 0
    probes = [r for r in run["timeline"] if r.get("probe")]
    assert not [r for r in probes if r["probe"] in ("liveness", "startup") and r["time"] > 4]
    assert [r for r in probes if r["probe"] == "readiness" and r["time"] > 4]
    assert any("does not signal the server" in n for n in run["notes"])


def test_a_held_answer_is_stamped_when_it_arrived_though_the_event_loop_was_busy(fake_pod):
    """A /startupz long-poll released while the event loop was busy: the answer's time is when it arrived. The
    exchange runs in a task of its own (asyncio.wait_for before Python 3.12); a loop blocked for 0.4 s right when
    the probe starts delays that task, and a latency counted from the task's start stamped the answer 0.4 s early
    (a recording's /startupz release before vLLM's own /health turned 200)."""
    import asyncio

    from vllmgen.emulator import httpprobe

    fake = fake_pod(ready_after=1.5, hold=5.0)

    async def go():
        prober = httpprobe.Prober()
        try:
            asyncio.get_running_loop().call_soon(time.sleep, 0.4)  # the loop is busy as the probe starts
            got, tried = await prober.probe(f"http://127.0.0.1:{fake.health_port}/startupz", (), 10.0)
            return got, tried, time.monotonic()
        finally:
            await prober.aclose()

    got, tried, returned = asyncio.run(go())
    started, outcome = tried[0]
    assert got.kind == "status" and got.status == 200
    released = fake.t0 + fake.ready_after
    assert released <= started + outcome.latency <= returned
    assert returned - (started + outcome.latency) < 0.2


def test_the_recording_keeps_the_probes_answers_where_a_poller_sampled_late():
    """On a busy machine the /readyz poller's next sample came after the probe that turned the pod Ready: the
    recording takes the probe's own answer too, so a replay sees /readyz 200 when the live probe did (without it the
    replay at the live phase stayed NotReady: a CI failure). A long-poll endpoint keeps its poller's series: held
    requests overlap, and a merged series would not be in time order."""
    from vllmgen.emulator.drivers import _with_probe_answers
    from vllmgen.emulator.timeline import Observation, from_observations

    polled = {(9000, "/readyz"): [Observation(t / 10, t / 10 + 0.005, "status", 503) for t in range(100)]
              + [Observation(12.0, 12.005, "status", 200)],
              (9000, "/startupz"): [Observation(0.0, 9.0, "status", 503), Observation(9.0, 9.5, "status", 200),
                                    Observation(9.6, 9.605, "status", 200)]}
    probed = {(9000, "/readyz"): [Observation(10.05, 10.06, "status", 200)],
              (9000, "/startupz"): [Observation(5.0, 9.52, "status", 200)]}
    merged = _with_probe_answers(polled, probed)
    assert merged[(9000, "/startupz")] == polled[(9000, "/startupz")]
    readyz = {e.path: e for e in from_observations(merged, 13.0).endpoints}["/readyz"]
    assert readyz.respond(10.5).status == 200
    alone = {e.path: e for e in from_observations(polled, 13.0).endpoints}["/readyz"]
    assert alone.respond(10.5).status == 503
