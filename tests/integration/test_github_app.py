"""GitHub App installation tokens against the replay server: the JWT exchange, the token cache
and its renewal (before expiry, and once after a 401), and bad keys reported on the connector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import jwt
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import Session, select

from opssight.config import get_settings
from opssight.integrations.github import (
    EtagStore,
    GitHubAuthError,
    GitHubClient,
    MemoryEtagStore,
    MemoryRateBudget,
)
from opssight.integrations.github_app import REFRESH_MARGIN_SECONDS, InstallationTokenAuth
from opssight.jobs import github as github_job
from opssight.jobs import runner
from opssight.models import ConnectorStatus, WorkflowRun
from opssight.services import github_sync, source_config
from tests.replay.github import GitHubReplay, load

APP_ID = "123456"
INSTALLATION = 42
EXCHANGE = f"/app/installations/{INSTALLATION}/access_tokens"
WORKFLOWS = "/repos/octo-org/octo-repo/actions/workflows"
REPO = "octo-org/octo-repo"


def pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return pem_pair()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replay(keys: tuple[str, str], clock: Clock) -> Iterator[GitHubReplay]:
    with GitHubReplay(clock=clock) as server:
        server.install_app(APP_ID, INSTALLATION, keys[1])
        yield server


def auth(replay: GitHubReplay, key: str | Path, clock: Clock) -> InstallationTokenAuth:
    return InstallationTokenAuth(replay.url, APP_ID, INSTALLATION, key, clock=clock)


def client(
    replay: GitHubReplay, credentials: InstallationTokenAuth, etags: EtagStore | None = None
) -> GitHubClient:
    return GitHubClient(
        replay.url,
        credentials,
        etags=etags or MemoryEtagStore(),
        budget=MemoryRateBudget(),
        sleep=lambda _: None,
    )


def exchanges(replay: GitHubReplay) -> list:
    return [r for r in replay.requests if r.method == "POST"]


def test_the_app_jwt_is_exchanged_for_an_installation_token(
    replay: GitHubReplay, keys: tuple[str, str], clock: Clock
):
    with client(replay, auth(replay, keys[0], clock)) as github:
        workflows = list(github.list_repo_workflows("octo-org", "octo-repo"))
    assert workflows == load("list-repo-workflows.200.json")["workflows"]
    [exchange] = exchanges(replay)
    assert exchange.path == EXCHANGE and exchange.status == 201
    app_jwt = exchange.headers["authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(app_jwt)["alg"] == "RS256"
    claims = jwt.decode(app_jwt, keys[1], algorithms=["RS256"], options={"verify_exp": False})
    assert claims["iss"] == APP_ID
    assert claims["iat"] == int(clock.now) - 60
    assert claims["exp"] - claims["iat"] == 600  # at most 10 minutes
    [issued] = replay.app_tokens
    assert issued.startswith("ghs_")
    [listing] = [r for r in replay.requests if r.path == WORKFLOWS]
    assert listing.headers["authorization"] == f"Bearer {issued}" and listing.status == 200


def test_the_token_is_cached_and_renewed_before_it_expires(
    replay: GitHubReplay, keys: tuple[str, str], clock: Clock
):
    credentials = auth(replay, keys[0], clock)
    first = credentials.token()
    ttl = 3600
    clock.now += ttl - REFRESH_MARGIN_SECONDS - 1
    assert credentials.token() == first and len(exchanges(replay)) == 1
    clock.now += 2  # within the margin: a new token before the old one expires
    second = credentials.token()
    assert second != first and len(exchanges(replay)) == 2
    with client(replay, credentials) as github:
        github.get_authenticated_user()
    assert replay.requests[-1].headers["authorization"] == f"Bearer {second}"


def test_a_401_renews_the_token_once(replay: GitHubReplay, keys: tuple[str, str], clock: Clock):
    credentials = auth(replay, keys[0], clock)
    with client(replay, credentials) as github:
        github.get_authenticated_user()
        replay.revoke_app_tokens()  # GitHub no longer accepts the cached token
        assert github.get_authenticated_user()["login"]
        assert len(exchanges(replay)) == 2
        assert [r.status for r in replay.requests if r.path == "/user"] == [200, 401, 200]
        replay.fail("/user", 401, times=2)  # still refused after a renewal: reported
        with pytest.raises(GitHubAuthError):
            github.get_authenticated_user()
    assert len(exchanges(replay)) == 3


def test_a_wrong_key_is_refused_by_github(replay: GitHubReplay, clock: Clock):
    github = client(replay, auth(replay, pem_pair()[0], clock))
    with github, pytest.raises(GitHubAuthError) as caught:
        github.get_authenticated_user()
    assert caught.value.status == 401
    assert "A JSON web token could not be decoded" in str(caught.value)
    assert f"POST {EXCHANGE}" in str(caught.value)


def test_an_expired_or_too_long_jwt_is_refused(replay: GitHubReplay, keys: tuple[str, str]):
    now = int(replay.clock())
    for claims in (
        {"iat": now - 700, "exp": now - 100, "iss": APP_ID},
        {"iat": now - 60, "exp": now + 3600, "iss": APP_ID},
    ):
        token = jwt.encode(claims, keys[0], algorithm="RS256")
        headers = Message()
        headers["Authorization"] = f"Bearer {token}"
        answer = replay.answer("POST", EXCHANGE, {}, headers)
        assert answer.status == 401 and b"'Expiration time' claim" in answer.body


@pytest.mark.parametrize("key", ["not a key", "missing-file"])
def test_a_bad_key_shows_on_the_connector_and_never_crashes_the_sync(
    session: Session, replay: GitHubReplay, clock: Clock, tmp_path: Path, key: str
):
    private_key: str | Path = tmp_path / "absent.pem" if key == "missing-file" else key
    credentials = auth(replay, private_key, clock)
    etags = github_sync.DbEtagStore(session)
    with structlog.testing.capture_logs() as logs, client(replay, credentials, etags) as github:
        results = github_sync.sync(session, github, names=[REPO], org=None, days=30, interval=60)
    assert results == [] and exchanges(replay) == []
    status = session.get(ConnectorStatus, "github")
    assert status.state == "down"
    assert "private key" in status.last_error
    assert status.facts["Authentication"] == f"GitHub App {APP_ID}, installation {INSTALLATION}"
    assert "not a key" not in json.dumps(logs) + status.last_error


def test_settings_run_the_sync_job_with_the_app(
    session: Session,
    replay: GitHubReplay,
    keys: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    replay.add_repo(REPO, runs=2, first_created=datetime.now(UTC) - timedelta(hours=3))
    key_file = tmp_path / "app.pem"
    key_file.write_text(keys[0])
    for name, value in {
        "GITHUB_API_URL": replay.url,
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_APP_INSTALLATION_ID": str(INSTALLATION),
        "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
        "GITHUB_REPOS": REPO,
        "DEMO": "0",
    }.items():
        monkeypatch.setenv(f"OPSSIGHT_{name}", value)
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.real_sources == ["github"]
    config = source_config.load(session)
    assert "github.sync" in [job.name for job in runner.planned_jobs(config, settings)]
    assert config.github is not None and config.github.origin == "environment"
    sync = github_job.sync_job(config.github, settings)
    with structlog.testing.capture_logs() as logs:
        sync(session)
        sync(session)  # the second pass reuses the cached installation token
    assert len(session.exec(select(WorkflowRun)).all()) == 2
    assert len(exchanges(replay)) == 1
    status = session.get(ConnectorStatus, "github")
    assert status.state == "ok", status.last_error
    logged = json.dumps(logs)
    assert "ghs_" not in logged and "eyJ" not in logged and "PRIVATE KEY" not in logged
