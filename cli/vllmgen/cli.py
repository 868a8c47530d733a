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
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
)


def fail_input(exc: InputError | InputErrors) -> None:
    """Print bad-input errors (one line each) on stderr and exit 2: never a traceback."""
    errors = exc.errors if isinstance(exc, InputErrors) else [exc]
    for err in errors:
        typer.echo(f"error: {err.format()}", err=True)
    raise typer.Exit(EXIT_INPUT)


def _print_version(value: bool) -> None:
    if value:
        from vllmgen import __version__

        typer.echo(f"vllmgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print vllmgen's version and exit.")) -> None:
    """vLLM on Kubernetes behind model-aware probes: spec -> Helm values, lint, probe emulator, supervisor."""


#: The only command the supervisor zipapp the chart carries runs (scripts/build_supervisor.py): the others need
#: packages vLLM images do not have (ruamel.yaml), and the zipapp leaves their modules out.
ZIPAPP_COMMANDS = ("serve",)


def zipapp_main() -> None:
    """Entry point of the supervisor zipapp: the same CLI with `serve` (and --version, --help) only."""
    app.registered_commands[:] = [c for c in app.registered_commands if c.name in ZIPAPP_COMMANDS]
    main()


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


from vllmgen.layouts import LAYOUTS  # noqa: E402
from vllmgen.roles import ROLES  # noqa: E402
from vllmgen.servers import NAMES as SERVER_NAMES  # noqa: E402

Role = Enum("Role", {name: name for name in ROLES}, type=str)
LayoutName = Enum("LayoutName", {name: name for name in LAYOUTS}, type=str)
ServerName = Enum("ServerName", {name: name for name in SERVER_NAMES}, type=str)


SPEC_HELP = "Model spec (YAML). Default: the embedded default spec."


def _load(spec_file: Optional[Path], layout=None, server=None, roles: list[str] | None = None) -> dict:
    from vllmgen.spec import load_spec

    return load_spec(None if spec_file is None else str(spec_file),
                     layout=layout.value if layout else None, server=server.value if server else None, roles=roles)


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
        roles = [r.value for r in role] if role else None
        spec = _load(spec_file, layout, server, roles)
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
    from vllmgen.autoscaling import describe
    from vllmgen.budget import startup_budget, weights_bytes
    from vllmgen.caches import download_advice
    from vllmgen.spec import active_roles

    try:
        spec = _load(spec_file, layout, server)
    except (InputError, InputErrors) as exc:
        fail_input(exc)
    roles = ", ".join(f"{r} {describe(spec['roles'][r])}" for r in active_roles(spec))
    typer.echo(f"{spec_file}: valid: layout {spec['layout']}, server {spec['server']}, "
               f"probes {spec['probes']['mode']}, roles {roles}; "
               f"startup budget {startup_budget(spec).arithmetic()}")
    advice = download_advice(spec, weights_bytes(spec))
    if advice:
        typer.echo(f"warning: {spec_file}: /model/source: {advice}", err=True)


@app.command("schema")
def schema_cmd(
    values_schema: bool = typer.Option(False, "--values", help="Print the chart's values schema instead."),
) -> None:
    """Print the model-spec JSON Schema (for editors and CI), or with --values the chart's values schema."""
    import json

    if values_schema:
        from vllmgen.schemas import chart_values_schema_text

        sys.stdout.write(chart_values_schema_text())
        return
    from vllmgen.spec import schema

    sys.stdout.write(json.dumps(schema(), indent=2) + "\n")


# --- vllmgen lint ---------------------------------------------------------------------------------------

