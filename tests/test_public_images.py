"""Every image a default install pulls is public: for every layout x server x role set `vllmgen values` emits from
its embedded default spec, each container the chart renders (server, routing sidecar) runs an image from the
allowlist below, so a first `helm install` needs nothing built or pushed. The project's own image stays an
option (`probes.supervisor: image`), never a default."""

from __future__ import annotations

import pytest

from tests import chartcheck as cc
from tests.chartcheck import pod_spec, workloads
from vllmgen.errors import InputError, InputErrors

#: Published images anyone can pull, by repository (the tag is checked to be pinned, never `latest`).
PUBLIC_REPOSITORIES = {
    "vllm/vllm-openai",  # vLLM's official image (Docker Hub)
    "ghcr.io/llm-d/llm-d-inference-sim",  # llm-d's inference simulator
    "ghcr.io/llm-d/llm-d-routing-sidecar",  # llm-d's routing sidecar, both generations
    "ghcr.io/llm-d/llm-d-router-disagg-sidecar",
    "nvcr.io/nvidia/tritonserver",  # NVIDIA's Triton (NGC, public)
}
ROLE_SETS = (None, ("standalone",), ("prefill",), ("decode",), ("prefill", "decode"))


def default_values() -> list[tuple[str, dict]]:
    """(name, values) of every values file `vllmgen values [--layout L] [--server S] [--role R...]` writes from
    the embedded default spec; combinations it refuses write nothing."""
    import helm_python as helm
    from vllmgen import spec as specmod, values
    from vllmgen.layouts import LAYOUTS
    from vllmgen.servers import NAMES

    out = []
    for layout in LAYOUTS:
        for server in NAMES:
            for roles in ROLE_SETS:
                name = f"{layout}:{server}:{'+'.join(roles or ('spec-roles',))}"
                try:
                    spec = specmod.load_spec(None, layout=layout, server=server)
                    out.append((name, helm.values_from_yaml(values.render(spec, list(roles) if roles else None))))
                except (InputError, InputErrors):
                    continue
    return out


DEFAULTS = default_values()


def images_of(values: dict) -> set[str]:
    """Every image of every container and init container the chart renders for these values."""
    found = set()
    for wl in workloads(cc.render_objects(values)):
        pod = pod_spec(wl)
        found |= {c["image"] for c in pod.get("containers", []) + pod.get("initContainers", [])}
    return found


def test_every_layout_and_server_has_defaults():
    from vllmgen.layouts import LAYOUTS
    from vllmgen.servers import NAMES

    assert {name.split(":")[0] for name, _ in DEFAULTS} == set(LAYOUTS)
    assert {name.split(":")[1] for name, _ in DEFAULTS} == set(NAMES)


@pytest.mark.parametrize("name,values", DEFAULTS, ids=[n for n, _ in DEFAULTS])
def test_default_values_pull_only_public_images(name, values):
    images = images_of(values)
    assert images, "no container rendered"
    for image in images:
        repository, _, tag = image.rpartition(":")
        assert repository in PUBLIC_REPOSITORIES, f"{image} is not a public image"
        assert tag and tag != "latest", f"{image}: pin a release"


def test_the_list_covers_every_default_image():
    """Which images the defaults above used (printed), and that the server's and the sidecar's are among them."""
    used = set().union(*(images_of(v) for _, v in DEFAULTS))
    print("\n" + "\n".join(sorted(used)))
    repositories = {image.rpartition(":")[0] for image in used}
    assert {"vllm/vllm-openai", "ghcr.io/llm-d/llm-d-inference-sim", "nvcr.io/nvidia/tritonserver"} <= repositories
    assert repositories & {"ghcr.io/llm-d/llm-d-routing-sidecar", "ghcr.io/llm-d/llm-d-router-disagg-sidecar"}


def test_the_project_image_is_an_option_not_a_default():
    from vllmgen import images, spec as specmod, values

    spec = specmod.parse_spec("model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"
                              "probes: {supervisor: image}\n", "<spec>")
    data = values.values_dict(spec)
    assert (data["image"]["repository"], data["image"]["tag"]) == images.PROJECT
    assert data["standalone"]["command"] == ["vllmgen", "serve"] and data["supervisor"]["zipappPath"] == ""
