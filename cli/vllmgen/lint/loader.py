"""Finding the files to lint and sorting each YAML document into what it is.

A path is a file, a directory (searched for *.yaml / *.yml; hidden folders and Helm charts' `templates/`
skipped) or "-" (stdin). Every
document of a multi-document file is classified on its own. Unreadable or unparseable files come back as
values (`LoadedFile.unusable`), never as exceptions, so one bad file does not hide the findings in the others.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from vllmgen import schemas, workloads
from vllmgen.errors import InputError
from vllmgen.roles import ROLES
from vllmgen.yamlio import Document, parse_documents, read_text

#: File name endings searched for inside directories (a named file is read whatever its name).
YAML_SUFFIXES = (".yaml", ".yml")

#: Top-level keys only a vllmgen values file has (docs/architecture.md, "Values contract"). One of them is
#: enough to treat a mapping as vllmgen's values: a values file with a misspelled key must still be
#: schema-checked.
VALUES_KEYS = frozenset({
    "layout", "server", "probeMode", "multinode", "modelArtifacts", "accelerator", "routing",
    "supervisor", "apiKey", "spec", "decode", "prefill", "standalone", "triton",
})


@functools.lru_cache(maxsize=1)
def _chart_keys() -> frozenset:
    """Every top-level key of the chart's values schema, the generic ones every Helm chart has (`image`,
    `service`, `nodeSelector`, ...) included."""
    return frozenset(schemas.load("values").get("properties", {}))


def is_vllmgen_values(data: dict) -> bool:
    """vllmgen's values: a key only vllmgen's values have, or keys at least half of which the chart's
    values schema knows (an overlay setting only `image:`). Another chart's values (KubeAI's, with `image`,
    `service` and twenty keys of its own) are not, and are never checked against vllmgen's schema."""
    if VALUES_KEYS.intersection(data):
        return True
    keys = [k for k in data if isinstance(k, str)]
    return bool(keys) and 2 * len(_chart_keys().intersection(keys)) >= len(keys)
#: What a model spec says it is (schemas/model-spec.schema.json).
SPEC_API_VERSION = "vllmgen/v1"


def _has_role_blocks(data: dict) -> bool:
    """Values carry role blocks (`decode: {...}`); a spec names roles only under `roles:`."""
    return any(isinstance(data.get(r), dict) for r in ROLES)

# Document kinds (LoadedDoc.kind)
KUBERNETES = "kubernetes"        # an object that holds pod templates (vllmgen.workloads.KINDS), or a list of objects
VALUES = "values"                # vllmgen values (what `vllmgen values` emits, what charts/vllm reads)
MODELSERVICE = "modelservice"    # llm-d-modelservice values: role blocks holding `containers` lists
POD_SPEC = "pod-spec"            # a bare pod-spec fragment: a top-level `containers` list (as in guides)
SPEC = "spec"                    # a vllmgen model spec (`model.source`, `apiVersion: vllmgen/v1`)
OTHER = "other"                  # anything else (Service, ConfigMap, CI files, ...): not linted


@dataclass
class LoadedDoc:
    index: int
    kind: str
    doc: Document

    @property
    def data(self):
        return self.doc.data


@dataclass
class LoadedFile:
    file: str
    text: str = ""
    docs: list[LoadedDoc] = field(default_factory=list)
    unusable: Optional[InputError] = None
    duplicates: list[InputError] = field(default_factory=list)  # duplicate keys (the later value was kept)
    layered: bool = False  # values merged from several `-f` files: complete, not an overlay
    bad_docs: list[InputError] = field(default_factory=list)  # documents that are not YAML (the others are read)


def classify(data) -> str:
    if not isinstance(data, dict):
        return OTHER
    kind = data.get("kind")
    if isinstance(kind, str) and "apiVersion" in data:
        return KUBERNETES if workloads.holds_pods(data) else OTHER
    if isinstance(data.get("containers"), list):
        return POD_SPEC
    if data.get("apiVersion") == SPEC_API_VERSION or (
            isinstance(data.get("model"), dict) and "source" in data["model"] and not _has_role_blocks(data)):
        return SPEC
    if any(isinstance(data.get(r), dict) and isinstance(data[r].get("containers"), list) for r in ROLES):
        return MODELSERVICE
    if is_vllmgen_values(data):
        return VALUES
    return OTHER


