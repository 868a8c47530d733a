"""vLLM's compile and JIT caches on a persistent claim, so a restarted pod skips the compile work its predecessor did.

Every cache a GPU start writes is moved by its own variable (docs/upstream-facts.md#vllm-compile-and-jit-caches):
vLLM's root (torch.compile artifacts), Inductor's and Triton's kernels, FlashInfer's JIT workspace, tilelang's and
humming-kernels' and DeepGEMM's JIT caches and the CUDA driver's PTX cache. FlashInfer, tilelang, humming, DeepGEMM
and the CUDA driver do not follow XDG_CACHE_HOME: left alone they write under `$HOME`, which the chart mounts as an
emptyDir, so a new pod would redo about 90 s of warm-up JIT on an H100. HOME itself stays in the pod: every cache
that lives under it has a variable of its own, and a home on a claim shared by every replica would also share
whatever else programs keep there. Each model, parallel layout, image (its vLLM release) and accelerator type gets
its own folder: a cache compiled for another model, shape, release or GPU is never handed to this one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from vllmgen import layouts, sources
from vllmgen.mounts import CACHE_MOUNT_PATH

#: The spec's `caches.claim` value that means "the chart's model-cache claim" (values `modelCache`).
MODEL_CACHE = "model-cache"
#: Where each cache goes under the mount, by the variable that moves it.
CACHE_ENV = {
    "VLLM_CACHE_ROOT": "vllm",  # vLLM's root: torch.compile artifacts (vllm/envs.py)
    "TORCHINDUCTOR_CACHE_DIR": "inductor",  # Inductor's generated kernels (torch/_inductor/runtime/cache_dir_utils.py)
    "TRITON_CACHE_DIR": "triton",  # Triton's compiled kernels (triton/knobs.py)
    "FLASHINFER_WORKSPACE_BASE": "flashinfer",  # FlashInfer JIT: $BASE/.cache/flashinfer (flashinfer/jit/env.py)
    "TILELANG_CACHE_DIR": "tilelang",  # tilelang JIT, else ~/.tilelang/cache (tilelang/env.py)
    "HUMMING_CACHE_DIR": "humming",  # humming-kernels JIT, else ~/.humming/cache (humming/utils/jit.py)
    "CUDA_CACHE_PATH": "cuda",  # the CUDA driver's PTX JIT cache, else ~/.nv/ComputeCache
    # DeepGEMM's JIT kernels (FP8 and wide-EP MoE), else ~/.deep_gemm: vLLM points it under VLLM_CACHE_ROOT only
    # when its own wrapper is the first to import deep_gemm (vllm/utils/deep_gemm.py, _lazy_init)
    "DG_JIT_CACHE_DIR": "deep_gemm",
    "XDG_CACHE_HOME": "xdg",  # libraries that do follow XDG (platformdirs users such as outlines)
}
#: The CUDA driver's PTX cache holds 256 MiB by default and evicts the oldest kernels beyond it; 4 GiB is the most
#: the driver accepts (CUDA programming guide, "CUDA Environment Variables").
CUDA_CACHE_MAXSIZE = 4 * 1024**3
#: Settings that go with the folders: how much the driver's cache may keep.
CACHE_SETTINGS = {"CUDA_CACHE_MAXSIZE": str(CUDA_CACHE_MAXSIZE)}
#: Length of the hex digest that keys a cache folder: enough that two layouts never collide in one claim.
KEY_LENGTH = 12


@dataclass(frozen=True)
class CacheVolume:
    model_cache: bool  # on the chart's model-cache claim
    claim: str  # the user's claim ("" with model_cache)
    sub_path: str  # the folder inside the claim: the user's subpath, then the key


def key(spec: dict) -> str:
    """`NAME-DIGEST`: what compiled artifacts depend on (the weights, dtype, parallel layout, context length, the
    image and its vLLM, the accelerator type: kernels are compiled for one GPU architecture) hashed, after the
    served name so a person can tell the folders apart."""
    model, engine = spec["model"], spec["engine"]
    image = spec.get("image", {})
    inputs = {
        "source": model["source"], "revision": model.get("revision", ""), "dtype": model["dtype"],
        "tp": engine["tensorParallelSize"], "dpLocal": engine["dataParallelSizeLocal"],
        "dp": engine["dataParallelSize"], "maxModelLen": engine.get("maxModelLen", 0),
        "vllm": engine.get("vllmVersion", ""), "image": f"{image.get('repository', '')}:{image.get('tag', '')}",
        "layout": spec["layout"], "server": spec["server"], "accelerator": spec["accelerator"]["type"],
        # the resource or device class names the GPU model where a cluster names its pools by it
        # (nvidia.com/mig-1g.10gb, a DRA class per product)
        "resource": spec["accelerator"].get("resource", ""),
        "deviceClass": spec["accelerator"].get("deviceClassName", ""),
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:KEY_LENGTH]
    return f"{model['name'].replace('/', '-')}-{digest}"


def volume(spec: dict) -> CacheVolume | None:
    """The persistent claim the caches live on, or None (an emptyDir: cold at every start)."""
    where = spec["caches"]["claim"]
    if not where or layouts.of(spec).simulator:
        return None
    if where == MODEL_CACHE:
        return CacheVolume(True, "", key(spec))
    src = sources.parse(where)
    return CacheVolume(False, src.claim, "/".join(p for p in (src.subpath, key(spec)) if p))


def env(spec: dict) -> list[dict]:
    """The server container's cache variables, pointing into the mounted claim ([] without one)."""
    return env_at(CACHE_MOUNT_PATH) if volume(spec) is not None else []


def env_at(root: str) -> list[dict]:
    """The cache variables pointing into `root`, the mounted claim folder."""
    return [{"name": name, "value": f"{root}/{folder}"} for name, folder in CACHE_ENV.items()] + \
        [{"name": name, "value": value} for name, value in CACHE_SETTINGS.items()]


def note(spec: dict) -> str:
    """For the budget's compile term: whether a restart finds the compile work done."""
    vol = volume(spec)
    if vol is None:
        return "cold at every start (caches in the pod's own storage; set caches.claim to keep them)"
    where = "the model-cache claim" if vol.model_cache else f"claim {vol.claim}"
    return f"warm after the first start: caches on {where}, keyed by model, layout, image and accelerator"


#: Weights this large are worth downloading once rather than per pod (18 min each at the default 100 MB/s).
SHARED_DOWNLOAD_GIB = 100


def pods(spec: dict) -> int:
    """Pods the spec deploys at most: replicas of each role (an autoscaled role's `maxReplicas`), times the group
    size where a role spans several pods."""
    per = layouts.group_size(spec)
    return sum(cfg["autoscaling"]["maxReplicas"] if "autoscaling" in cfg else cfg.get("replicas", 0)
               for cfg in spec["roles"].values()) * per


def download_advice(spec: dict, weights_bytes: float | None) -> str:
    """Why a large hf:// model should go to a shared cache when several pods would each download it ("" when
    not)."""
    gib = (weights_bytes or 0) / 2**30
    if (not sources.parse(spec["model"]["source"]).downloads or layouts.of(spec).simulator
            or spec["caches"]["claim"] == MODEL_CACHE or gib < SHARED_DOWNLOAD_GIB or pods(spec) < 2):
        return ""
    return (f"{gib:.0f} GiB of weights downloaded by each of the {pods(spec)} pods into its own storage: share one "
            f"download with caches.claim: {MODEL_CACHE} (a ReadWriteMany claim, values modelCache), or put the "
            f"weights on a claim (model.source: pvc://CLAIM/PATH)")
