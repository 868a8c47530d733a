"""LoRA adapters (`model.loras`): the flags vLLM gets, what the spec refuses, what the chart mounts, the startup
budget's term and what lint says about adapters on hand-written command lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from tests import chartcheck as cc
from vllmgen import budget, engine, values
from vllmgen.errors import InputError, InputErrors
from vllmgen.lint.runner import Linter
from vllmgen.spec import parse_spec

BASE = """model:
  source: pvc://models/Qwen3-0.6B
  name: qwen
  weightsGiB: 1.2
  loras:
    - {name: sql, source: pvc://adapters/team-a/sql, rank: 8}
    - {name: chat, source: hf://org/chat-lora, rank: 24}
    - {name: img, source: /adapters/img}
"""


VALIDATORS = cc.Validators()


def spec_of(text: str = BASE, **overrides):
    return parse_spec(text, "t.yaml", **overrides)


def refusal(text: str) -> list[str]:
    with pytest.raises((InputError, InputErrors)) as caught:
        spec_of(text)
    errors = caught.value.errors if isinstance(caught.value, InputErrors) else [caught.value]
    return [f"{e.pointer}: {e.message}" for e in errors]


def after(args: list[str], flag: str) -> list[str]:
    """The values of a flag that takes several: the words after it up to the next flag."""
    rest = args[args.index(flag) + 1:]
    return rest[:next((i for i, a in enumerate(rest) if a.startswith("--")), len(rest))]


def test_vllm_gets_every_adapter_and_sizes_computed_from_the_list():
    args = engine.vllm_args(spec_of(), "standalone")
    assert "--enable-lora" in args
    assert after(args, "--lora-modules") == ["sql=/lora-adapters/sql", "chat=org/chat-lora", "img=/adapters/img"]
    assert after(args, "--max-loras") == ["3"]  # every adapter stays loaded
    assert after(args, "--max-lora-rank") == ["32"]  # the smallest value vLLM accepts that holds rank 24


@pytest.mark.parametrize("path", ["/adapters/a,b", "/adapters/k=v", "/adapters/x=1,y=2"])
def test_an_adapter_path_vllm_would_split_goes_in_the_json_form(path):
    # vLLM's LoRAParserAction reads NAME=PATH only without a comma, and splits on every `=`
    text = json.dumps({"model": {"source": "/models/tiny", "weightsGiB": 1, "loras": [{"name": "ad", "source": path}]}})
    [module] = after(engine.vllm_args(parse_spec(text, "s.json"), "standalone"), "--lora-modules")
    assert json.loads(module) == {"name": "ad", "path": path}


def test_overrides_win_and_no_known_rank_leaves_vllms_default():
    args = engine.vllm_args(spec_of(BASE + "engine: {maxLoras: 1, maxLoraRank: 64}\n"), "standalone")
    assert after(args, "--max-loras") == ["1"] and after(args, "--max-lora-rank") == ["64"]
    unranked = BASE.replace(", rank: 8", "").replace(", rank: 24", "")
    assert "--max-lora-rank" not in engine.vllm_args(spec_of(unranked), "standalone")


def test_no_adapters_no_lora_flags():
    args = engine.vllm_args(spec_of("model: {source: /models/tiny, weightsGiB: 1}\n"), "standalone")
    assert not [a for a in args if "lora" in a]


@pytest.mark.parametrize("extra,pointer,words", [
    ("    - {name: sql, source: /adapters/other}\n", "/model/loras/3/name", "names two adapters"),
    ("    - {name: qwen, source: /adapters/other}\n", "/model/loras/3/name", "base model's served name"),
    ("    - {name: x, source: /adapters/x, revision: v2}\n", "/model/loras/3/revision", "only applies to hf://"),
    ("engine: {maxLoraRank: 16}\n", "/engine/maxLoraRank", "chat (24)"),
])
def test_spec_refuses_adapter_lists_vllm_would_fail_on(extra, pointer, words):
    text = BASE + extra if extra.startswith(" ") else BASE + extra
    found = refusal(text)
    assert any(f.startswith(pointer + ":") and words in f for f in found), found


def test_a_pinned_revision_needs_the_supervisor():
    pinned = BASE.replace("source: hf://org/chat-lora", "source: hf://org/chat-lora, revision: v2")
    spec_of(pinned)  # supervised (the default): the supervisor downloads that revision
    found = refusal(pinned + "probes: {mode: plain}\n")
    assert any(f.startswith("/model/loras/1/revision:") and "supervised" in f for f in found), found


@pytest.mark.parametrize("text,pointer", [
    ("model: {source: /models/tiny, weightsGiB: 1}\nengine: {maxLoras: 2}\n", "/engine/maxLoras"),
    (BASE + "engine: {extraArgs: [--enable-lora]}\n", "/engine/extraArgs/0"),
    (BASE + "engine: {extraArgs: ['--max_loras=4']}\n", "/engine/extraArgs/0"),
    (BASE + "server: triton\n", "/model/loras"),
    (BASE + "layout: simulated\nprobes: {mode: plain}\n", "/model/loras"),
])
def test_spec_refuses_lora_settings_without_a_place(text, pointer):
    found = refusal(text)
    assert any(f.startswith(pointer + ":") for f in found), found


def test_hub_adapters_are_a_term_of_the_startup_budget():
    terms = {t.name: t for t in budget.startup_budget(spec_of()).terms}
    # one hf:// adapter, downloaded at every start (the model is on a claim, the hub cache is not)
    assert terms["adapter download"].seconds == pytest.approx(budget.ADAPTER_DOWNLOAD_BYTES / 1e6
                                                              / spec_of()["startup"]["downloadMBps"])
    local = BASE.replace("hf://org/chat-lora", "/adapters/chat")
    assert "adapter download" not in {t.name for t in budget.startup_budget(spec_of(local)).terms}
    with_adapter = budget.startup_budget(spec_of()).seconds
    assert with_adapter > budget.startup_budget(spec_of(local)).seconds


def test_chart_mounts_pvc_adapters_read_only_where_vllm_looks():
    spec = spec_of(BASE + "probes: {mode: plain}\n")
    objs = cc.render_objects(yaml.safe_load(values.render(spec)))
    pod = cc.pod_spec(cc.workloads(objs)[0])
    container = next(c for c in pod["containers"] if "args" in c and "--enable-lora" in c["args"])
    path = after(container["args"], "--lora-modules")[0].split("=", 1)[1]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == path)
    assert mount["readOnly"] is True and mount["subPath"] == "team-a/sql"
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"] == {"claimName": "adapters", "readOnly": True}
    # hf:// and image-path adapters get no volume
    assert sum(1 for v in pod["volumes"] if "adapters" == (v.get("persistentVolumeClaim") or {}).get("claimName")) == 1


def test_values_say_what_the_probes_see_of_the_adapters():
    plain = values.render(spec_of(BASE + "probes: {mode: plain}\n"))
    supervised = values.render(spec_of())
    assert "only see the base model" in " ".join(plain.split())
    assert "503 until every one is listed in /v1/models" in " ".join(supervised.split())


@pytest.mark.parametrize("mode", ["plain", "supervised"])
def test_generated_values_lint_clean(tmp_path, mode):
    out = tmp_path / "values.yaml"
    out.write_text(values.render(spec_of(BASE + f"probes: {{mode: {mode}}}\n")))
    result = Linter().lint_paths([str(out)])
    assert not result.unusable
    assert [f.rule for f in result.findings if f.rule.startswith("VG03")] == []


def test_lint_takes_the_ranks_from_the_embedded_spec(tmp_path):
    """A plain values file whose --max-lora-rank was edited below an adapter's rank: VG037 names the adapter."""
    data = yaml.safe_load(values.render(spec_of(BASE + "probes: {mode: plain}\n")))
    args = data["standalone"]["args"]
    args[args.index("--max-lora-rank") + 1] = "16"
    out = tmp_path / "values.yaml"
    out.write_text(yaml.safe_dump(data))
    found = [f for f in Linter().lint_paths([str(out)]).findings if f.rule == "VG037"]
    assert len(found) == 1 and "chat (rank 24)" in found[0].message


# --- a pinned hub revision: the supervisor downloads it (from a hub cache here: no network) --------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(root) -> dict:
    """An offline hub cache (HF_HOME) holding revision `v2` of org/chat-lora, in huggingface_hub's layout."""
    repo = root / "hub" / "models--org--chat-lora"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "v2").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "adapter_config.json").write_text("{}")
    return {"HF_HOME": str(root), "HF_HUB_OFFLINE": "1"}


