"""vLLM releases: which one an image runs, and the first release that accepts each flag and KV connector vllmgen
emits (the table and how it was checked: docs/upstream-facts.md#vllm-flags-by-release)."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from vllmgen import images

#: A vLLM release, ordered as PEP 440 orders them (packaging's Version: `0.33.0rc1` < `0.33.0`).
Release = Version

#: The oldest release whose flags were checked; an image running an older vLLM is refused.
OLDEST: Release = Version("0.8.5")

#: Flag -> the first release whose `vllm serve` accepts it. Flags vllmgen emits that are not listed here
#: (`--served-model-name`, `--port`, `--tensor-parallel-size`, `--data-parallel-size`, `--enable-expert-parallel`,
#: `--kv-transfer-config`, `--enable-server-load-tracking`, ...) are older than OLDEST.
FLAG_SINCE: dict[str, Release] = {
    "--data-parallel-size-local": Version("0.9.0"),
    "--data-parallel-address": Version("0.9.0"),
    "--data-parallel-rpc-port": Version("0.9.0"),
    "--data-parallel-start-rank": Version("0.9.0"),
    "--data-parallel-hybrid-lb": Version("0.10.0"),
    "--all2all-backend": Version("0.11.1"),
    "--shutdown-timeout": Version("0.18.0"),
}

#: `kv_connector` class -> the first release that registers it (vLLM's kv_connector/factory.py).
CONNECTOR_SINCE: dict[str, Release] = {
    "LMCacheConnectorV1": OLDEST,
    "NixlConnector": Version("0.9.0"),
    "MooncakeConnector": Version("0.13.0"),  # the V1 connector; 0.8.5-0.10.0 had a V0 one of that name, since removed
}

#: Images whose tag is not their vLLM release: the project's image is the official one plus the supervisor.
IMAGE_RELEASE = {images.PROJECT: images.VLLM_OFFICIAL[1]}

#: A release at the start of an image tag or a distribution's version: `v0.11.0-cu128`, `0.33.0rc1+cpu`.
_RELEASE = re.compile(r"^v?(\d+\.\d+(?:\.\d+)*(?:(?:a|b|rc)\d+)?)(?:[.+_-].*)?$")


def parse(text: str) -> Release | None:
    """`0.11.0`, `v0.11.0`, `v0.11.0-cu128`, `0.10.1.1`, `0.33.0rc1` -> the release (major.minor.patch and any
    pre-release; a build's local part, a fourth number, post- and dev-release parts are not part of it); None when
    it is no release."""
    m = _RELEASE.match(text.strip())
    if not m:
        return None
    try:
        version = Version(m.group(1))
    except InvalidVersion:
        return None
    major, minor, patch = (*version.release, 0, 0)[:3]
    pre = "".join(map(str, version.pre)) if version.pre else ""
    return Version(f"{major}.{minor}.{patch}{pre}")


def text(release: Release) -> str:
    """`0.11.0`, `0.33.0rc1`."""
    return str(release)


def of_image(repository: str, tag: str) -> Release | None:
    """The vLLM release an image runs, when its reference says: a known image, or a vLLM image (a repository
    named for vLLM) tagged with the release. None when the tag does not say (a custom or nightly tag)."""
    if (repository, tag) in IMAGE_RELEASE:
        return parse(IMAGE_RELEASE[(repository, tag)])
    if "vllm" not in repository.rsplit("/", 1)[-1]:
        return None
    return parse(tag)


def has(release: Release, flag: str) -> bool:
    """Whether `vllm serve` of this release accepts `flag`."""
    return release >= FLAG_SINCE.get(flag, OLDEST)


def has_connector(release: Release, connector: str) -> bool:
    return release >= CONNECTOR_SINCE.get(connector, OLDEST)


def of_spec(spec: dict) -> Release:
    """The release of an effective vllm spec (`engine.vllmVersion`, filled from the image when it says)."""
    return parse(spec["engine"]["vllmVersion"]) or OLDEST