@app.command("lint")
def lint_command(
    paths: Optional[List[str]] = typer.Argument(None, metavar="PATH...",
                                      help="Values files, Kubernetes manifests or directories ('-' = stdin)."),
    values: List[str] = typer.Option([], "--values", "-f", metavar="FILE",
                                     help="Values files layered as `helm install -f A -f B` layers them (repeatable; "
                                     "later files win); linted as one merged file."),
    set_values: List[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                         help="Set values as `helm install --set` does (Helm's grammar; "
                                         "repeatable), on every values file linted."),
    set_strings: List[str] = typer.Option([], "--set-string", metavar="KEY=VALUE",
                                          help="As --set, the values kept strings (`helm --set-string`)."),
    chart: Optional[str] = typer.Option(None, "--chart", metavar="DIR",
                                        help="The chart values are rendered with (default: $VLLMGEN_CHART, or "
                                        "charts/vllm of this source tree)."),
    output_format: str = typer.Option("text", "--format", "-o",
                                      help="text (file:line: RULE severity: message), json, github (annotations) "
                                      "or sarif (code scanning)."),
    disable: List[str] = typer.Option([], "--disable", "-d", metavar="ID",
                                      help="Turn a rule off (id or name, repeatable, comma lists allowed)."),
    fail_on: str = typer.Option("warning", "--fail-on",
                                help="Lowest severity that makes the exit code 1: error, warning or info."),
    schema: Optional[Path] = typer.Option(None, "--schema",
                                          help="Values schema to check against (default: the chart's)."),
    model_size: List[str] = typer.Option([], "--model-size", metavar="NAME=GiB",
                                         help="Size of a model's weights, for the startup budget rule on manifests "
                                         "without a spec (repeatable)."),
    hub: bool = typer.Option(False, "--hub", help="Read the size of hub models (org/name) from the Hugging Face "
                             "hub's safetensors metadata (needs huggingface_hub and network access)."),
    list_rules: bool = typer.Option(False, "--list-rules", help="Print the rules and exit."),
) -> None:
    """Lint values files and Kubernetes manifests for vLLM probe, port, drain and parallelism mistakes.
    Values files are rendered with the chart by the real Helm engine (the helm binary on PATH, else the embedded
    engine of `vllmgen[render]`) and the pods it renders are linted. Exit 0 clean, 1 findings, 2 unusable input."""
    from vllmgen.lint import hub as hub_client
    from vllmgen.lint import reporters, suppress
    from vllmgen.lint.findings import SEVERITIES
    from vllmgen.lint.rules import R
    from vllmgen.lint.runner import Linter
    from vllmgen.lint.schema_check import chart_values_schema
    from vllmgen.lint.sizes import ModelSizes, parse_model_size

    if list_rules:
        for r in R.values():
            typer.echo(f"{r.id} {r.name} [{r.severity}]: {r.reason}. Fix: {r.fix}")
        raise typer.Exit(0)
    if not paths and not values:
        fail_input(InputError("<command line>", "", "no PATH given: name values files, manifests or directories"))
    if output_format not in reporters.REPORTERS:
        fail_input(InputError("--format", "", f"unknown format {output_format!r}; use "
                                              f"{', '.join(reporters.REPORTERS)}"))
    if fail_on not in SEVERITIES:
        fail_input(InputError("--fail-on", "", f"unknown severity {fail_on!r}; use error, warning or info"))
    disabled, unknown = suppress.resolve(disable)
    if unknown:
        fail_input(InputError("--disable", "", f"no such rule: {', '.join(unknown)} (see --list-rules)"))
    if hub and not hub_client.available():
        typer.echo(f"error: {hub_client.MISSING}", err=True)
        raise typer.Exit(EXIT_INPUT)
    try:
        sizes = ModelSizes([parse_model_size(x) for x in model_size], use_hub=hub)
        values_schema = chart_values_schema(str(schema) if schema else None)
        result = Linter(disabled, values_schema, str(schema or ""), sizes, set_values, set_strings,
                        chart).lint_paths(paths or [], values)
    except (InputError, InputErrors) as exc:
        fail_input(exc)
    sys.stdout.write(reporters.REPORTERS[output_format](result))
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if output_format == "text":
        typer.echo(reporters.summary(result), err=True)
    if result.unusable:
        raise typer.Exit(EXIT_INPUT)
    failing = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    raise typer.Exit(1 if any(f.severity in failing for f in result.findings) else 0)


# --- serve (the supervisor) -----------------------------------------------------------------------------------
@app.command("serve")
def serve_cmd(
    spec_file: Optional[Path] = typer.Option(None, "--spec", "-s", help="Model spec (YAML). Default: the "
                                             "spec in $VLLMGEN_SPEC."),
    role: Role = typer.Option(Role.standalone, "--role", "-r", help="Which role this pod plays."),
    pod_port: Optional[int] = typer.Option(None, "--pod-port", help="The port `vllm` the pod declares (the "
                                           "chart passes it): the spec must have vLLM listen there."),
    pod_health_port: Optional[int] = typer.Option(None, "--pod-health-port", help="The port `health` the pod "
                                                  "declares (the chart passes it)."),
    pod_accelerators: Optional[int] = typer.Option(None, "--pod-accelerators", help="Accelerators the pod "
                                                   "requests (the chart passes it): must equal tensor x "
                                                   "data-local parallel size."),
    print_command: bool = typer.Option(False, "--print-command", help="Print the command and the environment "
                                       "the supervisor would start vLLM with, and exit without starting it."),
) -> None:
    """Run vLLM as the spec says, behind /startupz, /readyz, /livez and /status on the spec's health port.

    Exit codes: 0 after a requested stop (SIGTERM), 1 when vLLM stopped by itself or its engine died,
    2 for bad configuration (spec, model path, ports, a spec that disagrees with the pod)."""
    import os

    from vllmgen.spec import load_spec, parse_spec
    from vllmgen.supervisor import serve

    try:
        if spec_file is not None:
            source = str(spec_file)
            spec = load_spec(source)
        elif os.environ.get(serve.SPEC_ENV, "").strip():
            source = f"${serve.SPEC_ENV}"
            spec = parse_spec(os.environ[serve.SPEC_ENV], source)
        else:
            raise InputError("<command line>", "", f"no spec: pass --spec FILE or set ${serve.SPEC_ENV}")
        serve.check_pod(spec, role.value, serve.PodFacts(pod_port, pod_health_port, pod_accelerators), source)
        plan = serve.plan_for(spec, role.value, dict(os.environ))
        serve.check_release(plan, spec, serve.installed_vllm_release(), source)
    except (InputError, InputErrors) as exc:
        fail_input(exc)
    if print_command:
        try:
            launch = serve.launch_for(plan, dict(os.environ))
        except ValueError as exc:
            fail_input(InputError("<environment>", "", str(exc)))
        sys.stdout.write(serve.command_text(launch, f"what vllmgen serve --role {role.value} starts for {source} "
                                                    "(vLLM also inherits the container's environment)"))
        raise typer.Exit(0)
    raise typer.Exit(serve.run(plan))


