"""Values -> the objects charts/vllm renders, with the real Helm engine.

`vllmgen lint` and `vllmgen probe-check` read a values file by rendering it, never by guessing what the chart
would do: the `helm` binary when it is on PATH (`helm template`, with `-f`, `--set` and `--set-string` passed
as given), otherwise Helm's own Go engine embedded in Python (helm-python-sdk, the optional extra
`vllmgen[render]`). With neither, `NoEngine` says so in one line.

Layering for the embedded engine is Helm's: `-f` files merge key by key, later files win, lists are replaced
whole (helm/pkg/cli/values/options.go, mergeMaps); each `--set`/`--set-string` expression is parsed by Helm's
own strvals grammar (the embedded engine exposes it) and merged on top, in the order given. A null removes a key
when Helm coalesces the result with the chart's defaults.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from vllmgen.errors import InputError, pointer
from vllmgen.roles import ROLES
from vllmgen.trees import value_at
from vllmgen.yamlio import Document, parse_documents

#: Release name and namespace the objects are rendered for (what `helm template` uses without a name).
RELEASE = "release-name"
NAMESPACE = "default"
#: Where the chart is looked up when --chart is not given: $VLLMGEN_CHART, then the chart of this source tree.
CHART_ENV = "VLLMGEN_CHART"
SOURCE_CHART = Path(__file__).resolve().parents[2] / "charts" / "vllm"
#: `helm template` labels every object with the template it came from.
SOURCE_MARK = "# Source: "
#: Seconds `helm template` may take (it renders in well under a second; a hung binary must not hang lint).
HELM_TIMEOUT_S = 120
#: What to install when no engine is found.
INSTALL_HINT = "install helm (https://helm.sh/docs/intro/install/) or `pip install 'vllmgen[render]'`"


class NoEngine(InputError):
    """Neither the helm binary nor the embedded engine is available."""


class RenderError(Exception):
    """The chart refused the values (its values schema, a `fail` in a template): Helm's own message."""


@dataclass
class Rendered:
    engine: str                                           # which Helm engine rendered the objects
    documents: list[Document] = field(default_factory=list)  # every rendered object, by template


def chart_path(chart: Optional[str] = None) -> Path:
    found = chart or os.environ.get(CHART_ENV) or (str(SOURCE_CHART) if SOURCE_CHART.is_dir() else None)
    if not found:
        raise InputError("--chart", "", f"no chart to render the values with: pass --chart PATH (charts/vllm of a "
                         f"clone, or the unpacked released chart) or set ${CHART_ENV}")
    if not Path(found, "Chart.yaml").is_file():
        raise InputError(str(found), "", "is not a Helm chart (no Chart.yaml)")
    return Path(found)


def engine() -> str:
    """Which engine renders: 'helm' (the binary on PATH) or 'embedded'; NoEngine when neither is there."""
    if shutil.which("helm"):
        return "helm"
    try:
        import helm_python  # noqa: F401
    except (ImportError, OSError):  # OSError: the wheel's native library does not load here
        pass
    else:
        return "embedded"
    raise NoEngine("<helm>", "", f"no Helm engine to render the values with: {INSTALL_HINT}")


