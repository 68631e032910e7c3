"""Changing a local password in a real browser: user menu → Change password, a wrong current
password shown in the form, the change (this browser stays signed in, another session ends),
then sign out and in with the new password. A GitHub-only person is not offered it.

The account is made for this test through the service layer: other tests sign in as the server's
bootstrap admin with its known password.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect
from sqlmodel import select

from opssight import db
from opssight.models import AuditLog, User
from opssight.services.auth import passwords, sessions
from tests.e2e.conftest import Server, wait_hydrated
from tests.e2e.test_sign_in import session_cookie, sign_in_with_github

OLD = "pat-old-password-0123"
NEW = "pat-new-password-4567"


def sign_in(page: Page, login: str, password: str) -> None:
    page.goto("/login?next=/settings")
    page.wait_for_function(  # the page has loaded its state (where to go after signing in)
        "() => [...document.querySelectorAll('input[name=next]')]"
        ".some(e => e.value === '/settings')"
    )
    page.locator("#login-name").fill(login)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def open_user_menu(page: Page) -> None:
    page.locator(".os-user-button").click()
    expect(page.get_by_role("menuitem", name="Settings")).to_be_visible()


def resolves(token: str) -> bool:
    with db.session_scope() as session:
        return sessions.resolve(session, token) is not None


def test_a_local_account_changes_its_password_then_signs_in_with_it(
    page: Page, as_server: Server
) -> None:
    login = f"pat-{uuid.uuid4().hex[:6]}"
    with db.session_scope() as session:
        user = User(login=login, name="Pat Local", role="developer")
        user.password_hash = passwords.hash_password(OLD)
        session.add(user)
        session.commit()
        session.refresh(user)
        elsewhere = sessions.issue(session, user=user, method="password")  # another browser

    sign_in(page, login, OLD)
    page.wait_for_url(re.compile(r"/settings/?$"))
    wait_hydrated(page)
    expect(page.get_by_role("button", name="Change password")).to_be_visible()  # Settings' link
    open_user_menu(page)
    page.get_by_role("menuitem", name="Change password").click()
    page.wait_for_url(re.compile(r"/settings/password/?$"))
    expect(page.get_by_role("heading", name="Password", exact=True)).to_be_visible()

    page.locator("#current-password").fill("not-my-password-at-all")
    page.locator("#new-password").fill(NEW)
    page.locator("#confirm-password").fill(NEW)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".os-password-error")).to_have_text("The current password is wrong.")
    assert resolves(elsewhere)

    page.locator("#current-password").fill(OLD)
    page.locator("#confirm-password").fill(f"{NEW}-typo")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".os-password-error")).to_have_text(
        "The new password and its confirmation differ."
    )

    page.locator("#confirm-password").fill(NEW)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Password changed. Your other session was signed out.")).to_be_visible()
    expect(page.locator(".os-password-error")).to_have_count(0)
    for field in ("#current-password", "#new-password", "#confirm-password"):
        expect(page.locator(field)).to_have_value("")
    assert not resolves(elsewhere)
    assert resolves(session_cookie(page))  # this browser stays signed in
    with db.session_scope() as session:
        (entry,) = session.exec(
            select(AuditLog).where(AuditLog.target_id == login, AuditLog.action.startswith("user."))
        ).all()
        assert (entry.action, entry.actor_login) == ("user.password_change", login)
        assert entry.after == {"sessions_ended": 1}

    page.reload()
    wait_hydrated(page)
    expect(page.locator(".os-user-name")).to_have_text("Pat Local")
    open_user_menu(page)
    page.get_by_role("menuitem", name="Sign out", exact=True).click()
    page.wait_for_url(re.compile(r"/login/?$"))

    sign_in(page, login, OLD)
    page.wait_for_url(re.compile(r"/login/?\?error=credentials$"))
    expect(page.locator(".os-login-error")).to_have_text("Wrong login or password.")
    sign_in(page, login, NEW)
    page.wait_for_url(re.compile(r"/settings/?$"))
    wait_hydrated(page)
    expect(page.locator(".os-user-name")).to_have_text("Pat Local")

    logged = as_server.log.read_text(errors="replace")
    assert OLD not in logged and NEW not in logged


def test_a_github_account_is_not_offered_a_password(page: Page, as_server: Server) -> None:
    sign_in_with_github(page, as_server)
    open_user_menu(page)
    expect(page.get_by_role("menuitem", name="Sign out everywhere")).to_be_visible()
    expect(page.get_by_role("menuitem", name="Change password")).to_have_count(0)
    page.keyboard.press("Escape")

    page.goto("/settings")
    wait_hydrated(page)
    expect(page.get_by_role("heading", name="Appearance")).to_be_visible()
    expect(page.get_by_role("button", name="Change password")).to_have_count(0)
    page.goto("/settings/password")
    wait_hydrated(page)
    expect(page.locator(".os-no-password")).to_contain_text("You sign in with GitHub")
    expect(page.locator("#current-password")).to_have_count(0)
