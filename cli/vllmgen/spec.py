"""The model spec: load, validate (schema + cross-field checks), fill defaults.

A spec is a plain dict. `parse_spec` returns it with every default filled and CLI overrides applied, so the
values, the chart and the supervisor all read the same numbers. Parsing a filled spec again gives it back.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from vllmgen import autoscaling, gateway, layouts, patterns, quantities, servers
from vllmgen.accelerators import RESOURCE_BY_VENDOR, is_native_resource
from vllmgen.budget import MAX_BUDGET_SECONDS, startup_budget, weights_bytes
from vllmgen.cleartext import (CONTROLLED_ENV, CONTROLLED_FLAGS, SECRET_ROUTE, controlled_flag, credential_env,
                                has_userinfo)
from vllmgen.errors import InputError, InputErrors
from vllmgen.roles import ROLES
from vllmgen.trees import leaves, value_at
from vllmgen.yamlio import (Document, is_json_text, load_document, parse_document, parse_json_document,
                             read_text)

EMBEDDED = "<embedded default spec>"
#: Largest spec vllmgen mounts: the chart carries it (and the files derived from it) in ConfigMaps, and every
#: ConfigMap, like the Helm release Secret holding the whole chart, must stay under Kubernetes' 1 MiB.
MOUNTED_SPEC_MAX_BYTES = 256 * 1024


@lru_cache(maxsize=None)
def schema() -> dict:
    return json.loads(resources.files("vllmgen").joinpath("schemas/model-spec.schema.json").read_text())


@lru_cache(maxsize=1)
def default_spec_text() -> str:
    return resources.files("vllmgen").joinpath("data/default-spec.yaml").read_text()


def load_spec(path=None, *, layout: str | None = None, server: str | None = None,
              roles: list[str] | None = None) -> dict:
    """Load a spec file (None: the embedded default) and return the effective spec. A `.json` file is read with
    the standard library (the chart-delivered supervisor has no YAML library of its own), anything else as YAML.
    `roles`: the roles asked for on the command line (`vllmgen values --role`), which the defaults that depend on
    the running roles (routing.inferencePool) follow instead of the spec's."""
    if path is None:
        return _effective(_parse(default_spec_text(), EMBEDDED), layout=layout, server=server, trusted=True,
                          roles=roles)
    if str(path).endswith(".json"):
        return _effective(parse_json_document(read_text(path), str(path)), layout=layout, server=server, roles=roles)
    return _effective(load_document(path), layout=layout, server=server, roles=roles)


def parse_spec(text: str, file: str, *, layout: str | None = None, server: str | None = None,
               trusted: bool = False, roles: list[str] | None = None) -> dict:
    """Parse spec text (a JSON object is read as JSON, anything else as YAML). `trusted` skips JSON-schema
    validation (the embedded spec, checked by tests); `roles` as in load_spec."""
    return _effective(_parse(text, file), layout=layout, server=server, trusted=trusted, roles=roles)


def _parse(text: str, file: str) -> Document:
    if is_json_text(text):
        try:
            return parse_json_document(text, file)
        except InputError:
            pass  # a YAML flow mapping, or broken JSON: the YAML reader says where
    return parse_document(text, file)


def effective(spec: dict, layout: str | None = None, server: str | None = None) -> dict:
    """Validate an already-parsed spec dict (for example the `spec` block of a values file)."""
    return _effective(Document(copy.deepcopy(spec), "<spec>", {}), layout=layout, server=server)


