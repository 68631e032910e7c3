""" "Test connection": call the real endpoint with what the admin entered (nothing is saved) and
say what was found, or the exact error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from opssight.config import PrometheusSource
from opssight.integrations import kubernetes as kube
from opssight.integrations import notify as sender
from opssight.integrations.github import (
    GitHubClient,
    GitHubError,
    MemoryEtagStore,
    MemoryRateBudget,
    StaticToken,
)
from opssight.integrations.github_app import InstallationTokenAuth
from opssight.integrations.prometheus import PrometheusClient, PrometheusError
from opssight.logs import redact
from opssight.models import ContactPoint
from opssight.models.base import utcnow
from opssight.schemas.connections import (
    AlertmanagerForm,
    ConnectionForm,
    GitHubForm,
    KubernetesForm,
    PrometheusForm,
    SmtpForm,
)
from opssight.services.connector_checks import rate_facts

TIMEOUT_SECONDS = 10.0


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number:,} {one if number == 1 else many or one + 's'}"


class ProbeFailed(Exception):
    """The endpoint refused or could not be reached: the message says which and why."""


def _github(form: GitHubForm) -> str:
    if form.auth == "app":
        assert form.installation_id is not None
        credentials: Any = InstallationTokenAuth(
            form.api_url, form.app_id, form.installation_id, form.private_key
        )
    else:
        credentials = StaticToken(form.token)
    client = GitHubClient(
        form.api_url,
        credentials,
        etags=MemoryEtagStore(),
        budget=MemoryRateBudget(),
        max_retries=0,
    )
    with client:
        try:
            core = client.get_rate_limit()["resources"]["core"]
            names = set(form.repositories)
            if form.organisation:
                names |= {repo["full_name"] for repo in client.list_org_repos(form.organisation)}
            workflows = 0
            for name in form.repositories:  # the token can read their Actions
                owner, repo = name.split("/", 1)
                workflows += sum(1 for _ in client.list_repo_workflows(owner, repo))
        except GitHubError as exc:
            raise ProbeFailed(f"GitHub at {form.api_url}: {exc}") from None
    budget = rate_facts(core["remaining"], core["limit"], core["reset"])["Rate budget left"]
    listed = f", {_count(workflows, 'workflow')}" if form.repositories else ""
    return f"{_count(len(names), 'repository', 'repositories')}{listed}, rate limit {budget}"


def _kubernetes(form: KubernetesForm) -> str:
    try:
        clusters = kube.load_clusters(
            form.config_dict(),
            in_cluster=form.in_cluster,
            contexts=form.contexts,
            request_timeout=TIMEOUT_SECONDS,
        )
        nodes = sum(kube.count_nodes(cluster) for cluster in clusters)
    except kube.KubeError as exc:
        raise ProbeFailed(exc.message) from None
    return f"{_count(len(clusters), 'context')}, {_count(nodes, 'node')}"


def _prometheus(form: PrometheusForm) -> str:
    auth = (form.username, form.password) if form.username else None
    source = PrometheusSource(form.name, form.url, auth, form.token or None)
    with PrometheusClient(source, timeout=TIMEOUT_SECONDS) as client:
        try:
            version = client.build_info()["data"]["version"]
            targets = client.active_targets()
        except PrometheusError as exc:
            raise ProbeFailed(str(exc)) from None
    up = sum(1 for target in targets if target.get("health") == "up")
    return f"Prometheus {version}, {up} of {len(targets)} targets up"


def _alertmanager(form: AlertmanagerForm) -> str:
    if not form.url:
        return "Token accepted; no Alertmanager address given, so nothing was called"
    try:
        auth = (form.username, form.password) if form.username else None
        headers = {"Authorization": f"Bearer {form.token}"} if form.token else None
        response = httpx.get(
            f"{form.url}/-/ready", auth=auth, headers=headers, timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise ProbeFailed(f"Alertmanager at {form.url}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise ProbeFailed(f"Alertmanager at {form.url}: HTTP {response.status_code}")
    return f"Alertmanager at {form.url} is ready"


def _smtp(form: SmtpForm) -> str:
    smtp = sender.Smtp(form.host, form.port, form.sender, form.username or None, form.password)
    try:
        greeting = sender.check_smtp(smtp, timeout=TIMEOUT_SECONDS)
    except sender.SendError as exc:
        raise ProbeFailed(f"SMTP {form.host}:{form.port}: {exc}") from None
    login = " and the login" if form.username else ""
    return f"{form.host}:{form.port} accepted STARTTLS{login} ({greeting})"


PROBES = {
    "github": _github,
    "kubernetes": _kubernetes,
    "prometheus": _prometheus,
    "alertmanager": _alertmanager,
    "smtp": _smtp,
}


def probe(form: ConnectionForm) -> str:
    """What the endpoint reports; ``ProbeFailed`` with the exact error otherwise (credentials
    in a URL it quotes, e.g. a kubeconfig's server, redacted)."""
    try:
        return PROBES[form.KIND](form)
    except ProbeFailed as exc:
        raise ProbeFailed(redact(str(exc))) from None


def send_test(point: ContactPoint, deliver: Callable[[ContactPoint, dict], None]) -> str:
    """Send a test notification, shaped like a real one, through ``deliver`` (the notify
    service's ``send``)."""
    now = utcnow().isoformat()
    body = {
        "version": "opssight/1",
        "status": "firing",
        "policy": "OpsSight test",
        "groupLabels": {"alertname": "OpsSightTest"},
        "alerts": [
            {
                "name": "OpsSightTest",
                "source": "opssight",
                "state": "Firing",
                "severity": "info",
                "labels": {"alertname": "OpsSightTest"},
                "annotations": {"summary": f"Test notification to contact point {point.name}"},
                "value": None,
                "startsAt": now,
                "endsAt": None,
                "fingerprint": "test",
            }
        ],
        "sentAt": now,
    }
    try:
        deliver(point, body)
    except sender.SendError as exc:  # a webhook URL may hold credentials: kept out
        raise ProbeFailed(redact(f"{point.name} ({point.target}): {exc}")) from None
    return f"Test notification delivered to {point.target}"
