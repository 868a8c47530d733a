#!/usr/bin/env python3
"""Render charts/vllm for every layout, server and probe mode with the values `vllmgen values` emits, one YAML
file of Kubernetes objects per combination, for scanners that read manifests (checkov, kube-linter, ...):

    python scripts/render-layouts.py OUT_DIR
    checkov -d OUT_DIR --framework kubernetes --check CKV_K8S_10,CKV_K8S_11,CKV_K8S_12,CKV_K8S_13

Needs the test extras (helm-python-sdk)."""
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "cli"))
import helm_python as helm  # noqa: E402

from vllmgen import layouts, servers, values  # noqa: E402
from vllmgen.errors import InputError, InputErrors  # noqa: E402
from vllmgen.spec import parse_spec  # noqa: E402

SPEC = "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nroles: {prefill: {replicas: 1}, decode: {replicas: 2}}\n"
STANDALONE = "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"


def main(out: pathlib.Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    chart = helm.Chart.load(str(root / "charts" / "vllm"))
    written = 0
    for layout in layouts.LAYOUTS:
        for server in servers.NAMES:
            for mode in ("plain", "supervised"):
                for name, text in (("pd", SPEC), ("standalone", STANDALONE)):
                    try:
                        spec = parse_spec(text + f"probes: {{mode: {mode}}}\n", "<render>", layout=layout,
                                          server=server)
                    except (InputError, InputErrors):
                        continue  # a combination vllmgen refuses emits nothing
                    rendered = chart.render(values=helm.values_from_yaml(values.render(spec)), name="rel",
                                            namespace="ns")
                    docs = [t for path, t in sorted(rendered.items()) if not path.endswith("NOTES.txt")]
                    (out / f"{layout}-{server}-{mode}-{name}.yaml").write_text("\n---\n".join(docs))
                    written += 1
    print(f"{written} renderings in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "rendered")))
