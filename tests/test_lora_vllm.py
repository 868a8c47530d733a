"""LoRA adapters on the real vLLM server (CPU build), one server for the whole module (a start costs 40-90 s
here): two tiny adapters built locally, /readyz 503 naming them until both are listed in /v1/models, a completion
through each, then one unloaded at runtime (VLLM_ALLOW_RUNTIME_LORA_UPDATING) turns /readyz 503 naming it, and
loading it again turns it 200. The tests run in file order."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.support.vllm_server import Supervisor, cpu_env, free_port, tiny_spec

pytestmark = pytest.mark.vllm

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
ADAPTERS = ("sql", "chat")
#: How long a change on vLLM's side may take to show on /readyz: the monitor polls every 0.25 s once ready; the
#: bound is generous for a saturated machine, the test returns as soon as it shows.
SHOWS_WITHIN_S = 60
#: Bound on one start: the supervisor itself ends a start that stops progressing (and the test fails at once on its
#: exit), so this only bounds a start that keeps progressing; imports alone took 220 s here beside other servers.
START_DEADLINE_S = 1800
#: How often the test polls /readyz while vLLM starts.
POLL_S = 0.1


@pytest.fixture(scope="module")
def adapters(tmp_path_factory) -> dict:
    """{name: folder} of two different rank-8 adapters for the tiny model (built in a child: torch stays out)."""
    root = tmp_path_factory.mktemp("loras")
    folders = {}
    for variant, name in enumerate(ADAPTERS, 1):
        built = subprocess.run([sys.executable, "-m", "tests.support.tiny_lora", str(root / name), str(variant)],
                               cwd=REPO, capture_output=True, text=True, timeout=300)
        assert built.returncode == 0, built.stderr[-3000:]
        folders[name] = str(root / name)
    return folders


@pytest.fixture(scope="module")
def sup(tiny_model, vllm_cache, adapters, tmp_path_factory):
    spec = tiny_spec(tiny_model, free_port(), free_port())
    spec["model"]["loras"] = [{"name": n, "source": adapters[n], "rank": 8} for n in ADAPTERS]
    env = {**cpu_env(vllm_cache), "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "1"}
    s = Supervisor(tmp_path_factory.mktemp("sup-lora"), spec, env).start()
    s.wait_listening()
    yield s
    s.close()


def vllm(sup: Supervisor, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"http://127.0.0.1:{sup.vllm_port}{path}", timeout=120, **kw)


def readyz_until(sup: Supervisor, code: int, within: float) -> tuple[list[dict], dict]:
    """Poll /readyz until it answers `code`; returns (every other answer's body, in order; the matching body)."""
    seen = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if sup.popen.poll() is not None:
            raise AssertionError(f"supervisor exited {sup.popen.returncode}: {sup.tail()}")
        try:
            r = sup.get("/readyz", timeout=30)
        except httpx.TransportError:  # a probe that times out on a saturated machine: ask again
            continue
        if r.status_code == code:
            return seen, r.json()
        seen.append(r.json())
        time.sleep(POLL_S)
    raise AssertionError(f"/readyz never answered {code} within {within} s; last: {seen[-1:]}\n{sup.tail()}")


def test_readyz_names_the_adapters_until_both_are_listed(sup):
    not_ready, _ = readyz_until(sup, 200, START_DEADLINE_S)
    assert not_ready, "the first /readyz answer was already 200: the start was not observed"
    for body in not_ready:
        assert any(r.startswith("LoRA adapters not listed in /v1/models:") and all(a in r for a in ADAPTERS)
                   for r in body["reasons"]), body
    listed = {m["id"]: m for m in vllm(sup, "GET", "/v1/models").json()["data"]}
    assert set(ADAPTERS) <= set(listed) and all(listed[a].get("parent") == "tiny" for a in ADAPTERS)
    status = sup.get("/status").json()
    assert status["vllm"]["adapters"]["missing"] == []
    assert set(status["vllm"]["adapters"]["served"]) == set(ADAPTERS)


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_completion_through_each_adapter(sup, name):
    r = vllm(sup, "POST", "/v1/completions", json={"model": name, "prompt": "the model is", "max_tokens": 8,
                                                    "ignore_eos": True, "temperature": 0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == name and body["usage"]["completion_tokens"] == 8


def test_an_adapter_unloaded_at_runtime_turns_readyz_503_naming_it(sup, adapters):
    r = vllm(sup, "POST", "/v1/unload_lora_adapter", json={"lora_name": "chat"})
    assert r.status_code == 200, r.text
    _, body = readyz_until(sup, 503, SHOWS_WITHIN_S)
    assert "LoRA adapters not listed in /v1/models: chat" in body["reasons"], body
    status = sup.get("/status").json()
    assert status["vllm"]["adapters"]["missing"] == ["chat"] and status["vllm"]["health"] == 200
    assert sup.get("/livez").status_code == 200  # the engine is fine: no restart for a missing adapter
    # loaded again, the pod is ready again
    r = vllm(sup, "POST", "/v1/load_lora_adapter", json={"lora_name": "chat", "lora_path": adapters["chat"]})
    assert r.status_code == 200, r.text
    readyz_until(sup, 200, SHOWS_WITHIN_S)
