"""What an admin enters for each connection and contact point, validated before anything is
tested or saved. Secret fields are listed in ``SECRETS``; left blank on an edit they keep the
saved value."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
SOURCE_NAME = re.compile(r"[\w.:-]{1,80}")
REPOSITORY = re.compile(r"[\w.-]+/[\w.-]+")
EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
BASIC_AUTH_FIELDS = "the Basic auth user and password fields"
MAX_KUBECONFIG_CHARS = 1_000_000


def http_url(value: str, *, credentials_in: str | None = BASIC_AUTH_FIELDS) -> str:
    """``value`` if it is an http(s) URL. A user name or password in it (``user:pass@``) is
    refused, pointing to ``credentials_in`` (None: accepted, for URLs kept encrypted). The
    errors never repeat the value (it may hold credentials)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL (http:// or https:// and a host)")
    if credentials_in and (parts.username is not None or parts.password is not None):
        raise ValueError(
            f"the URL must not hold a user name or password: put them in {credentials_in}"
        )
    return value.rstrip("/")


class ConnectionForm(BaseModel):
    """Fields common to every kind; ``name`` is how pages and the health panel call it."""

    SECRETS: ClassVar[tuple[str, ...]] = ()
    KIND: ClassVar[str]
    SINGLE: ClassVar[bool] = True  # one connection of this kind at most

    name: Line = ""
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value and not SOURCE_NAME.fullmatch(value):
            raise ValueError("use letters, digits, '.', ':', '_' or '-' (at most 80)")
        return value

    def public(self) -> dict[str, object]:
        """The settings without the secrets (stored in the clear)."""
        return self.model_dump(exclude={"name", "enabled", *self.SECRETS})

    def secret_values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.SECRETS}


