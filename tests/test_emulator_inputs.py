"""Reading probe configurations (values files, manifests) and timelines; `vllmgen probe-check` end to end in
replay mode, including the clear one-line errors (exit 2, file, pointer, line)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vllmgen.cli import app
from vllmgen.emulator import model, timeline
from vllmgen.errors import InputError

from tests.support.values_files import complete_text

DATA = Path(__file__).parent / "data" / "timelines"


def write(tmp_path: Path, name: str, text: str) -> Path:
    """A configuration file; a values fragment is written complete (over generated values), as the chart needs."""
    p = tmp_path / name
    p.write_text(complete_text(textwrap.dedent(text)))
    return p


VALUES = """\
    layout: single-node
    probeMode: supervised
    supervisor: {port: 8090, specPath: /etc/vllmgen/spec.yaml}
    decode:
      port: 8200
      terminationGracePeriodSeconds: 50
      probes:
        startup: {httpGet: {path: /startupz, port: health}, periodSeconds: 10, timeoutSeconds: 10,
                  failureThreshold: 27}
        readiness: {httpGet: {path: /readyz, port: health}, periodSeconds: 10, timeoutSeconds: 2}
        liveness: {httpGet: {path: /livez, port: health}}
    prefill:
      port: 8000
      probes:
        startup: {httpGet: {path: /v1/models, port: vllm}, periodSeconds: 1, failureThreshold: 600}
