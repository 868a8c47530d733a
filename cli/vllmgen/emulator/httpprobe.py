"""One HTTP probe the way kubelet makes it, for live mode (kubernetes/kubernetes pkg/probe/http: `request.go` builds
the request, `http.go` sends it through Go's net/http client).

- The request (`newProbeRequest`, `v1HeaderToHTTPHeader`): `GET`, header names canonicalised and merged (a
  repeated name sends every value), `User-Agent: kube-probe/<major>.<minor>` and `Accept: */*` unless the probe
  sets them, an empty `Accept` removes the header, a `Host` header sets the host. The transport disables
  keep-alives (`Connection: close`, a new connection each time) and compression (no `Accept-Encoding`), and Go
  writes Host, User-Agent, the other headers sorted by name, then Connection.
- Redirects (`RedirectChecker` with followNonLocalRedirects=false, which kubelet uses): followed while the host
  name stays the same (any port), with Go's `Referer`; the 10th redirect is an error. A redirect to another host
  is not followed and its 3xx counts as success (`probe.Warning`).
- The outcome (`DoHTTPProbe`): 200-399 succeed, other statuses fail; an error before the response (refused,
  timeout, reset, not HTTP, too many redirects) fails; at most 10 KiB of the body are read, and an error while
  reading it (a body that stalls after the headers) is a prober error, retried up to 3 times
  (`runProbeWithRetries` in pkg/kubelet/prober/prober.go) and then discarded by `doProbe`.
- `timeoutSeconds` bounds the whole exchange, redirects and body included (`http.Client.Timeout`).

Left out: HTTP/2 over TLS (kubelet's transport may negotiate it; this client speaks HTTP/1.1)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

#: kubelet's User-Agent (request.go `userAgent`: kube-probe/<major>.<minor> of the kubelet; a current release).
KUBE_PROBE_AGENT = "kube-probe/1.34"
#: DoHTTPProbe reads at most this much of a body (maxRespBodyLength); reaching it is not an error.
MAX_BODY_BYTES = 10 * 1024
#: RedirectChecker: "stopped after 10 redirects".
MAX_REDIRECTS = 10
#: runProbeWithRetries is called with maxProbeRetries = 3 attempts; only errors are retried.
PROBE_ATTEMPTS = 3
#: Statuses Go's client follows (redirectBehavior); 300, 304 and the rest are answers.
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
#: Headers Go writes itself or never from the header map (reqWriteExcludeHeader).
_WRITTEN_APART = ("Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer")
_TOKEN = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Outcome:
    """One probe attempt: `kind` status / refused / timeout / error (a failure after connecting: reset, not HTTP,
    too many redirects) / stall (the body read failed: a prober error); `latency` seconds until the answer (for a
    stall, until its headers)."""

    kind: str
    status: int | None = None
    detail: str = ""
    latency: float = 0.0

    @property
    def success(self) -> bool | None:
        """kubelet's verdict: True / False, None for a prober error (thrown away)."""
        if self.kind == "stall":
            return None
        return self.kind == "status" and 200 <= self.status < 400