def _effective(doc: Document, *, layout, server, trusted: bool = False, roles: list[str] | None = None) -> dict:
    if not isinstance(doc.data, dict):
        raise doc.error((), f"a spec is a mapping with at least `model`, not {_kind(doc.data)}")
    if not trusted:
        validate_schema(doc)
    spec = copy.deepcopy(doc.data)
    if layout is not None:
        spec["layout"] = layout
    if server is not None:
        spec["server"] = server
    fill_defaults(spec, schema(), schema())
    derive(spec, roles)
    errors = derived_errors(spec) or cross_check(spec, roles)
    if errors:
        raise InputErrors([doc.error(path, msg) for path, msg in errors]) if len(errors) > 1 else \
            doc.error(*errors[0])
    return spec


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean",
            type(None): "empty"}.get(type(value), type(value).__name__)


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def validate_schema(doc: Document) -> None:
    """Every schema error, each with its JSON pointer and line."""
    validator = _validator()
    found = _under_valid_names(sorted(validator.iter_errors(doc.data),
                                      key=lambda e: (list(map(str, e.absolute_path)), e.message)))
    if not found:
        return
    errors = [doc.error(tuple(err.absolute_path), _message(err)) for err in found]
    raise errors[0] if len(errors) == 1 else InputErrors(errors)


def _under_valid_names(found: list) -> list:
    """The errors, less those about the value of a key whose name is itself refused (`propertyNames`): the name's
    error is the one to fix, and a pointer through a refused name (`/engine/env/ `) says nothing more."""
    refused = [tuple(e.absolute_path) + (e.instance,) for e in found if "propertyNames" in e.schema_path]
    return [e for e in found if not any(tuple(e.absolute_path)[:len(r)] == r for r in refused)]


def exclusion_message(err) -> str | None:
    """The message for a field the schemas forbid beside another (`dependentSchemas: {B: {properties: {A:
    {not: {}}}}}`, as `replicas` beside `autoscaling`), which jsonschema words as "3 should not be valid under
    {}"; None for any other error."""
    path = list(err.schema_path)
    if err.validator != "not" or "dependentSchemas" not in path or not err.path:
        return None
    trigger = path[path.index("dependentSchemas") + 1]
    return f"`{err.path[-1]}` cannot be set together with `{trigger}`: remove one of them"


def _message(err) -> str:
    """jsonschema messages, made shorter and pointed at the offending key where possible."""
    if err.validator == "additionalProperties":
        extra = re.findall(r"'([^']*)'", err.message.split("(")[-1])
        allowed = sorted(err.schema.get("properties", {}))
        names = ", ".join(repr(x) for x in extra) or err.message
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"unknown field {names}{hint}"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of {', '.join(map(repr, err.validator_value))}"
    if err.validator == "type":
        return f"expected {err.validator_value}, got {_kind(err.instance)} ({_short(err.instance)})"
    if err.validator == "pattern":
        return patterns.explain(err.validator_value, err.instance, err.schema.get("description"))
    if err.validator == "const":
        return f"must be {err.validator_value!r}"
    exclusion = exclusion_message(err)
    if exclusion:
        return exclusion
    return err.message if len(err.message) <= 300 else err.message[:300] + "..."


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve(node: dict, root: dict) -> dict:
    ref = node.get("$ref")
    if ref and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        return target
    return node


def fill_defaults(data: dict, node: dict, root: dict) -> None:
    """Fill schema `default`s into `data` in place, descending into objects that exist or have a default."""
    node = _resolve(node, root)
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub, root)
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        if isinstance(data.get(key), dict) and "properties" in sub:
            fill_defaults(data[key], sub, root)


