"""The user guide's screenshots (docs/images/*.png), taken from the running app.

Each test opens a real page, checks what a person would see there, then saves the picture at a
fixed viewport. Regenerate them all with:
``flock /tmp/e2e.lock .venv/bin/python -m pytest tests/e2e/test_user_guide.py``
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlmodel import select

from opssight import db
from opssight.models import AlertRule, NotificationPolicy, Team, User
from opssight.schemas.alerting import RuleForm
from opssight.services import teams
from opssight.services.alerting import policies, rules
from tests.e2e.conftest import Server, wait_hydrated
from tests.e2e.test_sign_in import sign_in_as_admin
from tests.e2e.test_themes import choose_mode, choose_variant
from tests.integration.test_notifications import Receiver
from tests.support import ROOT

IMAGES = ROOT / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 800}
HEARTBEAT = RuleForm(
    name="Watchdog",
    expr="up",
    severity="info",
    annotations={"summary": "{{ $labels.job }} at {{ $labels.instance }}: up = {{ $value }}"},
)
CRASHING_POD = "e2e-container-creating"  # the demo cluster's recorded CrashLoopBackOff pod
CONTACT_POINT = "on-call"
POLICY = "info alerts to on-call"


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


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """Where the guide's webhook contact point delivers (a local HTTP server)."""
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def guest(browser: Browser, server: Server) -> Iterator[Page]:
    """A visitor who has not signed in (theme choices stay in this browser)."""
    context = _context(browser, server)
    yield context.new_page()
    context.close()


def shoot(page: Page, name: str, part: Locator | None = None) -> None:
    """Save docs/images/<name>.png once the page is quiet: the viewport, or one part of it."""
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=10000)  # toasts gone
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


def test_automation_and_a_run(admin: Page) -> None:
    open_page(admin, "/automation", "Automation")
    run = admin.locator(".os-automation-run").first
    expect(run).to_be_visible(timeout=15000)  # the demo's recorded callback runs
    expect(run.locator(".os-status")).to_have_text(re.compile("^(ok|failed|running)$"))
    shoot(admin, "automation")

    run.locator(".os-open-run").click()
    detail = admin.locator(".os-automation-detail")
    expect(detail.locator(".os-matrix-task").first).to_be_visible(timeout=15000)
    expect(detail.locator(".os-matrix-cell").first).to_have_attribute(
        "data-status", re.compile(".")
    )
    shoot(admin, "automation-run")


def test_timeline(admin: Page) -> None:
    open_page(admin, "/timeline", "Timeline")
    entries = admin.locator(".os-timeline-entry")
    expect(entries.first).to_be_visible(timeout=15000)
    expect(admin.locator('.os-timeline-entry[data-kind="ansible"]').first).to_be_visible()
    shoot(admin, "timeline")


def test_alerts(admin: Page, as_server: Server) -> None:
    """The demo's Alertmanager alerts beside a rule the evaluator fires on the demo source."""
    with db.session_scope() as session:
        if not session.exec(select(AlertRule).where(AlertRule.name == HEARTBEAT.name)).first():
            rules.create_rule(session, HEARTBEAT, actor=_admin_user(session))
    open_page(admin, "/alerts", "Alerts")
    expect(admin.locator(".os-alert").filter(has_text="JustATestAlert_1").first).to_be_visible()
    expect(admin.locator(".os-rule").filter(has_text=HEARTBEAT.name)).to_contain_text("up")
    watchdog = admin.locator(".os-alert").filter(has_text=HEARTBEAT.name)
    expect(watchdog.first.locator(".os-status")).to_have_text("Firing", timeout=75000)
    shoot(admin, "alerts")


def test_connections(admin: Page, receiver: Receiver) -> None:
    """Settings → Connections: the GitHub form, then a webhook contact point saved."""
    open_page(admin, "/settings/connections", "Connections")
    admin.get_by_role("button", name="Add GitHub").click()
    form = admin.locator("#connection-form")
    expect(form.locator("#conn-api_url")).to_be_visible()
    expect(form.get_by_role("button", name="Test connection")).to_be_visible()
    shoot(admin, "connections-github")
    form.get_by_role("button", name="Cancel").click()

    admin.get_by_role("button", name="Add Contact point").click()
    form.locator("#conn-name").fill(CONTACT_POINT)
    form.locator("#conn-kind").select_option("webhook")
    form.locator("#conn-url").fill(f"{receiver.url}/hook")
    form.get_by_role("button", name="Save").click()
    point = admin.locator("#contact-points-table tr").filter(has_text=CONTACT_POINT)
    expect(point).to_contain_text("webhook")
    expect(point).not_to_contain_text("/hook")  # the URL is a secret: only its host is shown
    expect(admin.locator("#connections-table")).to_be_visible()
    shoot(admin, "connections")


def test_notification_policy(admin: Page, as_server: Server, receiver: Receiver) -> None:
    """A policy made in the form sends the firing info alerts to the contact point."""
    open_page(admin, "/alerts", "Alerts")
    admin.locator(".os-tab-notify").click()
    admin.locator(".os-new-policy").click()
    admin.get_by_label("Policy name").fill(POLICY)
    admin.get_by_label("Matchers").fill("severity=info")
    admin.get_by_label("Contact point", exact=True).click()
    admin.get_by_role("option", name=f"{CONTACT_POINT} (webhook)").click()
    admin.get_by_label("Group by").fill("alertname")
    admin.get_by_label("Group wait").fill("0s")
    admin.locator(".os-save-policy").click()
    try:
        expect(admin.locator(".os-policy").filter(has_text=POLICY)).to_contain_text(CONTACT_POINT)
        sent = admin.locator(".os-delivery").filter(has_text=POLICY).locator(".os-status")
        expect(sent.first).to_have_text("sent", timeout=30000)
        assert receiver.got("/hook")[0]["policy"] == POLICY
        shoot(admin, "notifications")
    finally:
        with db.session_scope() as session:
            made = session.exec(
                select(NotificationPolicy).where(NotificationPolicy.name == POLICY)
            ).first()
            if made is not None:  # nothing more is sent once the guide is done
                policies.delete_policy(session, made.id, actor=_admin_user(session))


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
