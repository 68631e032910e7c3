"""Settings → Connections in a browser: an admin adds a GitHub connection pointed at the
replay server, tests it, saves it, and the repository's runs appear; the token is stored as
ciphertext only; what the server's environment configures is listed read-only, naming its
variables and none of its secrets; an uploaded kubeconfig's contexts are offered to pick; a
viewer is refused the page (its handlers are refused in test_forged_events)."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import text

from opssight import db
from tests.ansible_run import TOKEN as ANSIBLE_TOKEN
from tests.e2e.conftest import SECRET_KEY, WEBHOOK_SECRET, Server, wait_hydrated
from tests.e2e.test_sign_in import sign_in_as_admin, sign_in_with_github
from tests.replay.github import TOKEN, GitHubReplay
from tests.replay.kubernetes import write_kubeconfig


def _runs_of(repo: str) -> int:
    with db.session_scope() as session:
        query = text(
            "SELECT count(*) FROM workflow_run r JOIN repository p ON p.id = r.repo_id "
            "WHERE p.full_name = :repo"
        )
        return session.execute(query, {"repo": repo}).scalar() or 0


def test_an_admin_connects_github_and_its_runs_appear(page: Page, as_server: Server):
    repo = f"e2e-org/connected-{uuid.uuid4().hex[:6]}"
    with GitHubReplay() as replay:
        # older than the demo's history (3 days here): the demo runs stay the newest for the
        # other tests of this server
        replay.add_repo(repo, runs=3, first_created=datetime.now(UTC) - timedelta(days=4))
        sign_in_as_admin(page)
        page.goto("/settings/connections")
        wait_hydrated(page)
        page.get_by_role("button", name="Add GitHub").click()
        form = page.locator("#connection-form")
        expect(form).to_be_visible()
        form.locator("#conn-api_url").fill(replay.url)
        form.locator("#conn-repositories").fill(repo)
        form.locator("#conn-token").fill("ghp_not-the-right-token")
        form.get_by_role("button", name="Test connection").click()
        expect(page.locator("#connection-failure")).to_contain_text("Bad credentials")
        form.locator("#conn-token").fill(TOKEN)
        form.get_by_role("button", name="Test connection").click()
        expect(page.locator("#connection-result")).to_have_text(
            re.compile(r"1 repository, \d+ workflows?, rate limit [\d,]+/5,000")
        )
        with db.session_scope() as session:  # tested, not saved
            assert session.execute(text("SELECT count(*) FROM connection")).scalar() == 0
        form.get_by_role("button", name="Save").click()
        row = page.locator("#connections-table tr[data-kind=github][data-origin=settings]")
        expect(row).to_contain_text("token ••••")
        expect(row).not_to_contain_text(TOKEN)
        with db.session_scope() as session:
            settings, secrets = session.execute(
                text("SELECT settings, secrets FROM connection WHERE kind = 'github'")
            ).one()
        assert TOKEN not in str(settings) and TOKEN not in secrets
        expect(row).to_contain_text("enabled")
        deadline = time.monotonic() + 60  # the sync job starts within seconds of the save
        while time.monotonic() < deadline and not _runs_of(repo):
            time.sleep(1)
        assert _runs_of(repo) == 3
        page.goto(f"/pipelines?repo={repo}")
        wait_hydrated(page)
        expect(page.locator(".os-run-row")).to_have_count(3)
        page.goto("/settings/connections")
        wait_hydrated(page)
        row.get_by_role("button", name="Delete").click()
        expect(row).to_have_count(0)
    assert TOKEN not in as_server.log.read_text()  # never logged


def test_a_viewer_is_refused_the_page(page: Page, as_server: Server):
    sign_in_with_github(page, as_server)
    page.goto("/settings/connections")
    wait_hydrated(page)
    expect(page.locator(".os-not-allowed")).to_be_visible()
    expect(page.locator("#connection-form")).to_have_count(0)


def test_a_kubeconfig_file_is_read_in_the_browser_and_tested(page: Page, as_server: Server):
    sign_in_as_admin(page)
    page.goto("/settings/connections?add=kubernetes")
    wait_hydrated(page)
    form = page.locator("#connection-form")
    form.locator("#kubeconfig-file").set_input_files(as_server.env["OPSSIGHT_KUBECONFIG"])
    expect(form.locator("#conn-kubeconfig")).to_have_value(re.compile("contexts:"))
    form.get_by_role("button", name="Test connection").click()
    nodes = len(as_server.cluster.objects("nodes"))
    noun = "node" if nodes == 1 else "nodes"
    expect(page.locator("#connection-result")).to_have_text(f"1 context, {nodes} {noun}")


def test_what_the_environment_configures_is_listed_read_only(page: Page, as_server: Server):
    sign_in_as_admin(page)
    page.goto("/settings/connections")
    wait_hydrated(page)
    table = page.locator("#connections-table")
    kubernetes = table.locator("tr[data-origin=environment][data-kind=kubernetes]")
    expect(kubernetes).to_contain_text(f"kubeconfig {as_server.env['OPSSIGHT_KUBECONFIG']}")
    expect(kubernetes).to_contain_text("every context (replay)")
    expect(kubernetes).to_contain_text("Read-only: OPSSIGHT_KUBECONFIG")
    github = table.locator("tr[data-origin=environment][data-kind=github]")
    expect(github).to_contain_text("Webhooks only")
    expect(github).to_contain_text("webhook_secret ••••")
    expect(github).to_contain_text("OPSSIGHT_GITHUB_WEBHOOK_SECRET")
    ansible = table.locator("tr[data-origin=environment][data-kind=ansible]")
    expect(ansible).to_contain_text("OPSSIGHT_ANSIBLE_TOKEN")
    for row in (kubernetes, github, ansible):  # no edit, enable or delete: a badge instead
        expect(row.locator(".os-env-badge")).to_have_text("Set by environment")
        expect(row.get_by_role("button")).to_have_count(0)
        expect(row.get_by_role("switch")).to_have_count(0)
    kubernetes.locator(".os-env-badge").hover()
    expect(page.get_by_role("tooltip")).to_contain_text("Set by OPSSIGHT_KUBECONFIG")
    expect(page.locator("#connections-empty")).to_have_count(0)
    shown = page.content()
    for secret in (WEBHOOK_SECRET, ANSIBLE_TOKEN, SECRET_KEY, as_server.cluster.token):
        assert secret not in shown


def test_an_uploaded_kubeconfig_offers_its_contexts(page: Page, as_server: Server, tmp_path: Path):
    both = {"replay": as_server.cluster, "second": as_server.cluster}
    kubeconfig = write_kubeconfig(tmp_path / "two-contexts.yaml", both, current="replay")
    nodes = len(as_server.cluster.objects("nodes"))
    sign_in_as_admin(page)
    page.goto("/settings/connections?add=kubernetes")
    wait_hydrated(page)
    form = page.locator("#connection-form")
    form.locator("#conn-kubeconfig").fill("contexts: [oops")  # pasted, then left: parsed
    form.locator("#conn-kubeconfig").blur()
    expect(form.locator("#kube-error")).to_contain_text("not valid YAML (line 1")
    form.locator("#kubeconfig-file").set_input_files(kubeconfig)
    expect(form.locator("#kube-error")).to_have_count(0)
    replay = form.locator(".os-kube-context[data-context=replay]")
    second = form.locator(".os-kube-context[data-context=second]")
    expect(form.locator(".os-kube-context")).to_have_count(2)
    expect(replay).to_be_checked()  # the current-context
    expect(second).not_to_be_checked()
    expect(form.locator("#kube-contexts")).to_contain_text("replay (current-context)")
    form.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("1 context, ")
    second.click()
    expect(second).to_be_checked()
    form.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_have_text(f"2 contexts, {2 * nodes} nodes")
    replay.click()
    second.click()
    form.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-failure")).to_contain_text("pick at least one context")
    form.locator(".os-kube-every").click()
    expect(replay).to_be_disabled()
    expect(second).to_be_checked()
    form.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_have_text(f"2 contexts, {2 * nodes} nodes")