def canonical(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey: "x-foo-BAR" -> "X-Foo-Bar"; a name with a byte outside the token set is kept."""
    if not name or any(ch not in _TOKEN for ch in name):
        return name
    out, upper = [], True
    for ch in name:
        out.append(ch.upper() if upper else ch.lower())
        upper = ch == "-"
    return "".join(out)


def merged_headers(probe_headers: tuple[tuple[str, str], ...] | list) -> dict[str, list[str]]:
    """v1HeaderToHTTPHeader (headers.Add each) then newProbeRequest's defaults."""
    headers: dict[str, list[str]] = {}
    for name, value in probe_headers:
        headers.setdefault(canonical(name), []).append(value)
    if "User-Agent" not in headers:
        headers["User-Agent"] = [KUBE_PROBE_AGENT]
    if "Accept" not in headers:
        headers["Accept"] = ["*/*"]
    elif headers["Accept"][0] == "":
        del headers["Accept"]  # "Accept header was overridden but is empty. removing"
    return headers


def _clean(value: str) -> str:
    """Go writes header values with newlines as spaces, trimmed of spaces and tabs."""
    return value.replace("\r", " ").replace("\n", " ").strip(" \t")


def wire_headers(headers: dict[str, list[str]], host: str) -> list[tuple[str, str]]:
    """The header lines in the order Go's Request.write sends them through a keep-alive-less transport."""
    out = [("Host", host)]
    agent = _clean(headers.get("User-Agent", [""])[0])
    if agent:
        out.append(("User-Agent", agent))
    for name in sorted(headers):
        if name not in _WRITTEN_APART:
            out.extend((name, _clean(v)) for v in headers[name])
    if "close" not in [t.strip().lower() for t in headers.get("Connection", [""])[0].split(",")]:
        out.append(("Connection", "close"))
    return out


def host_port(host: str, port: int) -> str:
    """net.JoinHostPort."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _netloc(url: str) -> str:
    """URL.Host as Go writes it in the Host header: the authority without user info."""
    return urlsplit(url).netloc.rpartition("@")[2]


class Prober:
    """Sends probes over one httpx transport (httpx's client layer would add its own headers and redirect rules;
    the transport sends exactly the request it is given)."""

    def __init__(self):
        import httpx

        self._httpx = httpx
        self._transport = httpx.AsyncHTTPTransport(verify=False, retries=0, http1=True, http2=False,
                                                   limits=httpx.Limits(max_keepalive_connections=0))

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def probe(self, url: str, probe_headers, timeout: float,
                    attempts: int = PROBE_ATTEMPTS) -> tuple[Outcome, list[tuple[float, Outcome]]]:
        """runProbeWithRetries: the first attempt that is not a prober error, else the last; with every attempt
        and the monotonic time it started."""
        tried = []
        outcome = Outcome("stall")
        for _ in range(attempts):
            started = time.monotonic()
            outcome = await self.attempt(url, probe_headers, timeout)
            tried.append((started, outcome))
            if outcome.kind != "stall":
                break
        return outcome, tried

    async def attempt(self, url: str, probe_headers, timeout: float) -> Outcome:
        """DoHTTPProbe with an http.Client whose Timeout bounds everything. Latencies count from this call: the
        exchange runs in a task of its own (asyncio.wait_for before Python 3.12), which a busy event loop may
        start a good while later, and an answer counted from then would be stamped that much too early."""
        started = time.monotonic()
        state = {"phase": "request", "headers_at": 0.0, "started": started}
        try:
            return await asyncio.wait_for(self._exchange(url, probe_headers, state), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            if state["phase"] == "body":
                return Outcome("stall", detail=f"body stalled after the headers (timeout {timeout:g} s)",
                               latency=state["headers_at"] - started)
            return Outcome("timeout", detail=f"timeout after {timeout:g} s", latency=timeout)

    async def _exchange(self, url: str, probe_headers, state: dict) -> Outcome:
        """client.Do (the request, then Go's redirect loop), then the body read of DoHTTPProbe."""
        httpx = self._httpx
        started = state["started"]

        def failed(kind: str, detail: str) -> Outcome:
            return Outcome(kind, detail=detail, latency=time.monotonic() - started)

        initial = merged_headers(probe_headers)
        headers = initial
        custom_host = initial.get("Host", [""])[0]  # req.Host = headers.Get("Host")
        first_host = urlsplit(url).hostname
        via: list[str] = []
        while True:
            request = httpx.Request("GET", url, headers=wire_headers(headers, custom_host or _netloc(url)))
            try:
                response = await self._transport.handle_async_request(request)
            except httpx.ConnectError as exc:
                return failed("error", f"redirect to {url} failed: {exc}") if via else failed("refused", "refused")
            except (httpx.TransportError, OSError) as exc:
                return failed("error", f"no HTTP answer: {exc or type(exc).__name__}")
            via.append(url)
            location = response.headers.get("location", "")
            if response.status_code not in REDIRECT_STATUSES or not location:
                break  # not a redirect, or one without a Location: the answer as it is
            try:
                target = urljoin(url, location)
                target_host, scheme = urlsplit(target).hostname, urlsplit(target).scheme
            except ValueError:
                await response.aclose()
                return failed("error", f"failed to parse Location header {location!r}")
            if target_host != first_host:
                break  # ErrUseLastResponse: the 3xx itself is the answer
            await response.aclose()
            if len(via) >= MAX_REDIRECTS:
                return failed("error", f"stopped after {MAX_REDIRECTS} redirects")
            if scheme not in ("http", "https"):
                return failed("error", f"unsupported protocol scheme in redirect to {target}")
            # the initial request's headers, a Referer naming the previous URL (refererForURL), and a custom
            # Host kept only through a relative redirect
            relative = not urlsplit(location).scheme
            if not (relative and custom_host and custom_host != _netloc(url)):
                custom_host = ""
            headers = dict(initial)
            if "Referer" not in initial and not (url.startswith("https:") and scheme == "http"):
                headers["Referer"] = [url]
            url = target
        state["phase"], state["headers_at"] = "body", time.monotonic()
        latency = state["headers_at"] - started
        try:
            got = 0
            async for chunk in response.aiter_raw():
                got += len(chunk)
                if got >= MAX_BODY_BYTES:
                    break  # utilio.ReadAtMost: the limit is not an error
        except (httpx.TransportError, OSError) as exc:
            return Outcome("stall", detail=f"body read failed: {exc or type(exc).__name__}", latency=latency)
        finally:
            await response.aclose()
        status = response.status_code
        detail = str(status)
        if 300 <= status < 400:
            detail += f" (redirect to {location} not followed)" if location else " (not followed)"
        return Outcome("status", status, detail, latency=time.monotonic() - started)
