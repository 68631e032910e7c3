"""The HTTP API as a client sees it: health, metrics, security headers, sign-out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from sqlmodel import Session

from opssight import db
from opssight.api import create_api
from opssight.models import User, UserSession
from opssight.schemas.connector import ConnectorCheck
from opssight.services import connectors
from opssight.services.auth import sessions
from tests.support import RedisProcess, free_port, reset_caches

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def add_user(session: Session, login: str) -> User:
    user = User(login=login)
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def assert_hardened(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-request-id"]


async def test_liveness(database_url: str, client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert_hardened(response)


async def test_detailed_health_when_all_is_well(
    database_url: str, client: httpx.AsyncClient
) -> None:
    response = await client.get("/health/detailed")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["state"] == "ok"
    assert body["database"]["name"] == ("sqlite" if "sqlite" in database_url else "postgresql")
    assert body["database"]["latency_ms"] >= 0
    assert body["redis"]["state"] == "disabled"
    assert body["connectors"] == []
    assert body["demo"] is True
    assert_hardened(response)


async def test_detailed_health_lists_connectors(
    session: Session, client: httpx.AsyncClient
) -> None:
    connectors.record_check(
        session, ConnectorCheck(name="github", kind="github", state="ok", detail="fine")
    )
    connectors.record_check(
        session,
        ConnectorCheck(name="prod-k8s", kind="kubernetes", state="down", error="timeout"),
    )
    response = await client.get("/health/detailed")
    assert response.status_code == 200
    body = response.json()
    by_name = {c["name"]: c for c in body["connectors"]}
    assert set(by_name) == {"github", "prod-k8s"}
    assert (by_name["github"]["state"], by_name["github"]["detail"]) == ("ok", "fine")
    assert (by_name["prod-k8s"]["state"], by_name["prod-k8s"]["error"]) == ("down", "timeout")
    assert body["status"] == "degraded"


async def test_detailed_health_reports_demo_off_with_a_real_source(
    database_url: str, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSSIGHT_PROMETHEUS_URL", "http://prom:9090")
    monkeypatch.setenv("OPSSIGHT_SECRET_KEY", "s" * 40)
    reset_caches()
    assert (await client.get("/health/detailed")).json()["demo"] is False


async def test_request_id_is_echoed_or_generated(
    database_url: str, client: httpx.AsyncClient
) -> None:
    echoed = await client.get("/health", headers={"x-request-id": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"
    first, second = await client.get("/health"), await client.get("/health")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert len(first.headers.get_list("x-request-id")) == 1


async def test_unknown_paths_are_hardened_too(database_url: str, client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nope")
    assert response.status_code == 404
    assert_hardened(response)


async def test_metrics_count_requests_by_route(
    database_url: str, client: httpx.AsyncClient
) -> None:
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert any(
        line.startswith("http_requests_total{")
        and 'route="/health"' in line
        and 'status="200"' in line
        and 'method="GET"' in line
        for line in lines
    )
    assert any(line.startswith("http_request_duration_seconds_bucket{") for line in lines)
    assert_hardened(response)


async def test_metrics_count_active_sessions(session: Session, client: httpx.AsyncClient) -> None:
    user = add_user(session, "metrics-user")
    sessions.issue(session, user=user)
    sessions.issue(session, user=user)
    revoked = sessions.issue(session, user=user)
    sessions.revoke(session, jwt.decode(revoked, options={"verify_signature": False})["sid"])
    response = await client.get("/metrics")
    assert "opssight_active_sessions 2.0" in response.text.splitlines()


async def test_detailed_health_when_postgres_is_down(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "OPSSIGHT_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    )
    reset_caches()
    response = await client.get("/health/detailed")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"]["name"] == "postgresql"
    assert body["database"]["state"] == "down"
    assert body["database"]["error"]
    assert body["connectors"] == []
    assert_hardened(response)
    liveness = await client.get("/health")
    assert liveness.status_code == 200  # the process itself is alive


async def test_detailed_health_when_redis_is_down(
    database_url: str,
    private_redis: RedisProcess,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSSIGHT_REDIS_URL", private_redis.url)
    reset_caches()
    up = (await client.get("/health/detailed")).json()
    assert up["redis"]["state"] == "ok"
    assert up["status"] == "ok"

    private_redis.stop()
    response = await client.get("/health/detailed")
    assert response.status_code == 200
    body = response.json()
    assert body["redis"]["state"] == "down"
    assert body["redis"]["error"]
    assert body["database"]["state"] == "ok"
    assert body["status"] == "degraded"


async def test_logout_without_a_cookie_goes_to_sign_in(
    database_url: str, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/auth/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert_hardened(response)


async def test_logout_revokes_the_session_and_clears_the_cookie(
    session: Session, database_url: str, client: httpx.AsyncClient
) -> None:
    user = add_user(session, "bob")
    token = sessions.issue(session, user=user)
    other_browser = sessions.issue(session, user=user)
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]

    response = await client.get(
        "/api/auth/logout", headers={"cookie": f"{sessions.COOKIE_NAME}={token}"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{sessions.COOKIE_NAME}=")
    assert "Max-Age=0" in set_cookie or "expires=Thu, 01 Jan 1970" in set_cookie.lower()

    with db.session_scope(database_url) as fresh:
        assert fresh.get(UserSession, sid).revoked_at is not None
        assert sessions.resolve(fresh, token) is None
        assert sessions.resolve(fresh, other_browser) is not None


async def test_logout_with_a_forged_cookie_revokes_nothing(
    session: Session, database_url: str, client: httpx.AsyncClient
) -> None:
    user = add_user(session, "carol")
    token = sessions.issue(session, user=user)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "f" * 48, algorithm="HS256")

    response = await client.get(
        "/api/auth/logout", headers={"cookie": f"{sessions.COOKIE_NAME}={forged}"}
    )
    assert response.status_code == 303
    with db.session_scope(database_url) as fresh:
        assert fresh.get(UserSession, claims["sid"]).revoked_at is None


async def test_the_policy_lets_sign_in_reach_the_configured_github(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A form's redirect to GitHub (Enterprise Server here) and its avatars are allowed."""
    monkeypatch.setenv("OPSSIGHT_GITHUB_URL", "https://ghe.example.com/")
    reset_caches()
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        csp = (await http.get("/health")).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["form-action"] == "'self' https://ghe.example.com"
    assert "https://ghe.example.com" in directives["img-src"].split()
    assert directives["frame-ancestors"] == "'none'"
