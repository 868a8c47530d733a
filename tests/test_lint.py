"""`vllmgen lint`: every rule fires on a bad file (at the right line) and stays quiet on good ones; the
llm-d guide's blocks lint the way the guide intends; vllmgen's own values lint clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vllmgen.lint.rules import R
from vllmgen.lint.runner import Linter

DATA = Path(__file__).parent / "data" / "lint"
EXPECT = re.compile(r"#\s*expect:\s*((?:VG\d{3}\s*)+)")
FIXTURES = sorted((DATA / "good").glob("*.yaml")) + sorted((DATA / "bad").glob("*.yaml"))


def expected(path: Path) -> set[tuple[int, str]]:
    """(line, rule) pairs a fixture announces with `# expect: VG001 [VG002]` comments."""
    out = set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        m = EXPECT.search(line)
        if m:
            out |= {(lineno, rule) for rule in m.group(1).split()}
    return out


def lint(*paths, **kw):
    return Linter(**kw).lint_paths([str(p) for p in paths])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_findings_match_expect_comments(path):
    result = lint(path)
    assert not result.unusable
    assert {(f.line, f.rule) for f in result.findings} == expected(path)


def test_every_rule_has_a_bad_fixture_and_good_fixtures_are_clean():
    fired = {rule for p in (DATA / "bad").glob("*.yaml") for _, rule in expected(p)}
    # VG000 (schema) is covered against the chart's schema below; VG063 (objects colliding) needs a rendered
    # release: tests/test_values_rendered.py
    assert set(R) - {"VG000", "VG063"} <= fired
    for p in (DATA / "good").glob("*.yaml"):
        assert all(rule == "VG002" for _, rule in expected(p)), p  # info at most


def test_bad_fixture_file_names_name_their_rule():
    for p in (DATA / "bad").glob("*.yaml"):
        assert p.name[:5] in {rule for _, rule in expected(p)}, p


# --- llm-d's readiness-probe guide: its probes, in its shapes (tests/data/lint/llm-d-guide) --------------

def test_llmd_guide_blocks_lint_as_the_guide_intends():
    """The guide wants model-aware probes on the serving port: vllmgen agrees with ports and paths (no VG001,
    VG003, VG004) and only objects to the 30 s startup period (Ready lags the model by up to 30 s)."""
    result = lint(DATA / "llm-d-guide")
    assert result.files_checked == 3 and not result.unusable
    by_file = {}
    for f in result.findings:
        by_file.setdefault(Path(f.file).name, []).append(f.rule)
    assert by_file == {"recommended-probes.yaml": ["VG008"], "simulated-decode-values.yaml": ["VG008"]}


def test_llmd_guide_decode_values_with_probes_on_the_sidecar_port_are_caught(tmp_path):
    """The guide's table says decode is '8200 -> 8000'; a reader who believes it probes 8000 on decode."""
    text = (DATA / "llm-d-guide" / "simulated-decode-values.yaml").read_text().replace("port: 8200", "port: 8000")
    f = tmp_path / "values.yaml"
    f.write_text(text)
    rules = [x.rule for x in lint(f).findings]
    assert rules.count("VG001") == 3


# --- vllmgen's own values: clean; each mutation a reviewer would catch is caught -------------------------

SPECS = {
    "default": "",
    "plain": "probes: {mode: plain}\n",
    "plain-api-key": "probes: {mode: plain}\nengine: {apiKeySecretName: vllm-key, tensorParallelSize: 2}\n",
    "supervised-api-key": "engine: {apiKeySecretName: vllm-key}\n",
}


def generated_values(tmp_path, layout: str, extra: str) -> Path:
    from vllmgen.spec import parse_spec
    from vllmgen.values import render

    text = "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n" + extra
    spec = parse_spec(text, "spec.yaml", layout=layout)
    out = tmp_path / f"{layout}.yaml"
    out.write_text(render(spec))
    return out


@pytest.mark.parametrize("layout", ["simulated", "single-node", "wide-ep"])
@pytest.mark.parametrize("variant", sorted(SPECS))
def test_generated_values_lint_clean(tmp_path, layout, variant):
    path = generated_values(tmp_path, layout, SPECS[variant])
    result = lint(path)
    assert not result.unusable
    assert [f for f in result.findings if f.severity != "info"] == []
    # plain + API key uses /health for startup/readiness: the info note says what /health does not see
    from vllmgen.yamlio import load_document

    values = load_document(path).data
    plain_with_key = values["probeMode"] == "plain" and values["apiKey"]["secretName"] != ""
    assert {f.rule for f in result.findings} == ({"VG002"} if plain_with_key else set())


