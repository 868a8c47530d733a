"""One lint run: expand paths, load each file, schema-check values, run the rules, collect every finding.

Collect first, report once (as check-jsonschema does): nothing is printed here. Files are loaded before any is
linted, so a model spec anywhere in the run can tell the size of a model a manifest elsewhere serves.
"""

from __future__ import annotations

import json
from typing import Iterable, Optional

from vllmgen import workloads
from vllmgen.errors import pointer
from vllmgen import render
from vllmgen.lint import (autoscalers, evidence, kserve_merge, loader, refusals, rendered, rules, suppress,
                          triton_rules)
from vllmgen.lint.drift import drift_hits
from vllmgen.lint.gateway_check import run_hits, values_hits
from vllmgen.lint.findings import Finding, Inspected, Result, Unusable
from vllmgen.lint.schema_check import SchemaChecker
from vllmgen.lint.sizes import ModelSizes
from vllmgen.lint.spec_check import spec_hits
from vllmgen.roles import ROLES
from vllmgen.lint.view import ContainerView, FileContext, file_context, views_of
from vllmgen.yamlio import Document

#: The key of the chart's spec ConfigMap that holds the effective spec as JSON (templates/configmap-spec.yaml).
SPEC_JSON = "spec.json"
#: Rules about a start the probes cut short: their findings carry probe-check's course of the pod as evidence.
PROBE_TIMING_RULES = ("VG005", "VG006", "VG052")
#: The fix for a workload field of the wrong shape (the rule's own fix speaks of vllmgen values).
WORKLOAD_SHAPE_FIX = "write the field as the Kubernetes API reference defines it (`kubectl explain` shows it)"