# --- vllmgen calibrate ---------------------------------------------------------------------------------------
def _open_log(path: str):
    """A log file, FIFO or device opened for reading: O_NONBLOCK so that a FIFO nobody writes to is opened at
    once (and read as empty) instead of blocking; reads then block as usual (calibrate.bounded_lines bounds
    them)."""
    import os

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    os.set_blocking(fd, True)
    return open(fd, "rb")


@app.command("calibrate")
def calibrate_cmd(
    logs: List[str] = typer.Argument(..., metavar="LOG...", help="Logs of `vllmgen serve` as `kubectl logs POD` "
                                     "prints them (vLLM's output and the supervisor's JSON lines); - reads stdin."),
    spec_file: Optional[Path] = typer.Option(None, "--spec", "-s", help="Also show this spec's startup budget "
                                             "before and with the fitted block."),
) -> None:
    """Print the spec's `startup:` block that fits measured starts: the slowest download and load bandwidths, the
    longest compile and process start, with the arithmetic and the spread across starts.

    Paste the block into the spec (it is spec fields) and run `vllmgen values` again. Exit 2 when a log holds
    no start that reached Ready."""
    import sys

    from vllmgen import calibrate

    try:
        found = []
        for path in logs:
            name = "<stdin>" if path == "-" else path
            try:
                with (open(sys.stdin.fileno(), "rb", closefd=False) if path == "-" else _open_log(path)) as stream:
                    found.append((name, calibrate.starts(calibrate.bounded_lines(stream, name), name)))
            except IsADirectoryError:
                raise InputError(name, "", "is a directory, not a log") from None
            except OSError as exc:
                raise InputError(name, "", f"cannot read: {exc.strerror or exc}") from None
        cal = calibrate.fit(calibrate.merge(found))
        text = calibrate.render(cal)
        if spec_file is not None:
            text += calibrate.budget_change(_load(spec_file), cal)
    except (InputError, InputErrors) as exc:
        fail_input(exc)
    sys.stdout.write(text)


# --- vllmgen probe-check (vllmgen.emulator) --------------------------------------------------------------
from contextlib import contextmanager  # noqa: E402


@contextmanager
def _live_progress(live: bool):
    """A live run on a terminal shows one line on stderr, rewritten in place (elapsed time, each probe's last
    answer, the pod's state) and gone when the report prints; anything else (a pipe, a CI log, replay mode) gets
    nothing extra."""
    from rich.console import Console

    console = Console(stderr=True)
    if not live or not console.is_terminal:
        yield None
        return
    from rich.live import Live
    from rich.text import Text

    from vllmgen.emulator.drivers import progress_line

    with Live(Text("probe-check: starting"), console=console, transient=True, refresh_per_second=4) as screen:
        yield lambda progress: screen.update(Text(progress_line(progress)))
