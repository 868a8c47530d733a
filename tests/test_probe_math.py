"""Probe math with hand-checked numbers (worked out on paper from the constants' reasons)."""

import pytest

from vllmgen import probes
from vllmgen.budget import startup_budget
from vllmgen.spec import load_spec, parse_spec

QWEN8B = "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n"


def spec(extra: str = "", **kw) -> dict:
    return parse_spec(QWEN8B + extra, "t.yaml", **kw)


def test_budget_of_the_default_spec_is_download_plus_load_plus_compile_plus_start_times_safety():
    # 8.2e9 params x 2 bytes = 16.4 GB; 16.4 GB / 100 MB/s = 164 s; / 500 MB/s = 32.8 s; + 175 + 95 = 466.8 s
    budget = startup_budget(load_spec())
    assert budget.estimate == pytest.approx(466.8)
    assert budget.seconds == 701  # 466.8 x 1.5 = 700.2, rounded up
    assert budget.arithmetic() == "(164 download + 33 load + 175 compile + 95 start) x 1.5 = 701 s"


def test_cached_weights_download_nothing():
    # pvc:// is cached: 32.8 + 175 + 95 = 302.8 s x 1.5 = 454.2 -> 455
    s = parse_spec("model: {source: pvc://models/qwen, parameters: 8.2e9, dtype: bfloat16}\n", "t.yaml")
    assert s["startup"]["cached"] is True
    assert startup_budget(s).seconds == 455


def test_weights_gib_and_float32_parameters():
    # 10 GiB = 10.737 GB: /100 MB/s = 107.37 s, /500 MB/s = 21.47 s; + 270 = 398.85 x 1.5 = 598.3 -> 599
    s = parse_spec("model: {source: hf://a/b, weightsGiB: 10}\n", "t.yaml")
    assert startup_budget(s).seconds == 599
    # 1e9 float32 params = 4 GB: 40 + 8 + 270 = 318 x 2 = 636
    s = parse_spec("model: {source: hf://a/b, parameters: 1.0e9, dtype: float32}\nstartup: {safetyFactor: 2}\n",
                   "t.yaml")
    assert startup_budget(s).seconds == 636


def test_wide_ep_adds_group_setup():
    # (466.8 + 600) x 1.5 = 1600.2 -> 1601
    assert startup_budget(spec(layout="wide-ep")).seconds == 1601


def test_explicit_budget_replaces_the_estimate():
    s = spec("startup: {budgetSeconds: 1800}\nprobes: {mode: plain}\n")
    assert startup_budget(s).seconds == 1800
    p = probes.probes_for(s, "standalone")
    assert p.startup["failureThreshold"] == 1800 and p.startup["periodSeconds"] == 1


def test_plain_probes_follow_the_model_within_a_second():
    p = probes.probes_for(spec("probes: {mode: plain}\n"), "standalone")
    assert p.startup == {"httpGet": {"path": "/v1/models", "port": "vllm"}, "initialDelaySeconds": 0,
                         "periodSeconds": 1, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 701}
    # readiness timeout: ceil(21.5 ms x 50) = 2 s; liveness: ceil(21.5 ms x 200) = 5 s
    assert p.readiness["httpGet"]["path"] == "/v1/models"
    assert (p.readiness["periodSeconds"], p.readiness["timeoutSeconds"], p.readiness["failureThreshold"]) == (5, 2, 2)
    assert p.liveness["httpGet"] == {"path": "/health", "port": "vllm"}
    assert (p.liveness["periodSeconds"], p.liveness["timeoutSeconds"], p.liveness["failureThreshold"]) == (10, 5, 3)


def test_plain_probes_use_health_under_an_api_key():
    # /v1/models answers 401 under --api-key: the pod would never turn Ready
    p = probes.probes_for(spec("probes: {mode: plain}\nengine: {apiKeySecretName: vllm-key}\n"), "standalone")
    assert p.startup["httpGet"]["path"] == "/health"
    assert p.readiness["httpGet"]["path"] == "/health"


def test_supervised_probes_long_poll_startupz():
    p = probes.probes_for(spec(), "decode")
    # timeout = period = 10 s; the ceiling is 3 x the 701 s budget = 2103 s: ceil(2103 / 10) = 211 periods
    assert p.startup == {"httpGet": {"path": "/startupz", "port": "health"}, "initialDelaySeconds": 0,
                         "periodSeconds": 10, "timeoutSeconds": 10, "successThreshold": 1, "failureThreshold": 211}
    assert (p.budget.seconds, p.ceiling, p.startup_seconds) == (701, 2103, 2103)
    assert p.readiness["httpGet"] == {"path": "/readyz", "port": "health"}
    assert p.liveness["httpGet"] == {"path": "/livez", "port": "health"}
    # same margins over the measured latency as plain mode: 2 s and 5 s; readiness needs two failures
    assert (p.readiness["periodSeconds"], p.readiness["timeoutSeconds"], p.readiness["failureThreshold"]) == (5, 2, 2)
    assert (p.liveness["periodSeconds"], p.liveness["timeoutSeconds"], p.liveness["failureThreshold"]) == (10, 5, 3)
    assert probes.startup_hold_seconds(10) == pytest.approx(9.75)


