"""How login secrets are made, kept and checked: Argon2id for passwords, keyed digests for codes,
sealed TOTP seeds, and the random generators (injectable, so tests can choose values).

Argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's minimum for Argon2id); a stored hash made with
weaker parameters is replaced at the next successful login (`needs_rehash`)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ARGON2_MEMORY_KIB = 19456  # 19 MiB
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

# Letters and digits nobody confuses when reading a letter aloud or typing it (no 0/O, 1/I/L, U/V).
HUMAN_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"


def make_hasher(memory_kib: int = ARGON2_MEMORY_KIB, time_cost: int = ARGON2_TIME_COST) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=ARGON2_PARALLELISM)


class Random(Protocol):
    def choice(self, alphabet: str) -> str: ...

    def token(self, nbytes: int) -> str: ...


class SystemRandom:
    """The operating system's randomness (the secrets module)."""

    def choice(self, alphabet: str) -> str:
        return secrets.choice(alphabet)

    def token(self, nbytes: int) -> str:
        return secrets.token_urlsafe(nbytes)


def human_code(random: Random, length: int) -> str:
    return "".join(random.choice(HUMAN_ALPHABET) for _ in range(length))


def digits(random: Random, length: int = 6) -> str:
    return "".join(random.choice("0123456789") for _ in range(length))


def normalise_human(text: str) -> str:
    """What a person typed, as stored: upper case, without spaces or dashes."""
    return "".join(c for c in text.upper() if c.isalnum())


def group(code: str, size: int = 4) -> str:
    """ABCD-EFGH-JK: easier to copy from a letter."""
    return "-".join(code[i : i + size] for i in range(0, len(code), size))


@dataclass
class AuthSecrets:
    """Everything the login services need to hash and check secrets. `pepper` keys the digests of
    codes and identifiers (a 6-digit code's plain SHA-256 is reversed in a second); `seal_key`
    encrypts TOTP seeds. Both derive from the master key, which never enters the database."""

    pepper: bytes
    seal_key: bytes
    device_key: bytes  # signs the known-device cookie (mark_device)
    hasher: PasswordHasher = field(default_factory=make_hasher)
    random: Random = field(default_factory=SystemRandom)
    # Called each time a password is checked against the dummy hash (unknown identifiers): tests
    # prove that path runs, so timing cannot tell a known identifier from an unknown one.
    on_dummy_check: Callable[[], None] | None = None
    _dummy: str | None = None

    @classmethod
    def from_master_key(cls, master_key: bytes) -> AuthSecrets:
        return cls(
            pepper=_derive(master_key, b"opendmp-auth-pepper"),
            seal_key=_derive(master_key, b"opendmp-totp-seal"),
            device_key=_derive(master_key, b"opendmp-known-device"),
        )

    def mark_device(self, account: str, device: str | None = None) -> str:
        """The known-device cookie's value: a device id (new unless given) and its HMAC bound to
        the account that completed a login on it."""
        device = device or self.random.token(16)
        return f"{device}.{self._device_mac(account, device)}"

    def known_device(self, account: str, mark: str | None) -> str | None:
        """The device id of a mark this account's login set, else None (forged, another account's)."""
        device, _, mac = (mark or "").partition(".")
        if not device or not hmac.compare_digest(mac, self._device_mac(account, device)):
            return None
        return device

    def _device_mac(self, account: str, device: str) -> str:
        return hmac.new(self.device_key, f"{account}\x00{device}".encode(), hashlib.sha256).hexdigest()

    def digest(self, purpose: str, value: str) -> str:
        return hmac.new(self.pepper, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def matches(self, purpose: str, value: str, digest: str) -> bool:
        return hmac.compare_digest(self.digest(purpose, value), digest)

    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    def check_password(self, stored: str | None, password: str) -> bool:
        """True when `password` matches; with no stored hash (unknown identifier, account without
        password) a dummy hash is checked all the same, so both cost one Argon2id verification."""
        if stored is None:
            if self._dummy is None:
                self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
            if self.on_dummy_check is not None:
                self.on_dummy_check()
            with contextlib.suppress(VerificationError):
                self.hasher.verify(self._dummy, password)
            return False
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)

    def seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.seal_key).encrypt(nonce, plain, b"totp")

    def unseal(self, sealed: bytes) -> bytes:
        return AESGCM(self.seal_key).decrypt(sealed[:12], sealed[12:], b"totp")


def _derive(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


def session_digest(token: str) -> str:
    """Session ids are 256 random bits: a plain SHA-256 suffices to keep them unusable at rest."""
    return hashlib.sha256(token.encode()).hexdigest()
