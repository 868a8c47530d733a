"""The project's own addresses, declared once: where its source, image, chart and package are published. The
README, Chart.yaml, the release workflow and the pre-commit example spell the same addresses (a test checks)."""

from __future__ import annotations

#: The source repository: issues, releases, the pre-commit hook and `pip install git+...`.
REPOSITORY = "https://github.com/vllmgen/vllmgen"
#: The container registry namespace the release pushes the project's image and the chart (OCI) to.
REGISTRY = "ghcr.io/vllmgen"
#: Where `helm install` finds the released chart: `helm install NAME oci://ghcr.io/vllmgen/charts/vllm`.
CHART_REPOSITORY = f"oci://{REGISTRY}/charts"
#: The distribution name on PyPI (`pip install vllmgen`).
PYPI_NAME = "vllmgen"
