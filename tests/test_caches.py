"""vLLM's caches on a persistent claim (the model-cache claim or the user's), one folder per model and parallel
layout; the budget's compile term says whether a restart finds them warm; a large hf:// model that several pods
would each download is steered to a shared cache (validate warns, the values comment says why)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import chartcheck as cc
from tests.chartcheck import container, pod_spec, workloads
from vllmgen import budget, caches, values
from vllmgen.mounts import CACHE_MOUNT_PATH
from vllmgen.spec import parse_spec

MODEL = "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"


def _spec(text: str, **overrides) -> dict:
    return parse_spec(text, "t.yaml", **overrides)


def _render(spec: dict) -> list[dict]:
    import helm_python as helm

    return cc.render_objects(helm.values_from_yaml(values.render(spec)))


@pytest.mark.parametrize("change", [
    "model: {source: hf://Qwen/Qwen3-8B, weightsGiB: 16}\n",
    MODEL + "engine: {tensorParallelSize: 2}\n",
    MODEL + "engine: {maxModelLen: 4096}\n",
    MODEL + "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2, dtype: float16}\n",
    MODEL + "image: {repository: vllm/vllm-openai, tag: v0.31.0}\n",
])
def test_a_different_model_or_layout_gets_its_own_cache_folder(change):
    text = change if change.count("model:") == 1 else change.split("\n", 1)[1]
    base = caches.key(_spec(MODEL + "caches: {claim: model-cache}\n"))
    assert base == caches.key(_spec(MODEL + "caches: {claim: model-cache}\n")), "stable for the same spec"
    assert base.startswith("qwen3-0.6b-")
    assert caches.key(_spec(text + "caches: {claim: model-cache}\n")) != base


@pytest.mark.parametrize("source", ["hf://Qwen/Qwen3-0.6B", "pvc://models/Qwen3-0.6B"])
def test_caches_on_the_model_cache_claim(source):
    spec = _spec(f"model: {{source: {source}, weightsGiB: 1.2}}\ncaches: {{claim: model-cache}}\n")
    v = values.values_dict(spec)
    assert v["modelCache"] == {"create": True}
    objs = _render(spec)
    assert cc.Validators().check(objs, cc.kube_versions()) == []
    (claim,) = [o for o in objs if o["kind"] == "PersistentVolumeClaim"]
    for wl in workloads(objs):
        spec_ = pod_spec(wl)
        server = container(spec_, "vllm")
        (mount,) = [m for m in server["volumeMounts"] if m["mountPath"] == CACHE_MOUNT_PATH]
        assert mount["subPath"] == caches.key(spec)
        volume = next(x for x in spec_["volumes"] if x["name"] == mount["name"])
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert not volume["persistentVolumeClaim"].get("readOnly")
        env = {e["name"]: e.get("value") for e in server["env"]}
        assert {env[k] for k in caches.CACHE_ENV} == {f"{CACHE_MOUNT_PATH}/{d}" for d in caches.CACHE_ENV.values()}
        # the downloads go to the claim too: no ephemeral storage asked for them
        assert server["resources"]["requests"]["ephemeral-storage"] == "5Gi"


def test_caches_on_the_users_claim():
    spec = _spec(MODEL + "caches: {claim: pvc://compile-cache/vllm}\n")
    objs = _render(spec)
    assert cc.Validators().check(objs, cc.kube_versions()) == []
    for wl in workloads(objs):
        spec_ = pod_spec(wl)
        (mount,) = [m for m in container(spec_, "vllm")["volumeMounts"] if m["mountPath"] == CACHE_MOUNT_PATH]
        assert mount == {"name": "caches", "mountPath": CACHE_MOUNT_PATH, "subPath": f"vllm/{caches.key(spec)}"}
        assert {"name": "caches", "persistentVolumeClaim": {"claimName": "compile-cache"}} in spec_["volumes"]


def test_without_a_claim_caches_stay_in_the_pod_and_the_compile_term_says_it_is_cold():
    spec = _spec(MODEL)
    compile_term = next(t for t in budget.startup_budget(spec).terms if t.name == "compile")
    assert "cold at every start" in compile_term.reason
    for wl in workloads(_render(spec)):
        server = container(pod_spec(wl), "vllm")
        assert not [m for m in server["volumeMounts"] if m["mountPath"] == CACHE_MOUNT_PATH]
        assert not {e["name"] for e in server["env"]} & set(caches.CACHE_ENV)
    warm = next(t for t in budget.startup_budget(_spec(MODEL + "caches: {claim: pvc://cc}\n")).terms
                if t.name == "compile")
    assert "warm after the first start" in warm.reason and "claim cc" in warm.reason
    assert "compile term (175 s): cold at every start" in " ".join(
        line.strip("# ") for line in values.render(spec).splitlines())


def test_the_model_cache_claim_must_exist_for_caches_on_it():
    import helm_python as helm

    v = helm.values_from_yaml(values.render(_spec(MODEL + "caches: {claim: model-cache}\n")))
    v["modelCache"]["create"] = False
    with pytest.raises(helm.HelmRenderError, match="modelCache.create"):
        cc.render_objects(v)


BIG = "layout: wide-ep\nmodel: {source: hf://deepseek-ai/DeepSeek-V3, weightsGiB: 642}\nengine: {dataParallelSizeLocal: 8}\n"


@pytest.mark.parametrize("text,warned", [
    (BIG, True),
    (BIG + "caches: {claim: model-cache}\n", False),
    (BIG.replace("hf://deepseek-ai/DeepSeek-V3", "pvc://models/DeepSeek-V3"), False),
    (BIG.replace("642", "60"), False),
    ("model: {source: hf://deepseek-ai/DeepSeek-V3, weightsGiB: 642}\nengine: {tensorParallelSize: 8}\n", False),
    ("model: {source: hf://deepseek-ai/DeepSeek-V3, weightsGiB: 642}\nengine: {tensorParallelSize: 8}\n"
     "roles: {standalone: {replicas: 2}}\n", True),
    # an autoscaled role counts at its maxReplicas (it used to fail with KeyError 'replicas')
    ("model: {source: hf://deepseek-ai/DeepSeek-V3, weightsGiB: 642}\nengine: {tensorParallelSize: 8}\n"
     "roles: {standalone: {autoscaling: {autoscaler: hpa, maxReplicas: 4, target: 5}}}\n", True),
    ("model: {source: hf://deepseek-ai/DeepSeek-V3, weightsGiB: 642}\nengine: {tensorParallelSize: 8}\n"
     "roles: {standalone: {autoscaling: {autoscaler: hpa, maxReplicas: 1, target: 5}}}\n", False),
], ids=["wide-ep", "shared", "pvc", "small", "one-pod", "two-replicas", "autoscaled", "autoscaled-to-one"])
def test_large_downloads_in_multi_pod_layouts_are_steered_to_a_shared_cache(tmp_path, text, warned):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    res = subprocess.run([sys.executable, "-m", "vllmgen", "validate", str(path)], capture_output=True, text=True)
    assert res.returncode == 0 and ": valid:" in res.stdout
    comment = " ".join(line.strip("# ") for line in values.render(_spec(text)).splitlines())
    if warned:
        assert res.stderr.startswith(f"warning: {path}: /model/source: 642 GiB of weights downloaded by each of")
        assert "caches.claim: model-cache" in res.stderr and "caches.claim: model-cache" in comment
    else:
        assert res.stderr == "" and "downloaded by each of" not in comment


def test_every_jit_cache_a_gpu_start_writes_under_home_is_moved_onto_the_claim():
    """FlashInfer, tilelang, humming-kernels, DeepGEMM and the CUDA driver write under $HOME (an emptyDir in the pod) unless
    their own variable says otherwise: each gets a folder on the claim, and the driver's cache room to keep them."""
    spec = _spec(MODEL + "caches: {claim: model-cache}\n")
    env = {e["name"]: e["value"] for e in caches.env(spec)}
    for name in ("FLASHINFER_WORKSPACE_BASE", "TILELANG_CACHE_DIR", "HUMMING_CACHE_DIR", "CUDA_CACHE_PATH",
                 "DG_JIT_CACHE_DIR", "VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        assert env[name].startswith(CACHE_MOUNT_PATH + "/"), name
    folders = [v for k, v in env.items() if k in caches.CACHE_ENV]
    assert len(set(folders)) == len(folders), "each cache in a folder of its own"
    assert int(env["CUDA_CACHE_MAXSIZE"]) > 256 * 1024**2, "above the driver's default, which evicts"
    assert "HOME" not in env


@pytest.mark.parametrize("accelerator", ["{type: amd}", "{resource: nvidia.com/mig-3g.40gb}",
                                         "{deviceClassName: h100.nvidia.com}"])
def test_another_gpu_type_gets_its_own_cache_folder(accelerator):
    base = caches.key(_spec(MODEL + "caches: {claim: model-cache}\n"))
    assert caches.key(_spec(MODEL + f"accelerator: {accelerator}\ncaches: {{claim: model-cache}}\n")) != base
