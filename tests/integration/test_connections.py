"""Connections saved in Settings: secrets encrypted at rest (a raw read sees ciphertext only),
a wrong key named in the error, key rotation, the environment winning, "Test connection"
against real endpoints (replayed GitHub and Kubernetes, a real Prometheus), and jobs following
what is saved."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import text
from sqlmodel import Session, select

from opssight import cli
from opssight.api import create_api
from opssight.config import get_settings
from opssight.integrations import kubernetes as kube
from opssight.integrations.kubernetes import KubeError
from opssight.jobs import runner
from opssight.logs import redact
from opssight.models import AuditLog, Connection, ContactPoint, User
from opssight.schemas.connections import ContactPointForm, KubernetesForm
from opssight.services import (
    connection_probe,
    connections,
    contact_points,
    health,
    secrets,
    source_config,
)
from opssight.services.connections import ConnectionsError
from tests.integration.test_alertmanager_webhook import FIRING, send
from tests.integration.test_alertmanager_webhook import TOKEN as AM_TOKEN
from tests.integration.test_github_webhooks import SECRET, deliver, payload, sign
from tests.replay.github import DEFAULT_REPO, TOKEN, GitHubReplay
from tests.replay.kubernetes import KubeReplay, write_kubeconfig
from tests.support import free_port, reset_caches

GITHUB_TOKEN = "ghp_0123456789abcdefSECRETtoken"
KEY_A = "a" * 40
KEY_B = "b" * 40


@pytest.fixture
def admin(session: Session) -> User:
    user = User(login="root-admin", role="admin")
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def github_values(api_url: str = "https://ghe.example.org/api/v3", **extra: object) -> dict:
    values = {"api_url": api_url, "token": GITHUB_TOKEN, "repositories": [DEFAULT_REPO]}
    return values | extra


def save_github(session: Session, admin: User, **extra: object) -> Connection:
    form = connections.draft(session, "github", github_values(**extra))
    return connections.save(session, form, actor=admin)


def set_key(monkeypatch: pytest.MonkeyPatch, key: str, previous: str | None = None) -> None:
    monkeypatch.setenv("OPSSIGHT_SECRET_KEY", key)
    if previous is None:
        monkeypatch.delenv("OPSSIGHT_SECRET_KEY_PREVIOUS", raising=False)
    else:
        monkeypatch.setenv("OPSSIGHT_SECRET_KEY_PREVIOUS", previous)
    reset_caches()


def test_the_row_holds_ciphertext_only(session: Session, admin: User):
    row = save_github(session, admin, webhook_secret="hook-secret-value")
    raw = session.execute(
        text("SELECT settings, secrets FROM connection WHERE id = :id"), {"id": row.id}
    ).one()
    stored = json.dumps(raw[0]) if not isinstance(raw[0], str) else raw[0]
    for secret in (GITHUB_TOKEN, "hook-secret-value"):
        assert secret not in stored and secret not in raw[1]
    assert raw[1].startswith("gAAAA")  # a Fernet token
    assert secrets.decrypt(raw[1]) == {"token": GITHUB_TOKEN, "webhook_secret": "hook-secret-value"}
    [view] = connections.list_connections(session)
    assert view.secrets_set == ["token", "webhook_secret"]
    assert GITHUB_TOKEN not in view.model_dump_json()
    audit_rows = session.exec(select(AuditLog).where(AuditLog.action == "connection.create")).all()
    assert len(audit_rows) == 1 and GITHUB_TOKEN not in json.dumps(audit_rows[0].after)


def test_a_blank_secret_keeps_the_saved_one(session: Session, admin: User):
    row = save_github(session, admin)
    form = connections.draft(
        session, "github", github_values(token="", organisation="octo-org"), row.id
    )
    connections.save(session, form, actor=admin, connection_id=row.id)
    config = source_config.load(session)
    assert config.github is not None
    assert config.github.token == GITHUB_TOKEN and config.github.organisation == "octo-org"


def test_bad_forms_say_what_is_wrong(session: Session, admin: User):
    with pytest.raises(ConnectionsError, match="token is needed"):
        connections.draft(session, "github", github_values(token=""))
    with pytest.raises(ConnectionsError, match="not owner/repo: nope"):
        connections.draft(session, "github", github_values(repositories=["nope"]))
    with pytest.raises(ConnectionsError, match="not an http"):
        connections.draft(session, "prometheus", {"name": "p", "url": "ftp://x"})
    with pytest.raises(ConnectionsError, match="not valid YAML"):
        connections.draft(session, "kubernetes", {"kubeconfig": "{{{"})
    save_github(session, admin)
    with pytest.raises(ConnectionsError, match="exists already"):
        save_github(session, admin)


def test_a_wrong_key_names_the_variable(
    session: Session, admin: User, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    set_key(monkeypatch, KEY_A)
    save_github(session, admin)
    set_key(monkeypatch, KEY_B)
    config = source_config.load(session)  # no crash: the connection is left out, and why
    assert config.github is None
    assert "cannot be decrypted with OPSSIGHT_SECRET_KEY" in config.errors["github"]
    with pytest.raises(secrets.SecretKeyError, match="OPSSIGHT_SECRET_KEY_PREVIOUS"):
        connections.list_connections(session)
    report = health.detailed()
    [unreadable] = [c for c in report.connectors if c.name == "connection github"]
    assert unreadable.state == "down" and "OPSSIGHT_SECRET_KEY" in unreadable.error
    with pytest.raises(SystemExit):
        cli.main(["rotate-secrets"])
    assert "cannot be decrypted with OPSSIGHT_SECRET_KEY" in capsys.readouterr().err


def test_rotating_the_key_re_encrypts(
    session: Session, admin: User, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    set_key(monkeypatch, KEY_A)
    row = save_github(session, admin)
    point = contact_points.save(
        session,
        None,
        ContactPointForm(name="hooks", kind="webhook", url="https://hooks.example.org/t/SECRET"),
        actor=admin,
    )
    old_github, old_point = row.secrets, point.secret
    set_key(monkeypatch, KEY_B, previous=KEY_A)
    assert source_config.load(session).github.token == GITHUB_TOKEN  # the old key still reads
    cli.main(["rotate-secrets"])
    assert "2 saved secrets re-encrypted" in capsys.readouterr().out
    session.expire_all()
    assert session.get(Connection, row.id).secrets != old_github
    assert session.get(ContactPoint, point.id).secret != old_point
    set_key(monkeypatch, KEY_B)  # the old key is gone: everything reads under the new one
    assert source_config.load(session).github.token == GITHUB_TOKEN
    assert contact_points.url_of(session.get(ContactPoint, point.id)).endswith("/t/SECRET")


def test_contact_point_urls_are_encrypted(session: Session, admin: User):
    form = ContactPointForm(name="chat", kind="slack", url="https://hooks.slack.com/services/T/B/X")
    point = contact_points.save(session, None, form, actor=admin)
    raw = session.execute(
        text("SELECT target, secret FROM contact_point WHERE id = :id"), {"id": point.id}
    ).one()
    assert "services/T/B/X" not in raw[0] + raw[1] and raw[0] == "https://hooks.slack.com/…"
    renamed = ContactPointForm(name="chat-2", kind="slack")
    contact_points.save(session, point.id, renamed, actor=admin)  # a blank URL keeps the saved one
    assert contact_points.url_of(session.get(ContactPoint, point.id)).endswith("/T/B/X")


def test_the_environment_wins(session: Session, admin: User, monkeypatch: pytest.MonkeyPatch):
    save_github(session, admin)
    config = source_config.load(session)
    assert config.github.origin == "settings" and not config.demo
    monkeypatch.setenv("OPSSIGHT_GITHUB_TOKEN", "env-token")
    monkeypatch.setenv("OPSSIGHT_GITHUB_REPOS", "env/repo")
    reset_caches()
    config = source_config.load(session)
    assert config.github.origin == "environment" and config.github.token == "env-token"
    assert "github" in config.environment


def test_jobs_follow_what_is_saved(session: Session, admin: User):
    settings = get_settings()
    assert source_config.load(session).demo
    names = {job.name for job in runner.planned_jobs(source_config.load(session), settings)}
    assert "demo.github" in names and "github.sync" not in names
    row = save_github(session, admin)
    config = source_config.load(session)
    planned = {job.name: job for job in runner.planned_jobs(config, settings)}
    assert "github.sync" in planned and "demo.github" not in planned
    form = connections.draft(session, "github", github_values(token="ghp_another"), row.id)
    connections.save(session, form, actor=admin, connection_id=row.id)
    changed = {job.name: job for job in runner.planned_jobs(source_config.load(session), settings)}
    assert changed["github.sync"].version != planned["github.sync"].version
    assert changed["retention"].version == planned["retention"].version
    connections.set_enabled(session, row.id, False, actor=admin)
    names = {job.name for job in runner.planned_jobs(source_config.load(session), settings)}
    assert "github.sync" not in names and "demo.github" in names
    actions = [a.action for a in session.exec(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["connection.create", "connection.update", "connection.disable"]


def test_probe_github_on_the_replay(session: Session):
    with GitHubReplay() as replay:
        replay.add_repo("octo-org/second")
        form = connections.draft(
            session, "github", {"api_url": replay.url, "token": TOKEN, "organisation": "octo-org"}
        )
        assert connection_probe.probe(form) == "2 repositories, rate limit 5,000/5,000"
        named = connections.draft(session, "github", github_values(replay.url, token=TOKEN))
        workflows = len(replay.repos[DEFAULT_REPO].workflows)
        assert connection_probe.probe(named).startswith(f"1 repository, {workflows} workflow")
        bad = connections.draft(session, "github", github_values(replay.url, token="ghp_wrong"))
        with pytest.raises(connection_probe.ProbeFailed, match="Bad credentials"):
            connection_probe.probe(bad)
    gone = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(connection_probe.ProbeFailed, match=gone):
        connection_probe.probe(connections.draft(session, "github", github_values(gone)))


def test_probe_kubernetes_from_an_uploaded_kubeconfig(session: Session, tmp_path: Path):
    with KubeReplay() as prod, KubeReplay(token="staging-token") as staging:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"prod": prod, "staging": staging})
        uploaded = path.read_text()
        form = connections.draft(session, "kubernetes", {"kubeconfig": uploaded})
        nodes = len(prod.objects("nodes")) + len(staging.objects("nodes"))
        assert connection_probe.probe(form) == f"2 contexts, {nodes} nodes"
        one = connections.draft(
            session, "kubernetes", {"kubeconfig": uploaded, "contexts": ["prod"]}
        )
        assert connection_probe.probe(one).startswith("1 context, ")
        with pytest.raises(ConnectionsError, match="no context nope"):
            connections.draft(session, "kubernetes", {"kubeconfig": uploaded, "contexts": ["nope"]})
        staging.token = "rotated"
        with pytest.raises(connection_probe.ProbeFailed, match="401"):
            connection_probe.probe(form)
    assert KubernetesForm(kubeconfig=uploaded).config_dict()["contexts"]


def test_probe_prometheus_for_real(session: Session, prometheus_server):
    form = connections.draft(session, "prometheus", {"name": "main", "url": prometheus_server.url})
    found = connection_probe.probe(form)
    assert found.startswith(f"Prometheus {prometheus_server.version}, ")
    assert found.endswith("targets up") and " 0 of 0 " not in found
    gone = connections.draft(
        session, "prometheus", {"name": "gone", "url": f"http://127.0.0.1:{free_port()}"}
    )
    with pytest.raises(connection_probe.ProbeFailed, match="unreachable"):
        connection_probe.probe(gone)


def test_saved_prometheus_sources_are_offered(session: Session, admin: User):
    form = connections.draft(session, "prometheus", {"name": "saved", "url": "http://127.0.0.1:1"})
    connections.save(session, form, actor=admin)
    config = source_config.load(session)
    assert [s.name for s in config.prometheus] == ["saved"]
    assert not config.demo


async def test_receivers_use_the_secrets_saved_in_settings(session: Session, admin: User):
    github = connections.draft(session, "github", github_values(webhook_secret=SECRET))
    connections.save(session, github, actor=admin)
    alertmanager = connections.draft(session, "alertmanager", {"webhook_token": AM_TOKEN})
    connections.save(session, alertmanager, actor=admin)
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        ping = payload("octokit.ping.payload.json")
        assert (await deliver(http, "ping", ping)).status_code == 200
        forged = await deliver(http, "ping", ping, signature=sign("not-the-secret", ping))
        assert forged.status_code == 401
        assert (await send(http, FIRING)).status_code == 200
        assert (await send(http, FIRING, token="wrong-token-0123456789")).status_code == 401


def test_probe_alertmanager_with_auth(session: Session):
    seen: list[str | None] = []

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            ok = self.path == "/-/ready" and seen[-1] == "Bearer am-proxy-token"
            self.send_response(200 if ok else 401)
            self.end_headers()
            self.wfile.write(b"OK" if ok else b"Unauthorized")

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        values = {"url": url, "webhook_token": AM_TOKEN, "token": "am-proxy-token"}
        form = connections.draft(session, "alertmanager", values)
        assert connection_probe.probe(form) == f"Alertmanager at {url} is ready"
        wrong = connections.draft(session, "alertmanager", values | {"token": "nope"})
        with pytest.raises(connection_probe.ProbeFailed, match="HTTP 401"):
            connection_probe.probe(wrong)
    finally:
        server.shutdown()
    assert seen == ["Bearer am-proxy-token", "Bearer nope"]


# ---------- what the environment connects, the empty table, kubeconfig contexts ----------

ENV_SECRETS = {
    "OPSSIGHT_GITHUB_TOKEN": "ghp_environmentTOKEN0123456789abcdef",
    "OPSSIGHT_GITHUB_WEBHOOK_SECRET": "env-webhook-secret-0123456789",
    "OPSSIGHT_PROMETHEUS_TOKEN": "prom-env-bearer-0123456789",
    "OPSSIGHT_ALERTMANAGER_WEBHOOK_TOKEN": "am-env-webhook-token-0123456789",
    "OPSSIGHT_SMTP_PASSWORD": "smtp-env-password-0123456789",
    "OPSSIGHT_ANSIBLE_TOKEN": "ansible-env-token-0123456789",
}


def test_sources_set_by_the_environment_are_rows_without_secrets(
    session: Session, admin: User, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from opssight.state.connections import _snapshot

    save_github(session, admin)  # saved, then overridden by the environment's GitHub
    with KubeReplay() as prod, KubeReplay(token="staging-token") as staging:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"prod": prod, "staging": staging})
    for name, value in ENV_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPSSIGHT_GITHUB_REPOS", "octo-org/env-repo")
    monkeypatch.setenv("OPSSIGHT_KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv(
        "OPSSIGHT_PROMETHEUS_URL", "main=https://promuser:prom-pass-0123@prom.example.org:9090"
    )
    monkeypatch.setenv("OPSSIGHT_ALERTMANAGER_URL", "https://amuser:am-pass-0123@am.example.org")
    monkeypatch.setenv("OPSSIGHT_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("OPSSIGHT_SMTP_FROM", "opssight@example.org")
    reset_caches()

    page = _snapshot(session)
    rows = {row["kind"]: row for row in page["environment"]}
    assert list(rows) == ["github", "kubernetes", "prometheus", "alertmanager", "smtp", "ansible"]
    shown = json.dumps(page)
    for secret in [*ENV_SECRETS.values(), "prom-pass-0123", "am-pass-0123", "staging-token"]:
        assert secret not in shown
    assert rows["github"]["summary"] == (
        "https://api.github.com · octo-org/env-repo · token · webhooks"
    )
    assert rows["github"]["secrets"] == "token ••••, webhook_secret ••••"
    assert rows["github"]["variables"] == (
        "OPSSIGHT_GITHUB_TOKEN, OPSSIGHT_GITHUB_REPOS, OPSSIGHT_GITHUB_WEBHOOK_SECRET"
    )
    assert rows["kubernetes"]["summary"] == (
        f"kubeconfig {kubeconfig}: every context (prod, staging)"
    )
    assert rows["kubernetes"]["variables"] == "OPSSIGHT_KUBECONFIG"
    assert rows["prometheus"]["name"] == "main"
    assert rows["prometheus"]["summary"] == "https://prom.example.org:9090"
    assert rows["prometheus"]["secrets"] == "basic auth ••••, token ••••"
    assert rows["alertmanager"]["summary"].startswith("https://[redacted]@am.example.org · ")
    assert rows["smtp"]["summary"] == "smtp.example.org:587 from opssight@example.org"
    assert rows["ansible"]["variables"] == "OPSSIGHT_ANSIBLE_TOKEN"
    [github] = page["saved"]
    assert github["state"] == "overridden by environment"
    assert not page["nothing_connected"]


def test_a_webhook_secret_alone_is_a_receiving_row(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(
        "OPSSIGHT_GITHUB_WEBHOOK_SECRET", ENV_SECRETS["OPSSIGHT_GITHUB_WEBHOOK_SECRET"]
    )
    monkeypatch.setenv("OPSSIGHT_KUBECONFIG", "/nowhere/kubeconfig")
    reset_caches()
    github, kubernetes = source_config.environment_sources()
    assert github.summary.startswith("Webhooks only") and github.secrets == ("webhook_secret",)
    assert github.variables == ("OPSSIGHT_GITHUB_WEBHOOK_SECRET",)
    assert kubernetes.summary.startswith("kubeconfig /nowhere/kubeconfig (unreadable: ")


def test_with_nothing_connected_the_table_says_so(
    session: Session, admin: User, monkeypatch: pytest.MonkeyPatch
):
    from opssight.state.connections import _snapshot
    from opssight.views.connections import saved

    page = _snapshot(session)
    assert page["saved"] == [] and page["environment"] == []
    assert page["nothing_connected"] and page["demo"]
    rendered = str(saved())
    assert "No connections yet \\u2014 demo data is shown until a source is connected" in rendered
    assert "nothing_connected" in rendered and "Connect Kubernetes" in rendered
    monkeypatch.setenv("OPSSIGHT_DEMO", "0")
    reset_caches()
    assert not _snapshot(session)["demo"]
    form = connections.draft(session, "prometheus", {"name": "p", "url": "http://127.0.0.1:1"})
    connections.save(session, form, actor=admin)
    assert not _snapshot(session)["nothing_connected"]


def test_the_contexts_of_a_kubeconfig_are_offered(session: Session, admin: User, tmp_path: Path):
    with KubeReplay() as prod, KubeReplay(token="staging-token") as staging:
        path = write_kubeconfig(
            tmp_path / "kubeconfig", {"prod": prod, "staging": staging}, current="staging"
        )
    uploaded = path.read_text()
    found = connections.kubeconfig_contexts(session, uploaded)
    assert found.names == ["prod", "staging"] and found.current == "staging"
    form = connections.draft(session, "kubernetes", {"kubeconfig": uploaded, "contexts": ["prod"]})
    row = connections.save(session, form, actor=admin)
    saved = connections.kubeconfig_contexts(session, "", row.id)  # editing, nothing re-uploaded
    assert saved.names == ["prod", "staging"]
    with pytest.raises(ConnectionsError, match="upload or paste one"):
        connections.kubeconfig_contexts(session, "  ")


def test_an_unreadable_kubeconfig_says_why_and_nothing_in_it_runs(session: Session, tmp_path: Path):
    with KubeReplay() as replay:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": replay})
    config = yaml.safe_load(path.read_text())
    marker = tmp_path / "ran"
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "sh",
            "args": ["-c", f"touch {marker}"],
        }
    }
    with pytest.raises(ConnectionsError, match=re.escape("from a helper (exec)")):
        connections.kubeconfig_contexts(session, yaml.safe_dump(config))
    assert not marker.exists()
    token_line = path.read_text().replace("token:", "token: : [", 1)  # broken YAML there
    cases = {
        token_line: "not valid YAML (line ",
        "\x00\x01binary": "not valid YAML",
        "just some text": "not a kubeconfig",
        "contexts: []": "has no contexts",
        "contexts: [{cluster: x}]": "have no names",
    }
    for unreadable, why in cases.items():
        with pytest.raises(ConnectionsError, match=re.escape(why)) as refused:
            connections.kubeconfig_contexts(session, unreadable)
        assert replay.token not in str(refused.value)


def test_an_uploaded_kubeconfig_neither_runs_helpers_nor_reads_server_files(
    session: Session, tmp_path: Path
):
    """Credentials inline only: an exec/auth-provider helper would run a command as OpsSight,
    a path would read this server's files. Refused on the form, on Test connection, and for a
    kubeconfig saved before the check (the job's loader refuses it too); OPSSIGHT_KUBECONFIG
    (the operator's own file) is not limited."""
    marker = tmp_path / "ran"
    with KubeReplay() as replay:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": replay})
        good = yaml.safe_load(path.read_text())
        helper = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "sh",
                           "args": ["-c", f"touch {marker}"]}}  # fmt: skip
        unsafe = {
            "exec": ("users", {"name": "replay", "user": helper}, "helper (exec)"),
            "auth-provider": (
                "users",
                {"name": "replay", "user": {"auth-provider": {"name": "oidc", "config": {}}}},
                "helper (auth-provider)",
            ),
            "tokenFile": (
                "users",
                {"name": "replay", "user": {"tokenFile": "/etc/shadow"}},
                "(tokenFile): an uploaded kubeconfig must hold it inline (token)",
            ),
            "certificate-authority": (
                "clusters",
                {"name": "replay", "cluster": {"server": replay.url,
                                               "certificate-authority": "/etc/ssl/private/k"}},
                "(certificate-authority-data)",
            ),
        }  # fmt: skip
        for section, entry, why in unsafe.values():
            config = {**good, section: [entry]}
            text = yaml.safe_dump(config)
            with pytest.raises(ConnectionsError, match=re.escape(why)):
                connections.draft(session, "kubernetes", {"kubeconfig": text})
            with pytest.raises(KubeError, match=re.escape(why)):
                kube.load_clusters(config)  # as saved before uploads were checked
        assert not marker.exists()
        assert kube.load_clusters(good)[0].error is None
        assert kube.load_clusters(str(path))[0].error is None


