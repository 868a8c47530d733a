"""What Helm limits is the release Secret, not the zipapp: Helm stores the chart (templates, files with the
supervisor zipapp, schema), the values, the manifest (the zipapp again, in the supervisor ConfigMap) and NOTES in
one record, base64(gzip(JSON)), and Kubernetes refuses a Secret over 1 MiB. The largest layout's release must stay
under benchmarks/release_size.py's budget, and the supervisor's page (docs/supervisor.md) quotes that measurement."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("release_size", REPO / "benchmarks" / "release_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIZE = _benchmark()


@pytest.fixture(scope="module")
def sizes() -> dict[str, int]:
    return {layout: SIZE.release_secret_bytes(layout) for layout in SIZE.LAYOUTS}


def test_the_encoding_is_helms_base64_of_gzipped_json():
    record = {"name": "rel", "manifest": "x" * 1000}
    data = base64.b64decode(SIZE.encode_release(record), validate=True)
    assert data[:3] == b"\x1f\x8b\x08", "gzip magic, as Helm's decodeRelease checks"
    assert json.loads(gzip.decompress(data)) == record


def test_the_largest_layouts_release_secret_stays_under_the_budget(sizes):
    assert SIZE.RELEASE_SECRET_BUDGET < SIZE.SECRET_LIMIT
    largest = max(sizes, key=sizes.get)
    assert sizes[largest] <= SIZE.RELEASE_SECRET_BUDGET, (
        f"the {largest} release Secret is {sizes[largest]} bytes, over the {SIZE.RELEASE_SECRET_BUDGET} budget "
        f"({SIZE.SECRET_LIMIT} is Kubernetes' limit)")


def test_the_record_carries_the_zipapp_twice_as_helm_does(sizes):
    """The measurement sees the supervisor in the chart's files and in the rendered ConfigMap: dropping one copy
    would hide most of what a bigger zipapp costs."""
    zipapp = (SIZE.CHART / "files" / "vllmgen.pyz").stat().st_size
    assert sizes["single-node"] > 2 * zipapp


def test_the_supervisor_page_quotes_the_measurement(sizes):
    readme = (REPO / "docs" / "supervisor.md").read_text()
    text = readme[readme.index("Sizes (`python benchmarks/release_size.py`)"):]
    text = text[:text.index("\n\n")]
    quoted = int(re.search(r"about (\d+) KiB for the (\S+) defaults", text).group(1))
    largest = max(sizes.values())
    assert abs(quoted * 1024 - largest) <= 0.1 * largest, f"README says {quoted} KiB, measured {largest / 1024:.0f} KiB"
    assert f"under {SIZE.RELEASE_SECRET_BUDGET // 1024} KiB" in text
    zipapp = (SIZE.CHART / "files" / "vllmgen.pyz").stat().st_size
    quoted_zipapp = int(re.search(r"the zipapp is about (\d+) KiB", text).group(1))
    assert abs(quoted_zipapp * 1024 - zipapp) <= 0.15 * zipapp
