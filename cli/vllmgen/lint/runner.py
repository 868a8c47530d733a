"""One lint run: expand paths, load each file, schema-check values, run the rules, collect every finding.

Collect first, report once (as check-jsonschema does): nothing is printed here.
"""

from __future__ import annotations

from typing import Iterable, Optional

from vllmgen import workloads
from vllmgen.errors import InputError, InputErrors, pointer
from vllmgen.lint import loader, rules, suppress
from vllmgen.lint.drift import drift_hits
from vllmgen.lint.spec_check import spec_hits
from vllmgen.lint.findings import Finding, Result, Unusable
from vllmgen.lint.schema_check import SchemaChecker
from vllmgen.lint.view import views_of


#: The fix for a workload field of the wrong shape (the rule's own fix speaks of vllmgen values).
WORKLOAD_SHAPE_FIX = "write the field as the Kubernetes API reference defines it (`kubectl explain` shows it)"


class Linter:
    """Holds what is built once per run (the schema validator) and lints file after file."""

    def __init__(self, disabled: Iterable[str] = (), schema: Optional[dict] = None, schema_source: str = ""):
        self.disabled = set(disabled)
        self._schema = schema
        self._schema_source = schema_source or "values schema"
        self._checker: Optional[SchemaChecker] = None

    def _schema_checker(self) -> Optional[SchemaChecker]:
        if self._checker is None and self._schema is not None:
            self._checker = SchemaChecker(self._schema, self._schema_source)
        return self._checker

    def lint_paths(self, paths: Iterable[str]) -> Result:
        result = Result()
        files, missing = loader.expand_paths(paths)
        result.unusable.extend(Unusable(e.file, e.line, e.message) for e in missing)
        for path in files:
            self.lint_file(loader.load_file(path), result)
        result.findings.sort(key=Finding.sort_key)
        return result

    def lint_file(self, lf: loader.LoadedFile, result: Result) -> None:
        if lf.unusable is not None:
            e = lf.unusable
            msg = e.message if not e.pointer else f"{e.pointer}: {e.message}"
            result.unusable.append(Unusable(e.file, e.line, msg))
            return
        result.files_checked += 1
        file_off, unknown = suppress.file_disables(lf.text)
        for line, name in unknown:
            result.unusable.append(Unusable(lf.file, line, f"vllmgen-lint disable comment names no rule: {name!r}"))
        off = self.disabled | file_off

        def add(ld: loader.LoadedDoc, hit: rules.Hit) -> None:
            if suppress.is_disabled(hit.rule, off):
                return
            rule = rules.R[hit.rule]
            line = ld.doc.line(hit.line_path if hit.line_path is not None else hit.path)
            result.findings.append(Finding(lf.file, line, rule.id, rule.severity, hit.message,
                                           hit.fix or rule.fix, pointer(hit.path), ld.index))

        for ld in lf.docs:
            result.documents_checked += 1
            schema_errors = 0
            if ld.kind == loader.VALUES:
                checker = self._schema_checker()
                if checker is not None:
                    for err in checker.errors(ld.doc):
                        schema_errors += 1
                        where = pointer(err.path) or "(document)"
                        if not suppress.is_disabled("VG000", off):
                            add(ld, rules.Hit("VG000", err.path, f"{where}: {err.message}", line_path=err.line_path))
            if ld.kind == loader.VALUES and not schema_errors:
                for hit in drift_hits(ld.data):
                    add(ld, hit)
            if ld.kind == loader.SPEC and not suppress.is_disabled("VG000", off):
                for hit in spec_hits(ld.data):
                    add(ld, hit)
            for hit in rules.check_hf_token(ld.data):
                add(ld, hit)
            if ld.kind == loader.OTHER:
                continue
            problems: list[workloads.Problem] = []
            try:
                hits = list(self._view_hits(ld, lf, problems))
            except (TypeError, AttributeError, ValueError, KeyError, IndexError):
                if not schema_errors:
                    raise  # a schema-valid document must never trip the rules: that is a bug to see
                continue  # values of the wrong shape: the schema errors above already say what to fix
            for problem in dict.fromkeys(problems):  # shapes the API server refuses; the rules read around them
                add(ld, rules.Hit("VG000", problem.path, f"{problem.pointer}: {problem.message}", WORKLOAD_SHAPE_FIX))
            for hit in hits:
                add(ld, hit)

    @staticmethod
    def _view_hits(ld: loader.LoadedDoc, lf: loader.LoadedFile, problems: list):
        for view in views_of(ld, problems):
            if view.triton and not view.triton_configs:  # a Triton repository held by ConfigMaps here
                view.triton_configs = rules.triton_configs(lf.docs)
            for check in rules.VIEW_CHECKS:
                yield from check(view)


def lint(paths: Iterable[str], disabled: Iterable[str] = (), schema: Optional[dict] = None) -> Result:
    return Linter(disabled, schema).lint_paths(paths)
