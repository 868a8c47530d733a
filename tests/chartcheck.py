"""Render charts/vllm with the real Helm engine and validate what it renders, for the chart tests and the benchmark.

- `render_objects(values)`: helm-python-sdk render (values schema enforced as `helm install` does) -> objects.
- `lint(values)`: Helm lint in strict mode -> error strings.
- `Validators`: Kubernetes' own schemas (kubernetes-validate's bundled files, strict) built once per version and
  kind and reused (each `kubernetes_validate.validate()` call re-reads a 1-2 MB file); LeaderWorkerSets against
  `schemas/lws-v1.schema.json` plus their pod templates against PodTemplateSpec; Prometheus Operator monitors
  against the small schema below; custom resources (KEDA ScaledObjects, InferencePools, HTTPRoutes, Gateways) against
  their upstream CRDs (`tests/data/crds/`, unchanged), made strict as the API server's strict field validation
  reads them (`strict_crd_schema`), plus their metadata against Kubernetes' ObjectMeta.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "vllm"

#: Oldest Kubernetes the chart supports (native sidecars and the preStop sleep action are on by default).
OLDEST_KUBE = "1.30.0"

#: The Prometheus Operator CRDs are not bundled with kubernetes-validate; these are the fields the chart sets
#: (monitoring.coreos.com/v1 PodMonitor and ServiceMonitor), strict like the rest.
_ENDPOINT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["port"],
    "properties": {
        "port": {"type": "string"},
        "path": {"type": "string", "pattern": "^/"},
        "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
    },
}
MONITOR_SCHEMAS = {
    kind: {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["selector", endpoints],
                "properties": {
                    "selector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
                    },
                    endpoints: {"type": "array", "minItems": 1, "items": _ENDPOINT},
                },
            },
        },
    }
    for kind, endpoints in (("PodMonitor", "podMetricsEndpoints"), ("ServiceMonitor", "endpoints"))
}


#: Upstream CRDs, kept byte for byte as their projects ship them (tests/data/crds/README.md cites each source).
CRD_DIR = REPO / "tests" / "data" / "crds"
CRDS = (
    CRD_DIR / "keda.sh_scaledobjects.yaml",
    CRD_DIR / "inference.networking.k8s.io_inferencepools.yaml",
    CRD_DIR / "gateway.networking.k8s.io_httproutes.yaml",
    CRD_DIR / "gateway.networking.k8s.io_gateways.yaml",
)
#: JSON-schema keywords whose subschemas only add constraints to fields declared elsewhere.
_SCHEMA_LOGIC = ("anyOf", "oneOf", "allOf", "not")


def strict_crd_schema(node: Any, in_logic: bool = False) -> Any:
    """A CRD's openAPIV3Schema as a JSON schema that refuses what the API server's strict field validation
    refuses: unknown fields wherever the CRD lists `properties` (unless it preserves unknown fields; never inside
    anyOf/oneOf/allOf/not, which only constrain fields declared elsewhere), `x-kubernetes-int-or-string` as
    integer or string, `nullable` as also null. A copy; CEL rules, formats and defaults are not enforced."""
    if isinstance(node, list):
        return [strict_crd_schema(item, in_logic) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: strict_crd_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LOGIC:
            out[key] = strict_crd_schema(value, True)
        elif key in ("x-kubernetes-validations", "enum", "default", "example", "required"):
            out[key] = value
        else:
            out[key] = strict_crd_schema(value, in_logic)
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "properties" in out and "additionalProperties" not in out and not in_logic \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def crd_schemas(path: Path) -> dict[str, dict]:
    """{apiVersion: strict schema} for every served version of the CRD in `path`."""
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    group = crd["spec"]["group"]
    return {f"{group}/{v['name']}": strict_crd_schema(v["schema"]["openAPIV3Schema"])
            for v in crd["spec"]["versions"] if v.get("served")}


@lru_cache(maxsize=None)
def crd_kinds() -> dict[tuple[str, str], Path]:
    """(apiVersion, kind) -> the CRD file of every served version in CRDS."""
    out = {}
    for path in CRDS:
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        for v in crd["spec"]["versions"]:
            if v.get("served"):
                out[(f"{crd['spec']['group']}/{v['name']}", crd["spec"]["names"]["kind"])] = path
    return out


def newest_kube() -> str:
    import kubernetes_validate.utils as kvu

    latest = kvu.latest_version()
    return latest if latest.count(".") == 2 else latest + ".0"


def kube_versions() -> tuple[str, str]:
    """The versions every object must pass: the oldest supported and the newest kubernetes-validate ships."""
    return (OLDEST_KUBE, newest_kube())


@lru_cache(maxsize=1)
def chart():
    import helm_python as helm

    return helm.Chart.load(str(CHART))


def render_texts(values: dict, name: str = "rel", namespace: str = "ns") -> dict[str, str]:
    """{template path: text} from the real Helm engine; raises HelmValuesError / HelmRenderError."""
    return chart().render(values=values, name=name, namespace=namespace)


#: libyaml's safe loader where PyYAML has it (the supervisor's zipapp, base64 in a ConfigMap, is long to scan).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_objects(texts: dict[str, str]) -> list[dict]:
    objs = []
    for path, text in sorted(texts.items()):
        if path.endswith("NOTES.txt"):
            continue
        objs.extend(doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None)
    return objs


def render_objects(values: dict, name: str = "rel", namespace: str = "ns") -> list[dict]:
    return parse_objects(render_texts(values, name, namespace))


def notes(values: dict, name: str = "rel", namespace: str = "ns") -> str:
    return next(text for path, text in render_texts(values, name, namespace).items() if path.endswith("NOTES.txt"))


def lint(values: dict, kube_version: str = "v" + OLDEST_KUBE) -> list[str]:
    """Helm lint (strict: warnings are errors) of the chart with these values; [] when clean."""
    import helm_python as helm

    report = helm.lint(str(CHART), values=values, strict=True, kube_version=kube_version)
    problems = list(report.get("errors") or [])
    problems += [f"{m.get('severity')}: {m.get('path')}: {m.get('error')}" for m in report.get("messages") or []
                 if str(m.get("severity", "")).upper() not in ("INFO", "1")]
    return problems


class Validators:
    """jsonschema validators built once and reused: Kubernetes (strict) per version and kind, LWS, monitors."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Any] = {}
        self._registries: dict[str, Any] = {}

    @staticmethod
    def _schema_dir(version: str) -> Path:
        import kubernetes_validate

        base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
        major_minor = ".".join(version.lstrip("v").split(".")[:2])
        return base / f"v{major_minor}.0-local-strict"

    def _kube(self, version: str, filename: str):
        key = (version, filename)
        if key not in self._cache:
            from jsonschema import Draft202012Validator
            from referencing import Registry, Resource

            folder = self._schema_dir(version)
            if version not in self._registries:
                defs = json.loads((folder / "_definitions.json").read_text())
                self._registries[version] = Resource.from_contents(defs) @ Registry()
            path = folder / filename
            if not path.exists():
                raise LookupError(f"no Kubernetes {version} schema {filename}")
            schema = json.loads(path.read_text())
            registry = Resource.from_contents(schema) @ self._registries[version]
            self._cache[key] = Draft202012Validator(schema, registry=registry)
        return self._cache[key]

    def kube_file(self, obj: dict) -> str:
        """kubernetes-validate's file naming: KIND-GROUP-VERSION.json (core group: KIND-VERSION.json)."""
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])
        return f"{obj['kind'].lower()}-{api}.json"

    def _lws(self):
        if ("lws", "") not in self._cache:
            from vllmgen import schemas

            self._cache[("lws", "")] = schemas.validator("lws-v1")
        return self._cache[("lws", "")]

    def _crd(self, key: tuple[str, str]):
        if ("crd", key) not in self._cache:
            from jsonschema import Draft7Validator

            schema = crd_schemas(crd_kinds()[key])[key[0]]
            self._cache[("crd", key)] = Draft7Validator(schema)
        return self._cache[("crd", key)]

    def _monitor(self, kind: str):
        if ("monitor", kind) not in self._cache:
            from jsonschema import Draft202012Validator

            self._cache[("monitor", kind)] = Draft202012Validator(MONITOR_SCHEMAS[kind])
        return self._cache[("monitor", kind)]

    def errors(self, obj: dict, version: str) -> Iterator[str]:
        """Every schema error of one rendered object for one Kubernetes version, as `KIND/NAME: path: message`."""
        name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"

        def report(validator, instance, prefix=""):
            for err in validator.iter_errors(instance):
                where = prefix + "/".join(str(p) for p in err.absolute_path)
                yield f"{name} (k8s {version}): {where}: {err.message}"

        kind = obj.get("kind")
        if kind == "LeaderWorkerSet":
            yield from report(self._lws(), obj)
            templates = (obj.get("spec") or {}).get("leaderWorkerTemplate") or {}
            for key in ("leaderTemplate", "workerTemplate"):
                if key in templates:
                    pod_template = self._kube(version, "podtemplatespec-v1.json")
                    yield from report(pod_template, templates[key], f"spec/leaderWorkerTemplate/{key}/")
        elif kind in MONITOR_SCHEMAS:
            yield from report(self._monitor(kind), obj)
        elif (obj.get("apiVersion"), kind) in crd_kinds():
            yield from report(self._crd((obj["apiVersion"], kind)), obj)
            yield from report(self._kube(version, "objectmeta-meta-v1.json"), obj.get("metadata"), "metadata/")
        else:
            yield from report(self._kube(version, self.kube_file(obj)), obj)

    def check(self, objs: list[dict], versions: tuple[str, ...]) -> list[str]:
        return [e for obj in objs for v in versions for e in self.errors(obj, v)]


