"""Model sources (`model.source`): `hf://ORG/NAME` from the hub, `pvc://CLAIM/SUBPATH` from a claim, or a path
already in the image."""

from __future__ import annotations

from dataclasses import dataclass

from vllmgen.mounts import MODEL_MOUNT_PATH

HF = "hf://"
PVC = "pvc://"


@dataclass(frozen=True)
class Source:
    hub_id: str = ""  # hf://: the hub repository id
    claim: str = ""  # pvc://: the claim's name
    subpath: str = ""  # pvc://: the model's folder inside the claim ("" = its root)
    path: str = ""  # a path in the image

    @property
    def downloads(self) -> bool:
        return bool(self.hub_id)


def parse(source: str) -> Source:
    if source.startswith(HF):
        return Source(hub_id=source[len(HF):])
    if source.startswith(PVC):
        claim, _, sub = source[len(PVC):].partition("/")
        return Source(claim=claim, subpath=sub.strip("/"))
    return Source(path=source)


def model_arg(source: str) -> str:
    """What vLLM loads: the hub id for hf://, the path under the mounted claim for pvc://, the path otherwise."""
    src = parse(source)
    if src.hub_id:
        return src.hub_id
    if src.claim:
        return MODEL_MOUNT_PATH + ("/" + src.subpath if src.subpath else "")
    return src.path