@app.command("probe-check")
def probe_check(
    config: str = typer.Argument(..., metavar="VALUES|MANIFEST",
                                 help="vllmgen values file or Kubernetes manifest(s) holding the probes"),
    role: Optional[str] = typer.Option(None, "--role", help="role in a values file (standalone, prefill, decode), "
                                       "or object name/label/LWS template (leader, worker) in a manifest"),
    container: Optional[str] = typer.Option(None, "--container", help="container name in a manifest"),
    values: List[str] = typer.Option([], "--values", "-f", metavar="FILE",
                                     help="values files layered over VALUES as `helm install -f` layers them"),
    set_values: List[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                         help="set values as `helm install --set` does (Helm's grammar)"),
    set_strings: List[str] = typer.Option([], "--set-string", metavar="KEY=VALUE",
                                          help="as --set, the values kept strings"),
    chart: Optional[str] = typer.Option(None, "--chart", metavar="DIR",
                                        help="the chart values are rendered with (default: $VLLMGEN_CHART, or "
                                        "charts/vllm of this source tree)"),
    url: Optional[str] = typer.Option(None, "--url", help="live mode: probe this pod address, e.g. "
                                      "http://10.0.0.7 (each probe on its port) or http://127.0.0.1:8000"),
    replay_file: Optional[Path] = typer.Option(None, "--replay", metavar="TIMELINE",
                                               help="replay mode: a recorded endpoint timeline (YAML/JSON)"),
    record: Optional[Path] = typer.Option(None, "--record", metavar="FILE",
                                          help="live mode: write what the endpoints answered as a timeline"),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.1,
                                             help="seconds to run (live: default 180; replay: the timeline's)"),
    compare: List[str] = typer.Option([], "--compare", metavar="OTHER[#ROLE[/CONTAINER]]",
                                      help="another values file/manifest to run on the same timeline "
                                      "(repeatable; in live mode it is replayed on the recording); #ROLE picks "
                                      "its role or object when it differs from --role"),
    lead: float = typer.Option(0.0, "--lead", min=0.0, help="seconds the pod was synced (probe workers "
                               "started) before the container started: the tickers' phase"),
    port_map: List[str] = typer.Option([], "--port-map", metavar="FROM=TO",
                                       help="probe port FROM is port TO: where live requests go, or which "
                                       "recorded endpoint a replay reads"),
    delete_at: Optional[float] = typer.Option(None, "--delete-at", metavar="S",
                                              help="delete the pod S s after the container started: liveness "
                                              "and startup stop, readiness goes on, preStop, SIGTERM, SIGKILL at "
                                              "the grace period; the verdict says how long it stayed in the "
                                              "endpoints after SIGTERM and whether the drain fit"),
    pleg_delay: Optional[float] = typer.Option(None, "--pleg-delay", metavar="S", help="seconds until kubelet "
                                               "sees a container start or exit (PLEG relist; default 1)"),
    resync_period: Optional[float] = typer.Option(None, "--resync-period", metavar="S", help="kubelet's pod "
                                                  "resync period (--sync-frequency; default 60)"),
    endpoint_delay: Optional[float] = typer.Option(None, "--endpoint-delay", metavar="S", help="seconds from a "
                                                   "Ready change or a deletion to proxies routing accordingly "
                                                   "(EndpointSlice controller and kube-proxy; default 1)"),
    kubelet_version: Optional[str] = typer.Option(None, "--kubelet-version", metavar="1.N",
                                                  help="the kubelet release to emulate where its behaviour "
                                                  "changed (1.35-1.37: a restarted container inherits Started "
                                                  "until its startup probe runs; default 1.37)"),
    record_interval: float = typer.Option(0.1, "--record-interval", min=0.0, help="live mode: seconds "
                                          "between recording requests per endpoint (0: record only probes)"),
    details: Optional[bool] = typer.Option(None, "--details/--no-details",
                                           help="print each probe (default: with one configuration only)"),
    until_ready: bool = typer.Option(False, "--until-ready", help="live mode: stop as soon as the pod is Ready "
                                     "(a CI wait without sleep); exit 1 if it is not Ready within --duration"),
    fmt: str = typer.Option("text", "--format", help="text or json"),
) -> None:
    """Emulate kubelet's probes: when would this pod turn Ready, and would it be restarted?

    A values file is rendered with the chart by the real Helm engine (the helm binary on PATH, else the embedded
    engine of `vllmgen[render]`) and the rendered pod is emulated.

    Exit codes: 0 done (the verdict is in the output), 1 with --until-ready when the pod never turned Ready,
    2 bad input (configuration, timeline, URL)."""
    try:
        from vllmgen.emulator import command, model

        with _live_progress(url is not None) as on_progress:
            text, code = command.probe_check(config=config, role=role, container=container, url=url,
                                             replay_file=replay_file, record=record, duration=duration,
                                             compare=compare, lead=lead, port_map=port_map,
                                             record_interval=record_interval, details=details, fmt=fmt,
                                             until_ready=until_ready, delete_at=delete_at,
                                             timing=command.Timing(pleg_delay, resync_period, endpoint_delay,
                                                                   kubelet_version),
                                             how=model.Rendering(tuple(values), tuple(set_values),
                                                                 tuple(set_strings), chart),
                                             on_progress=on_progress)
    except (InputError, InputErrors) as exc:
        fail_input(exc)
    if fmt == "text":
        for engine in dict.fromkeys(model.ENGINES):
            typer.echo(f"note: values rendered with {engine}", err=True)
    typer.echo(text, nl=False)
    raise typer.Exit(code)
