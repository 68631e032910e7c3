"""Sign-in with GitHub against a local OAuth provider, and with a local password."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from sqlmodel import Session, select

from opssight import db
from opssight.api import create_api
from opssight.config import get_settings
from opssight.models import AuditLog, LoginFailure, RoleRule, Team, TeamMember, User, UserSession
from opssight.services.auth import passwords, sessions, throttle
from tests.replay.oauth import OAuthProvider
from tests.support import reset_caches

APP = "http://opssight.test"
CALLBACK = f"{APP}/api/auth/github/callback"


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuthProvider]:
    with OAuthProvider(callback=CALLBACK) as provider:
        provider.add_user(
            "mona",
            id=583231,
            name="Mona Lisa",
            email="mona@example.com",
            orgs=["octo-org"],
            teams=[("octo-org", "platform"), ("octo-org", "web")],
        )
        for name, value in {
            "PUBLIC_URL": APP,
            "GITHUB_CLIENT_ID": provider.client_id,
            "GITHUB_CLIENT_SECRET": provider.client_secret,
            "GITHUB_URL": provider.url,
            "GITHUB_API_URL": provider.api_url,
        }.items():
            monkeypatch.setenv(f"OPSSIGHT_{name}", value)
        reset_caches()
        yield provider


@pytest.fixture
async def app() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        yield client


async def start(app: httpx.AsyncClient, next_path: str = "/dora") -> tuple[str, str]:
    """Our login route → (the authorize URL, the state cookie)."""
    response = await app.get("/api/auth/github/login", params={"next": next_path})
    assert response.status_code == 302
    return response.headers["location"], response.cookies["opssight_oauth"]


def authorize(url: str) -> dict[str, str]:
    """The browser at GitHub: approve, and read the query GitHub redirects back with."""
    response = httpx.get(url)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def callback(app: httpx.AsyncClient, query: dict[str, str], state_cookie: str | None):
    app.cookies.clear()
    if state_cookie:
        app.cookies.set("opssight_oauth", state_cookie)
    return await app.get("/api/auth/github/callback", params=query)


async def sign_in(app: httpx.AsyncClient, next_path: str = "/dora") -> httpx.Response:
    url, state_cookie = await start(app, next_path)
    return await callback(app, authorize(url), state_cookie)


def stored(url: str, model, *where):
    with db.session_scope(url) as session:
        return session.exec(select(model).where(*where)).all()


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?error={code}"
    assert sessions.COOKIE_NAME not in response.cookies


async def test_github_sign_in_creates_the_user_and_a_session(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    url, _ = await start(app)
    asked = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{github.url}/login/oauth/authorize?")
    assert asked["client_id"] == [github.client_id]
    assert asked["redirect_uri"] == [CALLBACK]
    assert asked["scope"] == ["read:user user:email read:org"]

    response = await sign_in(app)
    assert response.status_code == 303
    assert response.headers["location"] == "/dora"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "opssight_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # http: the public URL is not https

    (user,) = stored(database_url, User, User.login == "mona")
    assert (user.github_id, user.name, user.email, user.role) == (
        583231,
        "Mona Lisa",
        "mona@example.com",
        "viewer",
    )
    assert user.avatar_url and user.last_login_at is not None
    teams = stored(database_url, Team)
    assert sorted((t.slug, t.source) for t in teams) == [
        ("octo-org/platform", "github"),
        ("octo-org/web", "github"),
    ]
    assert len(stored(database_url, TeamMember, TeamMember.user_id == user.id)) == 2
    with db.session_scope(database_url) as session:
        assert sessions.resolve(session, response.cookies[sessions.COOKIE_NAME]).id == user.id
    (row,) = stored(database_url, UserSession)
    assert row.method == "github"

    app.cookies.set(sessions.COOKIE_NAME, response.cookies[sessions.COOKIE_NAME])
    me = await app.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json() == {
        "login": "mona",
        "name": "Mona Lisa",
        "avatar_url": user.avatar_url,
        "role": "viewer",
        "permissions": ["metrics:view", "read"],
        "teams": ["octo-org/platform", "octo-org/web"],
    }


async def test_second_sign_in_updates_the_profile_and_team_membership(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    await sign_in(app)
    github.add_user("mona", id=583231, name="Mona", orgs=["octo-org"], teams=[("octo-org", "web")])
    assert (await sign_in(app)).status_code == 303
    (user,) = stored(database_url, User)
    assert (user.login, user.name) == ("mona", "Mona")
    members = stored(database_url, TeamMember, TeamMember.user_id == user.id)
    (team,) = stored(database_url, Team, Team.id == members[0].team_id)
    assert len(members) == 1 and team.slug == "octo-org/web"


async def test_the_strongest_matching_rule_sets_the_role(
    session: Session, database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    session.add_all(
        [
            RoleRule(github_org="octo-org", role="developer"),
            RoleRule(github_org="octo-org", github_team="platform", role="admin"),
            RoleRule(github_org="other-org", role="admin"),
        ]
    )
    session.commit()
    await sign_in(app)
    (user,) = stored(database_url, User)
    assert user.role == "admin"
    (entry,) = stored(database_url, AuditLog, AuditLog.action == "user.role_from_rule")
    assert (entry.before, entry.after) == ({"role": "viewer"}, {"role": "admin"})

    github.add_user("mona", id=583231, orgs=["octo-org"], teams=[("octo-org", "web")])
    await sign_in(app)
    assert stored(database_url, User)[0].role == "developer"  # evaluated at each sign-in


async def test_without_a_matching_rule_a_role_set_by_an_admin_stays(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    await sign_in(app)
    with db.session_scope(database_url) as session:
        user = session.exec(select(User)).one()
        user.role = "developer"
    await sign_in(app)
    assert stored(database_url, User)[0].role == "developer"


async def test_allowed_orgs_refuse_outsiders(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient, monkeypatch
) -> None:
    monkeypatch.setenv("OPSSIGHT_GITHUB_ALLOWED_ORGS", "acme, Octo-Org")
    reset_caches()
    assert (await sign_in(app)).status_code == 303
    github.add_user("eve", orgs=["evil-corp"])
    github.sign_in_as("eve")
    assert_refused(await sign_in(app), "org")
    assert [u.login for u in stored(database_url, User)] == ["mona"]


async def test_a_bad_or_missing_state_is_refused(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    url, state_cookie = await start(app)
    query = authorize(url)
    assert_refused(await callback(app, {**query, "state": "forged"}, state_cookie), "state")
    assert_refused(await callback(app, query, None), "state")  # another browser
    assert stored(database_url, User) == []
    assert stored(database_url, UserSession) == []


async def test_a_replayed_code_is_refused(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    url, state_cookie = await start(app)
    query = authorize(url)
    assert (await callback(app, query, state_cookie)).status_code == 303
    assert_refused(await callback(app, query, state_cookie), "exchange")
    assert len(stored(database_url, UserSession)) == 1


async def test_an_expired_code_is_refused(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    url, state_cookie = await start(app)
    query = authorize(url)
    github.expire_codes()
    assert_refused(await callback(app, query, state_cookie), "exchange")
    assert stored(database_url, User) == []


async def test_a_declined_authorization_is_refused(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    github.deny_next()
    url, state_cookie = await start(app)
    assert_refused(await callback(app, authorize(url), state_cookie), "denied")
    assert stored(database_url, User) == []


async def test_a_json_client_gets_the_code_and_a_status(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    url, state_cookie = await start(app)
    query = authorize(url)
    app.cookies.clear()
    app.cookies.set("opssight_oauth", state_cookie)
    response = await app.get(
        "/api/auth/github/callback",
        params={**query, "state": "forged"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "state"


async def test_github_unreachable_is_a_clear_refusal(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient, monkeypatch
) -> None:
    url, state_cookie = await start(app)
    query = authorize(url)
    monkeypatch.setenv("OPSSIGHT_GITHUB_URL", "http://127.0.0.1:9")
    reset_caches()
    assert_refused(await callback(app, query, state_cookie), "github")


async def test_a_revoked_github_token_is_a_clear_refusal(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient, monkeypatch
) -> None:
    """GitHub answers 401 to /user: no user, no session."""
    monkeypatch.setenv("OPSSIGHT_GITHUB_API_URL", github.url + "/nowhere")
    reset_caches()
    assert_refused(await sign_in(app), "github")
    assert stored(database_url, User) == []


async def test_a_disabled_user_cannot_sign_in(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient
) -> None:
    await sign_in(app)
    with db.session_scope(database_url) as session:
        session.exec(select(User)).one().is_active = False
    assert_refused(await sign_in(app), "disabled")


async def test_github_enterprise_server(
    database_url: str, app: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OAuthProvider(enterprise=True, callback=CALLBACK) as ghes:
        ghes.add_user("hubot", orgs=["ops"])
        monkeypatch.setenv("OPSSIGHT_PUBLIC_URL", APP)
        monkeypatch.setenv("OPSSIGHT_GITHUB_CLIENT_ID", ghes.client_id)
        monkeypatch.setenv("OPSSIGHT_GITHUB_CLIENT_SECRET", ghes.client_secret)
        monkeypatch.setenv("OPSSIGHT_GITHUB_URL", ghes.url)
        monkeypatch.setenv("OPSSIGHT_GITHUB_API_URL", ghes.api_url)
        reset_caches()
        assert ghes.api_url.endswith("/api/v3")
        assert (await sign_in(app, "/")).headers["location"] == "/"
        assert any(r.path == "/api/v3/user" for r in ghes.requests)
    assert [u.login for u in stored(database_url, User)] == ["hubot"]


async def test_not_configured_sends_back_to_the_sign_in_page(
    database_url: str, app: httpx.AsyncClient
) -> None:
    response = await app.get("/api/auth/github/login")
    assert_refused(response, "not_configured")


@pytest.mark.parametrize(
    ("asked", "landing"),
    [("/pipelines?repo=a", "/pipelines?repo=a"), ("https://evil.example", "/"), ("//evil", "/")],
)
async def test_only_local_return_paths(
    database_url: str, github: OAuthProvider, app: httpx.AsyncClient, asked: str, landing: str
) -> None:
    assert (await sign_in(app, asked)).headers["location"] == landing


# ---------- local accounts ----------


@pytest.fixture
def admin(session: Session) -> User:
    return passwords.bootstrap_admin(session, login="admin", password="correct horse battery")


async def post_login(app: httpx.AsyncClient, password: str, **extra) -> httpx.Response:
    headers = extra.pop("headers", {})
    form = {"login": extra.pop("login", "admin"), "password": password, "next": "/admin"}
    return await app.post("/api/auth/login", data=form, headers=headers)


async def test_bootstrap_admin_once_with_a_hash(session: Session, admin: User) -> None:
    assert admin.role == "admin"
    assert admin.password_hash.startswith("$2b$")
    assert "correct horse" not in admin.password_hash
    assert passwords.bootstrap_admin(session, login="admin", password="other") is None


async def test_password_sign_in(database_url: str, admin: User, app: httpx.AsyncClient) -> None:
    response = await post_login(app, "correct horse battery")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    with db.session_scope(database_url) as session:
        user = sessions.resolve(session, response.cookies[sessions.COOKIE_NAME])
        assert user.login == "admin"
    (row,) = stored(database_url, UserSession)
    assert row.method == "password"


async def test_wrong_password_and_unknown_login(
    database_url: str, admin: User, app: httpx.AsyncClient
) -> None:
    assert_refused(await post_login(app, "wrong"), "credentials")
    assert_refused(await post_login(app, "wrong", login="nobody"), "credentials")
    json = await post_login(app, "wrong", headers={"accept": "application/json"})
    assert json.status_code == 401
    assert json.json()["error"] == "credentials"
    assert stored(database_url, UserSession) == []


async def test_failed_attempts_are_rate_limited_per_account(
    database_url: str, admin: User, app: httpx.AsyncClient
) -> None:
    for _ in range(throttle.PER_ACCOUNT):
        assert_refused(await post_login(app, "wrong"), "credentials")
    limited = await post_login(app, "correct horse battery", headers={"accept": "application/json"})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= throttle.WINDOW.total_seconds()
    assert stored(database_url, UserSession) == []


async def test_failed_attempts_are_rate_limited_per_ip(
    session: Session, database_url: str, admin: User, app: httpx.AsyncClient
) -> None:
    for n in range(throttle.PER_IP):
        await post_login(app, "wrong", login=f"guess-{n}")
    assert_refused(await post_login(app, "correct horse battery"), "throttled")
    assert len(stored(database_url, LoginFailure)) == throttle.PER_IP


async def test_behind_a_proxy_failures_count_per_forwarded_address(
    database_url: str, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OPSSIGHT_PROXY_HOPS=1 the address the proxy saw is the client: one guesser is
    throttled, not everyone behind the same proxy; the session records that address too."""
    monkeypatch.setenv("OPSSIGHT_PROXY_HOPS", "1")
    reset_caches()
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url=APP) as behind_proxy:
        guesser = {"x-forwarded-for": "198.51.100.1, 203.0.113.7"}  # the first hop is forged
        for n in range(throttle.PER_IP):
            await post_login(behind_proxy, "wrong", login=f"guess-{n}", headers=guesser)
        assert {f.ip for f in stored(database_url, LoginFailure)} == {"203.0.113.7"}
        throttled = await post_login(behind_proxy, "correct horse battery", headers=guesser)
        assert_refused(throttled, "throttled")
        other = {"x-forwarded-for": "192.0.2.44"}
        assert (
            await post_login(behind_proxy, "correct horse battery", headers=other)
        ).status_code == 303
    assert [s.ip for s in stored(database_url, UserSession)] == ["192.0.2.44"]


