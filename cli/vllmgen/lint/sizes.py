"""Model sizes for the startup budget rule (VG006) on manifests that carry no spec: given on the command line
(`--model-size NAME=GiB`), taken from a model spec linted in the same run, or read from the Hugging Face hub
(`--hub`). Names compare as vLLM's hub ids do, without `hf://` and case-insensitively. Model specs in the run
also give LoRA adapters' ranks (VG037)."""

from __future__ import annotations

from typing import Iterable, Optional

from vllmgen.errors import InputError
from vllmgen.lint import hub

GIB = 1024**3
#: Largest size accepted (GiB): beyond any checkpoint a pod loads.
MAX_GIB = 1_000_000


def key(name: str) -> str:
    name = name.strip()
    if name.startswith("hf://"):
        name = name[len("hf://"):]
    return name.rstrip("/").lower()


def parse_model_size(text: str) -> tuple[str, float]:
    """`NAME=GiB` -> (name, GiB); a malformed value is an InputError."""
    name, sep, size = text.rpartition("=")
    try:
        gib = float(size)
    except ValueError:
        gib = -1.0
    if not sep or not name.strip() or not 0 < gib <= MAX_GIB:
        raise InputError("--model-size", "", f"expected NAME=GiB (a size in GiB above 0, up to {MAX_GIB}), "
                                            f"not {text!r}")
    return name.strip(), gib


class ModelSizes:
    """Where each model's size comes from, looked up once per run."""

    def __init__(self, given: Iterable[tuple[str, float]] = (), use_hub: bool = False):
        self._given = {key(n): g * GIB for n, g in given}
        self._specs: dict[str, float] = {}
        self._hub: dict[str, Optional[float]] = {}
        self.use_hub = use_hub
        self.notes: list[str] = []
        self.adapter_ranks: dict[str, int] = {}  # LoRA adapter name -> rank, from model specs (VG037)

    def add_specs(self, specs: Iterable) -> None:
        """Sizes from model specs (`model.source`, with `weightsGiB` or `parameters`)."""
        from vllmgen import loras
        from vllmgen.budget import weights_bytes
        from vllmgen.lint.spec_check import load_errors

        for data in specs:
            spec, _ = load_errors(data)
            if spec is None:
                continue
            for adapter in loras.of(spec):
                if adapter.rank is not None:
                    self.adapter_ranks.setdefault(adapter.name, adapter.rank)
            size = weights_bytes(spec)
            if size:
                self._specs.setdefault(key(spec["model"]["source"]), size)

    def size_of(self, model: str) -> Optional[tuple[float, str]]:
        k = key(model)
        if k in self._given:
            return self._given[k], "--model-size"
        if k in self._specs:
            return self._specs[k], "a model spec in this run"
        if self.use_hub and _hub_id(model):
            if k not in self._hub:
                try:
                    self._hub[k] = hub.safetensors_bytes(model.strip().removeprefix("hf://"))
                except hub.HubError as exc:
                    self._hub[k] = None
                    self.notes.append(f"--hub: no size for {model}: {exc}")
            if self._hub[k] is not None:
                return self._hub[k], "the hub's safetensors metadata"
        return None


def _hub_id(model: str) -> bool:
    """A hub repository id (`org/name`), not a path or a template."""
    name = model.strip().removeprefix("hf://")
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "$", "{"))
