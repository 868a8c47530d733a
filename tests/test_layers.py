"""The package's layers: a module imports only its own layer and the ones below, and no import cycle exists.

Imports inside functions count too (a lazy import is still a dependency). Adding a module means adding it to
LAYERS; docs/architecture.md describes the same floors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cli" / "vllmgen"

#: From the bottom up. A top-level module or package of vllmgen may import from its own floor and the floors below.
LAYERS = [
    {"__init__", "errors", "roles", "accelerators", "images", "mounts", "project", "quantities", "cleartext",
     "trees"},  # facts: declared once (trees: paths in parsed data)
    {"yamlio", "schemas", "reference", "layouts", "sources", "loras", "sidecar", "gateway", "workloads",
     "versions", "connectors", "patterns", "render"},  # readers and data (render: values -> the chart's objects, by Helm)
    # startup budget, `vllm serve` line, container resources, caches, autoscaler behaviour
    {"budget", "engine", "resources", "caches", "autoscaling", "serving"},
    {"probes"},  # probe math
    {"servers"},  # one module per server behind servers.base.Server
    {"spec"},  # load, validate, fill the spec (asks the servers for their checks)
    {"values", "lint", "emulator", "supervisor", "calibrate"},  # what the commands do
    {"cli", "__main__"},  # the edge
]
FLOOR = {name: i for i, floor in enumerate(LAYERS) for name in floor}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(["vllmgen", *parts])] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The vllmgen modules `name` imports (a name imported from a package counts as its submodule when it is one)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "vllmgen"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "vllmgen":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_floor():
    missing = sorted({_top(m) for m in MODULES} - set(FLOOR))
    assert not missing, f"add these modules to LAYERS in {__file__}: {missing}"


def climbs(graph: dict[str, set[str]], module: str) -> list[str]:
    here = FLOOR[_top(module)]
    return sorted(dep for dep in graph[module] if FLOOR[_top(dep)] > here)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if dep.startswith(node + "."):
                continue  # a package's face importing its own modules
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_climbs_a_floor(module):
    climbing = climbs(GRAPH, module)
    assert not climbing, f"{module} (floor {FLOOR[_top(module)]}) imports from a higher floor: " + ", ".join(
        f"{d} (floor {FLOOR[_top(d)]})" for d in climbing)


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checks_see_the_old_cycle():
    """The shape this package once had: budget -> spec -> triton -> probes -> budget."""
    old = {"vllmgen.budget": {"vllmgen.spec"}, "vllmgen.spec": {"vllmgen.servers.triton"},
           "vllmgen.servers.triton": {"vllmgen.probes"}, "vllmgen.probes": {"vllmgen.budget"}}
    assert find_cycle(old) == ["vllmgen.budget", "vllmgen.spec", "vllmgen.servers.triton", "vllmgen.probes",
                               "vllmgen.budget"]
    assert climbs(old, "vllmgen.budget") == ["vllmgen.spec"]