def expand_paths(paths: Iterable[str]) -> tuple[list[str], list[InputError]]:
    """Files to read, in a stable order, and errors for paths that do not exist, cannot be read or hold no
    YAML (a directory that cannot be listed is an error, never skipped)."""
    files: list[str] = []
    errors: list[InputError] = []
    for raw in paths:
        if raw == "-":
            files.append("-")
            continue
        p = Path(raw)
        try:
            is_dir, exists = p.is_dir(), p.exists()
        except OSError as exc:  # a parent directory that cannot be searched
            errors.append(InputError(raw, "", _reason(exc)))
            continue
        if is_dir:
            found, unreadable = [], []
            for root, dirs, names in os.walk(p, onerror=unreadable.append):
                # hidden folders, and a Helm chart's templates (Go templates, not YAML) are not linted
                chart = "Chart.yaml" in names
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (chart and d == "templates"))
                found.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(YAML_SUFFIXES))
            errors.extend(InputError(exc.filename or raw, "", f"cannot list directory: {_reason(exc)}")
                          for exc in unreadable)
            if not found and not unreadable:
                errors.append(InputError(raw, "", "directory holds no .yaml or .yml files"))
            files.extend(found)
        elif exists:
            files.append(raw)
        else:
            errors.append(InputError(raw, "", "no such file or directory"))
    seen = set()
    unique = [f for f in files if not (f in seen or seen.add(f))]
    return unique, errors


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


#: A line git writes into a file it could not merge.
CONFLICT_MARKER = re.compile(r"^(<{7}|>{7}) ", re.MULTILINE)


def load_file(path: str) -> LoadedFile:
    name = "<stdin>" if path == "-" else path
    duplicates: list[InputError] = []
    try:
        text = read_text(path)
        docs = parse_documents(text, name, duplicates=duplicates)
    except InputError as exc:
        marker = CONFLICT_MARKER.search(text) if "text" in locals() else None
        if marker is not None:
            line = text.count("\n", 0, marker.start()) + 1
            exc = InputError(name, "", "unresolved git merge conflict (a `<<<<<<<` marker): the file is not YAML "
                             "until the conflict is resolved", line)
            return LoadedFile(name, unusable=exc)
        if "text" not in locals():
            return LoadedFile(name, unusable=exc)
        duplicates = []
        docs, bad = _document_by_document(text, name, duplicates)
        if not any(d is not None and d.data is not None for d in docs):
            return LoadedFile(name, unusable=exc)
        loaded = [LoadedDoc(i, classify(d.data), d) for i, d in enumerate(docs) if d is not None and d.data is not None]
        return LoadedFile(name, text, loaded, duplicates=duplicates, bad_docs=bad)
    loaded = [LoadedDoc(i, classify(d.data), d) for i, d in enumerate(docs) if d.data is not None]
    return LoadedFile(name, text, loaded, duplicates=duplicates)


#: A line that starts a YAML document (`---` at column 0, alone or before content): it ends any node above it,
#: block scalars included, so a file can be cut there and each piece parsed alone.
DOCUMENT_START = re.compile(r"^---(?=[ \t]|$)", re.MULTILINE)


def _document_by_document(text: str, name: str, duplicates: list) -> tuple[list, list[InputError]]:
    """Each document of a file that does not parse as a whole, parsed alone (None in place of one that is not
    YAML, such as a `{{HF_TOKEN}}` placeholder left for the reader to fill in), and the errors of those. kubectl
    applies a multi-document file document by document too: one bad document does not hide the others."""
    starts = [0] + [m.start() for m in DOCUMENT_START.finditer(text) if m.start() > 0]
    docs: list = []
    bad: list[InputError] = []
    for begin, end in zip(starts, starts[1:] + [len(text)]):
        first_line = text.count("\n", 0, begin)
        piece = "\n" * first_line + text[begin:end]  # keeps every line number the file's own
        try:
            docs.extend(parse_documents(piece, name, duplicates=duplicates))
        except InputError as exc:
            docs.append(None)
            bad.append(InputError(exc.file, exc.pointer, f"document {len(docs) - 1} is not read: {exc.message}; "
                                  "the file's other documents are", exc.line))
    return docs, bad