class Linter:
    """Holds what is built once per run (the schema validator, the model sizes) and lints file after file."""

    def __init__(self, disabled: Iterable[str] = (), schema: Optional[dict] = None, schema_source: str = "",
                 sizes: Optional[ModelSizes] = None, sets: Iterable[str] = (), set_strings: Iterable[str] = (),
                 chart: Optional[str] = None):
        self.disabled = set(disabled)
        self.sets, self.set_strings, self.chart = list(sets), list(set_strings), chart
        self.engines: set[str] = set()  # the Helm engines that rendered values in this run
        self._schema = schema
        self._user_schema = bool(schema_source)  # a file the user named, not the chart's own schema
        self._schema_source = schema_source or "values schema"
        self._checker: Optional[SchemaChecker] = None
        self.sizes = sizes if sizes is not None else ModelSizes()
        self._targets: Optional[dict] = None  # the workloads autoscalers may name, over the whole run

    def _schema_checker(self) -> Optional[SchemaChecker]:
        if self._checker is None and self._schema is not None:
            self._checker = SchemaChecker(self._schema, self._schema_source, check=self._user_schema)
        return self._checker

    def lint_paths(self, paths: Iterable[str], layered: Iterable[str] = ()) -> Result:
        """Lint `paths` (files, directories, "-"); `layered` values files are layered as Helm layers `-f` files
        and linted as one. Every values file is rendered with the chart and its pods are linted."""
        result = Result()
        files, missing = loader.expand_paths(paths)
        result.unusable.extend(Unusable(e.file, e.line, e.message) for e in missing)
        loaded = [loader.load_file(path) for path in files]
        layered = list(layered)
        if layered:
            loaded.append(rendered.stack_file(layered))
        self.sizes.add_specs(ld.data for lf in loaded for ld in lf.docs if ld.kind == loader.SPEC)
        _merge_kserve_configs(loaded, result)
        # an autoscaler and the workload it scales may sit in different files of the run
        self._targets = autoscalers.targets(loaded)
        joined = _joined_hits(loaded)
        for lf in loaded:
            self.lint_file(lf, result, complete=lf.layered, joined=joined.get(id(lf), ()))
        result.findings.sort(key=Finding.sort_key)
        result.notes.extend(self.sizes.notes)
        result.notes.extend(f"values rendered with {e}" for e in sorted(self.engines))
        return result

    def lint_file(self, lf: loader.LoadedFile, result: Result, complete: bool = False,
                  joined: Iterable[tuple[loader.LoadedDoc, rules.Hit]] = ()) -> None:
        """Lint one file; `joined` are the hits of rules over the whole run that land in it."""
        if lf.unusable is not None:
            e = lf.unusable
            msg = e.message if not e.pointer else f"{e.pointer}: {e.message}"
            result.unusable.append(Unusable(e.file, e.line, msg))
            return
        result.files_checked += 1
        for e in lf.bad_docs:
            message = e.message if not e.pointer else f"{e.pointer}: {e.message}"
            result.unusable.append(Unusable(e.file, e.line, message))
        found: list[Finding] = []
        ctx = file_context(ld.data for ld in lf.docs)
        units: list[suppress.Unit] = []
        for ld in lf.docs:
            result.documents_checked += 1
            views = self._lint_doc(ld, lf, ctx, found, complete, result)
            units += _units(ld, views)
        for ld, hit in joined:
            found.append(_finding(ld, lf, hit))
        for e in lf.duplicates:
            found.append(Finding(e.file, e.line, "VG030", rules.R["VG030"].severity, f"{e.pointer}: {e.message}",
                                 rules.R["VG030"].fix, e.pointer, _document_at(lf, e.line)))
        comments, unknown = suppress.annotated(lf.text, units)
        for line, name in unknown:
            result.unusable.append(Unusable(lf.file, line, f"vllmgen-lint disable comment names no rule: {name!r}"))
        for f in found:
            if suppress.is_disabled(f.rule, self.disabled):
                continue
            if any(suppress.covers(unit, f.document, f.pointer) and suppress.is_disabled(f.rule, ids)
                   for unit, ids in comments):
                continue
            result.findings.append(f)

    def _lint_doc(self, ld: loader.LoadedDoc, lf: loader.LoadedFile, ctx: FileContext, found: list[Finding],
                  complete: bool, result: Result) -> list[ContainerView]:
        def add(hit: rules.Hit, container: str = "") -> None:
            rule = rules.R[hit.rule]
            path = hit.line_path if hit.line_path is not None else hit.path
            file, line = _origin(ld, lf, path)
            found.append(Finding(file, line, rule.id, rule.severity, hit.message, hit.fix or rule.fix,
                                 pointer(hit.path), ld.index, container, hit.evidence))

        overlay = ld.kind == loader.VALUES and not complete and "spec" not in ld.data
        schema_errors = 0
        if ld.kind == loader.VALUES:
            checker = self._schema_checker()
            if checker is not None:
                for err in checker.errors(ld.doc, overlay=overlay):
                    schema_errors += 1
                    where = pointer(err.path) or "(document)"
                    add(rules.Hit("VG000", err.path, f"{where}: {err.message}", line_path=err.line_path))
        if ld.kind == loader.VALUES and not schema_errors:
            for hit in drift_hits(ld.data):
                add(hit)
            for hit in autoscalers.values_hits(ld.data):
                add(hit)
            if not overlay:  # an overlay's missing keys come from the values underneath
                for hit in values_hits(ld):
                    add(hit)
        targets = self._targets if self._targets is not None else autoscalers.targets([lf])
        for hit in autoscalers.autoscaler_hits(ld.data, targets):
            add(hit)
        if ld.kind == loader.SPEC:
            for hit in spec_hits(ld.data):
                add(hit)
        for hit in rules.check_hf_token(ld.data):
            add(hit)
        if ld.kind in (loader.KUBERNETES, loader.POD_SPEC):
            for rule, path, message in refusals.document_hits(ld.data, ld.doc):
                add(rules.Hit(rule, path, message))
        if ld.kind == loader.OTHER:
            return []
        if ld.kind == loader.VALUES:
            if schema_errors:
                return []  # Helm refuses to render values its schema refuses: VG000 says what to fix
            return self._lint_rendered(ld, lf, found, result)
        problems: list[workloads.Problem] = []
        try:
            views = views_of(ld, problems, ctx)
            hits = [(hit, pointer(v.base)) for v in views if v.identity.reviewed
                    for hit in self._view_hits(v, lf)]
        except (TypeError, AttributeError, ValueError, KeyError, IndexError):
            if not schema_errors:
                raise  # a schema-valid document must never trip the rules: that is a bug to see
            return []  # values of the wrong shape: the schema errors above already say what to fix
        for v in views:
            result.containers.append(Inspected(lf.file, ld.index, pointer(v.base), v.name, v.identity.runs_vllm,
                                               v.identity.server, v.identity.evidence))
        bases = [(v.base, pointer(v.base)) for v in views]
        for problem in dict.fromkeys(problems):  # shapes the API server refuses; the rules read around them
            owner = max((b for b in bases if problem.path[:len(b[0])] == b[0]), key=lambda b: len(b[0]),
                        default=((), ""))
            add(rules.Hit("VG000", problem.path, f"{problem.pointer}: {problem.message}", WORKLOAD_SHAPE_FIX),
                owner[1])
        for hit, container in hits:
            add(hit, container)
        return views

    def _lint_rendered(self, ld: loader.LoadedDoc, lf: loader.LoadedFile, found: list[Finding], result: Result
                       ) -> list[ContainerView]:
        """Render the values with the chart and lint the pods it renders; findings point at the values lines
        the rendered fields come from."""
        stack = rendered.as_stack(ld.doc)

        def add(hit: rules.Hit, where: str, line: Optional[int], path: tuple, container: str = "") -> None:
            rule = rules.R[hit.rule]
            found.append(Finding(where, line, rule.id, rule.severity, hit.message, hit.fix or rule.fix,
                                 pointer(path), ld.index, container, hit.evidence))

        try:
            engine, objects = rendered.render_stack(stack, self.sets, self.set_strings, self.chart)
        except render.RenderError as exc:
            named = render.refused_path(str(exc), stack)
            file, line = stack.origin(named)
            add(rules.Hit("VG000", named, f"the chart refuses these values: {exc}"), file, line, named)
            return []
        self.engines.add(engine)
        docs = [loader.LoadedDoc(i, loader.classify(d.data), d) for i, d in enumerate(objects)]
        rlf = loader.LoadedFile(lf.file, "", docs)
        ctx = file_context(d.data for d in docs)
        spec = _rendered_spec(ctx)
        refused = [(rd, rules.Hit(rule, path, message)) for rd in docs
                   for rule, path, message in refusals.document_hits(rd.data, rd.doc)]
        refused += [(docs[i], (rules.Hit("VG063", path, message))) for i, path, message
                    in refusals.collisions([d.data for d in docs])]
        for rd, hit in refused:
            file, path, line, note = rd.doc.origin(hit.path)
            add(rules.Hit(hit.rule, hit.path, hit.message + note), file, line, path or ())
        for rd in docs:
            if rd.kind != loader.KUBERNETES:
                continue
            problems: list[workloads.Problem] = []
            views = views_of(rd, problems, ctx)
            for v in views:  # plain probes: vLLM's command line comes from the spec the chart renders beside it
                if v.spec is None and v.identity.runs_vllm:
                    v.spec = spec
            for v in views:
                result.containers.append(Inspected(lf.file, ld.index, f"{rd.doc.file}#{pointer(v.base)}", v.name,
                                                   v.identity.runs_vllm, v.identity.server, v.identity.evidence))
            for problem in dict.fromkeys(problems):
                file, path, line, note = rd.doc.origin(problem.path)
                add(rules.Hit("VG000", problem.path, f"{problem.pointer}: {problem.message}{note}",
                              WORKLOAD_SHAPE_FIX), file, line, path or ())
            for v in views:
                if not v.identity.reviewed:
                    continue
                for hit in self._view_hits(v, rlf):
                    file, path, line, note = rd.doc.origin(hit.line_path if hit.line_path is not None else hit.path)
                    add(rules.Hit(hit.rule, hit.path, hit.message + note, hit.fix, evidence=hit.evidence), file,
                        line, path or (),
                        pointer((v.role,)))
        return []

    def _view_hits(self, view: ContainerView, lf: loader.LoadedFile):
        if view.triton and not view.triton_configs:  # a Triton repository held by ConfigMaps here
            view.triton_configs = triton_rules.triton_configs(lf.docs)
        if view.spec is None and view.model:
            view.model_size = self.sizes.size_of(view.model)
        if view.spec is None:
            view.adapter_ranks = self.sizes.adapter_ranks
        for check in rules.VIEW_CHECKS:
            for hit in check(view):
                if hit.rule in PROBE_TIMING_RULES:
                    need = (hit.load_s, "") if hit.load_s is not None else rules.estimated_load(view)
                    shown = evidence.course(view, need[0]) if need is not None else None
                    hit.evidence = shown.to_data() if shown is not None else None
                yield hit


