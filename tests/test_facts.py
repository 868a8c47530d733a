"""Facts the Python code and the JSON Schemas both carry agree: the schema's enums and defaults are the ones the
code declares once (roles.py, layouts.py, servers/, accelerators.py)."""

from __future__ import annotations

from vllmgen import schemas
from vllmgen.accelerators import RESOURCE_BY_VENDOR
from vllmgen.autoscaling import AUTOSCALERS, DEFAULT_METRIC, METRICS
from vllmgen.layouts import LAYOUTS
from vllmgen.roles import DECODE_VLLM_PORT, HEALTH_PORT, ROLES, SERVICE_PORT
from vllmgen.servers import NAMES, get

SPEC = schemas.load("model-spec")["properties"]


def test_schema_enums_are_the_declared_names():
    assert tuple(SPEC["layout"]["enum"]) == LAYOUTS
    assert tuple(SPEC["server"]["enum"]) == NAMES
    assert tuple(SPEC["accelerator"]["properties"]["type"]["enum"]) == tuple(RESOURCE_BY_VENDOR)
    assert tuple(SPEC["roles"]["properties"]) == ROLES
    auto = schemas.load("model-spec")["$defs"]["autoscaling"]["properties"]
    assert tuple(auto["metric"]["enum"]) == tuple(METRICS) and auto["metric"]["default"] == DEFAULT_METRIC
    assert tuple(auto["autoscaler"]["enum"]) == AUTOSCALERS
    assert tuple(schemas.load("values")["$defs"]["autoscaling"]["properties"]["autoscaler"]["enum"]) == AUTOSCALERS


def test_schema_port_defaults_are_the_declared_ports():
    routing = SPEC["routing"]["properties"]
    assert routing["servicePort"]["default"] == SERVICE_PORT
    assert routing["targetPort"]["default"] == DECODE_VLLM_PORT
    assert SPEC["probes"]["properties"]["healthPort"]["default"] == HEALTH_PORT


def test_every_server_name_is_a_server_module():
    for name in NAMES:
        assert get(name).name == name



def test_lora_rank_enum_is_what_vllm_accepts():
    from vllmgen.loras import MAX_LORA_RANKS

    assert tuple(SPEC["engine"]["properties"]["maxLoraRank"]["enum"]) == MAX_LORA_RANKS
    adapter = SPEC["model"]["properties"]["loras"]["items"]["properties"]
    assert adapter["rank"]["maximum"] == max(MAX_LORA_RANKS)
    assert adapter["source"]["pattern"] == SPEC["model"]["properties"]["source"]["pattern"]
