"""Secrets: the master key (wraps the per-record data keys), the journal signing key (signs
checkpoints) and the token signing key (signs tokens). They come from the environment or key
files, never from the repository or the database. In development, missing ones are generated
once under $OPENDMP_DATA_DIR/keys/ (mode 0600); in production a missing key stops the start."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from opendmp.config import Settings


class MissingKey(RuntimeError):
    pass


@dataclass(frozen=True)
class Keys:
    master_key: bytes  # 32 bytes, AES-256 key-wrapping key
    master_key_id: str
    journal_signing_key: Ed25519PrivateKey
    token_signing_key: Ed25519PrivateKey


@dataclass(frozen=True)
class Keyring:
    """The master keys this process can use: the current one wraps new data keys; every known one
    (current and previous, by key id) unwraps, so rotation can re-wrap while the service runs."""

    current_key: bytes
    current_id: str
    keys: Mapping[str, bytes] = field(default_factory=dict)  # key id -> key, the current one included

    @classmethod
    def of(cls, current: bytes, previous: tuple[bytes, ...] = ()) -> Keyring:
        for key in (current, *previous):
            if len(key) != 32:
                raise MissingKey("a master key must be 32 bytes (base64)")
        known = {master_key_id(key): key for key in previous}
        known[master_key_id(current)] = current
        return cls(current_key=current, current_id=master_key_id(current), keys=known)


def master_key_id(master: bytes) -> str:
    """Names a master key without revealing it (rotation keeps old ids readable)."""
    return hashlib.sha256(b"opendmp-master-key-id" + master).hexdigest()[:16]


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _ed25519(path: Path | None, default: Path, generate: bool, name: str) -> Ed25519PrivateKey:
    target = path or default
    if not target.exists():
        if not generate:
            raise MissingKey(f"the {name} is missing: set OPENDMP_{name.upper().replace(' ', '_')}_FILE")
        key = Ed25519PrivateKey.generate()
        # Another process may have generated it first: then use theirs.
        with contextlib.suppress(FileExistsError):
            _write_secret(
                target,
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ),
            )
    loaded = serialization.load_pem_private_key(target.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise MissingKey(f"the {name} in {target} is not an Ed25519 private key")
    return loaded


def _master_key(settings: Settings, generate: bool) -> bytes:
    if settings.master_key:
        raw = base64.b64decode(settings.master_key)
    else:
        path = settings.master_key_file or settings.keys_dir / "master.key"
        if not path.exists():
            if not generate:
                raise MissingKey("the master key is missing: set OPENDMP_MASTER_KEY or OPENDMP_MASTER_KEY_FILE")
            with contextlib.suppress(FileExistsError):
                _write_secret(path, base64.b64encode(os.urandom(32)) + b"\n")
        raw = base64.b64decode(path.read_bytes().strip())
    if len(raw) != 32:
        raise MissingKey("the master key must be 32 bytes (base64)")
    return raw


def load_keys(settings: Settings) -> Keys:
    generate = not settings.is_production
    master = _master_key(settings, generate)
    return Keys(
        master_key=master,
        master_key_id=master_key_id(master),
        journal_signing_key=_ed25519(
            settings.journal_signing_key_file,
            settings.keys_dir / "journal-signing.pem",
            generate,
            "journal signing key",
        ),
        token_signing_key=_ed25519(
            settings.token_signing_key_file, settings.keys_dir / "token-signing.pem", generate, "token signing key"
        ),
    )


def load_keyring(settings: Settings) -> Keyring:
    """The current master key (environment or key file) and OPENDMP_PREVIOUS_MASTER_KEYS."""
    current = _master_key(settings, not settings.is_production)
    previous = tuple(
        base64.b64decode(part.strip()) for part in (settings.previous_master_keys or "").split(",") if part.strip()
    )
    return Keyring.of(current, previous)
