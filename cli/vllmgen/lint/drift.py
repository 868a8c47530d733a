"""VG017: vllmgen values whose blocks disagree with the spec they carry (`spec:`), the spec the supervisor reads.

Values are generated from that spec; an edit afterwards (`helm --set standalone.port=8300`,
`--set spec.engine.tensorParallelSize=2`) makes the pod and what runs in it disagree. Each check compares one
rendered field with what the embedded spec implies, naming both values. Only fields present are compared, so a
partial values file is checked for what it holds.
"""

from __future__ import annotations

from typing import Iterator

from vllmgen import layouts, loras, servers
from vllmgen.engine import has_sidecar, vllm_port
from vllmgen.lint.rules import Hit
from vllmgen.lint.spec_check import load_errors, spec_hits
from vllmgen.mounts import LORA_MOUNT_PATH
from vllmgen.roles import ROLES
from vllmgen.spec import ranks_per_pod

RULE = "VG017"
REGENERATE = "regenerate the values with `vllmgen values` (or change the spec, not the rendered field)"


def drift_hits(data: dict) -> Iterator[Hit]:
    """VG017 hits; VG000 ones when the embedded spec itself does not load (its cross-field rules, which the
    values schema cannot express)."""
    if not isinstance(data.get("spec"), dict):
        return
    spec, errors = load_errors(data["spec"])
    if spec is None:
        yield from spec_hits(data["spec"], ("spec",))
        return
    for key, want in (("layout", spec["layout"]), ("server", spec["server"]), ("probeMode", spec["probes"]["mode"])):
        if key in data and data[key] != want:
            yield Hit(RULE, (key,), f"{key} is {data[key]!r} but the embedded spec says {want!r}", REGENERATE)
    art = data.get("modelArtifacts")
    if isinstance(art, dict) and "uri" in art and art["uri"] != spec["model"]["source"]:
        yield Hit(RULE, ("modelArtifacts", "uri"), f"modelArtifacts.uri is {art['uri']!r} but the embedded spec "
                                                   f"loads {spec['model']['source']!r} (spec.model.source)", REGENERATE)
    mounts = loras.mounts(spec)
    if isinstance(art, dict) and ("loras" in art or ("uri" in art and mounts)) and art.get("loras", []) != mounts:
        yield Hit(RULE, ("modelArtifacts", "loras") if "loras" in art else ("modelArtifacts",),
                  f"modelArtifacts.loras differs from the pvc:// adapters of the embedded spec (spec.model.loras), "
                  f"which vLLM loads from {LORA_MOUNT_PATH}/NAME: {_first_difference(art.get('loras', []), mounts)}",
                  REGENERATE)
    sup = data.get("supervisor")
    if spec["probes"]["mode"] == "supervised" and isinstance(sup, dict) and "port" in sup \
            and sup["port"] != spec["probes"]["healthPort"]:
        yield Hit(RULE, ("supervisor", "port"), f"supervisor.port is {sup['port']} but the supervisor listens on "
                                                f"{spec['probes']['healthPort']} (spec.probes.healthPort)", REGENERATE)
    for role in ROLES:
        if isinstance(data.get(role), dict):
            yield from _role_hits(data, spec, role, data[role])


def _role_hits(data: dict, spec: dict, role: str, block: dict) -> Iterator[Hit]:
    port = vllm_port(spec, role)
    field = "routing.targetPort" if has_sidecar(spec, role) else "routing.servicePort"
    if "port" in block and block["port"] != port:
        yield Hit(RULE, (role, "port"), f"{role}.port is {block['port']} but the embedded spec has the server "
                                        f"listen on {port} (spec.{field})", REGENERATE)
    if layouts.of(spec).accelerators:
        yield from _accelerator_hits(data, spec, role, block)
    if role not in servers.of(spec).roles:
        return
    want = servers.of(spec).command(spec, role)
    for key, have, expected in (("command", block.get("command"), want.command),
                                ("args", block.get("args"), want.args)):
        if have is not None and have != expected:
            yield Hit(RULE, (role, key), f"{role}.{key} differs from what the embedded spec implies: "
                                         f"{_first_difference(have, expected)}", REGENERATE)


def _accelerator_hits(data: dict, spec: dict, role: str, block: dict) -> Iterator[Hit]:
    acc = data.get("accelerator") if isinstance(data.get("accelerator"), dict) else {}
    resource = acc.get("resource") or spec["accelerator"]["resource"]
    resources = block.get("resources")
    if not isinstance(resources, dict) or not resource:
        return
    eng = spec["engine"]
    ranks = ranks_per_pod(spec)
    if layouts.of(spec).group_launch == "node-ranks":
        sizes = (f"tensorParallelSize x pipelineParallelSize / multiNode.nodes = {eng['tensorParallelSize']} x "
                 f"{eng['pipelineParallelSize']} / {layouts.group_size(spec)}")
    else:
        sizes = (f"tensorParallelSize x dataParallelSizeLocal = {eng['tensorParallelSize']} x "
                 f"{eng['dataParallelSizeLocal']}")
    for kind in ("limits", "requests"):
        have = (resources.get(kind) or {}).get(resource) if isinstance(resources.get(kind), dict) else None
        if have is not None and have != ranks:
            yield Hit(RULE, (role, "resources", kind, resource),
                      f"{role}.resources.{kind} asks for {have} {resource} but the embedded spec runs "
                      f"{sizes} = {ranks} ranks per pod, one accelerator each", REGENERATE)


def _first_difference(have, expected) -> str:
    if not isinstance(have, list):
        return f"{have!r} where the spec implies {expected!r}"
    for i, (a, b) in enumerate(zip(have, expected)):
        if a != b:
            return f"item {i} is {_short(a)} where the spec implies {_short(b)}"
    if len(have) > len(expected):
        return f"extra item {len(expected)}: {_short(have[len(expected)])}"
    return f"item {len(have)} is missing: {_short(expected[len(have)])}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
