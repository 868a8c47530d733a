"""What every server module answers. `values`, the spec checks, the supervisor and lint ask a `Server`, never
compare a server's name. Adding a server is one module in this package, one name in `servers.NAMES` and one
value in the schema's `server` enum.
"""

from __future__ import annotations

from dataclasses import dataclass

from vllmgen.autoscaling import deployed
from vllmgen.engine import SHUTDOWN_TIMEOUT_SECONDS
from vllmgen.layouts import Layout
from vllmgen.probes import RoleProbes
from vllmgen.roles import ROLES


@dataclass(frozen=True)
class Recognised:
    """What a container's command line (or, without one, its image) says about a server (`Server.recognise`)."""

    at: int  # where in the command line the server is named (the earliest named server is the one started)
    runs_vllm: bool  # the server runs vLLM (Triton only with its vLLM backend)
    evidence: str  # what says so, in a few words


@dataclass(frozen=True)
class Command:
    command: list[str]  # the container's `command` ([] keeps the image's entrypoint)
    args: list[str]
    why: str  # one line for the values comment


class Server:
    #: The spec's `server` value.
    name: str = ""
    #: Roles this server can play.
    roles: tuple[str, ...] = ROLES
    #: Layouts it runs in (names); empty: every layout.
    layouts: tuple[str, ...] = ()
    #: Whether it can run behind `vllmgen serve` (supervised probes).
    supervised: bool = False
    #: Whether its pods serve vLLM's own Prometheus metrics (`vllm:*`), which autoscaling scales on.
    vllm_metrics: bool = False
    #: Why its pods cannot join an InferencePool ("" when they can).
    pool_error: str = ""

    def default_image(self, spec: dict) -> tuple[str, str]:
        """The image when the spec names none (an effective spec)."""
        raise NotImplementedError

    def image(self, spec: dict) -> tuple[str, str]:
        """(repository, tag) of the server container: the spec's image, else the server's default."""
        if "image" in spec:
            return spec["image"]["repository"], spec["image"]["tag"]
        return self.default_image(spec)

    def derive(self, spec: dict) -> None:
        """Fill the defaults that depend on the server (and on what its image runs) into an effective spec."""
        spec["engine"].setdefault("shutdownTimeoutSeconds", SHUTDOWN_TIMEOUT_SECONDS)

    def default_probe_mode(self, layout: Layout) -> str:
        return layout.probe_mode if self.supervised else "plain"

    def supervisor_from_chart(self, spec: dict) -> bool:
        """The chart mounts its supervisor zipapp and the image's python3 runs it (instead of the image bringing
        vllmgen)."""
        return False

    def role_error(self, role: str) -> str:
        return f"server {self.name} cannot play role {role}"

    def recognise(self, text: str, image: str, configs: tuple[str, ...] = ()) -> "Recognised | None":
        """Whether a container runs this server, from its command line `text` (command, args and the scripts it
        runs), its image and the model-repository configs its file holds; None when nothing says it does."""
        return None

    def recognise_image(self, image: str, args: list[str]) -> "Recognised | None":
        """Without a command: whether the image's own entrypoint starts this server (given `args`)."""
        return None

    def check(self, spec: dict) -> list[tuple[tuple, str]]:
        """Spec combinations this server cannot honour: [(path, message)]. The common checks come first."""
        errors: list[tuple[tuple, str]] = []
        if self.layouts and spec["layout"] not in self.layouts:
            errors.append((("server",), f"server {self.name} supports the {', '.join(self.layouts)} layout only, "
                                        f"not {spec['layout']}"))
        if self.pool_error and spec["routing"].get("inferencePool"):
            errors.append((("routing", "inferencePool"), f"server {self.name}: {self.pool_error}"))
        for role, cfg in spec.get("roles", {}).items():
            if role not in self.roles and deployed(cfg):
                errors.append((("roles", role), self.role_error(role)))
        return errors + self.server_check(spec)

    def server_check(self, spec: dict) -> list[tuple[tuple, str]]:
        return []

    def command(self, spec: dict, role: str) -> Command:
        raise NotImplementedError

    def env(self, spec: dict, role: str) -> list[dict]:
        """Environment the server's command needs (beyond the model source's and the user's)."""
        return []

    def env_notes(self, spec: dict, role: str) -> dict[str, str]:
        """Why a computed variable of `env` has its value, by name (a comment in the values)."""
        return {}

    def probes(self, spec: dict, role: str) -> RoleProbes:
        raise NotImplementedError

    def probe_mode_note(self, mode: str) -> str:
        raise NotImplementedError

    def port_note(self, spec: dict, role: str, port: int) -> str:
        raise NotImplementedError

    def values_block(self, spec: dict) -> tuple[dict, dict] | None:
        """A values block of the server's own (key: the server's name) and its comments by key path."""
        return None

    def runs_in(self, command_text: str, image: str) -> bool:
        """Whether a container (its command line and image) runs this server's own binary; lint asks every
        server, so a container of any manifest is read with the ports its server listens on."""
        return False

    def listen_ports(self, command_text: str) -> dict[str, int]:
        """Ports the server listens on besides its HTTP port, by their conventional names, as its command line
        sets them (the server's defaults otherwise). A port the container does not declare is not named in the
        pod: kubelet cannot resolve the name, so lint uses these numbers only."""
        return {}

    def shm_size(self, spec: dict) -> tuple[str, str] | None:
        """/dev/shm size limit the server needs even on a one-GPU pod, and why (None: the runtime default will
        do)."""
        return None
