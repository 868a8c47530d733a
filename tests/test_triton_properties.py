"""Property tests: any spec vllmgen accepts for Triton gives values the chart renders into strictly valid
Kubernetes objects mounting exactly the generated repository, and a model.json vLLM's engine arguments take."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings

from tests import chartcheck as cc
from tests.strategies import valid_specs
from vllmgen.servers import triton
from vllmgen.spec import effective
from vllmgen.values import values_dict

#: Rendering through Helm costs about 50 ms an example; vLLM's engine arguments are cheap to build.
CHART_SETTINGS = settings(deadline=None, derandomize=True, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
ENGINE_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
                           max_examples=300)


def as_triton(spec: dict) -> dict:
    """The Triton version of a valid spec: single-node, standalone, plain probes, no API key."""
    spec = copy.deepcopy(spec)
    spec.update(server="triton", layout="single-node", probes={"mode": "plain"})
    spec["engine"].pop("apiKeySecretName", None)
    spec["engine"]["dataParallelSizeLocal"] = 1
    spec["roles"] = {"standalone": {"replicas": (spec.get("roles") or {}).get("standalone", {}).get("replicas", 1)
                                    or 1}}
    spec.pop("wideEP", None)
    return effective(spec)


@pytest.fixture(scope="module")
def validators():
    return cc.Validators()


@CHART_SETTINGS
@given(valid_specs())
def test_triton_values_render_into_valid_objects_with_the_generated_repository(validators, raw):
    spec = as_triton(raw)
    vals = values_dict(spec)
    objs = cc.render_objects(vals)
    assert validators.check(objs, cc.kube_versions()) == []
    (cm,) = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-triton-models")]
    (wl,) = cc.workloads(objs)
    volume = next(v for v in cc.pod_spec(wl)["volumes"] if v["name"] == "triton-models")
    assert {i["path"]: cm["data"][i["key"]] for i in volume["configMap"]["items"]} == triton.repository_files(spec)
    assert all(".." not in i["path"].split("/") for i in volume["configMap"]["items"])


@pytest.fixture(scope="module")
def engine_args_class():
    from vllm.engine.arg_utils import AsyncEngineArgs

    return AsyncEngineArgs


@ENGINE_SETTINGS
@given(valid_specs())
def test_every_generated_model_json_builds_vllms_engine_args(engine_args_class, raw):
    model_json = json.loads(triton.model_json(as_triton(raw)))
    built = engine_args_class(**model_json)
    assert all(getattr(built, k) == v for k, v in model_json.items())