def merge(base: Any, override: Any) -> Any:
    """Helm's merge of two values maps (`helm install -f A -f B`): maps merge, anything else is replaced."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def layered_values(layers: list[Any], sets: list[str] = (), set_strings: list[str] = ()) -> dict:
    """The values Helm hands the chart: the -f layers merged, then --set, then --set-string expressions."""
    import helm_python as helm

    merged: Any = {}
    for data in layers:
        merged = merge(merged, data if isinstance(data, dict) else {})
    for parse, expressions in ((helm.parse_set_string, sets), (helm.parse_set_string_values, set_strings)):
        for expr in expressions:
            try:
                merged = merge(merged, parse(expr))
            except Exception as exc:  # helm_python raises HelmError subclasses with Helm's message
                raise InputError("--set", "", f"{expr!r}: {_first_line(exc)}") from None
    return merged


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if "\n" in text and len(text.splitlines()[0]) > 20 else " ".join(text.split())


def render(layers: list[Any], sets: list[str] = (), set_strings: list[str] = (),
           chart: Optional[str] = None) -> Rendered:
    """Render the chart with these values layers (the parsed -f files, in order) and --set expressions."""
    which = engine()
    path = chart_path(chart)
    if which == "helm":
        return _render_binary(path, layers, sets, set_strings)
    return _render_embedded(path, layers, sets, set_strings)


def _render_binary(chart: Path, layers: list[Any], sets, set_strings) -> Rendered:
    cmd = ["helm", "template", RELEASE, str(chart), "--namespace", NAMESPACE]
    for s in sets:
        cmd += ["--set", s]
    for s in set_strings:
        cmd += ["--set-string", s]
    with tempfile.TemporaryDirectory(prefix="vllmgen-values-") as tmp:
        for i, data in enumerate(layers):
            layer = Path(tmp, f"values-{i}.json")  # JSON is YAML: the layer exactly as it was read
            layer.write_text(json.dumps(data if isinstance(data, dict) else {}), encoding="utf-8")
            cmd += ["-f", str(layer)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=HELM_TIMEOUT_S)
            version = subprocess.run(["helm", "version", "--short"], capture_output=True, text=True,
                                     timeout=HELM_TIMEOUT_S).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NoEngine("<helm>", "", f"the helm binary did not run: {exc}") from None
    if done.returncode != 0:
        raise RenderError(" ".join(done.stderr.strip().split()) or f"helm template exited {done.returncode}")
    texts: dict[str, str] = {}
    current = None
    for chunk in done.stdout.split("\n---"):
        for line in chunk.splitlines():
            if line.startswith(SOURCE_MARK):
                current = line[len(SOURCE_MARK):].strip()
                break
        if current is not None:
            texts[current] = texts.get(current, "") + "\n---" + chunk
    return Rendered(f"helm {version or '(binary)'}".strip(), _documents(texts))


def _render_embedded(chart: Path, layers, sets, set_strings) -> Rendered:
    import helm_python as helm
    from importlib.metadata import PackageNotFoundError, version

    values = layered_values(layers, list(sets), list(set_strings))
    try:
        texts = _load_chart(str(chart)).render(values=values, name=RELEASE, namespace=NAMESPACE)
    except helm.HelmError as exc:
        raise RenderError(" ".join(str(exc).split())) from None
    try:
        sdk = version("helm-python-sdk")
    except PackageNotFoundError:
        sdk = "?"
    return Rendered(f"embedded Helm engine (helm-python-sdk {sdk}, Helm {helm.helm_sdk_version()})",
                    _documents(texts))


#: Container fields the chart copies from the role's values block: rendered field -> values path under the role.
CONTAINER_FIELDS = {
    "startupProbe": ("probes", "startup"),
    "readinessProbe": ("probes", "readiness"),
    "livenessProbe": ("probes", "liveness"),
    "resources": ("resources",),
    "env": ("env",),
    "args": ("args",),
    "command": ("command",),
    "ports": ("port",),
    "lifecycle": ("preStopSleepSeconds",),
}
#: Fields the chart copies verbatim below them (a probe is a Kubernetes Probe in the values as in the pod).
VERBATIM = ("startupProbe", "readinessProbe", "livenessProbe", "resources")
#: Pod fields the chart copies from the role's values block.
POD_FIELDS = {"terminationGracePeriodSeconds": ("terminationGracePeriodSeconds",)}


class ValuesStack(Document):
    """Values as Helm layers them (one file, or `-f` files in order), with the file and line that last set each
    path. `layers` keeps every file's own document."""

    def __init__(self, layers: list[Document]):
        merged: Any = {}
        for d in layers:
            merged = merge(merged, d.data)
        lines: dict[tuple, int] = {}
        for d in layers:
            lines.update(d._lines)
        super().__init__(_drop_nulls(merged), " + ".join(d.file for d in layers), lines)
        self.layers = layers

    def origin(self, path) -> tuple[str, Optional[int]]:
        """The file and line of the deepest part of `path` some layer sets (the latest layer wins)."""
        path = tuple(path)
        for depth in range(len(path), -1, -1):
            prefix = path[:depth]
            for d in reversed(self.layers):
                if prefix in d._lines:
                    return d.file, d._lines[prefix]
        return self.layers[-1].file, None

    def sets(self, path) -> bool:
        """Some layer writes `path` itself (not only a mapping above it)."""
        return any(tuple(path) in d._lines for d in self.layers)

    def env_path(self, base: tuple, name: Any) -> tuple:
        """The path of the env var `name` in the values list at `base` (the chart puts its own first)."""
        env = value_at(self.data, base)
        if isinstance(env, list):
            for i, e in enumerate(env):
                if isinstance(e, dict) and e.get("name") == name:
                    return base + (i,)
        return base


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


#: The label that names a rendered object's role (charts/vllm/templates/_labels.tpl, vllm.selectorLabels).
ROLE_LABEL = "app.kubernetes.io/component"