def _merge_kserve_configs(files: list[loader.LoadedFile], result: Result) -> None:
    """Each LLMInferenceService is linted as KServe's controller sees it: merged with the
    LLMInferenceServiceConfigs of the run it builds on (lint.kserve_merge). Lines stay the service's own; a field
    that comes from a config is reported at the nearest field the service writes."""
    configs = kserve_merge.configs_of(ld.data for lf in files if lf.unusable is None for ld in lf.docs)
    if not configs:
        return
    for lf in files:
        for i, ld in enumerate(lf.docs):
            data, used = kserve_merge.merged_data(ld.data, configs)
            if used:
                lf.docs[i] = loader.LoadedDoc(ld.index, ld.kind, Document(data, ld.doc.file, ld.doc._lines))
                result.notes.append(f"{ld.doc.file}: document {ld.index}: the LLMInferenceService is checked "
                                    f"merged with {', '.join(used)}, as KServe's controller merges them")


def _joined_hits(files: list[loader.LoadedFile]) -> dict[int, list[tuple[loader.LoadedDoc, rules.Hit]]]:
    """Hits of the rules that join documents across the run (InferencePools and the pods they select), by file."""
    owner = {id(ld): lf for lf in files if lf.unusable is None for ld in lf.docs}
    out: dict[int, list[tuple[loader.LoadedDoc, rules.Hit]]] = {}
    for ld, hit in run_hits([ld for lf in files if lf.unusable is None for ld in lf.docs]):
        out.setdefault(id(owner[id(ld)]), []).append((ld, hit))
    return out


