"""Senders: how one rendered message leaves the platform. One small interface, three kinds:

- files (development): `<data_dir>/outbox/<id>.eml` (a real RFC 5322 message) and `<id>.sms`;
  written atomically under the outbox id, so sending twice leaves one file (idempotent);
- SMTP (smtplib), STARTTLS or implicit TLS, optional login;
- an SMS gateway over HTTP: POST {"to", "text"} as JSON with a bearer token and the outbox id as
  Idempotency-Key.

Every email carries a Message-ID made from the outbox id, the same at each attempt, so a
message sent again after a crash (docs/decisions/0012-notification-outbox.md) can be recognised
as the same one. Nothing here logs an address or a text.
"""

from __future__ import annotations

import contextlib
import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

from opendmp.config import EmailSender, Settings, SmsSender, SmtpSecurity
from opendmp.notify.errors import SenderNotConfigured
from opendmp.notify.models import ChannelKind


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: uuid.UUID
    channel: ChannelKind
    address: str
    subject: str | None
    body: str
    created_at: datetime


class SendFailure(Exception):
    """The message was not sent. Permanent failures (an address refused) are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Sender(Protocol):
    def send(self, message: Outgoing) -> None:
        """Deliver or raise SendFailure."""

    def close(self) -> None: ...


def build_email(message: Outgoing, from_header: str) -> EmailMessage:
    """An RFC 5322 message; its Message-ID derives from the outbox id (stable across attempts)."""
    _, from_address = parseaddr(from_header)
    domain = from_address.rpartition("@")[2] or "opendmp.localhost"
    email = EmailMessage(policy=SMTP)
    email["From"] = from_header
    email["To"] = Address(addr_spec=message.address)
    email["Subject"] = message.subject or "DMP"
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = f"<{message.id}@{domain}>"
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    email.set_content(message.body)
    return email


class FileSender:
    """Development: each message becomes a file under the outbox folder, never a log line."""

    def __init__(self, folder: Path, from_header: str) -> None:
        self.folder = folder
        self.from_header = from_header

    def path_of(self, message: Outgoing) -> Path:
        return self.folder / f"{message.id}.{'eml' if message.channel is ChannelKind.EMAIL else 'sms'}"

    def send(self, message: Outgoing) -> None:
        if message.channel is ChannelKind.EMAIL:
            data = build_email(message, self.from_header).as_bytes()
        else:
            data = f"To: {message.address}\n\n{message.body}\n".encode()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.path_of(message), data)
        except OSError as error:
            raise SendFailure(f"outbox folder: {error.strerror}") from error

    def close(self) -> None:
        pass


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class SmtpSender:
    """One SMTP connection reused across a batch; reopened after an error."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: SmtpSecurity,
        from_header: str,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 20.0,
        ca_file: Path | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.from_header = from_header
        self.user, self.password = user, password
        self.timeout = timeout
        self.ca_file = ca_file
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        smtp: smtplib.SMTP
        if self.security is SmtpSecurity.TLS:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security is SmtpSecurity.STARTTLS:
                smtp.starttls(context=context)
        if self.user:
            smtp.login(self.user, self.password or "")
        return smtp

    def send(self, message: Outgoing) -> None:
        email = build_email(message, self.from_header)
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            self._reset()
            raise SendFailure(f"recipient refused ({codes[0] if codes else '?'})", permanent=_all_5xx(codes)) from error
        except smtplib.SMTPDataError as error:
            self._reset()
            raise SendFailure(f"message refused ({error.smtp_code})", permanent=500 <= error.smtp_code < 600) from error
        except smtplib.SMTPResponseException as error:
            # Refused login or sender: the relay's configuration, not the message; retried.
            self._reset()
            raise SendFailure(f"SMTP {error.smtp_code}: {_text(error.smtp_error)}") from error
        except (smtplib.SMTPException, OSError) as error:
            self._reset()
            raise SendFailure(f"SMTP unavailable: {type(error).__name__}: {error}") from error

    def _reset(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _all_5xx(codes: list[int]) -> bool:
    return bool(codes) and all(500 <= code < 600 for code in codes)


def _text(raw: bytes | str) -> str:
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else raw)[:200]


class HttpSmsSender:
    """An SMS gateway: POST {"to": "+33…", "text": "…"} as JSON, `Authorization: Bearer <token>`,
    `Idempotency-Key: <outbox id>` for gateways that drop repeats. 2xx is sent; 4xx other than
    408 and 429 is permanent (the gateway refuses this message); anything else is retried."""

    def __init__(self, url: str, token: str, *, timeout: float = 20.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, message: Outgoing) -> None:
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's https setting
            self.url,
            data=json.dumps({"to": message.address, "text": message.body}, ensure_ascii=False).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": f"Bearer {self.token}",
                "Idempotency-Key": str(message.id),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
            raise SendFailure(
                f"SMS gateway answered {status}", permanent=400 <= status < 500 and status not in (408, 429)
            ) from None
        except (urllib.error.URLError, OSError) as error:
            raise SendFailure(f"SMS gateway unavailable: {type(error).__name__}: {error}") from error

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Senders:
    email: Sender
    sms: Sender

    def of(self, channel: ChannelKind) -> Sender:
        return self.email if channel is ChannelKind.EMAIL else self.sms

    def close(self) -> None:
        self.email.close()
        if self.sms is not self.email:
            self.sms.close()


def make_senders(settings: Settings) -> Senders:
    """The senders the settings name; outside production, files by default."""
    default_email = None if settings.is_production else EmailSender.FILE
    default_sms = None if settings.is_production else SmsSender.FILE
    email_kind = settings.notify_email_sender or default_email
    sms_kind = settings.notify_sms_sender or default_sms
    if email_kind is None or sms_kind is None:
        raise SenderNotConfigured(
            "production sends for real: set OPENDMP_NOTIFY_EMAIL_SENDER=smtp and OPENDMP_NOTIFY_SMS_SENDER=http"
        )
    files = FileSender(settings.data_dir / "outbox", settings.notify_from)
    email: Sender = files
    if email_kind is EmailSender.SMTP:
        if not settings.notify_smtp_host:
            raise SenderNotConfigured("the SMTP sender needs OPENDMP_NOTIFY_SMTP_HOST")
        email = SmtpSender(
            settings.notify_smtp_host,
            settings.notify_smtp_port,
            security=settings.notify_smtp_security,
            from_header=settings.notify_from,
            user=settings.notify_smtp_user,
            password=settings.notify_smtp_password.get_secret_value() if settings.notify_smtp_password else None,
            timeout=settings.notify_timeout_seconds,
            ca_file=settings.notify_smtp_ca_file,
        )
    sms: Sender = files
    if sms_kind is SmsSender.HTTP:
        if not settings.notify_sms_url or settings.notify_sms_token is None:
            raise SenderNotConfigured("the SMS gateway needs OPENDMP_NOTIFY_SMS_URL and OPENDMP_NOTIFY_SMS_TOKEN")
        if not settings.notify_sms_url.startswith(("https://", "http://")):
            raise SenderNotConfigured("OPENDMP_NOTIFY_SMS_URL must be an http(s) URL")
        if settings.is_production and not settings.notify_sms_url.startswith("https://"):
            raise SenderNotConfigured("OPENDMP_NOTIFY_SMS_URL must be https in production (it carries a token)")
        sms = HttpSmsSender(
            settings.notify_sms_url,
            settings.notify_sms_token.get_secret_value(),
            timeout=settings.notify_timeout_seconds,
        )
    return Senders(email, sms)
