"""The guides (guides/*.md) cannot drift from the code. Each guide is run top to bottom in a fresh folder:

- `<!-- file: NAME -->` before a fenced block: the block is saved as NAME (a spec, a manifest) for later commands;
- `<!-- vllmgen: ARGS -->` before a block: the block must equal what `vllmgen ARGS` prints at that point;
  `<!-- vllmgen: ARGS # exit 2 -->`: the command refuses its input and the block is the error it writes;
- `<!-- lint: VG008 VG002 -->` before a YAML block: `vllmgen lint` of the block finds exactly these rules
  (without it: no finding at all);
- every other YAML block (and every `file:` block) passes `vllmgen lint` that way; a values file also renders
  through the chart (real Helm engine) into objects that pass Kubernetes' strict schemas; a model spec validates;
- in ```bash blocks every `vllmgen ...` command runs (exit 0, or `# exit N` at the end of the line), and
  `helm install|template NAME charts/vllm -f FILE` renders FILE through the chart and validates the objects;
  other charts (a gateway) come from a public OCI registry at a pinned `--version`, and every URL a block fetches
  names a release (no `latest`, no branch): they cannot be run here, so they are checked for being reproducible;
- a custom resource a guide shows (a Gateway) passes its upstream CRD strictly (tests/data/crds/), and an
  HTTPRoute the chart renders attaches to a Gateway the guide declares (when it declares one);
- every inline `vllmgen SUBCOMMAND` names a real subcommand.

`python -m tests.guidecheck --update [GUIDE...]` rewrites the `vllmgen:` blocks from the current code.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vllmgen.errors import EXIT_INPUT

REPO = Path(__file__).resolve().parents[1]
GUIDES = REPO / "guides"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
MARKER = re.compile(r"<!--\s*(file|vllmgen|lint):\s*(.*?)\s*-->")
EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
INLINE = re.compile(r"`(vllmgen [^`]+)`")


@dataclass
class Block:
    lang: str
    text: str
    start: int                       # offset of the text in the guide
    line: int                        # line of the opening fence
    markers: dict = field(default_factory=dict)


def blocks(markdown: str) -> list[Block]:
    out = []
    for m in FENCE.finditer(markdown):
        # the markers are the HTML comments on the lines right above the fence
        before = markdown[:m.start()].rstrip("\n").split("\n")
        markers = {}
        while before and MARKER.fullmatch(before[-1].strip()):
            mm = MARKER.fullmatch(before.pop().strip())
            markers[mm.group(1)] = mm.group(2)
        out.append(Block(m.group(1), m.group(2), m.start(2), markdown.count("\n", 0, m.start()) + 1, markers))
    return out


def run_vllmgen(args: list[str]) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from vllmgen.cli import app

    r = CliRunner().invoke(app, args)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def generated_command(marker: str) -> tuple[str, bool]:
    """The arguments of a `vllmgen:` marker, and whether it announces a refusal (`# exit 2`)."""
    m = EXIT.search(marker)
    if m is None:
        return marker, False
    if int(m.group(1)) != EXIT_INPUT:
        raise ValueError(f"a generated block shows output (exit 0 or 1) or a refusal (exit 2), not {marker!r}")
    return marker[:m.start()].strip(), True


def commands(block: Block) -> list[tuple[list[str], int]]:
    """(words, expected exit code) of each `vllmgen` / `helm` command line in a shell block."""
    out = []
    for raw in block.text.replace("\\\n", " ").splitlines():  # join continued lines
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        expected = 0
        m = EXIT.search(line)
        if m:
            expected = int(m.group(1))
            line = line[:m.start()]
        line = line.split(" #")[0].strip()
        for part in line.split("&&"):
            if part.split()[:1] in (["vllmgen"], ["helm"]):
                out.append((shlex.split(part), expected))
    return out


def render_and_validate(values_file: Path, release: str = "rel", namespace: str = "default",
                        gateways: frozenset[str] = frozenset()) -> list[str]:
    """Problems found rendering `values_file` through charts/vllm and validating the objects ([] = fine).
    `gateways`: the Gateways the guide declares; a rendered HTTPRoute must attach to one of them."""
    from tests.chartcheck import Validators, kube_versions, render_objects
    from vllmgen.yamlio import load_document

    values = load_document(values_file).data
    objs = render_objects(values, name=release, namespace=namespace)
    if not any(o.get("kind") in ("Deployment", "LeaderWorkerSet") for o in objs):
        return [f"{values_file}: the chart rendered no workload"]
    return Validators().check(objs, kube_versions()) + unknown_parents(objs, gateways)


def unknown_parents(objs: list[dict], gateways: frozenset[str]) -> list[str]:
    """HTTPRoutes attached to a Gateway the guide does not declare (none checked when it declares none: it then
    points to another guide's)."""
    if not gateways:
        return []
    return [f"HTTPRoute {o['metadata']['name']} attaches to Gateway {ref['name']}, which the guide does not declare "
            f"(it declares {', '.join(sorted(gateways))})"
            for o in objs if o.get("kind") == "HTTPRoute" for ref in o["spec"].get("parentRefs", [])
            if ref["name"] not in gateways]


def declared_gateways(block: Block) -> set[str]:
    """Names of the Gateways a YAML block declares."""
    from vllmgen.yamlio import parse_documents

    return {doc.data["metadata"]["name"] for doc in parse_documents(block.text, "gateways.yaml")
            if isinstance(doc.data, dict) and doc.data.get("kind") == "Gateway"
            and str(doc.data.get("apiVersion", "")).startswith("gateway.networking.k8s.io/")}


def custom_resource_errors(data: dict) -> list[str]:
    """A custom resource a guide shows (a Gateway) against its upstream CRD, strictly ([] when no CRD is kept for
    its kind; other kinds are checked by lint and the chart)."""
    from tests.chartcheck import Validators, crd_kinds, kube_versions

    if not isinstance(data, dict) or (data.get("apiVersion"), data.get("kind")) not in crd_kinds():
        return []
    return [e for v in kube_versions() for e in Validators().errors(data, v)]


#: Charts a guide may install besides charts/vllm: from a public OCI registry, at a pinned version.
PUBLIC_CHART = re.compile(r"^oci://[a-z0-9.-]+\.[a-z]+/[a-z0-9./_-]+$")
#: URLs a guide fetches must name a release: a version in the path, never `latest` or a branch.
PINNED_URL = re.compile(r"/(releases/download|refs/tags)/v[0-9]+\.[0-9]+\.[0-9]+/")
URL = re.compile(r"https?://[^\s'\"]+")


def external_chart(words: list[str]) -> list[str]:
    """`helm install NAME oci://... --version V [--set k=v] [-n NS] [--create-namespace]`: pinned, not run."""
    options = words[4:]
    if "--version" not in options or options.index("--version") + 1 >= len(options):
        return [f"{words[3]}: pin the chart with --version"]
    if not PUBLIC_CHART.match(words[3]):
        return [f"guides install charts/vllm or a chart from a public OCI registry, not {words[3]}"]
    return []


def unpinned_urls(text: str) -> list[str]:
    return [f"{url}: name a release in the URL (a version tag, not latest or a branch)"
            for url in URL.findall(text) if not PINNED_URL.search(url) and "127.0.0.1" not in url
            and "localhost" not in url and "$" not in url]


def helm(words: list[str], gateways: frozenset[str] = frozenset()) -> list[str]:
    """`helm install|template NAME charts/vllm -f FILE [-n NS]`: render and validate instead of installing."""
    if len(words) < 4 or words[1] not in ("install", "template", "upgrade"):
        return [f"unsupported helm command in a guide: {' '.join(words)}"]
    release, chart = words[2], words[3]
    if chart.startswith("oci://"):
        return external_chart(words)
    if chart.rstrip("/") not in ("charts/vllm", "./charts/vllm"):
        return [f"guides install charts/vllm, not {chart}"]
    files, namespace, i = [], "default", 4
    while i < len(words):
        if words[i] in ("-f", "--values"):
            files.append(words[i + 1])
            i += 2
        elif words[i] in ("-n", "--namespace"):
            namespace = words[i + 1]
            i += 2
        elif words[i] in ("--create-namespace", "--wait", "--atomic", "--install"):
            i += 1
        else:
            return [f"unsupported helm option in a guide: {words[i]}"]
    if len(files) != 1:
        return ["guides pass exactly one values file to helm"]
    return render_and_validate(Path(files[0]), release, namespace, gateways)


def lint_text(text: str, name: str) -> list[str]:
    """Rule ids `vllmgen lint` finds in a YAML block (saved as `name`)."""
    from vllmgen.lint.runner import Linter
    from vllmgen.lint.schema_check import chart_values_schema

    path = Path(name)
    path.write_text(text)
    result = Linter(schema=chart_values_schema()).lint_paths([str(path)])
    if result.unusable:
        return [f"unusable: {u.message}" for u in result.unusable]
    return sorted({f.rule for f in result.findings})


def check_yaml_block(block: Block, index: int) -> list[str]:
    """A YAML block vllmgen did not print: it lints as announced, renders (values) or validates (spec)."""
    from vllmgen.lint.loader import VALUES, classify
    from vllmgen.yamlio import parse_documents

    problems = []
    name = block.markers.get("file") or f"block-{index}.yaml"
    expected = sorted(block.markers.get("lint", "").split())
    found = lint_text(block.text, name)
    if found != expected:
        problems.append(f"vllmgen lint finds {found or 'nothing'}, the guide announces {expected or 'nothing'}")
    docs = parse_documents(block.text, name)
    for doc in docs:
        data = doc.data
        problems += custom_resource_errors(data)
        if classify(data) == VALUES and not expected:
            problems += render_and_validate(Path(name))
        elif isinstance(data, dict) and isinstance(data.get("model"), dict) and "decode" not in data:
            from vllmgen.errors import InputError, InputErrors
            from vllmgen.spec import parse_spec

            try:
                parse_spec(block.text, name)
            except (InputError, InputErrors) as exc:
                problems.append(f"spec does not validate: {exc}")
    return problems


def check_guide(path: Path, update: bool = False) -> list[str]:
    """Run a guide in a fresh folder; return its problems (`update`: rewrite `vllmgen:` blocks instead)."""
    from vllmgen.cli import app  # noqa: F401  (import before chdir)

    markdown = path.read_text()
    problems: list[str] = []
    gateways: set[str] = set()  # the Gateways the guide's YAML blocks declare so far
    replacements: list[tuple[int, int, str]] = []
    subcommands = {c.name for c in __import__("vllmgen.cli", fromlist=["app"]).app.registered_commands}
    for m in INLINE.finditer(markdown):
        sub = m.group(1).split()[1]
        if sub not in subcommands:
            problems.append(f"{path.name}: inline `{m.group(1)}` names no vllmgen subcommand")
    with tempfile.TemporaryDirectory(prefix=f"guide-{path.stem}-") as tmp, _chdir(tmp):
        os.symlink(REPO / "charts", "charts")
        for i, block in enumerate(blocks(markdown)):
            where = f"{path.name}:{block.line}"
            if "vllmgen" in block.markers:
                args, refused = generated_command(block.markers["vllmgen"])
                code, out, err = run_vllmgen(shlex.split(args))
                # a refusal is announced (`# exit 2`): its block is the error line the user reads on stderr
                printed = err if refused else out
                if (code != EXIT_INPUT) if refused else (code not in (0, 1)):
                    problems.append(f"{where}: vllmgen {args} exited {code}: {(err or out).strip()[:500]}")
                elif printed != block.text:
                    if update:
                        replacements.append((block.start, block.start + len(block.text), printed))
                    else:
                        problems.append(f"{where}: differs from `vllmgen {args}` "
                                        f"(python -m tests.guidecheck --update)")
                if "file" in block.markers:
                    Path(block.markers["file"]).write_text(printed)
                continue
            if block.lang in ("yaml", "yml"):
                problems += [f"{where}: {p}" for p in check_yaml_block(block, i)]
                gateways |= declared_gateways(block)
                if "file" in block.markers:
                    Path(block.markers["file"]).write_text(block.text)
            elif "file" in block.markers:
                Path(block.markers["file"]).write_text(block.text)
            if block.lang in ("bash", "sh", "console", "shell"):
                problems += [f"{where}: {p}" for p in unpinned_urls(block.text)]
                for words, expected in commands(block):
                    if words[0] == "helm":
                        problems += [f"{where}: {p}" for p in helm(words, frozenset(gateways))]
                        continue
                    code, out, err = run_vllmgen(words[1:])
                    if code != expected:
                        problems.append(f"{where}: `{' '.join(words)}` exited {code}, the guide says {expected}: "
                                        f"{(err or out).strip()[:500]}")
    if update and replacements:
        for start, end, text in sorted(replacements, reverse=True):
            markdown = markdown[:start] + text + markdown[end:]
        path.write_text(markdown)
    return problems


@contextlib.contextmanager
def _chdir(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--update"]
    paths = [Path(a) for a in args] or sorted(GUIDES.glob("*.md"))
    bad = 0
    for p in paths:
        for problem in check_guide(p, update="--update" in sys.argv):
            print(problem)
            bad += 1
    sys.exit(1 if bad else 0)
