"""One spec through everything a user's spec goes through, for tests/test_spec_space.py and
benchmarks/spec_space.py: `validate` -> `values` -> the real Helm engine -> strict Kubernetes schemas (oldest
supported and newest) and the upstream CRDs -> the supervisor's `--print-command` parsed by vLLM's own argument
parser -> the mounted spec read back equal.

`run(spec_text, hatches)` returns an `Outcome`: `refused` (validate refused it with one clear message: exit 2, the
file named), `passed`, `failing` (accepted, then a later stage failed: the stage and why) or `crash` (an exception
other than vllmgen's InputError anywhere: a traceback a user would see)."""

from __future__ import annotations

import copy
import json
import re
import shlex
import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FILE = "spec.yaml"
#: What the LeaderWorkerSet controller injects into a wide-ep pod (values of a worker of a 2-pod group).
LWS_ENV = {"LWS_LEADER_ADDRESS": "leader.group", "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "1"}


@dataclass
class Outcome:
    kind: str  # "refused", "passed", "failing", "crash"
    stage: str = ""  # where it failed or crashed, or the refusal's field
    detail: str = ""

    @property
    def klass(self) -> str:
        """A short class for counting: the stage and the first words of the reason, numbers and names dropped."""
        first = self.detail.splitlines()[0] if self.detail else ""
        first = re.sub(r"(does not match the expected form|is not one of) .*", r"\1 ...", first)
        words = re.sub(r"'[^']*'|\"[^\"]*\"|[0-9]+", "_", first)
        return f"{self.stage}: {words[:90]}"


@lru_cache(maxsize=1)
def validators():
    from tests import chartcheck as cc

    return cc.Validators()


@lru_cache(maxsize=1)
def vllm_parser():
    """`vllm serve`'s parser of the installed vLLM (importing vLLM takes seconds: once per process)."""
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


class _ParseExit(Exception):
    pass


def parse_vllm(args: list[str]):
    """vLLM's parser on a `vllm serve` argument list (model first); raises _ParseExit with argparse's message."""
    import argparse
    import contextlib
    import io

    parser = vllm_parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(args)
    except (SystemExit, argparse.ArgumentError) as exc:
        raise _ParseExit(err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else str(exc)) from None


def _refusal(exc) -> Outcome:
    from vllmgen.errors import InputErrors

    errors = exc.errors if isinstance(exc, InputErrors) else [exc]
    text = "\n".join(e.format() for e in errors)
    bad = [e.format() for e in errors if not e.format().startswith(f"{FILE}")]
    if bad or "Traceback" in text:
        return Outcome("failing", "refusal message", f"does not name the file: {bad[0] if bad else text}")
    return Outcome("refused", errors[0].pointer or "(document)", errors[0].message)


def run(spec_text: str, hatches: dict | None = None, *, vllm: bool = True) -> Outcome:
    """Every stage for one spec (YAML or JSON text); `hatches` are values escape hatches merged in before Helm."""
    stage = "validate"
    try:
        from vllmgen.errors import InputError, InputErrors

        try:
            from vllmgen import spec as specmod

            effective = specmod.parse_spec(spec_text, FILE)
            stage = "values"
            from vllmgen import values

            text = values.render(effective)
        except (InputError, InputErrors) as exc:
            return _refusal(exc)
        stage = "after values"
        return _after_values(effective, text, hatches or {}, vllm)
    except _Failed as exc:
        return Outcome("failing", exc.stage, exc.detail)
    except Exception as exc:  # noqa: BLE001 - a traceback a user would see
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        where = next((line.strip() for line in reversed(tb) if "/vllmgen/" in line or "/tests/" in line), "")
        return Outcome("crash", stage, f"{type(exc).__name__}: {exc} at {where}"[:400])


class _Failed(Exception):
    def __init__(self, stage: str, detail: str):
        super().__init__(f"{stage}: {detail}")
        self.stage, self.detail = stage, detail


def _after_values(effective: dict, text: str, hatches: dict, vllm: bool) -> Outcome:
    import helm_python as helm

    from tests import chartcheck as cc
    from vllmgen import layouts, servers
    from vllmgen.spec import parse_spec

    try:
        emitted = helm.values_from_yaml(text)  # Helm's own YAML reader (go-yaml)
    except Exception as exc:  # noqa: BLE001
        raise _Failed("helm reads values", str(exc)) from None
    if emitted.get("spec") is None:
        raise _Failed("helm reads values", "no spec block")
    emitted = _merge(emitted, hatches)
    try:
        texts = cc.render_texts(emitted)
    except Exception as exc:  # noqa: BLE001
        raise _Failed("helm render", str(exc).splitlines()[-1][:300]) from None
    try:
        objs = cc.parse_objects(texts)
    except Exception as exc:  # noqa: BLE001
        raise _Failed("rendered YAML", str(exc)[:300]) from None
    # DRA (resource.k8s.io/v1 and the pods' claims of it) needs Kubernetes 1.34 (the chart says so): a release
    # that claims accelerators through DRA is checked against the newest only
    oldest, newest = cc.kube_versions()
    dra = any(str(o.get("apiVersion", "")).startswith("resource.k8s.io/") for o in objs)
    problems = validators().check(objs, (newest,) if dra else (oldest, newest))
    if not problems:
        problems = _floats(objs)
    notes = "".join(t for path, t in texts.items() if path.endswith("NOTES.txt"))
    if not problems and _EXPONENT.search(notes):
        problems = [f"NOTES.txt prints {_EXPONENT.search(notes).group(0)!r} (a number in exponent form)"]
    if problems:
        raise _Failed("kubernetes schema", problems[0])
    mounted = json.loads(_mounted_spec(objs))
    again = parse_spec(json.dumps(mounted), "spec.json")
    if mounted != emitted["spec"]:
        raise _Failed("mounted spec", "differs from the values' spec block")
    if again != mounted:
        raise _Failed("mounted spec", "is not read back as itself")
    changed = sorted(k for k in set(effective) | set(again) if k != "roles" and effective.get(k) != again.get(k))
    if changed:
        raise _Failed("mounted spec", f"differs from the validated spec at {', '.join(changed)}")
    if vllm and servers.of(again).name == "vllm" and not layouts.of(again).simulator:
        _check_commands(again, objs)
    _check_lint(text)
    return Outcome("passed")


def _check_lint(text: str) -> None:
    """`vllmgen lint` calls the values an accepted spec gives free of errors (warnings may stand: a spec may ask
    for what a reviewer would question, such as prefill pods without an InferencePool). The escape hatches are
    left out: they bypass validate, and lint rightly reports what a user writes there (a credential in extraEnv)."""
    import tempfile

    from vllmgen.lint.runner import Linter

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "values.yaml"
        path.write_text(text, encoding="utf-8")
        errors = [f for f in Linter().lint_paths([str(path)]).findings if f.severity == "error"]
    if errors:
        raise _Failed("lint", f"{errors[0].rule} at line {errors[0].line}: {errors[0].message[:250]}")


_EXPONENT = re.compile(r"\b[0-9]+(\.[0-9]+)?e\+[0-9]+\b")


def _floats(objs: list[dict]) -> list[str]:
    """Numbers Helm wrote in exponent form (`1e+06`: Go formats a float64 of 1,000,000 or more so), which the
    schemas read as integers but the API server's JSON decoder refuses for an integer field."""
    from vllmgen.trees import leaves

    return sorted(f"{'/'.join(map(str, path))}: {node!r} is written as a float"
                  for obj in objs for path, node in leaves(obj) if isinstance(node, float))


def _merge(values: dict, hatches: dict) -> dict:
    out = copy.deepcopy(values)
    for key, value in hatches.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _mounted_spec(objs: list[dict]) -> str:
    for obj in objs:
        data = obj.get("data") or {}
        if obj.get("kind") == "ConfigMap" and "spec.json" in data:
            json_text, yaml_text = data["spec.json"], data.get("spec.yaml")
            if yaml_text is not None:
                from vllmgen.yamlio import parse_document

                if parse_document(yaml_text, "spec.yaml").data != json.loads(json_text):
                    raise _Failed("mounted spec", "spec.yaml and spec.json differ")
            return json_text
    raise _Failed("mounted spec", "no ConfigMap carries spec.json")


def _check_commands(spec: dict, objs: list[dict]) -> None:
    """Each server container: the command it starts, parsed by vLLM's parser, sets what the spec says."""
    from tests import chartcheck as cc
    from vllmgen import engine, layouts, loras
    from vllmgen.supervisor import serve

    env = dict(LWS_ENV) if layouts.of(spec).multinode else {}
    for wl in cc.workloads(objs):
        role = cc.role_of(wl)
        if role not in cc.SERVER_ROLES:
            continue
        pod = cc.pod_spec(wl)
        server = cc.container(pod, "vllm")
        args = [str(a) for a in server.get("args") or []]
        if spec["probes"]["mode"] == "supervised":
            facts = {a.split("=", 1)[0]: int(a.split("=", 1)[1]) for a in args if a.startswith("--pod-")}
            serve.check_pod(spec, role, serve.PodFacts(facts.get("--pod-port"), facts.get("--pod-health-port"),
                                                       facts.get("--pod-accelerators")), "spec.json")
            plan = serve.plan_for(spec, role, env)
            launch = serve.launch_for(plan, {**env, "VLLMGEN_VLLM_COMMAND": "vllm serve"})
            printed = serve.command_text(launch, "print-command")
            words = shlex.split(printed.replace("\\\n", " "), comments=True)  # a shell's line continuations
            argv = words[words.index("serve") + 1:]
        else:
            argv = engine.vllm_args(spec, role, env)
            if argv and not args:  # Helm's toYaml drops a block it cannot write (and says nothing)
                raise _Failed("rendered args", f"{role}: the chart rendered the vLLM container without its args")
        try:
            ns = parse_vllm(argv)
        except _ParseExit as exc:
            raise _Failed("vllm parser", f"{role}: {exc}") from None
        if ns.model_tag != argv[0]:
            raise _Failed("vllm parser", f"{role}: model {ns.model_tag!r}, not {argv[0]!r}")
        if ns.port != engine.vllm_port(spec, role):
            raise _Failed("vllm parser", f"{role}: port {ns.port}, not {engine.vllm_port(spec, role)}")
        if ns.tensor_parallel_size != spec["engine"]["tensorParallelSize"]:
            raise _Failed("vllm parser", f"{role}: tensor parallel {ns.tensor_parallel_size}")
        if ns.served_model_name != [spec["model"]["name"]]:
            raise _Failed("vllm parser", f"{role}: served name {ns.served_model_name}")
        want = {a.name: loras.vllm_path(a) for a in loras.of(spec)}
        got = {m.name: m.path for m in getattr(ns, "lora_modules", None) or []}
        if got != want:
            raise _Failed("vllm parser", f"{role}: LoRA modules {got}, not {want}")
        if getattr(ns, "api_key", None):
            raise _Failed("vllm parser", f"{role}: an API key on the command line")
