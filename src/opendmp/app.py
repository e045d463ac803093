"""create_app(settings): the HTTP service. Mounts the FHIR edge and the web root, error
handlers, security headers, access logs without query strings, metrics and health."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import text

from opendmp import __version__
from opendmp.auth.routes import ROUTES as OAUTH_ROUTES
from opendmp.config import Settings
from opendmp.fhir.audit_routes import ROUTES as AUDIT_ROUTES
from opendmp.fhir.consent_routes import ROUTES as CONSENT_ROUTES
from opendmp.fhir.content_routes import ROUTES as CONTENT_ROUTES
from opendmp.fhir.document_routes import ROUTES as DOCUMENT_ROUTES
from opendmp.fhir.errors import EXCEPTION_HANDLERS
from opendmp.fhir.routes import ROUTES as FHIR_ROUTES
from opendmp.fhir.summary_routes import ROUTES as SUMMARY_ROUTES
from opendmp.journal.checkpoint import CheckpointTicker, take_checkpoint
from opendmp.kit.clock import Clock
from opendmp.kit.logging import get_logger
from opendmp.kit.threads import threaded
from opendmp.operations import AddressFilter, ServiceGauges, readiness
from opendmp.runtime import Runtime, build_runtime
from opendmp.web.routes import ROUTES as WEB_ROUTES

access_log = get_logger("opendmp.access")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "opendmp_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "opendmp_http_request_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.errors = Counter(
            "opendmp_http_errors_total",
            "HTTP answers with a server error (5xx)",
            ["method", "route"],
            registry=self.registry,
        )


def observe(app: ASGIApp, metrics: Metrics) -> ASGIApp:
    """Access log and metrics. The path is logged without its query string, and metrics are
    labelled by route template, so no identifier of a person lands in logs or labels."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            handler = scope.get("route_handler")
            route = next(iter(handler.paths)) if handler is not None and handler.paths else "unmatched"
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.latency.labels(method, route).observe(elapsed)
            if status >= 500:
                metrics.errors.labels(method, route).inc()
            access_log.info("request", method=method, path=scope["path"], status=status, ms=round(elapsed * 1000, 2))

    return middleware


# The portal's stylesheet and scripts are files of this site (web/static): no inline style or
# script runs anywhere. The API documentation pages (/schema) load their viewer from a
# CDN and hold no data: they only forbid framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SCHEMA_PAGES_POLICY = "frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"  # two years (hstspreload.org's minimum is one)


def secure_headers(*, hsts: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """Security headers on every answer, set once here as a before-send hook (it sees every
    response, unmatched paths included, where a middleware sees only routed ones). A header a
    route set on purpose wins: Binary keeps its sandboxing CSP, an answer with its own caching
    rule keeps it; anything else is no-store, since nearly every answer here is health data or
    about someone."""
    common = [
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-store"),
        *([(b"strict-transport-security", HSTS.encode())] if hsts else []),
    ]
    policy, schema_policy = CONTENT_SECURITY_POLICY.encode(), SCHEMA_PAGES_POLICY.encode()

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path = str(scope.get("path", ""))
        csp = schema_policy if path == "/schema" or path.startswith("/schema/") else policy
        headers = list(message.get("headers", []))
        present = {bytes(name).lower() for name, _ in headers}
        headers.extend(h for h in ((b"content-security-policy", csp), *common) if h[0] not in present)
        message["headers"] = headers

    return add_headers


@get("/healthz", media_type=MediaType.JSON)
@threaded
def healthz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    runtime: Runtime = request.app.state.runtime
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return Response({"status": "unavailable"}, status_code=503)
    return Response({"status": "ok", "version": __version__})


@get("/readyz", media_type=MediaType.JSON)
@threaded
def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Ready to serve: database reachable and migrated to head, key store readable (503 if not)."""
    state = readiness(request.app.state.runtime)
    return Response(state.as_json(), status_code=200 if state.ready else 503)


@get("/metrics", media_type="text/plain; version=0.0.4")
@threaded
def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text, no token; only for the addresses of OPENDMP_METRICS_ALLOW (403 otherwise)."""
    allowed: AddressFilter = request.app.state.metrics_allow
    if not allowed.allows(request.client.host if request.client else None):
        return Response(b"forbidden\n", status_code=403, media_type=MediaType.TEXT)
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry))


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, clock: Clock | None = None
) -> Litestar:
    runtime = runtime or build_runtime(settings or Settings(), clock)
    metrics = Metrics()
    metrics.registry.register(ServiceGauges(runtime))
    # Signed checkpoints of the journal at least every minute while the service runs (rule 7).
    ticker = CheckpointTicker(
        lambda: take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, runtime.clock.now()),
        runtime.settings.journal_checkpoint_interval,
    )

    def on_shutdown() -> None:
        ticker.stop()
        runtime.close()

    return Litestar(
        route_handlers=[
            *FHIR_ROUTES,
            *DOCUMENT_ROUTES,
            *AUDIT_ROUTES,
            *CONSENT_ROUTES,
            *CONTENT_ROUTES,
            *SUMMARY_ROUTES,
            *OAUTH_ROUTES,
            *WEB_ROUTES,
            healthz,
            readyz,
            metrics_endpoint,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[lambda app: observe(app, metrics)],
        before_send=[secure_headers(hsts=not runtime.settings.dev_mode)],
        openapi_config=OpenAPIConfig(title="OpenDMP", version=__version__, path="/schema"),
        state=_state(runtime, metrics, ticker),
        on_startup=[ticker.start],
        on_shutdown=[on_shutdown],
        debug=False,
        # A bundle may carry several documents of the maximum size in base64 (4/3): the routes
        # check the real limits and name the field; this only bounds what is read at all.
        request_max_body_size=runtime.settings.max_document_bytes * 14 + 1_000_000,
    )


def _state(runtime: Runtime, metrics: Metrics, ticker: CheckpointTicker) -> Any:
    from litestar.datastructures import State

    return State(
        {
            "runtime": runtime,
            "metrics": metrics,
            "checkpoint_ticker": ticker,
            "metrics_allow": AddressFilter(runtime.settings.metrics_allow),
        }
    )
