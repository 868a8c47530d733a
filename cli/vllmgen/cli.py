"""The `vllmgen` command line. Each command imports its module lazily: `vllmgen values` must start cold
in well under 0.35 s, so nothing heavy (helm, httpx, jsonschema) is imported at module level."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from vllmgen.errors import EXIT_INPUT, InputError, InputErrors

app = typer.Typer(
    name="vllmgen",
    help="vLLM on Kubernetes behind model-aware probes: spec -> Helm values, lint, probe emulator, supervisor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail_input(exc: InputError | InputErrors) -> None:
    """Print bad-input errors (one line each) on stderr and exit 2: never a traceback."""
    errors = exc.errors if isinstance(exc, InputErrors) else [exc]
    for err in errors:
        typer.echo(f"error: {err.format()}", err=True)
    raise typer.Exit(EXIT_INPUT)


def main() -> None:
    try:
        app()
    except (InputError, InputErrors) as exc:  # commands normally catch these; this is the backstop
        errors = exc.errors if isinstance(exc, InputErrors) else [exc]
        for err in errors:
            print(f"error: {err.format()}", file=sys.stderr)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        sys.exit(130)


# --- commands are registered below, one block each, owned by their modules' authors -------------------


# --- values / validate / schema (the spine) ---------------------------------------------------------------
from enum import Enum  # noqa: E402


class Role(str, Enum):
    standalone = "standalone"
    prefill = "prefill"
    decode = "decode"


class LayoutName(str, Enum):
    simulated = "simulated"
    single_node = "single-node"
    wide_ep = "wide-ep"


class ServerName(str, Enum):
    vllm = "vllm"
    triton = "triton"


SPEC_HELP = "Model spec (YAML). Default: the embedded default spec."


def _load(spec_file: Optional[Path], layout=None, server=None) -> dict:
    from vllmgen.spec import load_spec

    return load_spec(None if spec_file is None else str(spec_file),
                     layout=layout.value if layout else None, server=server.value if server else None)


@app.command("values")
def values_cmd(
    role: Optional[List[Role]] = typer.Option(None, "--role", "-r", help="Role to emit (repeatable). "
                                              "Default: the spec's roles with replicas."),
    layout: Optional[LayoutName] = typer.Option(None, "--layout", help="Override the spec's layout."),
    server: Optional[ServerName] = typer.Option(None, "--server", help="Override the spec's server."),
    spec_file: Optional[Path] = typer.Option(None, "--spec", "-s", help=SPEC_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here (atomically) instead of stdout."),
) -> None:
    """Generate Helm values for charts/vllm from a model spec, with every computed number explained."""
    from vllmgen import values
    from vllmgen.yamlio import write_atomic

    try:
        spec = _load(spec_file, layout, server)
        roles = [r.value for r in role] if role else None
        text = values.render(spec, roles, source=str(spec_file) if spec_file else "the embedded default spec")
        if output is None or str(output) == "-":
            sys.stdout.write(text)
        else:
            write_atomic(output, text)
    except (InputError, InputErrors) as exc:
        fail_input(exc)


@app.command("validate")
def validate_cmd(
    spec_file: Path = typer.Argument(..., help="Model spec to check (- for stdin)."),
    layout: Optional[LayoutName] = typer.Option(None, "--layout", help="Check as if this layout were set."),
    server: Optional[ServerName] = typer.Option(None, "--server", help="Check as if this server were set."),
) -> None:
    """Check a model spec: schema, then cross-field rules (parallel sizes, GPUs per pod, ports, ...)."""
    from vllmgen.budget import startup_budget
    from vllmgen.spec import active_roles

    try:
        spec = _load(spec_file, layout, server)
    except (InputError, InputErrors) as exc:
        fail_input(exc)
    roles = ", ".join(f"{r} x{spec['roles'][r]['replicas']}" for r in active_roles(spec))
    typer.echo(f"{spec_file}: valid: layout {spec['layout']}, server {spec['server']}, "
               f"probes {spec['probes']['mode']}, roles {roles}; "
               f"startup budget {startup_budget(spec).arithmetic()}")


@app.command("schema")
def schema_cmd(
    values_schema: bool = typer.Option(False, "--values", help="Print the chart's values schema instead."),
) -> None:
    """Print the model-spec JSON Schema (for editors and CI), or with --values the chart's values schema."""
    import json

    if values_schema:
        from vllmgen.schemas import chart_values_schema

        sys.stdout.write(chart_values_schema())
        return
    from vllmgen.spec import schema

    sys.stdout.write(json.dumps(schema(), indent=2) + "\n")