INLINE = "https://promuser:inline-pass-0123@prom.example.org/"


def test_urls_with_inline_credentials_are_refused(session: Session):
    from opssight.state.connections import _test

    cases = [
        ("prometheus", {"name": "p", "url": INLINE}, "Basic auth user and password fields"),
        ("alertmanager", {"url": INLINE, "webhook_token": AM_TOKEN}, "Basic auth user"),
        ("github", github_values(INLINE), "the token field"),
    ]
    for kind, values, hint in cases:
        with pytest.raises(ConnectionsError, match=hint) as refused:
            connections.draft(session, kind, values)
        assert "inline-pass-0123" not in str(refused.value)
        assert "promuser" not in str(refused.value)
        with pytest.raises(ConnectionsError) as tested:  # what "Test connection" shows
            _test(kind, None, values)
        assert "inline-pass-0123" not in str(tested.value)
    with pytest.raises(ConnectionsError, match="not an http") as bad:
        connections.draft(session, "prometheus", {"name": "p", "url": "ftp://u:pw-0123@host"})
    assert "pw-0123" not in str(bad.value)
    # a contact point's URL is kept encrypted: credentials in it are its own business
    ContactPointForm(name="hook", kind="webhook", url="https://u:p@hooks.example.org/x")


def test_a_probe_error_never_quotes_credentials(session: Session, tmp_path: Path):
    with KubeReplay() as replay:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": replay})
    config = yaml.safe_load(path.read_text())
    server = f"http://kubeuser:kube-pass-0123@127.0.0.1:{free_port()}"
    config["clusters"][0]["cluster"]["server"] = server
    form = connections.draft(session, "kubernetes", {"kubeconfig": yaml.safe_dump(config)})
    with pytest.raises(connection_probe.ProbeFailed, match="cannot reach") as failed:
        connection_probe.probe(form)
    assert "kube-pass-0123" not in str(failed.value)
    assert "http://[redacted]@127.0.0.1:" in str(failed.value)
    assert "kube-pass-0123" not in redact(f"GET {server}/api/v1/nodes failed")


def test_a_url_saved_with_credentials_before_is_shown_and_audited_redacted(
    session: Session, admin: User
):
    row = Connection(
        kind="prometheus", name="old", settings={"url": INLINE.rstrip("/")}, secrets=""
    )
    row.secrets = secrets.encrypt({})
    session.add(row)
    session.commit()
    [view] = connections.list_connections(session)
    assert view.settings["url"] == "https://[redacted]@prom.example.org"
    connections.set_enabled(session, row.id, False, actor=admin)
    audit_row = session.exec(select(AuditLog).where(AuditLog.action == "connection.disable")).one()
    assert "inline-pass-0123" not in json.dumps([audit_row.before, audit_row.after])
