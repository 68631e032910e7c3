"""What each source is configured with right now: the environment (``OPSSIGHT_*``) wins, else
the connection an admin saved in Settings (secrets decrypted here, never sent anywhere else).

Jobs, webhook receivers and pages read ``current()``: a snapshot cached for a few seconds, and
dropped at once in the worker that saved a change (the others see it within ``TTL_SECONDS``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlmodel import Session, select

from opssight import db
from opssight.config import ENV_PREFIX, PrometheusSource, Settings, get_settings
from opssight.integrations.notify import Smtp
from opssight.logs import redact
from opssight.models import Connection
from opssight.schemas.connections import KubernetesForm, read_kubeconfig
from opssight.services import secrets

TTL_SECONDS = 5.0
SOURCE_KINDS = ("github", "kubernetes", "prometheus", "alertmanager")


@dataclass(frozen=True)
class GitHubConfig:
    origin: str  # "environment" or "settings"
    api_url: str
    web_url: str
    token: str | None
    app_id: str | None
    installation_id: int | None
    private_key: str | Path | None
    repositories: tuple[str, ...]
    organisation: str | None

    @property
    def app(self) -> bool:
        return not self.token and bool(self.app_id)


@dataclass(frozen=True)
class KubeConfig:
    origin: str
    kubeconfig: str | dict | None
    """A kubeconfig file path (environment) or its parsed YAML (saved in Settings)."""
    contexts: tuple[str, ...]
    in_cluster: bool


@dataclass(frozen=True)
class SourceConfig:
    github: GitHubConfig | None
    github_webhook_secret: str | None
    kubernetes: KubeConfig | None
    prometheus: tuple[PrometheusSource, ...]
    alertmanager_url: str | None
    alertmanager_token: str | None
    smtp: Smtp | None
    demo: bool
    environment: frozenset[str]
    """The kinds the environment configures (their Settings forms are overridden)."""
    errors: dict[str, str]
    """Saved connections left out, by name, and why (secrets that no key decrypts)."""

    def fingerprint(self, part: str) -> str:
        """A digest of one part (e.g. ``github``): a job restarts when its part changes."""
        value = getattr(self, part)
        data = asdict(value) if hasattr(value, "__dataclass_fields__") else value
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def _env_kinds(settings: Settings) -> frozenset[str]:
    kinds = {
        "github": settings.github_token or settings.github_app,
        "kubernetes": settings.kubeconfig or settings.kubernetes_service_host,
        "prometheus": settings.prometheus_url,
        "alertmanager": settings.alertmanager_url or settings.alertmanager_webhook_token,
        "smtp": settings.smtp_host,
    }
    return frozenset(kind for kind, value in kinds.items() if value)


@dataclass(frozen=True)
class EnvironmentSource:
    """A source (or receiver) the environment configures, as Settings → Connections lists it:
    what identifies it and the variables that set it; secrets by name only, never a value."""

    kind: str
    name: str
    summary: str
    secrets: tuple[str, ...]
    variables: tuple[str, ...]


def _variables(settings: Settings, *fields: str) -> tuple[str, ...]:
    """The variables of ``fields`` that the environment sets."""
    given = settings.model_fields_set
    return tuple(
        f"{ENV_PREFIX}{name.upper()}"
        for name in fields
        if name in given and getattr(settings, name) is not None
    )


def _github_source(settings: Settings) -> EnvironmentSource:
    hook = ("webhook_secret",) if settings.github_webhook_secret else ()
    if not (settings.github_token or settings.github_app):
        summary = "Webhooks only (POST /api/webhooks/github); nothing is polled"
        return EnvironmentSource(
            "github", "github", summary, hook, _variables(settings, "github_webhook_secret")
        )
    what = ", ".join(settings.repositories) or (
        f"org {settings.github_org}" if settings.github_org else "no repository named"
    )
    auth = "token" if settings.github_token else f"GitHub App {settings.github_app_id}"
    polled = ("token",) if settings.github_token else ("private_key",)
    variables = _variables(
        settings,
        "github_token",
        "github_app_id",
        "github_app_installation_id",
        "github_app_private_key",
        "github_app_private_key_file",
        "github_api_url",
        "github_repos",
        "github_org",
        "github_webhook_secret",
    )
    summary = f"{redact(settings.github_api_url)} · {what} · {auth}"
    if hook:
        summary += " · webhooks"
    return EnvironmentSource("github", "github", summary, polled + hook, variables)


def _kubernetes_source(settings: Settings) -> EnvironmentSource:
    parts = []
    if settings.kubeconfig:
        path = settings.kubeconfig
        try:
            names = read_kubeconfig(Path(path).read_text()).names
            parts.append(f"kubeconfig {path}: every context ({', '.join(names)})")
        except (OSError, ValueError) as exc:
            parts.append(f"kubeconfig {path} (unreadable: {exc})")
    if settings.kubernetes_service_host:
        parts.append("the cluster OpsSight runs in")
    variables = _variables(settings, "kubeconfig") + (
        ("KUBERNETES_SERVICE_HOST",) if settings.kubernetes_service_host else ()
    )
    hidden = ("kubeconfig",) if settings.kubeconfig else ()  # its credentials, in the file
    return EnvironmentSource("kubernetes", "kubernetes", " + ".join(parts), hidden, variables)


def _prometheus_source(settings: Settings, source: PrometheusSource) -> EnvironmentSource:
    hidden, fields = [], ["prometheus_url"]
    if source.basic_auth:
        hidden.append("basic auth")
    if source.token:
        hidden.append("token")
        fields.append("prometheus_token")
    variables = _variables(settings, *fields)
    return EnvironmentSource(
        "prometheus", source.name, redact(source.url), tuple(hidden), variables
    )


def _alertmanager_source(settings: Settings) -> EnvironmentSource:
    summary = redact(settings.alertmanager_url) if settings.alertmanager_url else "no address"
    hidden = ("webhook_token",) if settings.alertmanager_webhook_token else ()
    if hidden:
        summary += " · alerts received at /api/webhooks/alertmanager"
    variables = _variables(settings, "alertmanager_url", "alertmanager_webhook_token")
    return EnvironmentSource("alertmanager", "alertmanager", summary, hidden, variables)


def _smtp_source(settings: Settings) -> EnvironmentSource:
    summary = f"{settings.smtp_host}:{settings.smtp_port} from {settings.smtp_from or '?'}"
    hidden = ("password",) if settings.smtp_password else ()
    variables = _variables(
        settings, "smtp_host", "smtp_port", "smtp_user", "smtp_password", "smtp_from"
    )
    return EnvironmentSource("smtp", "smtp", summary, hidden, variables)


def environment_sources(settings: Settings | None = None) -> list[EnvironmentSource]:
    """What the environment connects OpsSight to: each source it configures (those win over
    Settings), the GitHub webhook secret and the Ansible callback token."""
    settings = settings or get_settings()
    kinds = _env_kinds(settings)
    found = []
    if "github" in kinds or settings.github_webhook_secret:
        found.append(_github_source(settings))
    if "kubernetes" in kinds:
        found.append(_kubernetes_source(settings))
    found += [_prometheus_source(settings, source) for source in settings.prometheus_sources]
    if "alertmanager" in kinds:
        found.append(_alertmanager_source(settings))
    if "smtp" in kinds:
        found.append(_smtp_source(settings))
    if settings.ansible_token:
        summary = "Ansible callback events (POST /api/automation/events)"
        variables = _variables(settings, "ansible_token")
        found.append(EnvironmentSource("ansible", "ansible", summary, ("token",), variables))
    return found


def _github(settings: Settings, saved: dict[str, tuple[dict, dict]]) -> GitHubConfig | None:
    if settings.github_token or settings.github_app:
        return GitHubConfig(
            origin="environment",
            api_url=settings.github_api_url,
            web_url=settings.github_url,
            token=_secret(settings.github_token),
            app_id=settings.github_app_id,
            installation_id=settings.github_app_installation_id,
            private_key=settings.github_app_key() if settings.github_app else None,
            repositories=tuple(settings.repositories),
            organisation=settings.github_org,
        )
    if "github" not in saved:
        return None
    public, hidden = saved["github"]
    return GitHubConfig(
        origin="settings",
        api_url=public["api_url"],
        web_url=public["web_url"],
        token=hidden.get("token") if public["auth"] == "token" else None,
        app_id=public["app_id"] or None,
        installation_id=public["installation_id"],
        private_key=hidden.get("private_key") if public["auth"] == "app" else None,
        repositories=tuple(public["repositories"]),
        organisation=public["organisation"] or None,
    )


def _kubernetes(settings: Settings, saved: dict[str, tuple[dict, dict]]) -> KubeConfig | None:
    if settings.kubeconfig or settings.kubernetes_service_host:
        return KubeConfig(
            "environment", settings.kubeconfig, (), bool(settings.kubernetes_service_host)
        )
    if "kubernetes" not in saved:
        return None
    public, hidden = saved["kubernetes"]
    form = KubernetesForm(kubeconfig=hidden.get("kubeconfig", ""), **public)
    return KubeConfig("settings", form.config_dict(), tuple(form.contexts), form.in_cluster)


def _prometheus(
    settings: Settings, rows: list[tuple[Connection, dict[str, str]]]
) -> tuple[PrometheusSource, ...]:
    sources = list(settings.prometheus_sources)
    for row, hidden in rows:
        if row.kind != "prometheus" or any(s.name == row.name for s in sources):
            continue
        user = row.settings.get("username") or ""
        auth = (user, hidden.get("password", "")) if user else None
        sources.append(PrometheusSource(row.name, row.settings["url"], auth, hidden.get("token")))
    return tuple(sources)


def _readable(rows: list[Connection]) -> tuple[list[tuple[Connection, dict]], dict[str, str]]:
    """Each row with its secrets decrypted; those no key decrypts are left out, with why."""
    readable, errors = [], {}
    for row in rows:
        try:
            readable.append((row, secrets.decrypt(row.secrets)))
        except secrets.SecretKeyError as exc:
            errors[row.name] = str(exc)
    return readable, errors


def load(session: Session, settings: Settings | None = None) -> SourceConfig:
    """The configuration now."""
    settings = settings or get_settings()
    enabled = select(Connection).where(Connection.enabled).order_by(Connection.id)
    rows, errors = _readable(list(session.exec(enabled)))
    saved = {row.kind: (row.settings, hidden) for row, hidden in rows if row.kind != "prometheus"}
    env = _env_kinds(settings)
    alertmanager = saved.get("alertmanager", ({}, {}))
    smtp_public, smtp_hidden = saved.get("smtp", ({}, {}))
    if settings.smtp_host:
        smtp = Smtp(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from or "",
            settings.smtp_user,
            _secret(settings.smtp_password),
        )
    elif smtp_public:
        smtp = Smtp(
            smtp_public["host"],
            smtp_public["port"],
            smtp_public["sender"],
            smtp_public["username"] or None,
            smtp_hidden.get("password"),
        )
    else:
        smtp = None
    real = env & set(SOURCE_KINDS) or {row.kind for row, _ in rows} & set(SOURCE_KINDS)
    return SourceConfig(
        github=_github(settings, saved),
        github_webhook_secret=_secret(settings.github_webhook_secret)
        or saved.get("github", ({}, {}))[1].get("webhook_secret"),
        kubernetes=_kubernetes(settings, saved),
        prometheus=_prometheus(settings, rows),
        alertmanager_url=settings.alertmanager_url
        if "alertmanager" in env
        else alertmanager[0].get("url") or None,
        alertmanager_token=_secret(settings.alertmanager_webhook_token)
        if "alertmanager" in env
        else alertmanager[1].get("webhook_token"),
        smtp=smtp,
        demo=settings.demo if settings.demo is not None else not real,
        environment=env,
        errors=errors,
    )


_cache: tuple[float, SourceConfig] | None = None
_lock = threading.Lock()


def current() -> SourceConfig:
    """The cached configuration (re-read from the database after ``TTL_SECONDS``)."""
    global _cache
    with _lock:
        if _cache is not None and time.monotonic() - _cache[0] < TTL_SECONDS:
            return _cache[1]
        with db.session_scope() as session:
            config = load(session)
        _cache = (time.monotonic(), config)
        return config


async def current_async() -> SourceConfig:
    """``current()`` for async routes: a stale snapshot is re-read off the event loop."""
    cached = _cache
    if cached is not None and time.monotonic() - cached[0] < TTL_SECONDS:
        return cached[1]
    return await asyncio.to_thread(current)


def invalidate() -> None:
    """Forget the snapshot (this worker saved a change)."""
    global _cache
    with _lock:
        _cache = None
