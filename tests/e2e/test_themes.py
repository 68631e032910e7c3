"""Theme variants and color modes change computed styles live and survive a reload."""

from __future__ import annotations

import time

from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from opssight import db
from opssight.models import AuditLog, User
from opssight.services.auth import sessions
from tests.e2e.conftest import Server, wait_hydrated

STYLE_PROBE = """() => {
  const root = document.querySelector('.os-root');
  const card = document.querySelector('.os-card');
  const r = getComputedStyle(root), c = getComputedStyle(card);
  return {
    variant: root.dataset.variant, mode: root.dataset.mode,
    background: r.backgroundColor, text: r.color,
    borderWidth: c.borderTopWidth, shadow: c.boxShadow,
    backdrop: c.backdropFilter, radius: c.borderTopLeftRadius,
  };
}"""


def styles(page: Page) -> dict[str, str]:
    return page.evaluate(STYLE_PROBE)


def choose_variant(page: Page, variant: str) -> None:
    page.locator(".os-header [role=combobox]").click()
    page.get_by_role("option", name=variant, exact=True).click()
    expect(page.locator(".os-root")).to_have_attribute("data-variant", variant)
    page.wait_for_timeout(150)


def choose_mode(page: Page, mode: str) -> None:
    page.locator(f'.os-header [data-mode-option="{mode}"]').click()
    expect(page.locator(".os-root")).to_have_attribute("data-mode", mode)
    page.wait_for_timeout(150)


def test_variant_and_mode_change_styles_and_persist_across_reload(page: Page):
    page.goto("/")
    wait_hydrated(page)
    minimal = styles(page)
    assert minimal["variant"] == "minimal"
    assert minimal["borderWidth"] == "0px"

    choose_variant(page, "neo-brutalist")
    brutal = styles(page)
    assert brutal["borderWidth"] == "3px"
    assert brutal["shadow"] != "none" and brutal["radius"] == "0px"

    choose_variant(page, "glassmorphic")
    assert "blur" in styles(page)["backdrop"]

    choose_mode(page, "light")
    light = styles(page)
    choose_mode(page, "dark")
    dark = styles(page)
    assert dark["background"] != light["background"]
    assert dark["text"] != light["text"]

    choose_mode(page, "high-contrast")
    contrast = styles(page)
    assert contrast["background"] == "rgb(0, 0, 0)"
    assert contrast["borderWidth"] == "3px" and contrast["backdrop"] == "none"

    choose_mode(page, "dark")
    page.reload()
    wait_hydrated(page)
    kept = styles(page)
    assert (kept["variant"], kept["mode"]) == ("glassmorphic", "dark")
    assert kept["background"] == dark["background"] and "blur" in kept["backdrop"]


def test_every_variant_looks_different(page: Page):
    page.goto("/settings")
    wait_hydrated(page)
    seen = {}
    for variant in ("minimal", "neo-brutalist", "glassmorphic", "cyberpunk", "editorial",
                    "accessible", "dynamic"):  # fmt: skip
        choose_variant(page, variant)
        probe = styles(page)
        seen[variant] = (probe["background"], probe["borderWidth"], probe["shadow"],
                         probe["backdrop"], probe["radius"])  # fmt: skip
    assert len(set(seen.values())) == len(seen), seen


def test_dynamic_hue_slider_moves_the_accent(page: Page):
    page.goto("/settings")
    wait_hydrated(page)
    choose_variant(page, "dynamic")
    accent = (
        "() => getComputedStyle(document.querySelector('.os-root')).getPropertyValue('--accent-9')"
    )
    before = page.evaluate(accent)
    thumb = page.locator(".os-main [role=slider]")
    thumb.focus()
    page.keyboard.press("End")
    expect(page.locator(".os-hue-value")).to_have_text("360°", timeout=3000)
    assert page.evaluate(accent) != before
    assert page.evaluate(accent).startswith("hsl(360 ")
    page.reload()
    wait_hydrated(page)
    expect(page.locator(".os-hue-value")).to_have_text("360°")


def test_system_mode_follows_the_os_preference(browser: Browser, server: Server):
    context = browser.new_context(base_url=server.url, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto("/")
        wait_hydrated(page)
        assert styles(page)["mode"] == "system"
        dark = styles(page)["background"]
        page.emulate_media(color_scheme="light")
        page.wait_for_timeout(400)
        light = styles(page)["background"]
        assert light != dark
        page.emulate_media(color_scheme="dark")
        page.wait_for_timeout(400)
        assert styles(page)["background"] == dark
    finally:
        context.close()


def _signed_in_user(login: str) -> tuple[int, str]:
    with db.session_scope() as session:
        user = User(login=login, role="developer")
        session.add(user)
        session.commit()
        session.refresh(user)
        return user.id, sessions.issue(session, user=user)


def _saved_variant(user_id: int) -> str:
    with db.session_scope() as session:
        return session.get(User, user_id).theme_variant


def test_signed_in_choice_is_saved_on_the_user_row(browser: Browser, as_server: Server):
    user_id, token = _signed_in_user("theme-tester")
    cookie = {"name": sessions.COOKIE_NAME, "value": token, "url": as_server.url,
              "httpOnly": True, "sameSite": "Lax"}  # fmt: skip
    context = browser.new_context(base_url=as_server.url)
    context.add_cookies([cookie])
    page = context.new_page()
    try:
        page.goto("/settings")
        wait_hydrated(page)
        expect(page.locator(".os-user-button")).to_contain_text("theme-tester")
        choose_variant(page, "editorial")
        deadline = time.monotonic() + 5
        while _saved_variant(user_id) != "editorial" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _saved_variant(user_id) == "editorial"
        with db.session_scope() as session:
            audit = session.exec(select(AuditLog).where(AuditLog.actor_id == user_id)).all()
        assert [a.after["variant"] for a in audit] == ["editorial"]
    finally:
        context.close()

    fresh = browser.new_context(base_url=as_server.url)  # another device: empty local storage
    fresh.add_cookies([cookie])
    page = fresh.new_page()
    try:
        page.goto("/")
        wait_hydrated(page)
        expect(page.locator(".os-root")).to_have_attribute("data-variant", "editorial")
    finally:
        fresh.close()
