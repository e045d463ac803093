"""Typed settings: one object, read from the environment (prefix ``OPENDMP_``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class OpeningPolicy(StrEnum):
    """How records come into being (CSP L1111-14: opt-in until 2021, opt-out since)."""

    OPT_IN = "opt-in"
    OPT_OUT = "opt-out"


class EmailSender(StrEnum):
    FILE = "file"  # .eml files under data_dir/outbox (development)
    SMTP = "smtp"


class SmsSender(StrEnum):
    FILE = "file"  # .sms files under data_dir/outbox (development)
    HTTP = "http"  # an SMS gateway: POST {"to", "text"} as JSON with a bearer token


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"  # implicit TLS (port 465)
    NONE = "none"  # a relay on the same host or network only


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENDMP_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    dev_mode: bool = False
    data_dir: Path = Field(default=Path(".opendmp"))
    database_url: str | None = None
    admin_database_url: str | None = None
    # The application role created by `db upgrade` on PostgreSQL (never a superuser).
    app_db_role: str = "opendmp_app"
    # Since 2021 the insurer opens records unless the person objects (CSP L1111-14).
    opening_policy: OpeningPolicy = OpeningPolicy.OPT_OUT
    # Secrets: value in the environment, or a path to a key file; generated in development only.
    master_key: str | None = None
    master_key_file: Path | None = None
    # Older master keys, kept only to unwrap data keys until rotation re-wraps them (comma-separated base64).
    previous_master_keys: str | None = None
    journal_signing_key_file: Path | None = None
    # Public keys of earlier journal signing keys (comma-separated base64, 32 raw bytes each), so
    # that `audit verify` still checks the checkpoints they signed after a key change.
    journal_previous_public_keys: str | None = None
    # Seconds between signed checkpoints in the served app (0: only `jobs run journal-checkpoint`).
    journal_checkpoint_interval: float = 60.0
    # After this many years the retention job replaces journal payloads by their hashes
    # (docs/decisions/0011-journal-retention-and-checkpoints.md).
    journal_retention_years: int = Field(default=20, ge=1)
    token_signing_key_file: Path | None = None
    # Content storage: the key store is a database of its own (default a SQLite file under data_dir/keystore);
    # blobs go to a folder (file:///path, default data_dir/blobs) or an S3-compatible bucket (s3://bucket/prefix).
    keystore_url: str | None = None
    blob_url: str | None = None
    s3_endpoint_url: str | None = None
    # Documents larger than this are refused (413 on the API).
    max_document_bytes: int = 20 * 1024 * 1024
    public_base_url: str = "http://127.0.0.1:8000"
    # Notifications (notify/): outside production the senders default to files under
    # data_dir/outbox; production must name them (docs/decisions/0012-notification-outbox.md).
    notify_email_sender: EmailSender | None = None
    notify_sms_sender: SmsSender | None = None
    notify_smtp_host: str | None = None
    notify_smtp_port: int = 587
    notify_smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    notify_smtp_user: str | None = None
    notify_smtp_password: SecretStr | None = None
    notify_smtp_ca_file: Path | None = None  # a private CA for the relay's certificate
    notify_from: str = "OpenDMP <ne-pas-repondre@opendmp.localhost>"
    notify_sms_url: str | None = None
    notify_sms_token: SecretStr | None = None
    # A claimed message is claimed again only after its lease, which must outlast any send (one
    # SMTP exchange is a handful of network steps, each bounded by the timeout).
    notify_timeout_seconds: float = 20.0
    notify_lease_seconds: int = 600
    notify_max_attempts: int = 8
    notify_retry_base_seconds: int = 60
    # Logins (auth/): server-side sessions end after this idle time, or this age at most; each
    # step of a login, activation or recovery must be completed within login_step_minutes.
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    login_step_minutes: int = Field(default=10, ge=1, le=10)  # one-time codes live 10 minutes at most
    # Cookies are Secure (HTTPS only) unless this says otherwise; default: Secure outside development.
    cookie_secure: bool | None = None
    # Per-address limits on the login pages (the `limits` syntax), on top of the per-account backoff.
    login_rate_limit: str = "30/minute;300/hour"
    # OpenID Connect (auth/oidc.py, docs/decisions/0017-openid-connect.md): professionals log in
    # through Pro Santé Connect (or any OIDC provider); the ID token's `oidc_national_id_claim`
    # carries 8 + RPPS. Counter agents and operators log in through oidc_staff_* when set, else
    # through the same provider, their role given by `opendmp operator add`.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid scope_all"  # Pro Santé Connect's scope
    oidc_national_id_claim: str = "preferred_username"
    # The SAMU / Centre 15 regulating doctor's role: an ID token whose `oidc_samu_claim` (a list,
    # or a space-separated string) holds `oidc_samu_value` marks the session's professional as a
    # regulator (SAMU emergency access). An empty claim name turns it off.
    oidc_samu_claim: str = "roles"
    oidc_samu_value: str = "SAMU_REGULATEUR"
    oidc_staff_issuer: str | None = None
    oidc_staff_client_id: str | None = None
    oidc_staff_client_secret: SecretStr | None = None
    oidc_staff_scopes: str = "openid"
    # Where providers send the browser back; default: public_base_url + /connexion/pro/retour.
    oidc_redirect_uri: str | None = None
    oidc_timeout_seconds: float = 10.0
    log_level: str = "INFO"
    log_json: bool = True
    # The deployment's target of records opened: the dashboard projects the date it is reached.
    stats_target: int = Field(default=40_000_000, ge=1)
    # The dashboard's figures are recomputed at most this often per process (0: at each request).
    stats_cache_seconds: float = Field(default=10.0, ge=0)
    # Who may scrape /metrics (no token): comma-separated CIDRs of the monitoring hosts.
    metrics_allow: str = "127.0.0.1/32,::1/128"

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.env is Environment.PRODUCTION and self.dev_mode:
            raise ValueError("OPENDMP_DEV_MODE cannot be on when OPENDMP_ENV=production")
        if self.notify_lease_seconds < 10 * self.notify_timeout_seconds:
            raise ValueError("OPENDMP_NOTIFY_LEASE_SECONDS must be at least 10 × OPENDMP_NOTIFY_TIMEOUT_SECONDS")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'opendmp.sqlite3').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.env is not Environment.DEVELOPMENT


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