async def test_a_success_forgives_the_account(
    database_url: str, admin: User, app: httpx.AsyncClient
) -> None:
    for _ in range(throttle.PER_ACCOUNT - 1):
        await post_login(app, "wrong")
    assert (await post_login(app, "correct horse battery")).status_code == 303
    assert stored(database_url, LoginFailure, LoginFailure.login == "admin") == []


async def test_a_form_posted_from_another_site_is_refused(
    database_url: str, admin: User, app: httpx.AsyncClient
) -> None:
    response = await post_login(
        app, "correct horse battery", headers={"origin": "https://evil.example"}
    )
    assert_refused(response, "origin")


async def test_a_disabled_local_account_is_refused(
    session: Session, database_url: str, admin: User, app: httpx.AsyncClient
) -> None:
    admin.is_active = False
    session.add(admin)
    session.commit()
    assert_refused(await post_login(app, "correct horse battery"), "disabled")


async def test_me_needs_a_session(database_url: str, app: httpx.AsyncClient) -> None:
    response = await app.get("/api/auth/me")
    assert response.status_code == 401
    forged = jwt.encode(
        {"sub": "1", "sid": "x", "iat": 1, "exp": 9999999999}, "k" * 40, algorithm="HS256"
    )
    app.cookies.set(sessions.COOKIE_NAME, forged)
    refused = await app.get("/api/auth/me")
    assert refused.status_code == 401
    assert get_settings().resolved_secret_key() != "k" * 40
