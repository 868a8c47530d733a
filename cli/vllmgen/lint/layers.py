"""Layered values files (`vllmgen lint -f values.yaml -f overrides.yaml`), merged as `helm install -f ... -f ...`
merges them: mappings merge key by key, a later file's value replaces an earlier one (lists are replaced whole),
and a null removes the key (as Helm's coalescing with the chart's defaults does). The merged values are linted as
one document; every finding names the file and line that set the field.
"""

from __future__ import annotations

from typing import Any, Optional

from vllmgen.errors import InputError
from vllmgen.lint import loader
from vllmgen.yamlio import Document


class LayeredDocument(Document):
    """Merged values, with the file and line that last set each path."""

    def __init__(self, data: Any, files: list[str], origins: dict[tuple, tuple[str, int]]):
        super().__init__(data, " + ".join(files), {p: line for p, (_, line) in origins.items()})
        self._origins = origins
        self._files = files

    def origin(self, path) -> tuple[str, Optional[int]]:
        path = tuple(path)
        while True:
            if path in self._origins:
                return self._origins[path]
            if not path:
                return self._files[-1], None
            path = path[:-1]


def merge(base: Any, override: Any) -> Any:
    """Helm's merge of two values mappings (the override wins; mappings merge; lists are replaced)."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


def load_layered(paths: list[str]) -> loader.LoadedFile:
    """The `-f` files merged into one LoadedFile (unusable, naming the file, when one cannot be read)."""
    merged: Any = {}
    origins: dict[tuple, tuple[str, int]] = {}
    texts = []
    for path in paths:
        lf = loader.load_file(path)
        if lf.unusable is not None:
            return lf
        docs = [ld for ld in lf.docs]
        if len(docs) != 1 or not isinstance(docs[0].data, dict):
            return loader.LoadedFile(lf.file, unusable=InputError(
                lf.file, "", f"a values file given with -f must hold one YAML mapping, not {len(docs)} documents"
                if len(docs) != 1 else "a values file given with -f must be a YAML mapping"))
        merged = merge(merged, docs[0].data)
        origins.update({p: (lf.file, line) for p, line in docs[0].doc._lines.items()})
        texts.append(lf.text)
    doc = LayeredDocument(_drop_nulls(merged), list(paths), origins)
    data = doc.data
    return loader.LoadedFile(doc.file, "\n".join(texts), [loader.LoadedDoc(0, loader.classify(data), doc)],
                             layered=True)
