"""A real OpenID provider for the tests and the demo: `oidc-provider-mock` (PyPI), served by
its own command in a subprocess on a free port of 127.0.0.1. Its authorization page lets the "user" pick
any subject; the claims of a subject are set beforehand with `PUT /users/<sub>`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass(frozen=True)
class Provider:
    issuer: str

    def set_claims(self, subject: str, claims: dict[str, Any]) -> None:
        httpx.put(f"{self.issuer}/users/{subject}", json=claims, timeout=10).raise_for_status()

    def authorize(self, authorization_url: str, subject: str) -> str:
        """The person logs in at the provider as `subject`: returns where the provider sends the
        browser back (the relying party's callback with code and state)."""
        answer = httpx.post(authorization_url, data={"sub": subject}, timeout=10, follow_redirects=False)
        assert answer.status_code in (302, 303), answer.text[:500]
        return answer.headers["location"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_provider() -> Iterator[Provider]:
    """In a process of its own: the suite turns warnings into errors, and the provider's authlib
    emits deprecation warnings on every token it signs (its concern, not ours)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--require-nonce"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # start-up: poll until it answers (not a timing assertion)
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError("the OpenID provider did not start")
            time.sleep(0.05)
        else:
            raise RuntimeError("the OpenID provider did not answer")
        yield Provider(issuer)
    finally:
        process.terminate()
        process.wait(10)


def callback_path(location: str) -> str:
    """The path and query of the callback URL, as the test client requests it."""
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