def derive(spec: dict, asked_roles: list[str] | None = None) -> None:
    """Defaults that depend on other fields (the schema cannot express them). `asked_roles`: the roles the command
    line asks for, when it does."""
    lay = layouts.of(spec)
    model, engine, acc = spec["model"], spec["engine"], spec["accelerator"]
    if isinstance(model.get("parameters"), float) and model["parameters"].is_integer():
        model["parameters"] = int(model["parameters"])  # 8.2e9 reads as a float; show it as the count it is
    source = model["source"]
    model.setdefault("name", served_name_of(source))
    spec["startup"].setdefault("cached", not source.startswith("hf://"))
    spec["probes"].setdefault("mode", servers.of(spec).default_probe_mode(lay))
    local = engine["dataParallelSizeLocal"]
    if lay.group_launch == "data-parallel":
        engine.setdefault("dataParallelSize", layouts.group_size(spec) * local)
    else:
        engine.setdefault("dataParallelSize", local)
    # vLLM's advice for a model over nodes: tensor parallel inside a node, pipeline parallel across nodes
    engine.setdefault("pipelineParallelSize", layouts.group_size(spec) if lay.group_launch == "node-ranks" else 1)
    acc.setdefault("resource", RESOURCE_BY_VENDOR[acc["type"]])
    acc.setdefault("countPerPod", ranks_per_pod(spec))
    # the layout's roles when the spec names none; the roles it names (and only those) otherwise, so asking for
    # prefill and decode on single-node does not add the layout's standalone pod
    roles = spec.setdefault("roles", {})
    if not roles:
        for role, replicas in lay.default_roles.items():
            roles[role] = {"replicas": replicas}
    for role, cfg in roles.items():
        auto = cfg.get("autoscaling")
        if auto is None:
            cfg.setdefault("replicas", lay.default_roles.get(role, 1))
        elif auto["autoscaler"] == "hpa":
            auto.setdefault("adapterMetric", autoscaling.adapter_metric_name(auto["metric"]))
    servers.of(spec).derive(spec)
    spec["routing"].setdefault("inferencePool",
                               gateway.pool_by_default(asked_roles or active_roles(spec))
                               and not servers.of(spec).pool_error)
    a2a = spec["wideEP"].setdefault("all2allBackend", {})
    a2a.setdefault("decode", "deepep_low_latency")  # llm-d wide-EP guide: decode favours latency
    a2a.setdefault("prefill", "deepep_high_throughput")  # prefill favours throughput


#: What `model.name` may hold (the schema's pattern): the served name is a URL path segment and a label value.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]")
_NAME_MAX = 128


def served_name_of(source: str) -> str:
    """The served model name a source implies: its last path segment, lowercased, with characters the schema's
    `model.name` refuses replaced by `-` (`/models/Llama 3` -> `llama-3`); "model" when nothing is left."""
    name = _NAME_UNSAFE.sub("-", source.rstrip("/").rsplit("/", 1)[-1].lower())
    name = name.lstrip("._/-")[:_NAME_MAX]
    return name or "model"


def derived_errors(spec: dict) -> list[tuple[tuple, str]]:
    """The effective spec (defaults and derived values filled in) checked against the schema again: a value
    derived from valid fields may still be out of bounds (a data-parallel size above the schema's maximum)."""
    found = sorted(_validator().iter_errors(spec), key=lambda e: list(map(str, e.absolute_path)))
    return [(tuple(e.absolute_path), f"derived value: {_message(e)}") for e in found]


def ordered(spec: dict) -> dict:
    """The spec with keys in schema order (unknown keys last), for humans reading a mounted spec."""

    def walk(data, node):
        node = _resolve(node, schema())
        if not isinstance(data, dict):
            return data
        props = node.get("properties", {})
        keys = [k for k in props if k in data] + [k for k in data if k not in props]
        return {k: walk(data[k], props.get(k, node.get("additionalProperties") if isinstance(
            node.get("additionalProperties"), dict) else {})) for k in keys}

    return walk(spec, schema())


