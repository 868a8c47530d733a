"""Every guide's YAML blocks are produced by vllmgen (and still are) or lint and render as the guide says, and
every vllmgen command shown runs (tests/guidecheck.py has the rules)."""

from __future__ import annotations

import pytest

from tests.guidecheck import GUIDES, blocks, check_guide

GUIDE_FILES = sorted(GUIDES.glob("*.md"))
EXPECTED = {"readiness-probes.md", "simulated-accelerators.md", "single-node.md", "wide-ep-lws.md",
            "ci-linting.md", "autoscaling.md", "pd-disaggregation.md", "lora-adapters.md", "multi-node.md"}


def test_the_guides_exist():
    assert EXPECTED <= {p.name for p in GUIDE_FILES}


@pytest.mark.parametrize("guide", GUIDE_FILES, ids=lambda p: p.name)
def test_guide(guide):
    assert check_guide(guide) == []


@pytest.mark.parametrize("guide", GUIDE_FILES, ids=lambda p: p.name)
def test_guide_yaml_blocks_are_all_checked(guide):
    """No YAML block escapes: each is generated, or linted (and rendered / validated) by check_guide."""
    for block in blocks(guide.read_text()):
        assert block.lang in ("yaml", "bash", "text", "json", "console", ""), (guide.name, block.line, block.lang)


def test_a_drifted_generated_block_is_caught(tmp_path):
    guide = tmp_path / "g.md"
    guide.write_text("<!-- vllmgen: values --layout simulated --role decode -->\n```yaml\nlayout: simulated\n```\n")
    (problem,) = check_guide(guide)
    assert "differs from `vllmgen values --layout simulated --role decode`" in problem


def test_a_failing_command_and_an_unannounced_finding_are_caught(tmp_path):
    guide = tmp_path / "g.md"
    guide.write_text("```bash\nvllmgen validate missing.yaml\n```\n\n"
                     "```yaml\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                     "    - name: vllm\n      image: vllm/vllm-openai:v0.33.0\n"
                     "      startupProbe: {httpGet: {path: /v1/models, port: 8000}, periodSeconds: 30,"
                     " failureThreshold: 100}\n```\n")
    problems = check_guide(guide)
    assert any("`vllmgen validate missing.yaml` exited 2" in p for p in problems)
    assert any("vllmgen lint finds ['VG008'], the guide announces nothing" in p for p in problems)


def test_an_announced_refusal_is_checked_against_the_error_it_writes(tmp_path):
    guide = tmp_path / "g.md"
    refused = "<!-- file: s.yaml -->\n```text\nmodel: {source: hf://Qwen/Qwen3-0.6B}\nlayout: nowhere\n```\n\n"
    guide.write_text(refused + "<!-- vllmgen: validate s.yaml # exit 2 -->\n```text\nerror: something else\n```\n")
    (problem,) = check_guide(guide)
    assert "differs from `vllmgen validate s.yaml`" in problem
    check_guide(guide, update=True)
    text = guide.read_text()
    assert "error: s.yaml:2: /layout:" in text and check_guide(guide) == []
    # a command that does not refuse is reported, not written into the block
    guide.write_text(refused.replace("layout: nowhere", "layout: simulated")
                     + "<!-- vllmgen: validate s.yaml # exit 2 -->\n```text\nerror: x\n```\n")
    (problem,) = check_guide(guide)
    assert "vllmgen validate s.yaml exited 0" in problem


GATEWAY = ("```yaml\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\nspec:\n"
           "  gatewayClassName: agentgateway\n  listeners:\n    - {{name: http, port: 80, protocol: HTTP}}\n```\n\n")
ROUTED = ("<!-- file: spec.yaml -->\n```text\nmodel: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"
          "layout: simulated\nrouting: {gateway: {name: inference-gateway}}\n```\n\n"
          "```bash\nvllmgen values --spec spec.yaml -o values.yaml\nhelm install sim charts/vllm -f values.yaml\n```\n")


def test_a_guide_gateway_is_checked_against_its_crd_and_the_route_must_attach_to_it(tmp_path):
    guide = tmp_path / "g.md"
    guide.write_text(GATEWAY.format(name="inference-gateway") + ROUTED)
    assert check_guide(guide) == []
    guide.write_text(GATEWAY.format(name="other-gateway") + ROUTED)
    (problem,) = check_guide(guide)
    assert "attaches to Gateway inference-gateway, which the guide does not declare (it declares other-gateway)" \
        in problem
    guide.write_text(GATEWAY.format(name="inference-gateway").replace("gatewayClassName", "gatewayClass") + ROUTED)
    problems = check_guide(guide)
    assert any("'gatewayClass' was unexpected" in p for p in problems) and \
        any("'gatewayClassName' is a required property" in p for p in problems)