def mutate(path: Path, fn) -> Path:
    from vllmgen.yamlio import dump, load_document

    data = load_document(path).data
    fn(data)
    path.write_text(dump(data))
    return path


MUTATIONS = {
    # decode probes pointed at the port `health`, which plain mode does not declare
    "VG001": ("plain", "simulated", lambda v: v["decode"]["probes"]["readiness"]["httpGet"].update(port="health")),
    # liveness moved to /v1/models
    "VG003": ("plain", "single-node",
              lambda v: v["standalone"]["probes"]["liveness"]["httpGet"].update(path="/v1/models")),
    # an API key switched on after the values were generated with /v1/models probes
    "VG004": ("plain", "single-node", lambda v: v["apiKey"].update(secretName="vllm-key")),
    # startup probe dropped
    "VG005": ("plain", "single-node", lambda v: v["standalone"]["probes"].pop("startup")),
    # startup budget cut below the spec's estimate
    "VG006": ("default", "single-node",
              lambda v: v["standalone"]["probes"]["startup"].update(failureThreshold=10)),
    "VG007": ("plain", "single-node",
              lambda v: v["standalone"]["probes"]["readiness"].update(timeoutSeconds=30)),
    "VG008": ("plain", "single-node",
              lambda v: v["standalone"]["probes"]["startup"].update(periodSeconds=30)),
    # the pod requests 2 GPUs where the spec the supervisor reads runs tensor-parallel 1
    "VG009": ("default", "single-node",
              lambda v: [v["standalone"]["resources"][side].update({"nvidia.com/gpu": 2})
                         for side in ("limits", "requests")]),
    # the spec the supervisor reads asks for 8 data-parallel ranks in a group of 2 pods x 1
    "VG010": ("default", "wide-ep", lambda v: v["spec"]["engine"].update(dataParallelSize=8)),
    "VG011": ("default", "single-node",
              lambda v: v["standalone"]["env"].append({"name": "HF_TOKEN", "value": "hf_" + "x1" * 17})),
}
#: What else a mutation is: a spec edited by hand breaks its own cross-field rules (VG000); a rendered field
#: edited after generation disagrees with the spec the values carry (VG017).
ALSO = {"VG009": {"VG017"}, "VG010": {"VG000"}}


@pytest.mark.parametrize("rule", sorted(MUTATIONS))
def test_values_mutation_is_caught(tmp_path, rule):
    variant, layout, fn = MUTATIONS[rule]
    path = mutate(generated_values(tmp_path, layout, SPECS[variant]), fn)
    rules = {f.rule for f in lint(path).findings if f.severity != "info"}
    assert rules == {rule} | ALSO.get(rule, set())