def ranks_per_pod(spec: dict) -> int:
    """Accelerators one pod needs, one per rank it runs: tensor x local data-parallel ranks; where one model is
    split over a group's nodes (node ranks), tensor x pipeline ranks shared out over the nodes (rounded up)."""
    engine, lay = spec["engine"], layouts.of(spec)
    if lay.group_launch == "node-ranks":
        return -(-engine["tensorParallelSize"] * engine["pipelineParallelSize"] // layouts.group_size(spec))
    return engine["tensorParallelSize"] * engine["dataParallelSizeLocal"]


def _node_rank_errors(spec: dict) -> list[tuple[tuple, str]]:
    """multi-node: one model over the group's nodes; every accelerator of every node holds exactly one rank."""
    engine, acc, lay = spec["engine"], spec["accelerator"], layouts.of(spec)
    tp, pp, nodes, per = (engine["tensorParallelSize"], engine["pipelineParallelSize"], layouts.group_size(spec),
                          acc["countPerPod"])
    errors = []
    if tp * pp != nodes * per:
        field = ".".join(lay.group_size_field)
        errors.append((("engine", "tensorParallelSize"),
                       f"layout {lay.name} splits one model over {field} = {nodes} nodes x {per} accelerators per "
                       f"node (accelerator.countPerPod) = {nodes * per} ranks, but tensorParallelSize x "
                       f"pipelineParallelSize = {tp} x {pp} = {tp * pp}; vLLM's multi-node launch needs them equal "
                       f"(e.g. tensor = accelerators per node, pipeline = nodes)"))
    if engine["dataParallelSize"] != 1 or engine["dataParallelSizeLocal"] != 1:
        errors.append((("engine", "dataParallelSize"),
                       f"layout {lay.name} runs one model replica per LeaderWorkerSet group; scale with replicas "
                       "(more groups), not data parallelism"))
    return errors


def cross_check(spec: dict, asked_roles: list[str] | None = None) -> list[tuple[tuple, str]]:
    """Combinations the schema cannot express. Returns [(path, message)]. `asked_roles`: the roles the command line
    asks for (their combination is then the command line's to answer for, not the spec's)."""
    errors: list[tuple[tuple, str]] = []
    engine, acc, lay = spec["engine"], spec["accelerator"], layouts.of(spec)
    server = servers.of(spec)
    tp, dp, local = engine["tensorParallelSize"], engine["dataParallelSize"], engine["dataParallelSizeLocal"]
    if dp % local:
        errors.append((("engine", "dataParallelSize"),
                       f"data-parallel size {dp} is not divisible by the local size {local} "
                       f"(engine.dataParallelSizeLocal)"))
    if lay.group_launch == "node-ranks":
        errors += _node_rank_errors(spec)
    elif lay.group_launch == "data-parallel":
        group = layouts.group_size(spec)
        if dp != group * local:
            errors.append((("engine", "dataParallelSize"),
                           f"wide-ep needs data-parallel size = wideEP.groupSize x dataParallelSizeLocal = "
                           f"{group} x {local} = {group * local}, not {dp}"))
    elif dp != local:
        errors.append((("engine", "dataParallelSize"),
                       f"layout {lay.name} runs all data-parallel ranks in one pod, so dataParallelSize ({dp}) must "
                       f"equal dataParallelSizeLocal ({local}); use layout wide-ep to spread ranks across pods"))
    for path in (("accelerator", "resource"), ("wideEP", "rdmaResource")):
        name = value_at(spec, path)
        if isinstance(name, str) and is_native_resource(name):  # the schema's pattern requires a domain
            errors.append((path, f"{name} is in the kubernetes.io domain, which holds Kubernetes' own resources: the "
                                 "API server refuses it as a container's extended resource (use the device "
                                 "plugin's own domain, such as nvidia.com/gpu)"))
    shm = spec["wideEP"]["dshmSizeLimit"]
    if quantities.value(shm) > quantities.MAX_VALUE:
        errors.append((("wideEP", "dshmSizeLimit"),
                       f"{_short(shm)} is more than the largest Kubernetes quantity (2^63-1, about 8Ei)"))
    if engine["pipelineParallelSize"] > 1 and lay.group_launch != "node-ranks":
        errors.append((("engine", "pipelineParallelSize"),
                       f"layout {lay.name} does not split a model into pipeline stages; use layout multi-node "
                       "to split one model across nodes"))
    if lay.group_launch != "node-ranks" and acc["countPerPod"] != tp * local:
        errors.append((("accelerator", "countPerPod"),
                       f"{acc['countPerPod']} accelerators per pod, but tensorParallelSize x "
                       f"dataParallelSizeLocal = {tp} x {local} = {tp * local} ranks each need one"))
    serving = spec.get("serving", {})
    if "restartSeconds" in serving:
        from vllmgen.serving import windows

        stall = windows(spec)
        if serving["restartSeconds"] < stall.stall_s:
            errors.append((("serving", "restartSeconds"),
                           f"restartSeconds {serving['restartSeconds']} is shorter than the stall window "
                           f"{stall.stall_arithmetic()}: the container would restart before the pod turned NotReady"))
    ports = {
        ("routing", "servicePort"): spec["routing"]["servicePort"],
        ("routing", "targetPort"): spec["routing"]["targetPort"],
        ("probes", "healthPort"): spec["probes"]["healthPort"],
    }
    if lay.group_launch == "data-parallel":
        ports[("wideEP", "rpcPort")] = spec["wideEP"]["rpcPort"]
    if lay.group_launch == "node-ranks":
        ports[("multiNode", "masterPort")] = spec["multiNode"]["masterPort"]
    seen: dict[int, tuple] = {}
    for path, port in ports.items():
        if port in seen:
            errors.append((path, f"port {port} is already used by {'.'.join(seen[port])}; ports must be distinct"))
        else:
            seen[port] = path
    errors += server.check(spec)
    if not server.supervised and spec["probes"]["mode"] == "supervised":
        errors.append((("probes", "mode"), f"server {server.name} answers model-aware probes itself and runs no "
                                           "supervisor: use probes.mode plain"))
    if weights_bytes(spec) is None and "budgetSeconds" not in spec["startup"] and not lay.simulator:
        errors.append((("model",), "the startup budget needs the weights size: set model.weightsGiB, or "
                                   "model.parameters (with model.dtype), or startup.budgetSeconds"))
    elif (budget := startup_budget(spec)).seconds > MAX_BUDGET_SECONDS:
        errors.append((("startup",), f"the startup budget {budget.arithmetic()} is longer than Kubernetes' "
                                     f"probe and rollout fields can hold ({MAX_BUDGET_SECONDS} s): check "
                                     "startup.downloadMBps and startup.loadMBps, or set startup.budgetSeconds"))
    if engine["extraArgs"] and not engine["extraArgs"][0].startswith("-"):
        errors.append((("engine", "extraArgs", 0), f"{_short(engine['extraArgs'][0])} is not a flag: extraArgs "
                                                   "follow the spec's own arguments, so they start with a flag "
                                                   "(`--name value` or `--name=value`); vLLM would refuse a "
                                                   "stray value"))
    for i, arg in enumerate(engine["extraArgs"]):
        flag = controlled_flag(arg)
        if flag is not None:
            said = arg.split("=", 1)[0]
            named = flag if said == flag else f"{said} (vLLM reads it as {flag})"
            errors.append((("engine", "extraArgs", i),
                           f"{named} is set by the spec ({CONTROLLED_FLAGS[flag]}); set that field instead"))
    for name in engine["env"]:
        if name.upper() in CONTROLLED_ENV:
            errors.append((("engine", "env", name), f"{name} in clear text would land in the values, the spec "
                                                    f"ConfigMap and the logs: set {CONTROLLED_ENV[name.upper()]}"))
        elif credential_env(name):
            errors.append((("engine", "env", name), f"{name} names a credential: in clear text it would land in "
                                                    f"the values, the spec ConfigMap and the logs; {SECRET_ROUTE}"))
    errors += _userinfo_errors(spec)
    if spec["probes"]["mode"] == "supervised" and lay.simulator:
        errors.append((("probes", "mode"), "the simulator image has no supervisor: use probes.mode plain"))
    size = len(json.dumps(spec, ensure_ascii=False).encode())
    if size > MOUNTED_SPEC_MAX_BYTES:
        biggest = max(_fields(spec), key=lambda item: item[1])[0]
        errors.append((biggest, f"the spec takes {size} bytes mounted, more than {MOUNTED_SPEC_MAX_BYTES}: the "
                                "ConfigMap that carries it into the pod must stay under Kubernetes' 1 MiB; this "
                                "field is the largest"))
    errors += _gateway_check(spec, asked_roles)
    if not any(autoscaling.deployed(r) for r in spec["roles"].values()):
        errors.append((("roles",), "every role has 0 replicas: nothing would be deployed"))
    errors += _autoscaling_errors(spec)
    return errors


def _userinfo_errors(spec: dict) -> list[tuple[tuple, str]]:
    """Every string of the spec is clear text (the values, the mounted ConfigMap, the logs): a URL carrying
    `user:password@` is refused wherever it is."""
    errors: list[tuple[tuple, str]] = []
    for path, node in leaves(spec):
        if has_userinfo(node):
            errors.append((path, f"a URL with credentials (user:password@) in clear text would land in the values, "
                                 f"the spec ConfigMap and the logs; {SECRET_ROUTE}"))
        elif isinstance(node, str) and _NOT_YAML.search(node):
            char = _NOT_YAML.search(node).group(0)
            errors.append((path, f"holds U+{ord(char):04X}, which no YAML stream may carry (YAML 1.2, 5.1 "
                                 "Character Set): Helm's toYaml writes it raw and drops the whole block it is in "
                                 "(a container's args, its env) without a word"))
    return sorted(errors)


#: Characters outside YAML's printable set (YAML 1.2, 5.1) that Go's JSON encoder leaves raw, so Helm's `toYaml`
#: (JSON, then go-yaml) meets them raw: go-yaml refuses them and toYaml swallows the error, rendering nothing. DEL,
#: the C1 controls but NEL, U+FFFE and U+FFFF, and lone surrogates (the C0 controls are escaped by the JSON step).
_NOT_YAML = re.compile("[\x7f-\x84\x86-\x9f\ufffe\uffff\ud800-\udfff]")


def _autoscaling_errors(spec: dict) -> list[tuple[tuple, str]]:
    errors: list[tuple[tuple, str]] = []
    server = servers.of(spec)
    for role, cfg in spec["roles"].items():
        auto = cfg.get("autoscaling")
        if auto is None:
            continue
        where = ("roles", role, "autoscaling")
        if not server.vllm_metrics:
            errors.append((where, f"server {server.name} does not serve vLLM's own metrics ({auto['metric']}), "
                                  f"which the autoscaler scales on"))
        if auto["minReplicas"] > auto["maxReplicas"]:
            errors.append((where + ("maxReplicas",), f"maxReplicas {auto['maxReplicas']} is below minReplicas "
                                                     f"{auto['minReplicas']}"))
        limit = autoscaling.METRICS[auto["metric"]].max_target
        if limit is not None and auto["target"] > limit:
            errors.append((where + ("target",), f"{auto['metric']} is a fraction: a target of {auto['target']:g} "
                                                f"is never reached (at most {limit:g})"))
    return errors


def _fields(spec: dict):
    """(path, bytes) of every field two levels deep, to name the one that makes a spec too big."""
    for key, value in spec.items():
        if isinstance(value, dict) and value:
            for sub, inner in value.items():
                yield (key, sub), len(json.dumps(inner, ensure_ascii=False).encode())
        else:
            yield (key,), len(json.dumps(value, ensure_ascii=False).encode())


def _gateway_check(spec: dict, asked_roles: list[str] | None) -> list[tuple[tuple, str]]:
    routing = spec["routing"]
    errors: list[tuple[tuple, str]] = []
    why = "" if asked_roles else gateway.roles_error(spec, active_roles(spec))
    if why:  # the spec's own roles: say so in the spec, where they are written
        errors.append((("roles",), why))
    if routing["gateway"].get("name") and not routing["inferencePool"]:
        errors.append((("routing", "gateway", "name"), "the HTTPRoute sends requests to the InferencePool: set "
                                                        "routing.inferencePool true, or leave routing.gateway out"))
    return errors


def role_replicas(spec: dict, role: str) -> int:
    return spec["roles"].get(role, {}).get("replicas", 0)


def active_roles(spec: dict) -> list[str]:
    """Roles that render pods (a fixed count above 0, or autoscaling), in the canonical order."""
    return [r for r in ROLES if autoscaling.deployed(spec["roles"].get(r, {}))]


__all__ = ["load_spec", "parse_spec", "effective", "weights_bytes", "active_roles", "role_replicas",
           "exclusion_message", "InputError", "EMBEDDED"]
