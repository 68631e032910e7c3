"""Sign-in in a real browser: GitHub (the local provider) and a local admin; what each role sees;
sign-out; and that no secret reaches the server's logs."""

from __future__ import annotations

import re

import jwt
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from opssight import db
from opssight.models import AuditLog, Team, User, UserSession
from opssight.services import teams
from tests.e2e.conftest import ADMIN_PASSWORD, VIEWER, Server, wait_hydrated

SEEN_SECRETS: set[str] = set()  # session cookies and GitHub tokens issued during these tests


def session_cookie(page: Page) -> str | None:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return cookies.get("opssight_session")


def sign_in_with_github(page: Page, server: Server) -> None:
    page.goto("/login")
    page.get_by_role("button", name="Sign in with GitHub").click()
    page.wait_for_url(f"{server.url}/")
    wait_hydrated(page)


def sign_in_as_admin(page: Page) -> None:
    page.goto("/login?next=/admin")
    page.wait_for_function(  # the page has loaded its state (where to go after signing in)
        "() => [...document.querySelectorAll('input[name=next]')].some(e => e.value === '/admin')"
    )
    page.locator("#login-name").fill("admin")
    page.locator("#login-password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/?$"))
    wait_hydrated(page)


def test_github_sign_in_shows_the_person_and_hides_admin(page: Page, as_server: Server) -> None:
    sign_in_with_github(page, as_server)
    expect(page.locator(".os-user-name")).to_have_text("Mona Lisa Octocat")
    avatar = page.locator(".os-user-button img")
    expect(avatar).to_have_attribute("src", f"{as_server.url}/logo.svg")
    page.wait_for_function("() => document.querySelector('.os-user-button img').naturalWidth > 0")
    expect(page.locator('.os-sidebar a[href="/admin"]')).to_have_count(0)
    expect(page.locator('.os-sidebar a[href="/audit"]')).to_have_count(0)
    token = session_cookie(page)
    assert token is not None
    SEEN_SECRETS.add(token)
    with db.session_scope() as session:
        user = session.exec(select(User).where(User.login == VIEWER)).one()
        assert user.role == "viewer"

    page.goto("/admin")
    wait_hydrated(page)
    expect(page.locator(".os-not-allowed")).to_be_visible()
    expect(page.get_by_text("Not allowed: your role does not include this.")).to_be_visible()
    expect(page.locator("table")).to_have_count(0)


def test_sign_out_clears_the_session(page: Page, as_server: Server) -> None:
    sign_in_with_github(page, as_server)
    token = session_cookie(page)
    SEEN_SECRETS.add(token)
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    page.locator(".os-user-button").click()
    page.get_by_role("menuitem", name="Sign out", exact=True).click()
    page.wait_for_url(re.compile(r"/login/?$"))
    assert session_cookie(page) is None
    with db.session_scope() as session:
        assert session.get(UserSession, sid).revoked_at is not None
    page.goto("/")
    wait_hydrated(page)
    expect(page.locator(".os-user-name")).to_have_text("Guest")  # demo mode: a read-only guest


def test_a_bad_callback_shows_a_clear_page_and_no_session(page: Page, as_server: Server) -> None:
    page.goto("/api/auth/github/callback?code=0123456789abcdef0123&state=forged")
    page.wait_for_url(re.compile(r"/login/?\?error=state$"))
    expect(page.locator(".os-login-error")).to_contain_text("did not come from this browser")
    assert session_cookie(page) is None


def test_wrong_password_is_refused_on_the_sign_in_page(page: Page, as_server: Server) -> None:
    page.goto("/login")
    page.locator("#login-name").fill("admin")
    page.locator("#login-password").fill("not-the-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/login/?\?error=credentials$"))
    expect(page.locator(".os-login-error")).to_have_text("Wrong login or password.")
    assert session_cookie(page) is None


def test_local_admin_manages_teams_and_every_change_is_audited(
    page: Page, as_server: Server
) -> None:
    sign_in_as_admin(page)
    SEEN_SECRETS.add(session_cookie(page))
    expect(page.locator('.os-sidebar a[href="/admin"]')).to_be_visible()
    expect(page.get_by_role("tab", name="Users")).to_be_visible()
    expect(page.locator("table").first).to_contain_text("admin")

    page.get_by_role("tab", name="Teams").click()
    page.get_by_placeholder("team-slug").fill("payments")
    page.get_by_placeholder("Display name").fill("Payments squad")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_text("Team created.")).to_be_visible()
    expect(page.get_by_role("cell", name="Payments squad")).to_be_visible()
    with db.session_scope() as session:
        team = session.exec(select(Team).where(Team.slug == "payments")).one()
        entry = session.exec(
            select(AuditLog).where(
                AuditLog.action == "team.create", AuditLog.target_id == "payments"
            )
        ).one()
        assert entry.actor_login == "admin"
        assert entry.after == {"slug": "payments", "name": "Payments squad"}

    page.goto("/audit")
    wait_hydrated(page)
    page.get_by_placeholder("action, e.g. user.").fill("team.")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".os-audit-table")).to_contain_text("team:payments")
    expect(page.locator(".os-audit-table")).to_contain_text('"name": "Payments squad"')

    page.goto("/admin")
    wait_hydrated(page)
    page.get_by_role("tab", name="Teams").click()
    page.get_by_role("row").filter(has_text="payments").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Team deleted.")).to_be_visible()
    with db.session_scope() as session:
        assert session.get(Team, team.id) is None


def test_server_logs_hold_no_secrets(browser: Browser, as_server: Server) -> None:
    """Runs after the sign-ins above: grep everything the server logged."""
    github = as_server.github
    tokens = {
        r.headers.get("authorization", "").split(" ")[-1]
        for r in github.requests
        if r.headers.get("authorization", "").lower().startswith(("bearer ", "token "))
    }
    codes = {c for r in github.requests if r.path.endswith("/access_token") for c in r.form["code"]}
    secrets = {github.client_secret, ADMIN_PASSWORD, *tokens, *codes, *SEEN_SECRETS} - {""}
    assert len(secrets) >= 4  # the client secret, the password, a token and a session at least
    logged = as_server.log.read_text()
    assert "auth.github_signed_in" in logged  # the sign-ins were logged, without their secrets
    leaked = [s for s in secrets if s in logged]
    assert leaked == []


def test_pages_open_on_the_persons_team(page: Page, as_server: Server) -> None:
    sign_in_with_github(page, as_server)  # mona's GitHub teams are imported: octo-org/platform
    with db.session_scope() as session:
        admin = session.exec(select(User).where(User.login == "admin")).one()
        team = session.exec(select(Team).where(Team.slug == "octo-org/platform")).one()
        teams.assign_repository(session, actor=admin, full_name="demo-org/api", team_id=team.id)
    try:
        page.goto("/pipelines")
        wait_hydrated(page)
        expect(page.get_by_role("combobox").filter(has_text="octo-org/platform")).to_be_visible()
        rows = page.locator(".os-run-row")
        expect(rows.first).to_be_visible()
        repos = set(page.locator(".os-run-row td:first-child").all_inner_texts())
        assert repos == {"demo-org/api"}
        page.goto("/dora")
        wait_hydrated(page)
        expect(page.get_by_role("combobox").filter(has_text="octo-org/platform")).to_be_visible()
    finally:
        with db.session_scope() as session:
            admin = session.exec(select(User).where(User.login == "admin")).one()
            teams.assign_repository(session, actor=admin, full_name="demo-org/api", team_id=None)
