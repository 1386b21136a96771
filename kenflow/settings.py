"""All settings in one place (pydantic-settings). Every field is an environment variable with
the KENFLOW_ prefix, except the standard Temporal ones, which keep the names Temporal's own
tools use so one environment serves both."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KENFLOW_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path(".kenflow"), description="Where the embedded parts keep their files")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/kenflow.db"
    )

    # Temporal: with TEMPORAL_ADDRESS set, `kenflow up` starts no embedded server.
    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "KENFLOW_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        default="default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "KENFLOW_TEMPORAL_NAMESPACE")
    )
    temporal_tls_cert: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_CERT_PATH", "KENFLOW_TEMPORAL_TLS_CERT"),
    )
    temporal_tls_key: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_KEY_PATH", "KENFLOW_TEMPORAL_TLS_KEY"),
    )
    temporal_tls_ca: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "KENFLOW_TEMPORAL_TLS_CA"),
    )
    temporal_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_API_KEY", "KENFLOW_TEMPORAL_API_KEY")
    )
    task_queue: str = "kenflow"
    workflow_task_polls: int = Field(
        default=20,
        ge=2,
        le=100,
        description="Workflow-task polls the worker keeps open at once (temporalio's default is 5). "
        "A task no poll is waiting for sits in the server's backlog; enough polls keep the "
        "backlog empty when acts arrive in bursts (bench/README item 18).",
    )

    delivery_rate: float = Field(
        default=15.0,
        ge=0,
        le=1000,
        description="Batches of copies each worker starts sending per second at most (0: no "
        "limit). Acts go first: a burst of acts sets off copies faster than this, and they go "
        "out just after it, instead of taking the worker and SQLite's one writer from the acts "
        "(bench/README item 24).",
    )

    # Embedded parts of `kenflow up` (localhost only)
    host: str = "127.0.0.1"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    web_port: int = 8000
    background_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Nice value of the embedded Temporal server and the worker in `kenflow up`; "
        "the web process keeps the caller's, so pages and reads are served first when acts "
        "saturate the CPU. 0 turns it off.",
    )

    # Web
    secret_key: str | None = Field(
        default=None, description="Signs session cookies; default: a file in data_dir"
    )

    # Calendar (APScheduler)
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long the web process trusts a token it has looked up (0: every request asks "
        "the database); a revoked token stops working within this long",
    )
    fiscal_year_review_hour: int = Field(default=9, ge=0, le=23, description="Hour (JST) on April 1")
    misfire_grace_days: int = Field(default=30, ge=1)

    # Notices
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "kenflow@localhost"
    smtp_username: str | None = Field(
        default=None, description="Log in to the relay (SMTP AUTH) as this user"
    )
    smtp_password: SecretStr | None = Field(default=None, description="The relay login's password")
    smtp_starttls: Literal["auto", "on", "off"] = Field(
        default="auto", description="on: always STARTTLS; off: never; auto: when the server offers it"
    )
    smtp_implicit_tls: bool = Field(
        default=False, description="TLS from the first byte (SMTPS, port 465 style)"
    )
    smtp_validate_certs: bool = Field(default=True, description="Verify the relay's certificate and name")
    smtp_ca_bundle: Path | None = Field(default=None, description="PEM CA file for a private relay")
    # Below the delivery activity's 2-minute start-to-close, so a slow relay fails with its own
    # message instead of Temporal's timeout.
    smtp_timeout: float = Field(default=30.0, gt=0, le=60, description="Seconds per SMTP step")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Standard Webhooks secret (whsec_...); when set every webhook is signed"
    )
    default_channel: str = Field(default="file", description="file, email or webhook")

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"{self.host}:{self.temporal_port}"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kenflow.db').resolve()}"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def as_environment(self) -> dict[str, str | None]:
        """The environment that rebuilds exactly these settings in a child process (None:
        unset that variable), so a process `kenflow up` starts sees what `up` was given, not
        only what its own environment says."""
        out: dict[str, str | None] = {}
        for name, info in type(self).model_fields.items():
            alias = info.validation_alias
            names = list(alias.choices) if isinstance(alias, AliasChoices) else [f"KENFLOW_{name.upper()}"]
            value = getattr(self, name)
            for other in names:
                out[str(other)] = None
            if isinstance(value, SecretStr):  # str() would hand the child the mask, not the secret
                value = value.get_secret_value()
            if value is not None:
                out[str(names[0])] = str(value)
        return out


@lru_cache
def get_settings() -> Settings:
    return Settings()