def _rendered_spec(ctx: FileContext) -> Optional[dict]:
    """The model spec the chart renders into its spec ConfigMap (spec.json), when it renders one."""
    for data in ctx.configmaps.values():
        text = data.get(SPEC_JSON)
        if isinstance(text, str):
            try:
                spec = json.loads(text)
            except ValueError:
                return None
            return spec if isinstance(spec, dict) else None
    return None


def _finding(ld: loader.LoadedDoc, lf: loader.LoadedFile, hit: rules.Hit) -> Finding:
    rule = rules.R[hit.rule]
    file, line = _origin(ld, lf, hit.line_path if hit.line_path is not None else hit.path)
    return Finding(file, line, rule.id, rule.severity, hit.message, hit.fix or rule.fix, pointer(hit.path), ld.index)


def _origin(ld: loader.LoadedDoc, lf: loader.LoadedFile, path: tuple) -> tuple[str, Optional[int]]:
    """The file and line a path was written at (a layered document knows which of its files set it)."""
    origin = getattr(ld.doc, "origin", None)
    if origin is not None:
        return origin(path)
    return lf.file, ld.doc.line(path)


def _document_at(lf: loader.LoadedFile, line: Optional[int]) -> int:
    index = 0
    for ld in lf.docs:
        first = suppress.span(ld.doc._lines, ())
        if first is not None and line is not None and first[0] <= line:
            index = ld.index
    return index


def _units(ld: loader.LoadedDoc, views: list[ContainerView]) -> list[suppress.Unit]:
    """The document, each object of a list, each container: what a disable comment can annotate."""
    lines = ld.doc._lines
    paths = {()} | {p for p, _ in workloads.objects(ld.data)} | {v.base for v in views}
    if ld.kind == loader.VALUES:  # a values file's role blocks hold what its rendered containers come from
        paths |= {(role,) for role in ROLES if isinstance(ld.data.get(role), dict)}
    out = []
    for path in paths:
        s = suppress.span(lines, path)
        if s is not None:
            out.append(suppress.Unit(ld.index, path, *s))
    return out


def lint(paths: Iterable[str], disabled: Iterable[str] = (), schema: Optional[dict] = None) -> Result:
    return Linter(disabled, schema).lint_paths(paths)
