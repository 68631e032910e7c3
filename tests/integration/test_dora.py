"""DORA metrics on small hand-made datasets, on SQLite and PostgreSQL alike.

Every expected figure is worked out by hand in the comments next to the rows. The window
starts on Monday 2026-03-02 (T0); W1, W2, W3 are the calendar weeks starting T0, T0+7d, T0+14d.
Medians are DevLake's lower median: sorted(values)[(n - 1) // 2]. At the end, random datasets
are checked against a plain Python reading of the same rules.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from opssight.config import get_settings
from opssight.models import Deployment, Incident, PullRequest, Repository, WorkflowRun
from opssight.services import dora

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
W1, W2, W3 = date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)
H, D = timedelta(hours=1), timedelta(days=1)

API, WEB, WORKER = 1, 2, 3


def at(days: float, hours: float = 0) -> datetime:
    return T0 + days * D + hours * H


def repos(session: Session) -> None:
    session.add_all(
        [
            Repository(id=API, full_name="acme/api", team="core", default_branch="main"),
            Repository(id=WEB, full_name="acme/web", team="web", default_branch="main"),
            Repository(id=WORKER, full_name="acme/worker", team="core", default_branch="main"),
        ]
    )


def deployment(
    session: Session,
    id_: int,
    repo: int,
    when: datetime,
    *,
    sha: str | None = None,
    production: bool = True,
    succeeded: bool = True,
) -> None:
    session.add(
        Deployment(
            id=id_,
            repo_id=repo,
            sha=sha or f"sha-{id_}",
            ref="main",
            environment="production" if production else "staging",
            production=production,
            created_at=when - 5 * timedelta(minutes=1),
            state="success" if succeeded else "failure",
            state_at=when,
            succeeded_at=when if succeeded else None,
        )
    )


def run(
    session: Session,
    run_id: int,
    attempt: int,
    repo: int,
    when: datetime,
    *,
    conclusion: str = "success",
    name: str = "Deploy",
    status: str = "completed",
) -> None:
    completed = status == "completed"
    session.add(
        WorkflowRun(
            run_id=run_id,
            attempt=attempt,
            repo_id=repo,
            workflow_name=name,
            run_number=run_id,
            event="push",
            status=status,
            conclusion=conclusion if completed else None,
            head_sha=f"run-{run_id}",
            created_at=when - 10 * timedelta(minutes=1),
            updated_at=when,
            completed_at=when if completed else None,
        )
    )


def pull(
    session: Session,
    id_: int,
    repo: int,
    merged: datetime | None,
    *,
    first_commit: datetime | None,
    created: datetime | None = None,
    merge_sha: str | None = None,
    base: str = "main",
) -> None:
    created = created or (first_commit or (merged or T0)) + H
    session.add(
        PullRequest(
            id=id_,
            repo_id=repo,
            number=id_,
            title=f"PR {id_}",
            state="closed" if merged else "open",
            head_sha=f"head-{id_}",
            base_ref=base,
            merge_commit_sha=merge_sha or (f"merge-{id_}" if merged else None),
            created_at=created,
            updated_at=merged or created,
            merged_at=merged,
            first_commit_at=first_commit,
        )
    )


def incident(
    session: Session, id_: int, repo: int | None, opened: datetime, resolved: datetime | None
) -> None:
    session.add(
        Incident(
            id=id_,
            source="test",
            key=f"incident-{id_}",
            repo_id=repo,
            title=f"Incident {id_}",
            created_at=opened,
            resolved_at=resolved,
        )
    )


def report(session: Session, days: int = 21, **scope) -> dora.DoraReport:
    session.flush()
    scope.setdefault("deploy_workflows", [])
    return dora.dora_report(session, start=T0, end=T0 + days * D, **scope)


def trend(metric: dora.Metric) -> list[tuple[date, object]]:
    return [(point.week_start, point.value) for point in metric.trend]


# ---------- deployment frequency ----------


@pytest.fixture
def deploy_days(session: Session) -> Session:
    """W1: 3 deployment days from production deployments; W2 and W3: only deploy workflow runs.

    Not deployments: a staging deployment, a failed production one, those outside the window,
    a run whose latest attempt failed, a run of another workflow, a run still in progress.
    """
    repos(session)
    deployment(session, 101, API, at(0, 10))  # W1 Mon
    deployment(session, 102, API, at(0, 15))  # W1 Mon again: still 1 day
    deployment(session, 103, API, at(1, 9))  # W1 Tue
    deployment(session, 104, API, at(3, 12))  # W1 Thu
    deployment(session, 105, API, at(8, 11), production=False)  # staging
    deployment(session, 106, API, at(15, 11), succeeded=False)  # failed
    deployment(session, 107, API, at(-1))  # before the window
    deployment(session, 108, API, at(21))  # at the end: [start, end) excludes it
    run(session, 504, 1, API, at(9, 16))  # W2 Wed: a deploy run
    run(session, 501, 1, API, at(16, 9), conclusion="failure")  # W3 Wed: failed, then
    run(session, 501, 2, API, at(16, 10))  # re-run: one deployment, ("run", 501)
    run(session, 502, 1, API, at(17, 9))  # W3 Thu: succeeded, but its re-run
    run(session, 502, 2, API, at(17, 11), conclusion="failure")  # (the latest attempt) failed
    run(session, 503, 1, API, at(18, 9), name="CI")  # not a deploy workflow
    run(session, 505, 1, API, at(19, 9))  # W3 Sat: succeeded, but a re-run
    run(session, 505, 2, API, at(19, 10), status="in_progress")  # is still running
    return session


def test_frequency_counts_production_deployment_days_per_week(deploy_days: Session) -> None:
    # Deployment rows only: W1 3 days (Mon, Tue, Thu), W2 0, W3 0 -> sorted [0, 0, 3] -> 0.
    # The one month (March) has 3 deployment days -> median per month 3 >= 1 -> medium.
    frequency = report(deploy_days).deployment_frequency
    assert frequency.value == 0
    assert frequency.level == "medium"
    assert frequency.median_days_per_month == 3
    assert frequency.deployment_days == 3
    assert frequency.unit == "deployment days per week"
    assert trend(frequency) == [(W1, 3), (W2, 0), (W3, 0)]
    assert frequency.rows.deployments == [
        ("deployment", 101),
        ("deployment", 102),
        ("deployment", 103),
        ("deployment", 104),
    ]


def test_frequency_counts_the_latest_attempt_of_deploy_workflow_runs(deploy_days: Session) -> None:
    # Plus runs 504 (W2 Wed) and 501 (W3 Wed, attempt 2 succeeded): W1 3, W2 1, W3 1
    # -> sorted [1, 1, 3] -> 1 -> high (>= 1 deployment day per week).
    frequency = report(deploy_days, deploy_workflows=["Deploy"]).deployment_frequency
    assert frequency.value == 1
    assert frequency.level == "high"
    assert trend(frequency) == [(W1, 3), (W2, 1), (W3, 1)]
    assert frequency.rows.deployments == [
        ("deployment", 101),
        ("deployment", 102),
        ("deployment", 103),
        ("deployment", 104),
        ("run", 501),
        ("run", 504),
    ]


def test_deploy_workflows_default_to_the_settings(
    deploy_days: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSSIGHT_DORA_DEPLOY_WORKFLOWS", "Deploy")
    get_settings.cache_clear()
    deploy_days.flush()
    result = dora.dora_report(deploy_days, start=T0, end=T0 + 21 * D)
    assert result.deploy_workflows == ["Deploy"]
    assert result.deployment_frequency.value == 1


def test_elite_needs_five_deployment_days_in_the_median_week(session: Session) -> None:
    # One week [T0, T0+7d): deployments on Mon..Fri = 5 days -> median 5 -> elite;
    # a second window of Mon..Thu = 4 days -> high.
    repos(session)
    for day in range(5):
        deployment(session, 200 + day, API, at(day, 12))
    assert report(session, days=7).deployment_frequency.level == "elite"
    assert report(session, days=4).deployment_frequency.value == 4
    assert report(session, days=4).deployment_frequency.level == "high"


def test_frequency_below_once_a_month_is_low(session: Session) -> None:
    # 60 days from T0 (Mar 2 - Apr 30): one deployment in March, none in April.
    # Per month [1, 0] -> lower median 0 -> low. Per week: 9 weeks, one with a day -> 0.
    repos(session)
    deployment(session, 300, API, at(3))
    frequency = report(session, days=60).deployment_frequency
    assert (frequency.value, frequency.median_days_per_month, frequency.level) == (0, 0, "low")


# ---------- lead time for changes ----------


@pytest.fixture
def shipped(session: Session) -> Session:
    """Window [T0, T0+14d). Lead times: p2 2d, p3 3d, p4 5d, p8 4d."""
    repos(session)
    deployment(session, 400, API, at(-2, 12))  # before the window
    deployment(session, 401, API, at(1, 12))  # W1 Tue 12:00
    deployment(session, 402, API, at(3, 12), sha="merge-3")  # W1 Thu 12:00, p3's merge commit
    deployment(session, 403, API, at(9, 12))  # W2 Wed 12:00
    deployment(session, 404, API, at(15))  # after the window
    deployment(session, 405, API, at(40), sha="merge-8")  # p8's commit, but 34 days later
    # p1: merged before deployment 400 -> shipped before the window.
    pull(session, 1, API, at(-3), first_commit=at(-5))
    # p2: merged Mon 10:00 -> first deployment at or after: 401 (Tue 12:00).
    #     lead = (T0+1d+12h) - (T0-1d+12h) = 2d.
    pull(session, 2, API, at(0, 10), first_commit=at(-1, 12))
    # p3: merged Tue 08:00; by time 401 would ship it, but 402 carries its merge sha (2 days
    #     later, within 30): lead = (T0+3d+12h) - (T0+12h) = 3d, matched by sha.
    pull(session, 3, API, at(1, 8), first_commit=at(0, 12))
    # p4: merged Sat 00:00, no first commit known: from created_at (Fri 12:00) to 403
    #     (W2 Wed 12:00) = 5d.
    pull(session, 4, API, at(5), first_commit=None, created=at(4, 12))
    # p5: merged after 403, shipped by 404 after the window -> not counted.
    pull(session, 5, API, at(10), first_commit=at(9))
    # p6: merged into a feature branch, its merge commit never deployed -> not shipped.
    pull(session, 6, API, at(2), first_commit=at(1), base="feature-x")
    # p7: never merged.
    pull(session, 7, API, None, first_commit=at(1))
    # p8: its merge sha is deployed 34 days later (beyond 30): by time, 403 ships it.
    #     lead = (T0+9d+12h) - (T0+5d+12h) = 4d.
    pull(session, 8, API, at(6), first_commit=at(5, 12))
    return session


def test_lead_time_is_the_median_from_first_commit_to_deployment(shipped: Session) -> None:
    # [2d, 3d, 4d, 5d] -> 3d -> high (between 1 day and 1 week).
    # Per week of the deployment: W1 p2 2d, p3 3d -> [2d, 3d] -> 2d (the lower median);
    # W2 p4 5d, p8 4d -> [4d, 5d] -> 4d.
    lead = report(shipped, days=14).lead_time
    assert lead.value == timedelta(days=3)
    assert lead.level == "high"
    assert lead.rows.pulls == [2, 3, 4, 8]
    assert trend(lead) == [(W1, timedelta(days=2)), (W2, timedelta(days=4))]


def test_deployed_pulls_list_the_lead_time_rows(shipped: Session) -> None:
    shipped.flush()
    rows = dora.deployed_pulls(shipped, start=T0, end=T0 + 14 * D, deploy_workflows=[])
    summary = [
        (r.id, r.deployment, r.matched_by, r.started_from, r.lead_time, r.deployed_at) for r in rows
    ]
    assert summary == [
        (2, ("deployment", 401), "time", "first_commit", timedelta(days=2), at(1, 12)),
        (3, ("deployment", 402), "sha", "first_commit", timedelta(days=3), at(3, 12)),
        (4, ("deployment", 403), "time", "created", timedelta(days=5), at(9, 12)),
        (8, ("deployment", 403), "time", "first_commit", timedelta(days=4), at(9, 12)),
    ]
    assert rows[2].started_at == at(4, 12)
    assert rows[0].number == 2 and rows[0].title == "PR 2" and rows[0].merged_at == at(0, 10)


def test_a_merge_at_the_very_time_of_a_deployment_ships_with_it(session: Session) -> None:
    # "At or after the merge": merged 12:00:00, deployed 12:00:00 -> shipped by it, lead from
    # the first commit at 10:00 = 2h -> elite (< 1 day). A second deployment later the same
    # day changes nothing.
    repos(session)
    deployment(session, 1, API, at(1, 12))
    deployment(session, 2, API, at(1, 18))
    pull(session, 1, API, at(1, 12), first_commit=at(1, 10))
    lead = report(session, days=7).lead_time
    assert (lead.value, lead.level, lead.rows.pulls) == (2 * H, "elite", [1])
    rows = dora.deployed_pulls(session, start=T0, end=T0 + 7 * D, deploy_workflows=[])
    assert [r.deployment for r in rows] == [("deployment", 1)]


def test_lead_time_reaches_back_to_old_and_first_deployments(session: Session) -> None:
    """Repositories whose previous deployment is older than the 30-day look-back."""
    repos(session)
    # acme/api deployed 60 days before the window, then on T0+1d.
    deployment(session, 600, API, at(-60))
    deployment(session, 601, API, at(1))
    pull(session, 61, API, at(-70), first_commit=at(-71))  # shipped by 600: not counted
    pull(session, 62, API, at(-45), first_commit=at(-46))  # shipped by 601: lead 47d
    # acme/web never deployed before T0+2d: a PR merged 100 days before ships then.
    deployment(session, 610, WEB, at(2))
    pull(session, 63, WEB, at(-100), first_commit=at(-101))  # lead 103d
    # An incident before acme/api's first deployment in the window: caused by 600.
    incident(session, 60, API, at(0, 12), at(0, 13))  # restore = 60d 13h
    result = report(session, days=7)
    # [47d, 103d] -> 47d -> low (a month or more).
    assert result.lead_time.rows.pulls == [62, 63]
    assert (result.lead_time.value, result.lead_time.level) == (timedelta(days=47), "low")
    restore = result.time_to_restore
    assert (restore.value, restore.level) == (timedelta(days=60, hours=13), "low")


# ---------- change failure rate and time to restore ----------


@pytest.fixture
def failures(session: Session) -> Session:
    """Window [T0, T0+14d) on acme/api; incidents are caused by the last deployment strictly
    before them."""
    repos(session)
    deployment(session, 1, API, at(-1))  # before the window
    deployment(session, 2, API, at(1, 10))  # W1
    deployment(session, 3, API, at(2, 10))  # W1
    deployment(session, 4, API, at(8, 10))  # W2
    deployment(session, 5, API, at(10, 10))  # W2
    incident(session, 1, API, at(0, 6), at(0, 8))  # cause 1 (before the window): 32h
    incident(session, 2, API, at(1, 12), at(1, 13))  # cause 2: 3h
    incident(session, 3, API, at(1, 20), None)  # cause 2 again; unresolved
    incident(session, 6, API, at(8, 10), at(8, 11))  # opened at 4's very time: cause 3, 6d1h
    incident(session, 4, API, at(10, 12), at(11, 10))  # cause 5: 24h
    incident(session, 5, API, at(15), at(15, 1))  # after the window, still caused by 5
    incident(session, 7, WEB, at(3), at(3, 2))  # acme/web never deployed: no cause
    incident(session, 8, None, at(4), None)  # no repository at all
    return session


def test_change_failure_rate_counts_deployments_that_caused_incidents(failures: Session) -> None:
    # In the window: 2, 3, 4, 5. Failed: 2 (incidents 2, 3), 3 (6), 5 (4, 5); 4 caused none.
    # 3/4 = 0.75 -> low (> 15%). Per week: W1 2/2 = 1.0, W2 1/2 = 0.5.
    cfr = report(failures, days=14).change_failure_rate
    assert (cfr.value, cfr.level, cfr.failed_count, cfr.total) == (0.75, "low", 3, 4)
    assert trend(cfr) == [(W1, 1.0), (W2, 0.5)]
    assert cfr.rows.deployments == [("deployment", n) for n in (2, 3, 4, 5)]
    assert cfr.failed.deployments == [("deployment", n) for n in (2, 3, 5)]
    assert cfr.failed.incidents == [2, 3, 4, 5, 6]


def test_time_to_restore_is_the_median_from_deployment_to_resolution(failures: Session) -> None:
    # Opened in the window, resolved, with a cause: 1 32h, 2 3h, 6 6d1h, 4 24h
    # -> sorted [3h, 24h, 32h, 145h] -> 24h -> medium (a day is not less than a day).
    # Per week opened: W1 [3h, 32h] -> 3h; W2 [24h, 145h] -> 24h.
    restore = report(failures, days=14).time_to_restore
    assert (restore.value, restore.level) == (timedelta(hours=24), "medium")
    assert trend(restore) == [(W1, timedelta(hours=3)), (W2, timedelta(hours=24))]
    assert restore.rows.incidents == [1, 2, 3, 4, 6, 7, 8]
    assert restore.unresolved == [3, 8]
    assert restore.without_cause == [7]


def test_incidents_in_lists_causes_and_why_some_are_not_measured(failures: Session) -> None:
    failures.flush()
    rows = dora.incidents_in(failures, start=T0, end=T0 + 14 * D, deploy_workflows=[])
    summary = [(r.id, r.caused_by, r.time_to_restore, r.note) for r in rows]
    assert summary == [
        (1, ("deployment", 1), timedelta(hours=32), None),
        (2, ("deployment", 2), timedelta(hours=3), None),
        (3, ("deployment", 2), None, "unresolved"),
        (7, None, None, "no deployment of its repository before it"),
        (8, None, None, "no repository: cannot be attributed to a deployment"),
        (6, ("deployment", 3), timedelta(days=6, hours=1), None),
        (4, ("deployment", 5), timedelta(hours=24), None),
    ]
    assert rows[0].deployed_at == at(-1) and rows[0].title == "Incident 1"


def test_deployments_in_lists_the_incidents_each_caused(failures: Session) -> None:
    failures.flush()
    rows = dora.deployments_in(failures, start=T0, end=T0 + 14 * D, deploy_workflows=[])
    assert [(r.ref, r.at, r.incidents) for r in rows] == [
        (("deployment", 2), at(1, 10), [2, 3]),
        (("deployment", 3), at(2, 10), [6]),
        (("deployment", 4), at(8, 10), []),
        (("deployment", 5), at(10, 10), [4, 5]),
    ]
    assert rows[0].sha == "sha-2" and rows[0].repo_id == API


def test_a_team_sees_only_its_incidents(failures: Session) -> None:
    # core = acme/api + acme/worker: incidents 7 (acme/web) and 8 (no repository) drop out.
    restore = report(failures, days=14, team="core").time_to_restore
    assert restore.rows.incidents == [1, 2, 3, 4, 6]
    assert (restore.unresolved, restore.without_cause) == ([3], [])
    assert restore.value == timedelta(hours=24)


def test_failure_rate_is_unknown_while_no_incident_was_ever_recorded(session: Session) -> None:
    repos(session)
    deployment(session, 1, API, at(1))
    cfr = report(session, days=7).change_failure_rate
    assert cfr.value is None and cfr.level is None
    assert cfr.reason == "no incident was ever recorded: is an incident source connected?"
    assert (cfr.failed_count, cfr.total) == (0, 1)


# ---------- scope ----------


@pytest.fixture
def three_repos(session: Session) -> Session:
    repos(session)
    deployment(session, 1, API, at(0, 9))  # W1 Mon
    deployment(session, 2, API, at(1, 9))  # W1 Tue
    deployment(session, 3, WEB, at(0, 15))  # W1 Mon
    deployment(session, 4, WEB, at(7, 9))  # W2 Mon
    deployment(session, 5, WORKER, at(9, 9))  # W2 Wed
    run(session, 70, 1, WEB, at(18))  # W3 Fri, acme/web's Deploy
    run(session, 71, 1, API, at(17))  # W3 Thu, acme/api's Deploy
    return session


def test_team_and_repository_filters(three_repos: Session) -> None:
    # core (api + worker): W1 Mon, Tue; W2 Wed; W3 none -> [2, 1, 0] -> 1.
    core = report(three_repos, team="core").deployment_frequency
    assert (core.value, trend(core)) == (1, [(W1, 2), (W2, 1), (W3, 0)])
    assert core.rows.deployments == [("deployment", 1), ("deployment", 2), ("deployment", 5)]
    # acme/web alone: W1 Mon, W2 Mon -> [1, 1, 0] -> 1.
    web = report(three_repos, repo_ids=[WEB]).deployment_frequency
    assert (web.value, web.rows.deployments) == (1, [("deployment", 3), ("deployment", 4)])
    # Both filters intersect: core AND (api, web) = api: [2, 0, 0] -> 0.
    both = report(three_repos, team="core", repo_ids=[API, WEB]).deployment_frequency
    assert (both.value, both.rows.deployments) == (0, [("deployment", 1), ("deployment", 2)])


def test_a_deploy_workflow_can_be_named_for_one_repository(three_repos: Session) -> None:
    # Everything, with acme/web's "Deploy" runs only: W1 Mon, Tue; W2 Mon, Wed; W3 Fri (run 70;
    # acme/api's run 71 is not a deployment) -> [2, 2, 1] -> 2.
    frequency = report(three_repos, deploy_workflows=["acme/web:Deploy"]).deployment_frequency
    assert (frequency.value, trend(frequency)) == (2, [(W1, 2), (W2, 2), (W3, 1)])
    assert ("run", 70) in frequency.rows.deployments
    assert ("run", 71) not in frequency.rows.deployments


def test_a_scope_without_repositories_has_no_values(three_repos: Session) -> None:
    result = report(three_repos, team="nobody")
    for metric in (
        result.deployment_frequency,
        result.lead_time,
        result.change_failure_rate,
        result.time_to_restore,
    ):
        assert metric.value is None and metric.level is None
        assert metric.reason == "no repository in this scope"
    assert dora.deployments_in(three_repos, start=T0, end=T0 + D, team="nobody") == []


def test_an_empty_window_has_no_values_and_says_why(three_repos: Session) -> None:
    three_repos.flush()
    result = dora.dora_report(three_repos, start=at(100), end=at(114), deploy_workflows=[])
    frequency = result.deployment_frequency
    assert (frequency.value, frequency.reason) == (None, "no deployments in the window")
    assert [point.value for point in frequency.trend] == [0, 0, 0]  # 3 weeks overlap the window
    assert result.lead_time.value is None
    assert result.lead_time.reason == (
        "no merged pull request was shipped by a deployment in the window"
    )
    assert result.change_failure_rate.reason == "no deployments in the window"
    assert result.time_to_restore.reason == "no incident opened in the window"
    assert [point.value for point in result.time_to_restore.trend] == [None, None, None]


def test_naive_datetimes_and_empty_windows_are_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        dora.dora_report(session, start=datetime(2026, 3, 2), end=T0 + D, deploy_workflows=[])
    with pytest.raises(ValueError, match="before end"):
        dora.dora_report(session, start=T0, end=T0, deploy_workflows=[])


# ---------- the rules themselves ----------


def test_median_and_levels_follow_devlake() -> None:
    assert dora.median([3, 1, 0]) == 1
    assert dora.median([4, 1, 3, 2]) == 2  # the lower of the two middle values
    assert dora.frequency_level(5, 0) == "elite"
    assert dora.frequency_level(4, 20) == "high"
    assert dora.frequency_level(0, 1) == "medium"
    assert dora.frequency_level(0, 0) == "low"
    assert dora.lead_time_level(D - timedelta(seconds=1)) == "elite"
    assert dora.lead_time_level(7 * D) == "medium"
    assert dora.lead_time_level(30 * D) == "low"
    assert [dora.failure_rate_level(r) for r in (0.05, 0.1, 0.15, 0.16)] == [
        "elite",
        "high",
        "medium",
        "low",
    ]
    assert dora.restore_level(H - timedelta(seconds=1)) == "elite"
    assert dora.restore_level(H) == "high"
    assert dora.restore_level(7 * D) == "low"


# ---------- the SQL against a plain Python reading of the rules, on random data ----------


def reference(
    deployments: list[tuple[str, int, int, datetime, str]],
    pulls: list[tuple[int, int, datetime, datetime, str, str]],
    incidents: list[tuple[int, int, datetime, datetime | None]],
    start: datetime,
    end: datetime,
) -> dict[str, object]:
    """deployments: (kind, id, repo, at, sha); pulls: (id, repo, merged, started, sha, base);
    incidents: (id, repo, opened, resolved). Whole seconds throughout."""
    order = sorted(deployments, key=lambda d: (d[2], d[3], d[0] == "run", d[1]))
    window = [d for d in order if start <= d[3] < end]

    def cause(repo: int, opened: datetime):
        before = [d for d in order if d[2] == repo and d[3] < opened]
        return before[-1] if before else None

    def shipped(repo: int, merged: datetime, sha: str, base: str):
        after = [d for d in order if d[2] == repo and d[3] >= merged]
        by_sha = [d for d in after if d[4] == sha and d[3] - merged < 30 * D]
        return by_sha[0] if by_sha else (after[0] if after and base == "main" else None)

    causes = {i[0]: cause(i[1], i[2]) for i in incidents}
    failed = {c[:2] for c in causes.values() if c is not None and start <= c[3] < end}
    leads = {}
    for pull_id, repo, merged, started, sha, base in pulls:
        d = shipped(repo, merged, sha, base)
        if d is not None and start <= d[3] < end:
            leads[pull_id] = d[3] - started
    opened = [i for i in incidents if start <= i[2] < end]
    restores = [i[3] - causes[i[0]][3] for i in opened if i[3] and causes[i[0]]]
    weeks = [start.date() + timedelta(days=7 * w) for w in range(4)]  # start is a Monday
    days = {d[3].date() for d in window}
    return {
        "frequency": dora.median([sum(w <= day < w + 7 * D for day in days) for w in weeks]),
        "deployments": sorted(d[:2] for d in window),
        "failed": sorted(failed),
        "rate": len(failed) / len(window) if window else None,
        "pulls": sorted(leads),
        "lead": dora.median(list(leads.values())) if leads else None,
        "restore": dora.median(restores) if restores else None,
        "unresolved": sorted(i[0] for i in opened if i[3] is None),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_report_matches_a_plain_reading_of_the_rules(session: Session, seed: int) -> None:
    rng = random.Random(seed)
    repos(session)
    start, end = T0, T0 + 28 * D

    def moment(low: float, high: float) -> datetime:  # whole minutes, so ties happen
        return T0 + timedelta(minutes=rng.randrange(int(low * 1440), int(high * 1440)))

    deployments, pulls, incidents = [], [], []
    for id_ in range(1, 61):
        # acme/api deploys all along; acme/web only from the window on (never before it);
        # acme/worker long before it (beyond the 30-day look-back) and in it
        repo = rng.choice([API, API, WEB, WORKER])
        span = {API: (-120, 40), WEB: (0, 40), WORKER: rng.choice([(-120, -40), (0, 40)])}
        when = moment(*span[repo])
        production, succeeded = rng.random() < 0.85, rng.random() < 0.9
        sha = f"merge-{rng.randrange(1, 61)}" if rng.random() < 0.3 else f"sha-{id_}"
        deployment(session, id_, repo, when, sha=sha, production=production, succeeded=succeeded)
        if production and succeeded:
            deployments.append(("deployment", id_, repo, when, sha))
    for run_id in range(1, 21):
        repo, when = API, moment(-60, 40)
        attempts = rng.choice([1, 1, 2])
        for attempt in range(1, attempts + 1):
            conclusion = rng.choice(["success", "success", "failure"])
            run(session, run_id, attempt, repo, when + attempt * H, conclusion=conclusion)
        if conclusion == "success":
            deployments.append(("run", run_id, repo, when + attempts * H, f"run-{run_id}"))
    for id_ in range(1, 61):
        repo = rng.choice([API, WEB, WORKER])
        merged = rng.choice([d[3] for d in deployments]) if rng.random() < 0.1 else moment(-150, 30)
        first = merged - timedelta(minutes=rng.randrange(1, 20000)) if rng.random() < 0.8 else None
        created = merged - timedelta(minutes=rng.randrange(1, 3000))
        base = "main" if rng.random() < 0.9 else "release"
        pull(session, id_, repo, merged, first_commit=first, created=created, base=base)
        pulls.append((id_, repo, merged, first or created, f"merge-{id_}", base))
    for id_ in range(1, 26):
        repo = rng.choice([API, WEB, WORKER])
        opened = rng.choice([d[3] for d in deployments]) if rng.random() < 0.2 else moment(-5, 35)
        resolved = (
            opened + timedelta(minutes=rng.randrange(1, 5000)) if rng.random() < 0.8 else None
        )
        incident(session, id_, repo, opened, resolved)
        incidents.append((id_, repo, opened, resolved))

    expected = reference(deployments, pulls, incidents, start, end)
    assert expected["failed"] and expected["pulls"] and expected["restore"]  # the data bites
    result = report(session, days=28, deploy_workflows=["Deploy"])
    assert result.deployment_frequency.value == (
        expected["frequency"] if expected["deployments"] else None
    )
    assert result.deployment_frequency.rows.deployments == expected["deployments"]
    assert result.change_failure_rate.failed.deployments == expected["failed"]
    assert result.change_failure_rate.value == expected["rate"]
    assert result.lead_time.rows.pulls == expected["pulls"]
    assert result.lead_time.value == expected["lead"]
    assert result.time_to_restore.value == expected["restore"]
    assert result.time_to_restore.unresolved == expected["unresolved"]
