"""How big the chart and a Helm release of it are, now that the chart carries the supervisor.

Prints the zipapp (charts/vllm/files/vllmgen.pyz), the packaged chart (`helm package`, through the real Helm
engine), and the Secret Helm stores for a release of each layout's default values: Helm keeps the whole chart
(templates, files, schema), the values, the rendered manifest and NOTES in one release record, and its Secret
storage driver writes it as base64(gzip(JSON)) (helm/helm pkg/storage/driver/util.go, `encodeRelease`: json.Marshal,
gzip at BestCompression, base64.StdEncoding) into the Secret's `release` key; Kubernetes refuses a Secret whose data
exceeds 1 MiB (docs/upstream-facts.md#helm-release-size). The record is rebuilt here with the fields of Helm's
release type, so the figure is exact up to the timestamps and the status description. tests/test_release_size.py
holds the largest layout's release under RELEASE_SECRET_BUDGET.

Usage: python benchmarks/release_size.py
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "cli"), str(REPO)]
CHART = REPO / "charts" / "vllm"
#: Kubernetes' limit on a Secret's data (1 MiB).
SECRET_LIMIT = 1024 * 1024
#: What the largest layout's release may take: a quarter of the limit left for values a user adds (extra
#: objects, env, hatches), more adapters and a growing supervisor.
RELEASE_SECRET_BUDGET = 768 * 1024
#: The layouts, each with the roles its default values render; wide-ep (two LeaderWorkerSets, the pool and its
#: endpoint picker) is the largest.
LAYOUTS = ("single-node", "simulated", "wide-ep")


def encode_release(record: dict) -> str:
    """Helm's Secret driver: base64(gzip(json)), gzip at its best compression."""
    raw = json.dumps(record, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode()


def release_record(chart, values: dict, texts: dict[str, str], name: str = "rel", namespace: str = "ns") -> dict:
    """The release as Helm serialises it (pkg/release Release: name, info, chart, config, manifest, hooks,
    version, namespace); []byte fields are base64 in Go's JSON."""
    def b64(data) -> str:
        return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()

    notes = "".join(text for path, text in texts.items() if path.endswith("NOTES.txt"))
    manifest = "".join(f"---\n# Source: {path}\n{text}" for path, text in sorted(texts.items())
                       if not path.endswith("NOTES.txt") and text.strip())
    now = "2026-01-01T00:00:00.000000000Z"
    return {
        "name": name,
        "info": {"first_deployed": now, "last_deployed": now, "deleted": "", "description": "Install complete",
                 "status": "deployed", "notes": notes},
        "chart": {
            "metadata": chart.metadata,
            "lock": None,
            "templates": [{"name": t["name"], "data": b64(t["data"])} for t in chart.templates],
            "values": chart.values,
            "schema": b64(json.dumps(chart.schema)),
            # read from disk: the engine hands binary files over as text
            "files": [{"name": f["name"], "data": b64((CHART / f["name"]).read_bytes())} for f in chart.files],
        },
        "config": values,
        "manifest": manifest,
        "version": 1,
        "namespace": namespace,
    }


def release_secret_bytes(layout: str) -> int:
    """Length of the `release` value of the Secret for a release of the layout's default values."""
    import helm_python as helm
    from vllmgen import spec as specmod, values as valuesmod

    chart = helm.Chart.load(str(CHART))
    values = helm.values_from_yaml(valuesmod.render(specmod.load_spec(None, layout=layout), None))
    texts = chart.render(values=values, name="rel", namespace="ns")
    return len(encode_release(release_record(chart, values, texts)))


def main() -> int:
    import helm_python as helm

    zipapp = (CHART / "files" / "vllmgen.pyz").stat().st_size
    chart = helm.Chart.load(str(CHART))
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(chart.save(tmp))
        packaged = package.stat().st_size
    print(f"supervisor zipapp (charts/vllm/files/vllmgen.pyz): {zipapp} bytes ({zipapp / 1024:.1f} KiB)")
    print(f"packaged chart ({package.name}): {packaged} bytes ({packaged / 1024:.1f} KiB)")
    for layout in LAYOUTS:
        secret = release_secret_bytes(layout)
        print(f"release Secret, {layout} defaults: {secret} bytes ({secret / 1024:.1f} KiB, "
              f"{100 * secret / SECRET_LIMIT:.0f}% of Kubernetes' 1 MiB; budget {RELEASE_SECRET_BUDGET // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
