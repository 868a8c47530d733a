"""vllmgen values, read as the pods the chart renders from them.

A values file (or `-f` files layered, with `--set`/`--set-string`) is rendered with the real Helm engine
(vllmgen.render) and the rendered objects are read by the one workload reader, like any manifest. A finding on a
rendered field points back at the values line that caused it where the chart copies that field from the values
(`<role>.probes.readiness` becomes the container's readinessProbe, `<role>.resources` its resources, ...); a
field the chart writes itself, or one the values leave to the chart's defaults, says so instead of naming a line.
"""

from __future__ import annotations

from typing import Optional

from vllmgen import render
from vllmgen.errors import InputError
from vllmgen.lint import loader
from vllmgen.render import ValuesStack
from vllmgen.yamlio import Document


def stack_file(paths: list[str]) -> loader.LoadedFile:
    """The `-f` files as one LoadedFile holding a ValuesStack (unusable, naming the file, when one cannot be read)."""
    layers, texts = [], []
    for path in paths:
        lf = loader.load_file(path)
        if lf.unusable is not None:
            return lf
        if len(lf.docs) != 1 or not isinstance(lf.docs[0].data, dict):
            return loader.LoadedFile(lf.file, unusable=InputError(
                lf.file, "", f"a values file given with -f must hold one YAML mapping, not {len(lf.docs)} documents"
                if len(lf.docs) != 1 else "a values file given with -f must be a YAML mapping"))
        layers.append(lf.docs[0].doc)
        texts.append(lf.text)
    stack = ValuesStack(layers)
    return loader.LoadedFile(stack.file, "\n".join(texts), [loader.LoadedDoc(0, loader.classify(stack.data), stack)],
                             layered=True)


def as_stack(doc: Document) -> ValuesStack:
    return doc if isinstance(doc, ValuesStack) else ValuesStack([doc])


def render_stack(stack: ValuesStack, sets: list[str], set_strings: list[str], chart: Optional[str]
                 ) -> tuple[str, list[render.RenderedDocument]]:
    """(engine, rendered objects whose fields know the values line they come from)."""
    out = render.render([d.data for d in stack.layers], sets, set_strings, chart)
    return out.engine, render.rendered_documents(out, stack)