"""

MANIFEST = """\
    apiVersion: v1
    kind: Service
    metadata: {name: vllm}
    spec: {ports: [{port: 8000}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: vllm-decode, labels: {llm-d.ai/role: decode}}
    spec:
      template:
        metadata: {labels: {app: vllm}}
        spec:
          terminationGracePeriodSeconds: 45
          initContainers:
          - name: routing-proxy
            restartPolicy: Always
            ports: [{containerPort: 8000, name: proxy}]
          containers:
          - name: vllm
            ports: [{containerPort: 8200, name: vllm}]
            startupProbe:
              httpGet: {path: /v1/models, port: vllm}
              periodSeconds: 0
            readinessProbe:
              httpGet: {path: /v1/models, port: 8200, httpHeaders: [{name: Authorization, value: Bearer x}]}
"""


# --- configurations ---------------------------------------------------------------------------------------

def test_values_file_named_ports_and_defaults(tmp_path):
    f = write(tmp_path, "values.yaml", VALUES)
    pod = model.load(f, role="decode")
    assert (pod.startup.path, pod.startup.port, pod.startup.port_name) == ("/startupz", 8090, "health")
    assert (pod.startup.period, pod.startup.timeout, pod.startup.failure_threshold) == (10, 10, 27)
    # liveness left everything to the API defaults
    live = pod.liveness
    assert (live.period, live.timeout, live.success_threshold, live.failure_threshold, live.initial_delay) == \
        (10, 1, 1, 3, 0)
    assert pod.pod_grace == 50
    prefill = model.load(f, role="prefill")
    # the grace period the generated values give prefill (the fragment sets none)
    assert (prefill.startup.port, prefill.readiness, prefill.pod_grace) == (8000, None, 55)


def test_manifest_deployment_named_ports_and_zero_means_default(tmp_path):
    f = write(tmp_path, "m.yaml", MANIFEST)
    pod = model.load(f)  # the sidecar has no probes, so the vllm container is the only candidate
    assert pod.startup.port == 8200 and pod.startup.period == 10  # periodSeconds: 0 -> default 10
    assert pod.readiness.headers == (("Authorization", "Bearer x"),)
    assert pod.pod_grace == 45 and "Deployment/vllm-decode" in pod.name
    assert model.load(f, role="decode", container="vllm").startup.path == "/v1/models"


def test_leaderworkerset_templates(tmp_path):
    f = write(tmp_path, "lws.yaml", """\
        apiVersion: leaderworkerset.x-k8s.io/v1
        kind: LeaderWorkerSet
        metadata: {name: wide}
        spec:
          leaderWorkerTemplate:
            leaderTemplate:
              spec:
                containers:
                - name: vllm
                  ports: [{containerPort: 8090, name: health}]
                  startupProbe: {httpGet: {path: /startupz, port: health}}
            workerTemplate:
              spec:
                containers:
                - name: vllm
                  livenessProbe: {httpGet: {path: /livez, port: 8090}}
        """)
    with pytest.raises(InputError, match="several containers have probes"):
        model.load(f)
    assert model.load(f, role="leader").startup.port == 8090
    assert model.load(f, role="worker").liveness.path == "/livez"


@pytest.mark.parametrize("text, pointer, message", [
    ("""\
        decode:
          port: 8200
          probes:
            startup: {httpGet: {path: /x, port: metrics}}
    """, "/decode/probes/startup/httpGet/port", "unknown named port 'metrics'"),
    ("""\
        decode:
          probes:
            liveness: {httpGet: {path: /x, port: 1}, successThreshold: 2}
    """, "/decode/probes/liveness/successThreshold", "must be 1"),
    ("""\
        decode:
          probes:
            readiness: {exec: {command: [true]}}
    """, "/decode/probes/readiness/exec/command/0", "the chart refuses these values"),  # its schema takes httpGet probes only
    ("""\
        decode:
          probes:
            readiness: {httpGet: {path: /x, port: 1}, periodSeconds: -1}
    """, "/decode/probes/readiness/periodSeconds", "minimum: got -1, want 1"),  # the chart's schema
    ("""\
        decode:
          probes:
            readiness: {httpGet: {path: /x, port: 1}, terminationGracePeriodSeconds: 5}
    """, "/decode/probes/readiness/terminationGracePeriodSeconds", "must not be set"),
])
def test_bad_configurations_name_the_field_and_line(tmp_path, text, pointer, message):
    f = write(tmp_path, "v.yaml", text)
    with pytest.raises(InputError) as err:
        model.load(f)
    assert err.value.pointer == pointer and message in err.value.message
    assert err.value.line is not None and err.value.file == str(f)


def test_manifest_unknown_named_port(tmp_path):
    f = write(tmp_path, "pod.yaml", """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: vllm
            ports: [{containerPort: 8000, name: http}]
            readinessProbe:
              httpGet: {path: /health, port: vllm}
        """)
    with pytest.raises(InputError) as err:
        model.load(f)
    assert err.value.format() == (f"{f}:9: /spec/containers/0/readinessProbe/httpGet/port: unknown named port "
                                  "'vllm' (named ports here: http=8000)")


# --- timelines --------------------------------------------------------------------------------------------

def test_timeline_round_trip(tmp_path):
    tl = timeline.load(DATA / "vllm-cpu-start.yaml")
    again = timeline.parse(__import__("vllmgen.yamlio", fromlist=["x"]).parse_document(
        timeline.dumps(tl), "again"))
    assert again.endpoints == tl.endpoints and again.ready_at == tl.ready_at
    out = tmp_path / "t.json"
    out.write_text(timeline.dumps(tl, out))
    assert timeline.load(out).endpoints == tl.endpoints


@pytest.mark.parametrize("body, pointer, message", [
    ("version: 2\nduration: 1\nendpoints: []\n", "/version", "unsupported timeline version"),
    ("version: 1\nendpoints: [{path: /h, answers: [{at: 0, answer: 200}]}]\n", "", "missing `duration`"),
    ("version: 1\nduration: 9\nendpoints:\n- path: /h\n  answers:\n  - {at: 0, answer: 200}\n"
     "  - {at: 0, answer: 503}\n", "/endpoints/0/answers/1/at", "time order"),
    ("version: 1\nduration: 9\nendpoints:\n- path: /h\n  answers:\n  - {at: 0, answer: maybe}\n",
     "/endpoints/0/answers/0/answer", "HTTP status or one of refused, timeout, hold"),
    ("version: 1\nduration: 9\nendpoints:\n- path: /h\n  answers:\n  - {at: 0, answer: hold}\n",
     "/endpoints/0/answers/0", "needs `hold`"),
    ("version: 1\nduration: 9\nendpoints:\n- path: h\n  answers: [{at: 0, answer: 200}]\n",
     "/endpoints/0/path", "starting with '/'"),
    # a 400-digit number did not fit a float (OverflowError)
    ("version: 1\nduration: 1" + "0" * 400 + "\nendpoints: [{path: /h, answers: [{at: 0, answer: 200}]}]\n",
     "/duration", "a 401-digit number is more than a replay emulates"),
    ("version: 1\nduration: 9\nendpoints: [{path: /h, answers: [{at: 1" + "0" * 400 + ", answer: 200}]}]\n",
     "/endpoints/0/answers/0/at", "is more than a replay emulates"),
    ("version: 1\nduration: 9\nendpoints: [{path: /h, answers: [{at: 0, answer: hold, hold: 1" + "0" * 400
     + "}]}]\n", "/endpoints/0/answers/0/hold", "is more than a replay emulates"),
])
def test_malformed_timelines(tmp_path, body, pointer, message):
    f = tmp_path / "t.yaml"
    f.write_text(body)
    with pytest.raises(InputError) as err:
        timeline.load(f)
    assert err.value.pointer == pointer and message in err.value.message


def test_answers_from_observations_held_and_plain():
    O = timeline.Observation
    obs = [O(0.0, 0.001, "refused"), O(0.1, 0.101, "refused"), O(0.2, 9.2, "status", 503),
           O(9.3, 12.5, "status", 200), O(12.6, 12.603, "status", 200), O(12.7, 12.701, "status", 200)]
    answers = timeline.answers_from(obs)
    assert [(a.at, a.kind, a.status, a.hold) for a in answers] == [
        (0.0, "refused", None, None), (0.2, "hold", None, 9.0), (12.5, "status", 200, None)]
    assert answers[1].then == 503
    ep = timeline.Endpoint("/startupz", None, answers)
    # held until the 200 at 12.5, then answered with its latency (median of the later fast 200s: 3 ms)
    assert ep.respond(5.0).end == pytest.approx(12.503) and ep.respond(5.0).held
    assert ep.respond(1.0).end == 10.0 and ep.respond(1.0).status == 503  # the hold ran out first



def test_a_held_request_holds_as_long_as_the_shortest_hold_seen():
    """The supervisor holds /startupz for a fixed time; an expired hold measured longer (9.4 s) is that hold plus
    the recording client's delay in reading the 503. With the longest as the hold, a request sent 9.2 s before the
    release would be replayed as answered 200 where the server gave 503 at 9.0 s."""
    O = timeline.Observation
    obs = [O(0.0, 9.0, "status", 503), O(9.1, 18.5, "status", 503), O(18.6, 27.6, "status", 503),
           O(27.7, 30.0, "status", 200)]
    (held, ok) = timeline.answers_from(obs)
    assert (held.kind, held.hold, ok.at) == ("hold", 9.0, 30.0)
    ep = timeline.Endpoint("/startupz", None, (held, ok))
    assert (ep.respond(20.8).status, ep.respond(20.8).end) == (503, pytest.approx(29.8))
    assert ep.respond(21.1).status == 200


# --- the command ------------------------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["probe-check", *map(str, args)])


def test_cli_replay_compare_text_and_json(tmp_path):
    guide = DATA / "llm-d-guide-decode.yaml"
    res = invoke(guide, "--replay", DATA / "vllm-cpu-start.yaml", "--compare", DATA / "plain-decode.yaml")
    assert res.exit_code == 0, res.output
    assert "side by side" in res.output and "plain-decode.yaml" in res.output
    res = invoke(guide, "--replay", DATA / "vllm-cpu-start.yaml", "--compare", DATA / "plain-decode.yaml",
                 "--format", "json")
    runs = json.loads(res.output)["runs"]
    guide_v, plain_v = runs[0]["verdict"], runs[1]["verdict"]
    # the llm-d guide's startup probe every 30 s after 15 s: first success at the 60 s tick; plain: every 1 s
    assert guide_v["ready_at"] == pytest.approx(60.006, abs=1e-3)
    assert plain_v["lag"] < 1.0 < guide_v["lag"]
    assert runs[0]["timeline"][0]["event"] == "container-start"


def test_cli_errors_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("version: 1\nduration: 5\nendpoints:\n- path: /v1/models\n  answers: [{at: 0, answer: x}]\n")
    res = invoke(DATA / "llm-d-guide-decode.yaml", "--replay", bad)
    assert res.exit_code == 2
    assert res.output.strip() == (f"error: {bad}:5: /endpoints/0/answers/0/answer: must be an HTTP status or "
                                  "one of refused, timeout, hold, error, stall, not 'x'")
    partial = tmp_path / "v.yaml"
    partial.write_text("decode: {port: 8200}\n")
    res = invoke(partial, "--replay", DATA / "vllm-cpu-start.yaml")  # not values `helm install` takes
    assert res.exit_code == 2 and f"{partial}:1: /decode: the chart refuses these values" in res.output
    assert "missing property 'replicas'" in res.output and res.output.count("\n") == 1
    assert "Traceback" not in res.output
    # an endpoint the timeline never recorded
    sup = write(tmp_path, "sup.yaml", "probeMode: supervised\nstandalone:\n  probes:\n"
                "    readiness: {httpGet: {path: /readyz, port: health}}\n")
    res = invoke(sup, "--replay", DATA / "vllm-cpu-start.yaml")
    assert res.exit_code == 2 and "no answers recorded for GET :8090/readyz" in res.output
    res = invoke(DATA / "llm-d-guide-decode.yaml")
    assert res.exit_code == 2 and "exactly one of --url" in res.output


def test_cli_compare_across_role_names_and_port_map_in_replay(tmp_path):
    # the manifest's role is its object name; the compare file is a values file whose role is decode
    manifest = write(tmp_path, "m.yaml", MANIFEST)
    both = write(tmp_path, "v.yaml", VALUES)
    tl = DATA / "vllm-cpu-start.yaml"  # recorded on port 8200; the decode values probe the health port 8090
    res = invoke(manifest, "--role", "vllm-decode", "--container", "vllm", "--replay", tl,
                 "--compare", f"{both}#prefill", "--port-map", "8000=8200", "--format", "json")
    assert res.exit_code == 0, res.output
    names = [r["verdict"]["name"] for r in json.loads(res.output)["runs"]]
    assert names == ["m.yaml (Deployment/vllm-decode, container vllm)", "v.yaml (prefill)"]
    # a compare file holding one configuration needs no selector, whatever --role says
    plain = DATA / "plain-decode.yaml"
    res = invoke(manifest, "--role", "vllm-decode", "--container", "vllm", "--replay", tl, "--compare", plain)
    assert res.exit_code == 0, res.output
    # one with several: --role is tried, then the error names the roles and the selector
    res = invoke(manifest, "--role", "vllm-decode", "--container", "vllm", "--replay", tl, "--compare", both)
    assert res.exit_code == 2 and res.output == (
        f"error: {both}: (document): this values file has several roles (prefill, decode); choose one with --role "
        f"(a --compare file takes its own as {both}#ROLE[/CONTAINER])\n")
    # --port-map in a replay: probe port 8000 reads the endpoint recorded on 8200
    res = invoke(both, "--role", "prefill", "--replay", tl)
    assert res.exit_code == 2 and "no answers recorded for GET :8000/v1/models" in res.output
    res = invoke(both, "--role", "prefill", "--replay", tl, "--port-map", "8000=8200", "--format", "json")
    assert res.exit_code == 0, res.output
    # startup every 1 s on /v1/models, 200 from 55.9 s: started at the 56 s tick
    assert json.loads(res.output)["runs"][0]["verdict"]["started_at"] == pytest.approx(56.004, abs=1e-3)
    res = invoke(both, "--role", "prefill", "--replay", tl, "--port-map", "8000=8300")
    assert res.exit_code == 2 and "GET :8300/v1/models (--port-map 8000=8300)" in res.output


@pytest.mark.parametrize("option, value, minimum", [
    ("--resync-period", "0", "1"),  # looped forever: every resync requeued the next one at the same instant
    ("--resync-period", "1e-9", "1"),
    ("--resync-period", "-5", "1"),
    ("--record-interval", "1e-9", "0.01"),
    ("--pleg-delay", "-1", "0"),
    ("--endpoint-delay", "nan", "0"),
])
def test_cli_zero_or_negative_periods_are_refused(option, value, minimum):
    res = invoke(DATA / "plain-decode.yaml", "--replay", DATA / "vllm-cpu-start.yaml", option, value)
    assert res.exit_code == 2, res.output
    assert res.output.startswith(f"error: {option}: (document): must be a number of seconds from {minimum} to "
                                 "21600, not ") and res.output.count("\n") == 1, res.output


def test_cli_an_endless_live_duration_is_refused():
    """`--duration 1e400` is read as inf: a live run went on forever (only a replay checked it)."""
    res = subprocess.run([sys.executable, "-m", "vllmgen", "probe-check", str(DATA / "plain-decode.yaml"), "--url",
                          "http://127.0.0.1:9", "--duration", "1" + "0" * 400], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and res.stderr == ("error: --duration: (document): must be a number of seconds from "
                                                  "0 to 21600, not inf\n"), res.stderr


def test_cli_a_400_digit_timeline_duration_is_one_line(tmp_path):
    tl = write(tmp_path, "t.yaml", "version: 1\nduration: 1" + "0" * 400 + "\nendpoints:\n"
               "- path: /v1/models\n  answers: [{at: 0, answer: 200}]\n")
    res = invoke(DATA / "plain-decode.yaml", "--replay", tl)
    assert res.exit_code == 2 and res.output == (f"error: {tl}:2: /duration: a 401-digit number is more than a "
                                                 "replay emulates (at most 21600 s)\n"), res.output


def test_cli_delete_at_bounds(tmp_path):
    tl = DATA / "vllm-cpu-start.yaml"
    for bad in ("-1", "120", "nan"):
        res = invoke(DATA / "plain-decode.yaml", "--replay", tl, "--delete-at", bad)
        assert res.exit_code == 2 and res.output.startswith("error: --delete-at: (document): must be a time within "
                                                            "the run (0 to 120 s)"), res.output
    huge = write(tmp_path, "g.yaml", """\
        decode:
          port: 8200
          terminationGracePeriodSeconds: 100000
          probes:
            readiness: {httpGet: {path: /v1/models, port: vllm}}
        """)
    res = invoke(huge, "--replay", tl, "--delete-at", "100")
    assert res.exit_code == 2 and "grace period would need emulating until" in res.output


# --- the values vllmgen emits -----------------------------------------------------------------------------

def _emitted(tmp_path: Path, mode: str) -> Path:
    from vllmgen import spec, values

    text = spec.default_spec_text() + f"probes: {{mode: {mode}}}\n"
    out = tmp_path / f"{mode}.yaml"
    out.write_text(values.render(spec.parse_spec(text, "spec.yaml"), ["decode"]))
    return out


def test_emitted_values_replayed_supervised_vs_plain_vs_llmd_guide(tmp_path):
    sup, plain = _emitted(tmp_path, "supervised"), _emitted(tmp_path, "plain")
    res = invoke(sup, "--replay", DATA / "vllmgen-serve-start.yaml", "--compare", plain,
                 "--compare", DATA / "llm-d-guide-decode.yaml", "--lead", "4.2", "--format", "json")
    assert res.exit_code == 0, res.output
    v = [r["verdict"] for r in json.loads(res.output)["runs"]]
    # supervised: the held /startupz answers 2 ms after the model; readiness runs at once
    assert v[0]["lag"] == pytest.approx(0.0036, abs=1e-3) and v[0]["restarts"] == 0
    # plain: startup every 1 s on /v1/models -> within 1 s; the llm-d guide's 30 s period lags by seconds
    assert 0 < v[1]["lag"] <= 1.0 and v[2]["lag"] > 3.0
    # supervised probing costs: one /startupz per 10 s while loading, then readiness 5 s + liveness 10 s
    assert v[0]["requests_per_s_ready"] == pytest.approx(0.3, abs=0.03)


def test_polled_change_snaps_to_a_long_poll_release():
    O = timeline.Observation
    readyz = [O(4.0, 4.001, "status", 503), O(4.1, 4.101, "status", 200)]
    # no exact time known: the change is placed at the first sample that saw it
    assert [a.at for a in timeline.answers_from(readyz)] == [0.0, 4.1]
    # /startupz released a held request at 4.05: the server's state changed then, inside the polling window
    assert [a.at for a in timeline.answers_from(readyz, exact=[1.0, 4.05])] == [0.0, 4.05]


def test_one_slow_answer_is_not_a_long_poll():
    O = timeline.Observation
    # /livez answered 200 in 1 s once on a loaded node: that is a slow answer, not a held request
    livez = [O(0.0, 0.001, "refused"), O(0.1, 0.11, "status", 200), O(0.2, 1.2, "status", 200),
             O(1.3, 1.31, "status", 200)]
    assert [(a.at, a.kind, a.status) for a in timeline.answers_from(livez)] == [
        (0.0, "refused", None), (0.1, "status", 200)]


# --- the chart's rendered manifests ----------------------------------------------------------------------

def _rendered(tmp_path: Path, layout: str) -> Path:
    from tests import chartcheck
    from vllmgen import spec, values

    s = spec.parse_spec(spec.default_spec_text() + f"layout: {layout}\n", "spec.yaml")
    texts = chartcheck.render_texts(values.values_dict(s))
    out = tmp_path / f"{layout}.yaml"
    out.write_text("\n---\n".join(t for p, t in sorted(texts.items()) if not p.endswith("NOTES.txt")))
    return out


def test_chart_rendered_manifests(tmp_path):
    sim = _rendered(tmp_path, "simulated")
    res = invoke(sim, "--replay", DATA / "vllm-cpu-start.yaml")
    assert res.exit_code == 2 and "several containers have probes" in res.output and "--role" in res.output
    # the simulated layout budgets 15 s for the simulator: a real vLLM start (56 s) would be restarted in a loop
    res = invoke(sim, "--role", "decode", "--replay", DATA / "vllm-cpu-start.yaml", "--format", "json")
    run = json.loads(res.output)["runs"][0]
    assert "Deployment/rel-vllm-decode" in run["verdict"]["name"]
    assert run["verdict"]["ready_at"] is None and run["verdict"]["restarts"] >= 2
    kill = next(r for r in run["timeline"] if r.get("event") == "kill")
    assert "startup probe failed 15x" in kill["detail"]
    # single-node is supervised: the health port is resolved from the container's named port
    res = invoke(_rendered(tmp_path, "single-node"), "--replay", DATA / "vllmgen-serve-start.yaml",
                 "--format", "json")
    v = json.loads(res.output)["runs"][0]["verdict"]
    assert v["lag"] == pytest.approx(0.004, abs=2e-3) and v["restarts"] == 0


def test_prestop_hooks_are_read(tmp_path):
    # vllmgen's plain mode waits in a preStop sleep (the drain); the supervisor drains by itself
    assert model.load(_emitted(tmp_path, "plain")).pre_stop.seconds > 0
    assert model.load(_emitted(tmp_path, "supervised")).pre_stop.seconds == 0
    hooks = {"{sleep: {seconds: 7}}": (7.0, ""), "{exec: {command: [sleep, '5']}}": (5.0, ""),
             "{exec: {command: [/bin/sh, -c, 'sleep 12']}}": (12.0, ""),
             "{exec: {command: [/bin/drain.sh]}}": (0.0, "exec hook's duration cannot be read"),
             "{httpGet: {path: /drain, port: 8000}}": (0.0, "preStop httpGet hook's duration cannot be known")}
    for hook, (seconds, note) in hooks.items():
        f = write(tmp_path, "pod.yaml", f"""\
            apiVersion: v1
            kind: Pod
            metadata: {{name: p}}
            spec:
              containers:
              - name: c
                lifecycle: {{preStop: {hook}}}
                readinessProbe: {{httpGet: {{path: /r, port: 8000}}}}
            """)
        got = model.load(f).pre_stop
        assert got.seconds == seconds and note in got.note, hook
    f = write(tmp_path, "bad.yaml", "standalone:\n  preStopSleepSeconds: -1\n  probes:\n"
              "    readiness: {httpGet: {path: /r, port: 8000}}\n")
    with pytest.raises(InputError) as err:
        model.load(f)
    assert (err.value.file, err.value.pointer) == (str(f), "/standalone/preStopSleepSeconds")
    assert f.read_text().splitlines()[err.value.line - 1].strip() == "preStopSleepSeconds: -1"
    assert err.value.message.startswith("the chart refuses these values")
    assert "minimum: got -1, want 0" in err.value.message
