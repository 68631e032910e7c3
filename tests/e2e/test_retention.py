"""Admin → History in a real browser, on PostgreSQL: every history table with its monthly
partitions, and a table's retention changed by an admin (stored and audited)."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlmodel import select

from opssight import db
from opssight.models import AuditLog, RetentionSetting
from opssight.models.history import HISTORY
from opssight.services.partitions import month_of
from tests.e2e.conftest import Server
from tests.e2e.test_sign_in import sign_in_as_admin


def test_an_admin_sees_the_partitions_and_sets_a_retention(page: Page, as_server: Server) -> None:
    sign_in_as_admin(page)
    page.get_by_role("tab", name="History").click()
    tables = page.locator(".os-history-tables")
    for history in HISTORY:
        row = tables.locator(f'tr[data-table="{history.name}"]')
        expect(row).to_contain_text(history.label)
        expect(row).to_contain_text(history.rollup.__tablename__)
    this = f"{month_of(datetime.now(UTC)):%Y%m}"
    partitions = page.locator(".os-history-partitions")
    expect(partitions.locator(f'tr[data-partition="workflow_job_p{this}"]')).to_be_visible()
    expect(partitions.locator('tr[data-partition="kube_event_default"]')).to_contain_text("default")

    months = page.get_by_label("Months kept: kube_restart")
    expect(months).to_have_value("13")
    months.fill("6")
    tables.locator('tr[data-table="kube_restart"]').get_by_role("button", name="Save").click()
    expect(page.get_by_text("kube_restart keeps 6 months.")).to_be_visible()
    expect(page.get_by_label("Months kept: kube_restart")).to_have_value("6")
    with db.session_scope() as session:
        setting = session.get(RetentionSetting, "kube_restart")
        assert setting is not None and (setting.months, setting.updated_by) == (6, "admin")
        entry = session.exec(
            select(AuditLog).where(
                AuditLog.action == "retention.set", AuditLog.target_id == "kube_restart"
            )
        ).one()
        assert (entry.actor_login, entry.before, entry.after) == (
            "admin",
            {"months": 13},
            {"months": 6},
        )
