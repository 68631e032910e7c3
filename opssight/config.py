"""Settings: the one place that reads the environment (``OPSSIGHT_`` prefix, ``.env`` file)."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "OPSSIGHT_"
PLACEHOLDER_SECRETS = {"change-me", "changeme", "secret", "please-change", "replace-me", "xxx"}
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """Bad configuration, reported as one line naming the variable."""


@dataclass(frozen=True)
class PrometheusSource:
    """One Prometheus data source: its name, URL (no credentials) and optional credentials."""

    name: str
    url: str
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


def _pairs(text: str | None) -> list[tuple[str | None, str]]:
    """``a=x,b=y`` or ``x,y`` (or a mix): (name or None, value) per comma-separated item."""
    items = []
    for raw in (text or "").split(","):
        name, sep, value = raw.strip().partition("=")
        if not raw.strip():
            continue
        if sep and "://" not in name and "/" not in name:
            items.append((name.strip(), value.strip()))
        else:
            items.append((None, raw.strip()))
    return items


def parse_prometheus_sources(urls: str | None, tokens: str | None) -> list[PrometheusSource]:
    """``OPSSIGHT_PROMETHEUS_URL`` items (``name=url`` or a plain URL, named after its host;
    ``user:password@`` in a URL is basic auth) with the bearer tokens of
    ``OPSSIGHT_PROMETHEUS_TOKEN`` (``name=token`` pairs, or one token for every source)."""
    by_name: dict[str | None, str] = dict(_pairs(tokens))
    sources: list[PrometheusSource] = []
    for name, url in _pairs(urls):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        name = name or host
        if not re.fullmatch(r"[\w.:-]{1,80}", name):
            raise ValueError(f"source name {name!r}: use letters, digits, '.', ':', '_' or '-'")
        if any(s.name == name for s in sources):
            raise ValueError(f"source {name!r} is named twice")
        auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        clean = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), parts.query, ""))
        token = by_name.get(name, by_name.get(None))
        sources.append(PrometheusSource(name, clean, auth, token))
    unknown = sorted(n for n in by_name if n is not None and n not in {s.name for s in sources})
    if unknown:
        raise ValueError(f"a token names no source: {', '.join(unknown)}")
    return sources


class Settings(BaseSettings):
    """Every OpsSight setting; documented one by one in ``.env.example``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    database_url: str = "sqlite:///opssight.db"
    database_read_url: str | None = None  # a read replica for pages' read-only queries
    redis_url: str | None = None
    cache_ttl_seconds: float = Field(default=60.0, ge=0)
    rate_limit_per_minute: int = Field(default=120, ge=0)
    rate_limit_webhooks_per_minute: int = Field(default=6000, ge=0)
    proxy_hops: int = Field(default=0, ge=0, le=10)
    secret_key: SecretStr | None = None
    secret_key_previous: SecretStr | None = None
    data_dir: Path = Path(".opssight")
    public_url: str = "http://localhost:3000"
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: str = "INFO"
    log_json: bool = True
    # GitHub redelivers deliveries of the last 3 days: their ids must outlive that window
    retention_days: int = Field(default=90, ge=4)

    demo: bool | None = None
    demo_interval_seconds: float = Field(default=15.0, gt=0)
    demo_history_days: int = Field(default=90, ge=0, le=365)

    admin_login: str = Field(default="admin", min_length=1, max_length=100)
    admin_password: SecretStr | None = None
    session_idle_hours: float = Field(default=12.0, gt=0)
    session_max_days: float = Field(default=7.0, gt=0)
    github_allowed_orgs: str | None = None
    github_client_id: str | None = None
    github_client_secret: SecretStr | None = None
    github_token: SecretStr | None = None
    github_app_id: str | None = None
    github_app_installation_id: int | None = Field(default=None, ge=1)
    github_app_private_key: SecretStr | None = None
    github_app_private_key_file: Path | None = None
    github_webhook_secret: SecretStr | None = None
    github_webhook_max_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    github_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    github_repos: str | None = None
    github_org: str | None = None
    github_sync_interval_seconds: float = Field(default=300.0, gt=0)
    github_history_days: int = Field(default=90, ge=1, le=400)
    github_full_sync_every: int = Field(default=12, ge=1)
    dora_deploy_workflows: str | None = None
    dora_incident_label: str = Field(default="incident", min_length=1, max_length=100)
    kubeconfig: str | None = None
    kubernetes_service_host: str | None = Field(
        default=None, validation_alias="KUBERNETES_SERVICE_HOST"
    )  # set by Kubernetes in every pod: OpsSight then also watches the cluster it runs in
    kube_pending_minutes: float = Field(default=5.0, ge=0)
    kube_watch_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    kube_request_timeout_seconds: float = Field(default=10.0, gt=0)
    kube_backoff_max_seconds: float = Field(default=30.0, gt=0)
    kube_metrics_interval_seconds: float = Field(default=30.0, gt=0)
    prometheus_url: str | None = None
    prometheus_token: SecretStr | None = None
    prometheus_timeout_seconds: float = Field(default=10.0, gt=0)
    prometheus_refresh_seconds: float = Field(default=30.0, gt=0)
    alertmanager_url: str | None = None
    alertmanager_webhook_token: SecretStr | None = None
    alertmanager_webhook_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    alert_eval_interval_seconds: float = Field(default=30.0, gt=0)
    ansible_token: SecretStr | None = None
    ansible_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = Field(default="opssight", min_length=1)

    @field_validator(
        "redis_url", "database_read_url", "secret_key", "secret_key_previous", "admin_password", "github_client_id", "github_client_secret",
        "github_token", "github_webhook_secret", "kubeconfig", "kubernetes_service_host",
        "prometheus_url", "prometheus_token",
        "alertmanager_url", "alertmanager_webhook_token", "smtp_host", "smtp_user", "smtp_password",
        "smtp_from", "ansible_token", "demo", "github_repos", "github_org",
        "dora_deploy_workflows", "github_allowed_orgs", "github_app_id",
        "github_app_installation_id", "github_app_private_key", "github_app_private_key_file",
        "otel_exporter_otlp_endpoint",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """``OPSSIGHT_X=`` (an uncommented .env.example line) means unset, not empty."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from None
        backend = url.get_backend_name()
        if backend == "postgres":
            backend = "postgresql"
        if backend not in {"sqlite", "postgresql"}:
            raise ValueError(f"unsupported database {backend!r}: use sqlite:// or postgresql://")
        if backend == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
            if not url.host and not url.query.get("host"):
                raise ValueError("a PostgreSQL URL needs a host")
        return url.render_as_string(hide_password=False)

    @field_validator("dora_incident_label", mode="before")
    @classmethod
    def _strip_label(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _check_otlp_endpoint(cls, value: str | None) -> str | None:
        """The collector's base URL; traces are posted to ``<it>/v1/traces``."""
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.demo_enabled:
            return self
        for name in (
            "secret_key", "admin_password", "github_webhook_secret", "alertmanager_webhook_token",
            "ansible_token",
        ):  # fmt: skip
            value: SecretStr | None = getattr(self, name)
            if value is None:
                continue
            raw = value.get_secret_value()
            if raw.lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"{ENV_PREFIX}{name.upper()}: placeholder value outside demo mode")
            if name == "secret_key" and len(raw) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"{ENV_PREFIX}SECRET_KEY: needs at least {MIN_SECRET_LENGTH} characters"
                )
        return self

    @model_validator(mode="after")
    def _check_prometheus_sources(self) -> Settings:
        try:
            self.prometheus_sources  # noqa: B018 (parsed to validate)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}PROMETHEUS_URL: {exc}") from None
        return self

    @property
    def prometheus_sources(self) -> list[PrometheusSource]:
        """The configured Prometheus data sources, in the order given."""
        token = self.prometheus_token.get_secret_value() if self.prometheus_token else None
        return parse_prometheus_sources(self.prometheus_url, token)

    @model_validator(mode="after")
    def _complete_github_app(self) -> Settings:
        parts = {
            "GITHUB_APP_ID": self.github_app_id,
            "GITHUB_APP_INSTALLATION_ID": self.github_app_installation_id,
            "GITHUB_APP_PRIVATE_KEY (or _FILE)": self.github_app_private_key
            or self.github_app_private_key_file,
        }
        missing = [f"{ENV_PREFIX}{name}" for name, value in parts.items() if not value]
        if 0 < len(missing) < len(parts):
            raise ValueError(f"a GitHub App also needs {' and '.join(missing)}")
        return self

    @property
    def github_app(self) -> bool:
        """A GitHub App installation is configured (used when no token is)."""
        return bool(self.github_app_id)

    def github_app_key(self) -> str | Path:
        """The app's private key: its PEM text (``\\n`` escapes allowed), or the file."""
        if self.github_app_private_key is not None:
            return self.github_app_private_key.get_secret_value().replace("\\n", "\n")
        assert self.github_app_private_key_file is not None, "no GitHub App is configured"
        return self.github_app_private_key_file

    @property
    def deploy_workflows(self) -> list[str]:
        """Workflow names (or ``owner/repo:workflow``) whose successful runs count as deploys."""
        return [w.strip() for w in (self.dora_deploy_workflows or "").split(",") if w.strip()]

    @property
    def allowed_orgs(self) -> list[str]:
        """GitHub organisations whose members may sign in (empty: anyone GitHub authenticates)."""
        return [o.strip().lower() for o in (self.github_allowed_orgs or "").split(",") if o.strip()]

    @property
    def github_sign_in(self) -> bool:
        return bool(self.github_client_id and self.github_client_secret)

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def repositories(self) -> list[str]:
        """``owner/repo`` names to sync (besides every repository of ``github_org``)."""
        return [r.strip() for r in (self.github_repos or "").split(",") if r.strip()]

    @property
    def real_sources(self) -> list[str]:
        """Names of the real data sources that are configured."""
        sources = {
            "github": self.github_token or self.github_app,
            "kubernetes": self.kubeconfig or self.kubernetes_service_host,
            "prometheus": self.prometheus_url,
            "alertmanager": self.alertmanager_url or self.alertmanager_webhook_token,
        }
        return [name for name, value in sources.items() if value]

    @property
    def demo_enabled(self) -> bool:
        """Demo data is on when asked for, or by default when no real source is configured."""
        return self.demo if self.demo is not None else not self.real_sources

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def previous_secret_keys(self) -> list[str]:
        """Former secret keys (comma-separated) that still decrypt stored secrets."""
        raw = self.secret_key_previous.get_secret_value() if self.secret_key_previous else ""
        return [key.strip() for key in raw.split(",") if key.strip()]

    def resolved_secret_key(self) -> str:
        """The JWT key: the configured one, else one generated once and kept in ``data_dir``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:  # atomic publish: of several workers starting at once, the first link wins
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        return path.read_text().strip()


def describe_error(exc: ValidationError) -> str:
    """One line per bad variable, named as the user sets it."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        name = f"{ENV_PREFIX}{field.upper()}: " if field else ""
        lines.append(f"{name}{message}")
    return "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_error(exc)) from None