def test_startup_budget_rule_uses_the_specs_estimate(tmp_path):
    from vllmgen.budget import startup_budget
    from vllmgen.yamlio import load_document

    path = generated_values(tmp_path, "single-node", "")
    spec = load_document(path).data["spec"]
    need = startup_budget(spec).seconds
    probe = load_document(path).data["standalone"]["probes"]["startup"]
    ok = -(-need // probe["periodSeconds"])  # the smallest threshold that covers the budget
    mutate(path, lambda v: v["standalone"]["probes"]["startup"].update(failureThreshold=ok))
    assert lint(path).findings == []
    mutate(path, lambda v: v["standalone"]["probes"]["startup"].update(failureThreshold=ok - 1))
    (finding,) = lint(path).findings
    assert finding.rule == "VG006" and f"{need} s" in finding.message
    assert f"failureThreshold: {ok}" in finding.fix


# --- what the chart renders from vllmgen's values lints clean too -------------------------------------------

@pytest.mark.parametrize("layout", ["simulated", "single-node", "wide-ep"])
@pytest.mark.parametrize("variant", sorted(SPECS))
def test_rendered_chart_objects_lint_clean(tmp_path, layout, variant):
    """Values -> the real Helm engine -> Deployments / LeaderWorkerSets: the same rules over the rendered pods
    (ports resolved from the containers, --port and parallel sizes parsed from the rendered command lines)."""
    from tests.chartcheck import render_objects, workloads as server_workloads
    from vllmgen.yamlio import dump, load_document

    values = load_document(generated_values(tmp_path, layout, SPECS[variant])).data
    objs = render_objects(values)
    out = tmp_path / "rendered.yaml"
    out.write_text("---\n".join(dump(o) for o in objs))
    result = lint(out)
    workloads = server_workloads(objs)  # the model servers; the endpoint picker is not one
    assert result.documents_checked == len(objs) and workloads
    assert [f for f in result.findings if f.severity != "info"] == []
    plain_with_key = values["probeMode"] == "plain" and values["apiKey"]["secretName"] != ""
    # startup + readiness on /health per rendered role
    assert len(result.findings) == (2 * len(workloads) if plain_with_key else 0)


def test_rendered_decode_probe_moved_to_sidecar_port_is_caught(tmp_path):
    """The chart refuses such values itself; a hand-edited rendered manifest is lint's to catch."""
    from tests.chartcheck import render_objects
    from vllmgen.yamlio import dump, load_document

    values = load_document(generated_values(tmp_path, "simulated", SPECS["plain"])).data
    objs = render_objects(values)
    (decode,) = [o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("decode")]
    (vllm,) = [c for c in decode["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"]
    vllm["readinessProbe"]["httpGet"]["port"] = 8000
    out = tmp_path / "rendered.yaml"
    out.write_text("---\n".join(dump(o) for o in objs))
    (finding,) = lint(out).findings
    assert finding.rule == "VG001" and "routing sidecar" in finding.message
    assert finding.pointer.endswith("/readinessProbe/httpGet/port")


# --- schema errors against the chart's values schema (VG000) ---------------------------------------------

def test_schema_errors_name_pointer_and_line(tmp_path):
    from vllmgen.schemas import chart_values_schema

    path = generated_values(tmp_path, "single-node", "")
    text = path.read_text().replace("probeMode:", "probeMod:", 1).replace("\n  replicas: 1\n", "\n  replicas: one\n")
    path.write_text(text)
    result = lint(path, schema=chart_values_schema())
    errors = sorted((f.line, f.pointer, f.message) for f in result.findings if f.rule == "VG000")
    lines = text.splitlines()
    assert len(errors) == 2
    (l1, p1, m1), (l2, p2, m2) = errors
    assert lines[l1 - 1].startswith("probeMod:") and p1 == "" and "'probeMod' was unexpected" in m1
    assert lines[l2 - 1].strip() == "replicas: one" and p2 == "/standalone/replicas"
    assert "'one' is not of type 'integer'" in m2


def test_schema_validator_is_built_once_per_run(tmp_path, monkeypatch):
    from vllmgen.lint import schema_check
    from vllmgen.schemas import chart_values_schema

    built = []
    real = schema_check.SchemaChecker.__init__

    def counting(self, *a, **kw):
        built.append(1)
        real(self, *a, **kw)

    monkeypatch.setattr(schema_check.SchemaChecker, "__init__", counting)
    files = [generated_values(tmp_path / str(i), "single-node", "") for i in range(5)
             if (tmp_path / str(i)).mkdir() is None]
    result = lint(*files, schema=chart_values_schema())
    assert result.files_checked == 5 and result.findings == [] and len(built) == 1


def test_cli_checks_values_against_the_charts_schema_by_default(tmp_path):
    from typer.testing import CliRunner

    from vllmgen.cli import app

    path = generated_values(tmp_path, "simulated", "")
    path.write_text(path.read_text().replace("servicePort: 8000", "servicePort: 80000"))
    r = CliRunner().invoke(app, ["lint", str(path)])
    assert r.exit_code == 1
    assert ": VG000 error: /routing/servicePort: 80000 is greater than the maximum of 65535" in r.stdout


def test_triton_values_and_rendered_objects_lint_clean(tmp_path):
    from tests.chartcheck import render_objects
    from vllmgen.yamlio import dump, load_document

    path = generated_values(tmp_path, "single-node", "server: triton\n")
    assert lint(path).findings == []
    out = tmp_path / "rendered.yaml"
    out.write_text("---\n".join(dump(o) for o in render_objects(load_document(path).data)))
    assert lint(out).findings == []


def test_values_the_chart_refuses_are_a_finding_at_the_line_its_message_names(tmp_path):
    """Decode probes on the routing sidecar's port: the chart's own check refuses to render them; lint says so
    with Helm's message, at the values line of the probe the message names."""
    path = mutate(generated_values(tmp_path, "simulated", SPECS["plain"]),
                  lambda v: v["decode"]["probes"]["readiness"]["httpGet"].update(port=8000))
    (finding,) = lint(path).findings
    lines = path.read_text().splitlines()
    assert finding.rule == "VG000" and "the chart refuses these values" in finding.message
    assert "decode.probes.readiness targets port 8000" in finding.message
    assert lines[finding.line - 1].strip() == "readiness:" and finding.pointer == "/decode/probes/readiness"