def test_llmd_guide_lag_versus_generated():
    """llm-d's readiness-probe guide probes startup every 30 s; the generated plain probes every 1 s."""
    plain = probes.probes_for(spec("probes: {mode: plain}\n"), "standalone")
    assert plain.startup["periodSeconds"] < 30 and plain.startup["periodSeconds"] == 1


def test_drain_window_sets_the_grace_period():
    sup = probes.drain_window(spec())
    assert (sup.total, sup.pre_stop_sleep_s) == (55, 0)  # 10 endpoint + 30 vLLM drain + 10 teardown + 5 kill
    plain = probes.drain_window(spec("probes: {mode: plain}\n"))
    assert (plain.total, plain.pre_stop_sleep_s) == (50, 10)  # the preStop sleep waits the endpoint drain
    custom = probes.drain_window(spec("engine: {shutdownTimeoutSeconds: 120, endpointDrainSeconds: 15}\n"))
    assert custom.total == 15 + 120 + 10 + 5


def test_simulated_budget():
    s = parse_spec("model: {source: hf://random/random}\n", "t.yaml", layout="simulated")
    assert startup_budget(s).seconds == 15  # 10 s simulator start x 1.5
    assert probes.probes_for(s, "decode").startup["failureThreshold"] == 15


def test_supervised_ceiling_is_three_budgets_and_an_explicit_budget_stays_as_given():
    assert probes.probes_for(spec(), "standalone").startup_seconds == 3 * 701
    explicit = probes.probes_for(spec("startup: {budgetSeconds: 900}\n"), "standalone")
    assert explicit.startup_seconds == 900 and explicit.startup["failureThreshold"] == 90
    plain = probes.probes_for(spec("probes: {mode: plain}\n"), "standalone")
    assert plain.startup_seconds == 701 and plain.ceiling is None


def test_stall_window_is_computed_from_the_layout_and_explained():
    from vllmgen.budget import stall_window

    single = stall_window(spec())
    assert single.seconds == 50 and single.arithmetic() == "(25 quiet start) x 2 = 50 s"
    # ranks of a multi-pod group wait for peers that may still pull the image: (25 + 300) x 2
    wide = stall_window(spec(layout="wide-ep"))
    assert wide.seconds == 650 and wide.arithmetic() == "(25 quiet start + 300 peers' image pull) x 2 = 650 s"
    explicit = stall_window(spec("startup: {stallSeconds: 45}\n"))
    assert explicit.seconds == 45 and explicit.arithmetic() == "explicit startup.stallSeconds = 45 s"


def test_supervised_startup_note_explains_the_ceiling_and_the_stall_window():
    note = probes.probes_for(spec(), "standalone").notes["startup"]
    assert "failureThreshold 211 x 10 s covers the ceiling 2103 s = 3 x the startup budget (164 download + 33 " \
           "load + 175 compile + 95 start) x 1.5 = 701 s" in note
    assert "no progress (no log line, no downloaded byte, no CPU time, no storage read) for the stall window (25 " \
           "quiet start) x 2 = 50 s" in note


def test_default_terms_are_the_named_parts_of_a_measured_gpu_cold_start():
    """The schema's defaults are the sums of the parts budget.py names and explains (one fact, two places)."""
    from vllmgen import budget
    from vllmgen.schemas import load

    startup = load("model-spec")["properties"]["startup"]["properties"]
    assert startup["compileSeconds"]["default"] == sum(s for _, s in budget.COMPILE_PARTS)
    assert startup["processStartSeconds"]["default"] == sum(s for _, s in budget.START_PARTS)
    terms = {t.name: t.reason for t in startup_budget(spec()).terms}
    for name, _ in budget.COMPILE_PARTS:
        assert name in terms["compile"]
    for name, _ in budget.START_PARTS:
        assert name in terms["start"]


@pytest.mark.parametrize("mode,covers", [("plain", 253), ("supervised", 253)])
def test_default_budget_covers_the_measured_h100_cold_start_with_margin(mode, covers):
    """vLLM 0.26 on one H100, a 1.06e9-parameter bf16 Llama from local disk, every cache cold: 253 s to /health bare
    (197-219 s to Ready behind the supervisor). The plain startup probe must outlast it by half again."""
    s = parse_spec("model: {source: pvc://models/llama-1b, parameters: 1.06e9, dtype: bfloat16}\n"
                   f"probes: {{mode: {mode}}}\n", "t.yaml")
    p = probes.probes_for(s, "standalone")
    assert p.budget.seconds >= 1.5 * covers
    assert p.startup_seconds >= p.budget.seconds


def test_a_warm_cache_claim_is_explained_in_the_compile_term():
    s = spec("caches: {claim: model-cache}\n")
    (compile_term,) = [t for t in startup_budget(s).terms if t.name == "compile"]
    assert "69.6 s to Ready against 192.5 s cold" in compile_term.reason
    (cold,) = [t for t in startup_budget(spec()).terms if t.name == "compile"]
    assert "69.6" not in cold.reason
