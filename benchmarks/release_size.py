"""How big the chart and a Helm release of it are, now that the chart carries the supervisor.

Prints the zipapp (charts/vllm/files/vllmgen.pyz), the packaged chart (`helm package`, through the real Helm
engine), and the Secret Helm stores for a release of the default values: Helm keeps the whole chart (templates,
files, schema) and the rendered manifest in one release record, gzipped and base64-encoded into the Secret's
`release` key, and Kubernetes refuses a Secret over 1 MiB (docs/upstream-facts.md#helm-release-size). The record is rebuilt here as Helm's release storage
encodes it (JSON, gzip, base64), so the figure is an estimate to the JSON field names.

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
#: Kubernetes' limit on a Secret's data.
SECRET_LIMIT = 1024 * 1024


def release_secret_bytes(chart, values: dict, manifest: str) -> int:
    """Length of the `release` value Helm's Secret driver writes: base64(gzip(JSON of the release))."""
    def b64(data) -> str:
        return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()

    record = {
        "name": "rel", "namespace": "ns", "version": 1, "info": {"status": "deployed"},
        "chart": {
            "metadata": chart.metadata,
            "templates": [{"name": t["name"], "data": b64(t["data"])} for t in chart.templates],
            "values": chart.values,
            "schema": b64(json.dumps(chart.schema)),
            # read from disk: the engine hands binary files over as text
            "files": [{"name": f["name"], "data": b64((CHART / f["name"]).read_bytes())} for f in chart.files],
        },
        "config": values,
        "manifest": manifest,
    }
    return len(base64.b64encode(gzip.compress(json.dumps(record).encode())))


def main() -> int:
    import helm_python as helm
    from vllmgen import spec as specmod, values as valuesmod

    zipapp = (CHART / "files" / "vllmgen.pyz").stat().st_size
    chart = helm.Chart.load(str(CHART))
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(chart.save(tmp))
        packaged = package.stat().st_size
    values = helm.values_from_yaml(valuesmod.render(specmod.load_spec(None), None))
    texts = chart.render(values=values, name="rel", namespace="ns")
    manifest = "".join(text for path, text in sorted(texts.items()) if not path.endswith("NOTES.txt"))
    secret = release_secret_bytes(chart, values, manifest)
    print(f"supervisor zipapp (charts/vllm/files/vllmgen.pyz): {zipapp} bytes ({zipapp / 1024:.1f} KiB)")
    print(f"packaged chart ({package.name}): {packaged} bytes ({packaged / 1024:.1f} KiB)")
    print(f"release Secret for the default values: {secret} bytes ({secret / 1024:.1f} KiB, "
          f"{100 * secret / SECRET_LIMIT:.0f}% of Kubernetes' 1 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