class GitHubForm(ConnectionForm):
    KIND: ClassVar[str] = "github"
    SECRETS: ClassVar[tuple[str, ...]] = ("token", "private_key", "webhook_secret")

    api_url: Line = "https://api.github.com"
    web_url: Line = "https://github.com"
    auth: Literal["token", "app"] = "token"
    token: str = ""
    app_id: Line = ""
    installation_id: int | None = Field(default=None, ge=1)
    private_key: str = ""
    repositories: list[str] = []
    organisation: Line = ""
    webhook_secret: str = ""

    @field_validator("api_url", "web_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return http_url(value, credentials_in="the token field (or the GitHub App fields)")

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not REPOSITORY.fullmatch(name)]
        if bad:
            raise ValueError(f"not owner/repo: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> GitHubForm:
        if self.auth == "token" and not self.token.strip():
            raise ValueError("a token is needed (a personal access token or installation token)")
        if self.auth == "app" and not (self.app_id and self.installation_id and self.private_key):
            raise ValueError("a GitHub App needs its app id, installation id and private key")
        if not self.repositories and not self.organisation:
            raise ValueError("name the repositories (owner/repo) or an organisation to read")
        return self


class KubernetesForm(ConnectionForm):
    KIND: ClassVar[str] = "kubernetes"
    SECRETS: ClassVar[tuple[str, ...]] = ("kubeconfig",)

    kubeconfig: str = ""
    contexts: list[str] = []
    """The contexts to watch; empty: every context of the kubeconfig."""
    in_cluster: bool = False

    @model_validator(mode="after")
    def _complete(self) -> KubernetesForm:
        if not self.kubeconfig.strip() and not self.in_cluster:
            raise ValueError("upload a kubeconfig or choose the cluster OpsSight runs in")
        if self.kubeconfig.strip():
            names = read_kubeconfig(self.kubeconfig).names
            unknown = sorted(set(self.contexts) - set(names))
            if unknown:
                raise ValueError(f"the kubeconfig has no context {', '.join(unknown)}")
        return self

    def config_dict(self) -> dict | None:
        return yaml.safe_load(self.kubeconfig) if self.kubeconfig.strip() else None


class KubeContexts(BaseModel):
    """The contexts a kubeconfig offers (names only: nothing secret)."""

    names: list[str]
    current: str | None
    """Its ``current-context``, when that names one of ``names``."""


def read_kubeconfig(kubeconfig: str) -> KubeContexts:
    """The contexts of a kubeconfig's YAML, parsed as data only (nothing in it is run);
    ``ValueError`` saying why when it is not a readable kubeconfig (the error never quotes it:
    it holds credentials)."""
    if len(kubeconfig) > MAX_KUBECONFIG_CHARS:
        raise ValueError("the kubeconfig is larger than 1 MB: is it the right file?")
    try:
        loaded = yaml.safe_load(kubeconfig)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ValueError(f"the kubeconfig is not valid YAML ({where}{problem})") from None
    if not isinstance(loaded, dict):
        raise ValueError("this is not a kubeconfig (a YAML mapping with contexts)")
    contexts = loaded.get("contexts")
    if not isinstance(contexts, list) or not contexts:
        raise ValueError("the kubeconfig has no contexts")
    names = sorted({str(c["name"]) for c in contexts if isinstance(c, dict) and c.get("name")})
    if not names:
        raise ValueError("the kubeconfig's contexts have no names")
    problem = unsafe_kubeconfig_problem(loaded)
    if problem:
        raise ValueError(problem)
    current = loaded.get("current-context")
    return KubeContexts(names=names, current=current if current in names else None)


# what the official client would run (``exec``, ``auth-provider`` helpers) or read from this
# server's disk, given a kubeconfig: fine in the operator's own file, never from a form
_RUNS = ("exec", "auth-provider")
_READS = {  # a path on the server → what holds the same inline
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
    "tokenFile": "token",
    "certificate-authority": "certificate-authority-data",
}


def unsafe_kubeconfig_problem(loaded: dict) -> str | None:
    """Why an uploaded kubeconfig may not be used, or None. Its credentials must be inline
    (``token``, ``client-*-data``, ``certificate-authority-data``): a command to run or a path
    on the server would let whoever fills the form run or read things as OpsSight."""
    for section, entry_key in (("users", "user"), ("clusters", "cluster")):
        for entry in loaded.get(section) or []:
            body = entry.get(entry_key) if isinstance(entry, dict) else None
            if not isinstance(body, dict):
                continue
            name = entry.get("name", "?")
            runs = [key for key in _RUNS if body.get(key)]
            if runs:
                return (
                    f"the kubeconfig's {entry_key} {name!r} gets its credentials from a helper "
                    f"({runs[0]}), which OpsSight does not run for an uploaded kubeconfig: use a "
                    "token or client certificate data (e.g. a ServiceAccount token), or mount "
                    "the file and set OPSSIGHT_KUBECONFIG"
                )
            reads = [key for key in _READS if body.get(key)]
            if reads:
                return (
                    f"the kubeconfig's {entry_key} {name!r} points at a file on the server "
                    f"({reads[0]}): an uploaded kubeconfig must hold it inline "
                    f"({_READS[reads[0]]}), or mount the file and set OPSSIGHT_KUBECONFIG"
                )
    return None


class PrometheusForm(ConnectionForm):
    KIND: ClassVar[str] = "prometheus"
    SECRETS: ClassVar[tuple[str, ...]] = ("password", "token")
    SINGLE: ClassVar[bool] = False

    url: Line
    username: Line = ""
    password: str = ""
    token: str = ""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusForm:
        if self.token and self.username:
            raise ValueError("use basic auth or a bearer token, not both")
        return self


class AlertmanagerForm(ConnectionForm):
    KIND: ClassVar[str] = "alertmanager"
    SECRETS: ClassVar[tuple[str, ...]] = ("webhook_token", "password", "token")

    url: Line = ""
    """Alertmanager's own address (tested); optional."""
    username: Line = ""
    password: str = ""
    token: str = ""
    """Basic auth or a bearer token to call ``url`` (a proxy in front of Alertmanager)."""
    webhook_token: str = ""
    """The bearer token Alertmanager sends to ``/api/webhooks/alertmanager``."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value) if value else value

    @model_validator(mode="after")
    def _complete(self) -> AlertmanagerForm:
        if len(self.webhook_token) < 16:
            raise ValueError("the webhook token needs at least 16 characters")
        return self


class SmtpForm(ConnectionForm):
    KIND: ClassVar[str] = "smtp"
    SECRETS: ClassVar[tuple[str, ...]] = ("password",)

    host: Line = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    username: Line = ""
    password: str = ""
    sender: Line = Field(min_length=3)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not EMAIL.fullmatch(value):
            raise ValueError(f"{value!r} is not an email address")
        return value


FORMS: dict[str, type[ConnectionForm]] = {
    form.KIND: form
    for form in (GitHubForm, KubernetesForm, PrometheusForm, AlertmanagerForm, SmtpForm)
}


class ContactPointForm(BaseModel):
    """A Slack incoming webhook, a generic webhook (URLs kept encrypted) or email addresses."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: Literal["slack", "email", "webhook"]
    url: str = ""
    addresses: list[str] = []
    enabled: bool = True

    @model_validator(mode="after")
    def _complete(self) -> ContactPointForm:
        if self.kind == "email":
            bad = [a for a in self.addresses if not EMAIL.fullmatch(a)]
            if bad or not self.addresses:
                raise ValueError(f"not email addresses: {', '.join(bad) or '(none given)'}")
        elif self.url:  # blank on an edit: the saved URL is kept (encrypted, so it may hold auth)
            http_url(self.url, credentials_in=None)
        return self
