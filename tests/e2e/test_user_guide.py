"""The user guide's screenshots (docs/images/*.png), taken from the running app.

Each test opens a real page, checks what a person would see there, then saves the picture at a
fixed viewport. Regenerate them all with:
``flock /tmp/e2e.lock .venv/bin/python -m pytest tests/e2e/test_user_guide.py``
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlmodel import select

from opssight import db
from opssight.models import AlertRule, Team, User
from opssight.schemas.alerting import RuleForm
from opssight.services import teams
from opssight.services.alerting import alertmanager, history, rules
from tests.e2e.conftest import Server, wait_hydrated
from tests.e2e.test_sign_in import sign_in_as_admin
from tests.e2e.test_themes import choose_mode, choose_variant
from tests.support import ROOT

IMAGES = ROOT / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 800}
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"
NOTIFICATION = FIXTURES / "prometheus-msteams.webhook.firing.json"  # three info alerts
HEARTBEAT = RuleForm(
    name="Watchdog",
    expr="up",
    severity="info",
    annotations={"summary": "{{ $labels.job }} at {{ $labels.instance }}: up = {{ $value }}"},
)
CRASHING_POD = "e2e-container-creating"  # the demo cluster's recorded CrashLoopBackOff pod


def _context(browser: Browser, server: Server):
    return browser.new_context(
        base_url=server.url,
        viewport=VIEWPORT,
        device_scale_factor=1,
        color_scheme="light",
        reduced_motion="reduce",
        timezone_id="UTC",
        locale="en-GB",
    )


@pytest.fixture(scope="module")
def admin(browser: Browser, server: Server) -> Iterator[Page]:
    """One signed-in admin tab for the whole guide (the shots show the admin's menus)."""
    context = _context(browser, server)
    page = context.new_page()
    sign_in_as_admin(page)
    yield page
    context.close()


@pytest.fixture
def guest(browser: Browser, server: Server) -> Iterator[Page]:
    """A visitor who has not signed in (theme choices stay in this browser)."""
    context = _context(browser, server)
    yield context.new_page()
    context.close()


def shoot(page: Page, name: str, part: Locator | None = None) -> None:
    """Save docs/images/<name>.png once the page is quiet: the viewport, or one part of it."""
    page.wait_for_load_state("networkidle")
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.mouse.move(0, 0)  # no hover highlight
    page.wait_for_timeout(300)
    IMAGES.mkdir(parents=True, exist_ok=True)
    target = part if part is not None else page
    target.screenshot(path=IMAGES / f"{name}.png", animations="disabled", caret="hide")


def open_page(page: Page, path: str, title: str) -> None:
    page.goto(path)
    wait_hydrated(page)
    expect(page.locator(".os-page-title")).to_have_text(title)


def _admin_user(session) -> User:
    return session.exec(select(User).where(User.login == "admin")).one()


def test_login(guest: Page) -> None:
    guest.goto("/login")
    expect(guest.get_by_role("heading", name="Sign in to OpsSight")).to_be_visible()
    expect(guest.get_by_role("button", name="Sign in with GitHub")).to_be_visible()
    expect(guest.locator("#login-password")).to_be_visible()
    shoot(guest, "login")


def test_overview(admin: Page) -> None:
    open_page(admin, "/", "Overview")
    expect(admin.locator(".os-demo-notice")).to_be_visible()
    expect(admin.locator('[data-connector="github"]')).to_contain_text("API requests left")
    expect(admin.locator('[data-count="runs-24h"] .os-stat-value')).to_have_text(
        re.compile(r"^\d[\d,]*$")
    )
    expect(admin.locator(".os-user-name")).to_have_text("Administrator")
    shoot(admin, "overview")


def test_pipelines_and_a_run(admin: Page) -> None:
    open_page(admin, "/pipelines", "Pipelines")
    expect(admin.locator(".os-run-row").first).to_be_visible(timeout=15000)
    expect(admin.locator(".os-runs-count")).to_contain_text("runs")
    shoot(admin, "pipelines")

    admin.locator(".os-run-row").first.click()
    detail = admin.locator(".os-run-detail")
    expect(detail.locator(".os-job").first).to_be_visible()
    expect(detail.locator(".os-timeline")).to_be_visible()
    shoot(admin, "pipeline-run")
    detail.get_by_role("button", name="Close").click()
    expect(detail).to_have_count(0)


def test_dora(admin: Page) -> None:
    open_page(admin, "/dora", "DORA")
    expect(admin.locator(".os-dora-card")).to_have_count(4)
    frequency = admin.locator('.os-dora-card[data-metric="Deployment frequency"]')
    expect(frequency.locator(".os-dora-value")).not_to_have_text("—", timeout=15000)
    expect(frequency.locator(".os-dora-level")).to_have_text(
        re.compile("^(elite|high|medium|low)$")
    )
    shoot(admin, "dora")


def test_kubernetes_and_a_pod(admin: Page) -> None:
    open_page(admin, "/kubernetes", "Kubernetes")
    expect(admin.locator('.os-cluster[data-cluster="demo-eks"]')).to_be_visible(timeout=15000)
    expect(admin.locator('.os-cluster[data-cluster="replay"]')).to_contain_text("nodes ready")
    expect(admin.locator(".os-problem").filter(has_text=CRASHING_POD).first).to_contain_text(
        "CrashLoopBackOff"
    )
    shoot(admin, "kubernetes")

    admin.locator(".os-kube-search input").fill(CRASHING_POD)
    row = admin.locator(".os-pod-row").filter(has_text="demo-eks")
    expect(row).to_have_count(1)
    row.get_by_role("link").click()
    detail = admin.locator(".os-pod-detail")
    expect(detail).to_contain_text(f"scraper/{CRASHING_POD}")
    expect(detail).to_contain_text("CrashLoopBackOff")
    expect(detail.get_by_role("button", name="Logs", exact=True).first).to_be_visible()
    detail.scroll_into_view_if_needed()
    shoot(admin, "kubernetes-pod", detail)
    detail.get_by_role("button", name="Close").click()


def test_metrics_explorer(admin: Page) -> None:
    open_page(admin, "/metrics-explorer", "Metrics")
    expect(admin.get_by_label("PromQL")).to_have_value("up")  # the demo source's recording
    admin.get_by_role("radio", name="Range").click()
    admin.locator(".os-run-query").click()
    expect(admin.locator(".os-result-summary")).to_contain_text("2 series · matrix")
    expect(admin.locator(".os-metrics-result .js-plotly-plot .scatterlayer .trace")).to_have_count(
        2
    )
    shoot(admin, "metrics")


def test_alerts(admin: Page, as_server: Server) -> None:
    """An Alertmanager notification (recorded) and a rule the evaluator fires on the demo source."""
    parsed = alertmanager.parse(NOTIFICATION.read_bytes())
    with db.session_scope() as session:
        _, events = alertmanager.store(session, parsed)
        if not session.exec(select(AlertRule).where(AlertRule.name == HEARTBEAT.name)).first():
            rules.create_rule(session, HEARTBEAT, actor=_admin_user(session))
    history.publish(events)
    open_page(admin, "/alerts", "Alerts")
    firing = admin.locator(".os-alert").filter(has_text="JustATestAlert_1")
    expect(firing.first.locator(".os-status")).to_have_text("Firing")
    expect(admin.locator(".os-rule").filter(has_text=HEARTBEAT.name)).to_contain_text("up")
    watchdog = admin.locator(".os-alert").filter(has_text=HEARTBEAT.name)
    expect(watchdog.first.locator(".os-status")).to_have_text("Firing", timeout=75000)
    shoot(admin, "alerts")


def test_admin_users_and_teams(admin: Page, as_server: Server) -> None:
    with db.session_scope() as session:
        actor = _admin_user(session)
        team = session.exec(select(Team).where(Team.slug == "sre")).first()
        if team is None:
            team = teams.create_team(session, actor=actor, slug="sre", name="Site reliability")
        teams.assign_repository(session, actor=actor, full_name="demo-org/api", team_id=team.id)
        teams.assign_namespace(
            session, actor=actor, cluster="demo-eks", namespace="scraper", team_id=team.id
        )
    open_page(admin, "/admin", "Admin")
    users = admin.locator("table").first
    expect(users).to_contain_text("admin")
    shoot(admin, "admin-users")

    admin.get_by_role("tab", name="Teams").click()
    expect(admin.get_by_role("tabpanel")).to_contain_text("Site reliability")
    shoot(admin, "admin-teams")


def test_audit_log(admin: Page) -> None:
    open_page(admin, "/audit", "Audit log")
    expect(admin.locator("table")).to_contain_text("team.create")
    expect(admin.locator("table")).to_contain_text("alert_rule.create")
    shoot(admin, "audit")


def test_settings_appearance(admin: Page) -> None:
    open_page(admin, "/settings", "Settings")
    expect(admin.get_by_text("Saved to your account and to this browser.")).to_be_visible()
    expect(admin.locator(".os-preview")).to_have_count(7)
    shoot(admin, "settings")


@pytest.mark.parametrize(
    ("variant", "mode", "path", "title"),
    [
        ("neo-brutalist", "light", "/dora", "DORA"),
        ("cyberpunk", "dark", "/", "Overview"),
        ("glassmorphic", "dark", "/kubernetes", "Kubernetes"),
        ("editorial", "high-contrast", "/pipelines", "Pipelines"),
    ],
)
def test_theme(guest: Page, variant: str, mode: str, path: str, title: str) -> None:
    open_page(guest, path, title)
    choose_variant(guest, variant)
    choose_mode(guest, mode)
    root = guest.locator(".os-root")
    expect(root).to_have_attribute("data-variant", variant)
    expect(root).to_have_attribute("data-mode", mode)
    expect(guest.locator(".os-header")).to_contain_text("read-only")
    shoot(guest, f"theme-{variant}-{mode}")
