"""vLLM's caches (torch.compile artifacts, Triton kernels, the rest of VLLM_CACHE_ROOT) on a persistent claim, so a
restarted pod skips the compile work its predecessor did. Each model and parallel layout gets its own folder: a
cache compiled for another model, shape or vLLM release is never handed to this one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from vllmgen import layouts, sources
from vllmgen.mounts import CACHE_MOUNT_PATH

#: The spec's `caches.claim` value that means "the chart's model-cache claim" (values `modelCache`).
MODEL_CACHE = "model-cache"
#: Where each cache goes under the mount: vLLM's root (torch.compile artifacts among them), torch Inductor's and
#: Triton's kernel caches, and XDG_CACHE_HOME for the JIT caches that follow it (FlashInfer, DeepGEMM).
CACHE_ENV = {
    "VLLM_CACHE_ROOT": "vllm",
    "TORCHINDUCTOR_CACHE_DIR": "inductor",
    "TRITON_CACHE_DIR": "triton",
    "XDG_CACHE_HOME": "xdg",
}
#: Length of the hex digest that keys a cache folder: enough that two layouts never collide in one claim.
KEY_LENGTH = 12


@dataclass(frozen=True)
class CacheVolume:
    model_cache: bool  # on the chart's model-cache claim
    claim: str  # the user's claim ("" with model_cache)
    sub_path: str  # the folder inside the claim: the user's subpath, then the key


def key(spec: dict) -> str:
    """`NAME-DIGEST`: what compiled artifacts depend on (the weights, dtype, parallel layout, context length, the
    image and its vLLM) hashed, after the served name so a person can tell the folders apart."""
    model, engine = spec["model"], spec["engine"]
    image = spec.get("image", {})
    inputs = {
        "source": model["source"], "revision": model.get("revision", ""), "dtype": model["dtype"],
        "tp": engine["tensorParallelSize"], "dpLocal": engine["dataParallelSizeLocal"],
        "dp": engine["dataParallelSize"], "maxModelLen": engine.get("maxModelLen", 0),
        "vllm": engine.get("vllmVersion", ""), "image": f"{image.get('repository', '')}:{image.get('tag', '')}",
        "layout": spec["layout"], "server": spec["server"], "accelerator": spec["accelerator"]["type"],
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
    if volume(spec) is None:
        return []
    return [{"name": name, "value": f"{CACHE_MOUNT_PATH}/{folder}"} for name, folder in CACHE_ENV.items()]


def note(spec: dict) -> str:
    """For the budget's compile term: whether a restart finds the compile work done."""
    vol = volume(spec)
    if vol is None:
        return "cold at every start (caches in the pod's own storage; set caches.claim to keep them)"
    where = "the model-cache claim" if vol.model_cache else f"claim {vol.claim}"
    return f"warm after the first start: caches on {where}, keyed by model and layout"


#: Weights this large are worth downloading once rather than per pod (18 min each at the default 100 MB/s).
SHARED_DOWNLOAD_GIB = 100


def pods(spec: dict) -> int:
    """Pods the spec deploys at most: replicas of each role (an autoscaled role's `maxReplicas`), times the group
    size where a role spans several pods."""
    per = spec["wideEP"]["groupSize"] if layouts.of(spec).multinode else 1
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