def role_of(obj: Any) -> Optional[str]:
    """The role a rendered object belongs to (None for the chart's other objects)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    role = labels.get(ROLE_LABEL) if isinstance(labels, dict) else None
    return role if role in ROLES else None


def values_path_of(obj: Any, path: tuple) -> Optional[tuple]:
    """The values path a field of a rendered object comes from (`path` inside the object), or None when the chart
    writes the field itself. Containers and pod fields of a role's pods come from that role's values block."""
    role = role_of(obj)
    if role is None or "spec" not in path:
        return None
    for i in range(len(path) - 1):
        if path[i] in ("containers", "initContainers") and isinstance(path[i + 1], int):
            rel = path[i + 2:]
            if not rel or rel[0] not in CONTAINER_FIELDS:
                return None
            base = (role,) + CONTAINER_FIELDS[rel[0]]
            if rel[0] in VERBATIM:
                return base + tuple(rel[1:])
            if rel[0] == "env" and len(rel) > 1:
                container = value_at(obj, path[:i + 2])
                var = value_at(container, ("env", rel[1]))
                return base + (("name", var.get("name")) if isinstance(var, dict) else ())
            return base
    if path[-1] in POD_FIELDS and len(path) > 1 and path[-2] == "spec":
        return (role,) + POD_FIELDS[path[-1]]
    return None



#: A values path the chart's `fail` messages start with ("decode.probes.readiness targets port ...",
#: "extraObjects[0].metadata.name: ..."), or the JSON pointer Helm's schema check names ("at
#: '/standalone/probes/startup': got null").
_FAIL_PATH = re.compile(r"\): ([A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*|\[\d+\])+)(?=[:\s]|$)")
_PATH_STEP = re.compile(r"[A-Za-z][\w-]*|\[(\d+)\]")
_SCHEMA_POINTER = re.compile(r"at '(/[^']*)'")


def refused_path(message: str, stack: "ValuesStack") -> tuple:
    """The values path a refusal of the chart names, as far as some values file sets it; () when none."""
    m, p = _FAIL_PATH.search(message), _SCHEMA_POINTER.search(message)
    if m is not None:
        path = tuple(int(step.group(1)) if step.group(1) else step.group(0)
                     for step in _PATH_STEP.finditer(m.group(1)))
    elif p is not None:
        path = tuple(int(k) if k.isdigit() else k.replace("~1", "/").replace("~0", "~")
                     for k in p.group(1).strip("/").split("/") if k)
    else:
        return ()
    while path and not stack.sets(path):
        path = path[:-1]
    return path


def refusal(exc: RenderError, stack: "ValuesStack") -> InputError:
    """The chart's refusal as one error at the values line it names."""
    path = refused_path(str(exc), stack)
    file, line = stack.origin(path)
    return InputError(file, pointer(path), f"the chart refuses these values: {exc}", line)


class RenderedDocument(Document):
    """A rendered object whose errors point at the values that made it, where the chart copies the field."""

    def __init__(self, doc: Document, stack: ValuesStack, index: int = 0):
        super().__init__(doc.data, doc.file, doc._lines)
        self.stack = stack
        self.index = index  # its place among the objects its template rendered

    def origin(self, path) -> tuple[str, Optional[tuple], Optional[int], str]:
        """(file, values path, line, note): where a rendered field comes from in the values."""
        path = tuple(path)
        where = f" (rendered {self.file}: {pointer(path) or '/'})"
        target = values_path_of(self.data, path)
        if self.file.endswith(EXTRA_OBJECTS_TEMPLATE):  # the values' extraObjects, rendered one by one in order
            target = ("extraObjects", self.index) + path
        if target is not None and target[-2:-1] == ("name",):  # an env var, by name
            target = self.stack.env_path(target[:-2], target[-1])
        if target is None:
            return self.stack.origin(())[0], None, None, where + "; the chart writes this field itself, no values line"
        if not self.stack.sets(target[:3]) and not self.stack.sets(target):
            return (self.stack.origin(())[0], target, None,
                    where + f"; {pointer(target)} is the chart's default, not in the values")
        file, line = self.stack.origin(target)
        return file, target, line, ""

    def error(self, path, message: str) -> InputError:
        file, target, line, note = self.origin(path)
        return InputError(file, pointer(target) if target is not None else "", message + note, line)


_CHARTS: dict[str, Any] = {}


def _load_chart(path: str):
    import helm_python as helm

    if path not in _CHARTS:
        _CHARTS[path] = helm.Chart.load(path)
    return _CHARTS[path]


#: The template that renders the values' `extraObjects` (charts/vllm/templates/extra-objects.yaml).
EXTRA_OBJECTS_TEMPLATE = "templates/extra-objects.yaml"


def rendered_documents(out: Rendered, stack: ValuesStack) -> list[RenderedDocument]:
    seen: dict[str, int] = {}
    docs = []
    for d in out.documents:
        docs.append(RenderedDocument(d, stack, seen.get(d.file, 0)))
        seen[d.file] = seen.get(d.file, 0) + 1
    return docs


def _documents(texts: dict[str, str]) -> list[Document]:
    """Every object rendered, as Documents named by their template (NOTES.txt is not an object)."""
    out = []
    for source in sorted(texts):
        if source.endswith("NOTES.txt"):
            continue
        out += [d for d in parse_documents(texts[source], source) if isinstance(d.data, dict)]
    return out