def test_the_supervisor_gives_vllm_the_pinned_revision_folder(tmp_path):
    from vllmgen.supervisor import adapters, serve

    spec = spec_of(BASE.replace("source: hf://org/chat-lora", "source: hf://org/chat-lora, revision: v2"))
    plan = serve.plan_for(spec, "standalone", {})
    assert plan.pinned == (("chat", "org/chat-lora", "v2"),) and plan.adapters == ("sql", "chat", "img")
    code = (f"import json; from vllmgen.supervisor import adapters; "
            f"print(json.dumps(adapters.fetch({plan.pinned!r})))")
    env = {**os.environ, **hub_cache(tmp_path)}
    fetched = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    paths = json.loads(fetched.stdout)
    assert paths["chat"].endswith(f"snapshots/{COMMIT}")
    args = adapters.with_paths(plan.args, plan.pinned, paths)
    assert after(args, "--lora-modules") == ["sql=/lora-adapters/sql", f"chat={paths['chat']}", "img=/adapters/img"]


def test_a_revision_the_hub_does_not_have_ends_the_start_before_vllm(tmp_path):
    """The supervisor exits 1 naming the download failure, without starting vLLM."""
    from tests.support.vllm_server import REPO, free_port

    model = tmp_path / "model"
    model.mkdir()
    spec = {"model": {"source": str(model), "name": "tiny", "weightsGiB": 0.001,
                      "loras": [{"name": "chat", "source": "hf://org/chat-lora", "revision": "v3"}]},
            "routing": {"servicePort": free_port()}, "probes": {"healthPort": free_port()}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    env = {**os.environ, **hub_cache(tmp_path / "hf"), "VLLMGEN_VLLM_COMMAND": "false",
           "PYTHONPATH": os.pathsep.join([str(REPO / "cli"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-m", "vllmgen", "serve", "--spec", str(path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "exit" and events[-1]["reason"].startswith("LoRA adapter download failed")
    assert not any(e["event"] == "vllm-started" for e in events)


# --- any adapter list the spec accepts renders into valid objects, and its own values lint clean -----------------

ADAPTER_NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
ADAPTER_SOURCE = st.one_of(
    st.from_regex(r"hf://[a-z0-9][a-z0-9-]{0,8}/[a-z0-9][a-z0-9._-]{0,8}", fullmatch=True),
    st.from_regex(r"pvc://[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?(/[A-Za-z0-9._@:+-]{1,12}){0,3}", fullmatch=True),
    st.from_regex(r"(/[A-Za-z0-9._@:+-]{1,12}){1,3}", fullmatch=True))


@st.composite
def lora_specs(draw) -> str:
    names = draw(st.lists(ADAPTER_NAME.filter(lambda n: n != "qwen"), min_size=1, max_size=5, unique=True))
    items = [{"name": n, "source": draw(ADAPTER_SOURCE), **({"rank": draw(st.integers(1, 512))}
                                                            if draw(st.booleans()) else {})} for n in names]
    layout = draw(st.sampled_from(["single-node", "wide-ep"]))
    mode = draw(st.sampled_from(["plain", "supervised"]))
    return (f"layout: {layout}\nprobes: {{mode: {mode}}}\n"
            f"model: {{source: hf://Qwen/Qwen3-0.6B, name: qwen, weightsGiB: 1.2, loras: {json.dumps(items)}}}\n")


@settings(deadline=None, derandomize=True, max_examples=25)
@given(lora_specs())
def test_every_adapter_list_renders_valid_objects_and_lints_clean(tmp_path_factory, text):
    spec = spec_of(text)
    rendered = values.render(spec)
    objs = cc.render_objects(yaml.safe_load(rendered))
    assert VALIDATORS.check(objs, cc.kube_versions()) == []
    out = tmp_path_factory.mktemp("v") / "values.yaml"
    out.write_text(rendered)
    assert [f.rule for f in Linter().lint_paths([str(out)]).findings if f.rule in ("VG035", "VG036", "VG037")] == []


def test_values_say_when_an_adapter_may_go_missing_at_runtime():
    text = BASE + "engine: {env: {VLLM_ALLOW_RUNTIME_LORA_UPDATING: 'true'}}\n"
    assert "again while one unloaded at runtime" in " ".join(values.render(spec_of(text)).split())
    assert "again while one unloaded at runtime" not in " ".join(values.render(spec_of()).split())


def test_lint_finds_adapter_mounts_that_drifted_from_the_spec(tmp_path):
    """The spec gains a pvc:// adapter after generation (helm --set spec.model.loras...): vLLM would look for it
    where nothing is mounted; and a mount edited away from where vLLM looks."""
    data = yaml.safe_load(values.render(spec_of()))
    data["spec"]["model"]["loras"].append({"name": "extra", "source": "pvc://adapters/extra"})
    out = tmp_path / "added.yaml"
    out.write_text(yaml.safe_dump(data))
    found = [f for f in Linter().lint_paths([str(out)]).findings if f.rule == "VG017"]
    assert len(found) == 1 and "modelArtifacts.loras" in found[0].message and "extra" in found[0].message
    data = yaml.safe_load(values.render(spec_of()))
    data["modelArtifacts"]["loras"][0]["mountPath"] = "/elsewhere"
    out = tmp_path / "moved.yaml"
    out.write_text(yaml.safe_dump(data))
    found = [f for f in Linter().lint_paths([str(out)]).findings if f.rule == "VG017"]
    assert len(found) == 1 and "/elsewhere" in found[0].message