# --- views of rendered objects used by assertions ---------------------------------------------------------------

#: The roles a model-server workload plays (its `app.kubernetes.io/component`), and the endpoint picker's.
SERVER_ROLES = ("standalone", "prefill", "decode")
ENDPOINT_PICKER = "endpoint-picker"


def component(obj: dict) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")


def workloads(objs: list[dict]) -> list[dict]:
    """The model servers' workloads (the endpoint picker's Deployment is not one)."""
    return [o for o in objs if o["kind"] in ("Deployment", "LeaderWorkerSet")
            and component(o) in SERVER_ROLES]


def pod_spec(workload: dict) -> dict:
    if workload["kind"] == "Deployment":
        return workload["spec"]["template"]["spec"]
    return workload["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]


def role_of(obj: dict) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def container(spec: dict, name: str) -> dict:
    return next(c for c in spec.get("containers", []) + spec.get("initContainers", []) if c["name"] == name)


def port_number(cont: dict, port: Any) -> int:
    """A probe's port as a number, resolving a port name against the container's ports."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in cont.get("ports", []) if p.get("name") == port)


def mounted_files(objs: list[dict], pod: dict, cont: dict) -> dict[str, bytes]:
    """{path in the container: contents} of every ConfigMap item the container mounts, as the kubelet lays them
    out (`data` as UTF-8 text, `binaryData` decoded)."""
    import base64

    configmaps = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    files = {}
    for mount in cont.get("volumeMounts", []):
        source = volumes[mount["name"]].get("configMap")
        if not source:
            continue
        cm = configmaps[source["name"]]
        for item in source.get("items") or [{"key": k, "path": k} for k in {**cm.get("data", {}),
                                                                             **cm.get("binaryData", {})}]:
            key = item["key"]
            data = cm["data"][key].encode() if key in cm.get("data", {}) else base64.b64decode(cm["binaryData"][key])
            files[f"{mount['mountPath'].rstrip('/')}/{item['path']}"] = data
    return files
