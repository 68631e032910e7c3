"""DORA metrics: deployment frequency, lead time for changes, change failure rate and failed
deployment recovery time ("time to restore"), per repository, per team or for everything.

Definitions and levels follow Apache DevLake's DORA dashboard with the 2023 benchmarks:

- https://devlake.apache.org/docs/Metrics/DeploymentFrequency: frequency counts *deployment
  days*, not deployments. Level: median deployment days per week >= 5 elite ("on-demand"),
  >= 1 high, else median deployment days per month >= 1 medium, else low.
- https://devlake.apache.org/docs/Metrics/LeadTimeForChanges: median PR cycle time (deployment
  finished minus the PR's first commit) of the PRs deployed by deployments finished in the window.
  Level: < 1 day elite, < 7 days high, < 30 days medium, else low.
- https://devlake.apache.org/docs/Metrics/CFR: deployments that caused at least one incident
  divided by deployments. Level: <= 5% elite, <= 10% high, <= 15% medium, else low.
- https://devlake.apache.org/docs/Metrics/FailedDeploymentRecoveryTime: from the deployment to the
  resolution of the incident it caused. Level: < 1 hour elite, < 1 day high, < 7 days medium,
  else low.
- The thresholds and the median rule are those of the "Overall DORA Metrics" panel SQL in
  apache/devlake ``grafana/dashboards/DORA.json`` (2023 report). Older versions of that dashboard
  and its panel description say ">= 7" deployment days per week for elite; the current SQL and
  docs say ">= 5", which we use. DevLake's median is the largest value whose ``percent_rank()``
  is <= 0.5, i.e. the *lower* median ``sorted(values)[(n - 1) // 2]``, always an observed
  value; we use it for every median and trend.

What we count (we have no commit ancestry, so two rules approximate DevLake's commit diffs):

- A *deployment* is a ``Deployment`` row with ``production`` that succeeded (its time is
  ``succeeded_at``, its first success), or a run of a configured deploy workflow
  (``Settings.deploy_workflows``: ``"Deploy"`` matches that workflow name in every repository,
  ``"owner/repo:Deploy"`` in that repository only; a report for other ones rebuilds the links) whose *latest* attempt completed with
  ``success`` (its time is ``completed_at``, its sha ``head_sha``): a re-run that succeeds is one
  deployment, a run whose latest attempt failed or is still running is none. Refs:
  ``("deployment", id)`` and ``("run", run_id)``. Both kinds count: for a repository whose deploy
  workflow also creates GitHub deployments, configure only one of them (no de-duplication).
- Deployment frequency: deployment days (UTC) in each calendar week (Monday start) overlapping
  ``[start, end)``, 0 for weeks without any (edge weeks count only their days in the window, as
  in DevLake); the value is the median over those weeks, the trend the count per week.
- Lead time: a merged PR is shipped by the first deployment of its repository at or after the
  merge whose sha is the PR's ``merge_commit_sha``, if there is one within ``SHA_MATCH_DAYS`` of
  the merge; otherwise (PRs into the repository's default branch only) by the first deployment
  at or after ``merged_at``. Its lead time runs from ``first_commit_at`` (``created_at`` when
  unknown; the drill-down says which) to that deployment. The median is over the PRs shipped by
  deployments in the window.
- Change failure rate: an incident is caused by the last deployment of its repository strictly
  before the incident was opened (it was opened after that deployment and no later than the
  next one). A deployment in the window failed if it caused an incident, opened at any time
  after it, even after the window. As in DevLake, the rate is unknown (None) while no incident
  was ever recorded, rather than a flattering 0% from an unconnected source.
- Time to restore: the median, over incidents opened in the window that are resolved and have
  a cause, of ``resolved_at`` minus the causing deployment's time. Unresolved incidents and
  incidents without a cause are listed but not in the median. DevLake picks incidents by
  resolution date; we pick them by opening date so that one list serves the page.
- Times are compared in whole seconds; days and weeks are UTC. Scope: ``repo_ids``, a ``team``
  (``Repository.team``) or both (intersection); with neither, everything, including incidents
  without a repository (listed, never attributed).

Where the work is done: the links (which deployments count, the deployment that shipped each
merged PR, the one that caused each incident) are materialized at ingest by
``services.dora_links``, in the writer's transaction. A report reads ranges of those narrow
tables: one SQL statement (SQLite and PostgreSQL) returns, per UTC day, counts and the ids and
seconds behind them as comma-joined text; Python parses them, takes medians and buckets days
into weeks (bench/dora.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement, Select
from sqlmodel import Session

from opssight.models import DoraCause, DoraChange, DoraDeployment, Incident, PullRequest, Repository
from opssight.services import dora_links
from opssight.services.dora_links import DAY, DEPLOYMENT, RUN, epoch

Level = Literal["elite", "high", "medium", "low"]
DeploymentRef = tuple[Literal["deployment", "run"], int]
V = TypeVar("V")

# ---------- results ----------


class Rows(BaseModel):
    """Ids of the rows a figure is computed from, for its drill-down list."""

    deployment_ids: list[int] = []
    """``Deployment.id`` of production deployments."""
    run_ids: list[int] = []
    """``WorkflowRun.run_id`` of deploy workflow runs."""
    pulls: list[int] = []
    incidents: list[int] = []

    @property
    def deployments(self) -> list[DeploymentRef]:
        """``("deployment", id)`` and ``("run", run_id)`` refs (stored as two id lists: a year
        of deployments is ~100k refs)."""
        return [("deployment", i) for i in self.deployment_ids] + [("run", i) for i in self.run_ids]


def _rows(
    deployments: tuple[list[int], list[int]] = ([], []),
    pulls: list[int] | None = None,
    incidents: list[int] | None = None,
) -> Rows:
    """Without validation: the ids come from the database."""
    return Rows.model_construct(
        deployment_ids=deployments[0],
        run_ids=deployments[1],
        pulls=pulls or [],
        incidents=incidents or [],
    )


class TrendPoint(BaseModel, Generic[V]):
    week_start: date
    value: V | None


class Metric(BaseModel, Generic[V]):
    value: V | None
    unit: str
    level: Level | None
    reason: str | None = None
    """Why ``value`` is None."""
    rows: Rows
    trend: list[TrendPoint[V]]


class DeploymentFrequency(Metric[int]):
    """``value``: the median number of deployment days per week; ``rows.deployments``: every
    deployment in the window."""

    median_days_per_month: int | None = None
    deployment_days: int = 0


class LeadTime(Metric[timedelta]):
    """``rows.pulls``: the PRs shipped by deployments in the window."""


class ChangeFailureRate(Metric[float]):
    """``value``: failed / total; ``rows.deployments``: the deployments in the window (the
    denominator); ``failed``: those that caused an incident, and the incidents they caused."""

    failed: Rows
    failed_count: int = 0
    total: int = 0


class TimeToRestore(Metric[timedelta]):
    """``rows.incidents``: every incident opened in the window, also those not in the median:
    ``unresolved`` and ``without_cause`` (no earlier deployment of their repository, or none)."""

    unresolved: list[int] = []
    without_cause: list[int] = []


class DoraReport(BaseModel):
    start: datetime
    end: datetime
    repo_ids: list[int] | None
    team: str | None
    deploy_workflows: list[str]
    deployment_frequency: DeploymentFrequency
    lead_time: LeadTime
    change_failure_rate: ChangeFailureRate
    time_to_restore: TimeToRestore


class DeploymentRow(BaseModel):
    ref: DeploymentRef
    repo_id: int
    at: datetime
    sha: str
    incidents: list[int]
    """The incidents it caused: not empty for a failed deployment."""


class DeployedPull(BaseModel):
    id: int
    repo_id: int
    number: int
    title: str
    merged_at: datetime
    started_at: datetime
    started_from: Literal["first_commit", "created"]
    deployment: DeploymentRef
    deployed_at: datetime
    matched_by: Literal["sha", "time"]
    lead_time: timedelta


class IncidentRow(BaseModel):
    id: int
    repo_id: int | None
    title: str
    created_at: datetime
    resolved_at: datetime | None
    caused_by: DeploymentRef | None
    deployed_at: datetime | None
    time_to_restore: timedelta | None
    note: str | None
    """Why it is not in the time-to-restore median, when it is not."""


# ---------- the one median and the levels (DevLake, 2023 benchmarks) ----------


def median(values: Sequence[V]) -> V:
    """DevLake's median: the largest value whose percent_rank() <= 0.5 (the lower median)."""
    return sorted(values)[(len(values) - 1) // 2]  # type: ignore[type-var]


def frequency_level(week_median: int, month_median: int) -> Level:
    if week_median >= 5:
        return "elite"
    if week_median >= 1:
        return "high"
    return "medium" if month_median >= 1 else "low"


def lead_time_level(value: timedelta) -> Level:
    if value < timedelta(days=1):
        return "elite"
    if value < timedelta(days=7):
        return "high"
    return "medium" if value < timedelta(days=30) else "low"


def failure_rate_level(value: float) -> Level:
    if value <= 0.05:
        return "elite"
    if value <= 0.10:
        return "high"
    return "medium" if value <= 0.15 else "low"


def restore_level(value: timedelta) -> Level:
    if value < timedelta(hours=1):
        return "elite"
    if value < timedelta(days=1):
        return "high"
    return "medium" if value < timedelta(days=7) else "low"


# ---------- SQL helpers ----------


def _joined(expr: ColumnElement[Any]) -> ColumnElement[str]:
    """Comma-joined text of the (non-null) values: string_agg / group_concat."""
    return func.aggregate_strings(cast(expr, String), ",")


def _ints(joined: str | None) -> list[int]:
    return list(map(int, joined.split(","))) if joined else []


def _sorted_ids(joined: Iterable[str | None]) -> list[int]:
    """The ids of several comma-joined lists, sorted (C-level joins and splits: a year of
    deployments is ~100k ids)."""
    text = ",".join(j for j in joined if j)
    return sorted(map(int, text.split(","))) if text else []


def _refs(joined: str | None) -> list[DeploymentRef]:
    """``"d12,r34"`` -> ``[("deployment", 12), ("run", 34)]``."""
    if not joined:
        return []
    return [("deployment" if v[0] == "d" else "run", int(v[1:])) for v in joined.split(",")]


def _ref(kind: int, ref_id: int) -> DeploymentRef:
    return ("deployment" if kind == DEPLOYMENT else "run", int(ref_id))


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name}: pass a timezone-aware datetime")
    return value.astimezone(UTC)


# ---------- scope ----------


@dataclass(frozen=True)
class _Scope:
    start: datetime
    end: datetime
    repo_ids: list[int] | None  # as asked
    team: str | None
    workflows: list[str]  # the deploy workflows the links follow

    @property
    def everything(self) -> bool:
        return self.repo_ids is None and self.team is None

    def repositories(self) -> Select:
        query = select(Repository.id)
        return query if self.team is None else query.where(Repository.team == self.team)

    def in_scope(self, repo_id: ColumnElement[int]) -> ColumnElement[bool]:
        """In the ids asked for and/or the team's repositories (a subquery, not a long list)."""
        conditions = []
        if self.repo_ids is not None:
            conditions.append(repo_id.in_(self.repo_ids))
        if self.team is not None:
            conditions.append(repo_id.in_(self.repositories()))
        return and_(true(), *conditions)

    def within(self, at: ColumnElement[datetime]) -> ColumnElement[bool]:
        return and_(at >= self.start, at < self.end)


def _resolve(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    repo_ids: list[int] | None,
    team: str | None,
    deploy_workflows: list[str] | None,
) -> tuple[_Scope, bool]:
    """The scope, and whether any repository matches it. Links built for other deploy
    workflows than these (default: the settings) are rebuilt first."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if start >= end:
        raise ValueError("start must be before end")
    workflows = dora_links.ensure(session, deploy_workflows)
    scope = _Scope(start, end, repo_ids, team, workflows)
    repos = set(session.execute(scope.repositories()).scalars())
    if repo_ids is not None:
        repos &= set(repo_ids)
    return scope, bool(repos)


# ---------- the reads ----------


def _day(at: ColumnElement[datetime]) -> ColumnElement[int]:
    """Days since 1970 (an inlined constant: the same SQL in SELECT and GROUP BY)."""
    return (epoch(at) // literal_column(str(DAY))).label("day")


def _opened(scope: _Scope) -> ColumnElement[bool]:
    """Counted incidents opened in the window in scope; with no scope also those without a
    repository (listed, never attributed)."""
    i = Incident.__table__.c
    mine = and_(i.repo_id.is_not(None), scope.in_scope(i.repo_id))
    if scope.everything:
        mine = or_(mine, i.repo_id.is_(None))
    return and_(i.counted, scope.within(i.created_at), mine)


def _report_rows(scope: _Scope) -> Any:
    """Per UTC day (days since 1970): ("D") deployments in the window (ids: Deployment ids,
    vals: run ids), ("F") incidents caused by deployments in the window, by the deployment's
    day (vals: the causes as ``d12``/``r34``), ("P") the PRs shipped by deployments in the
    window (vals: lead seconds), ("I") incidents opened (k: unresolved; vals: ``id:seconds``
    for resolved ones, ``id:`` without a cause). Lists are comma-joined."""
    d, c, ch = DoraDeployment.__table__.c, DoraCause.__table__.c, DoraChange.__table__.c
    i = Incident.__table__.c
    deployments = (
        select(
            literal("D").label("part"),
            _day(d.at),
            func.count().label("n"),
            literal(0).label("k"),
            _joined(case((d.kind == DEPLOYMENT, d.ref_id))).label("ids"),
            _joined(case((d.kind == RUN, d.ref_id))).label("vals"),
        )
        .where(scope.within(d.at), scope.in_scope(d.repo_id))
        .group_by(_day(d.at))
    )
    failed = (
        select(
            literal("F"),
            _day(c.at),
            func.count(),
            literal(0),
            _joined(c.incident_id),
            _joined(_ref_text(c.kind, c.ref_id)),
        )
        .join_from(DoraCause.__table__, Incident.__table__, i.id == c.incident_id)
        .where(i.counted, scope.within(c.at), scope.in_scope(c.repo_id))
        .group_by(_day(c.at))
    )
    pulls = (
        select(
            literal("P"),
            _day(ch.at),
            func.count(),
            literal(0),
            _joined(ch.pull_id),
            _joined(ch.lead),
        )
        .where(scope.within(ch.at), scope.in_scope(ch.repo_id))
        .group_by(_day(ch.at))
    )
    resolved = i.resolved_at.is_not(None)
    seconds = func.coalesce(cast(epoch(i.resolved_at) - epoch(c.at), String), "")
    incidents = (
        select(
            literal("I"),
            _day(i.created_at),
            func.count(),
            func.sum(case((resolved, 0), else_=1)),
            _joined(i.id),
            _joined(case((resolved, cast(i.id, String) + ":" + seconds))),  # "id:" no cause
        )
        .select_from(Incident.__table__.outerjoin(DoraCause.__table__, c.incident_id == i.id))
        .where(_opened(scope))
        .group_by(_day(i.created_at))
    )
    return union_all(deployments, failed, pulls, incidents)


def _ref_text(kind: ColumnElement[int], ref_id: ColumnElement[int]) -> ColumnElement[str]:
    """``d12`` for deployment 12, ``r34`` for run 34 (see ``_refs``)."""
    return case((kind == DEPLOYMENT, "d"), else_="r") + cast(ref_id, String)


# ---------- the report ----------


@dataclass(frozen=True)
class _Day:
    day: date
    n: int
    k: int
    ids: str | None
    vals: str | None


def dora_report(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    repo_ids: list[int] | None = None,
    team: str | None = None,
    deploy_workflows: list[str] | None = None,
) -> DoraReport:
    """The four DORA metrics over ``[start, end)``, each with the ids of its rows and a weekly
    trend. ``deploy_workflows`` defaults to ``Settings.deploy_workflows``."""
    scope, matched = _resolve(
        session,
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=deploy_workflows,
    )
    parts: dict[str, list[_Day]] = {"D": [], "F": [], "P": [], "I": []}
    collected = True
    if matched:
        for part, day, n, k, ids, vals in session.execute(_report_rows(scope)):
            day_ = date(1970, 1, 1) + timedelta(days=int(day))
            parts[part].append(_Day(day_, int(n), int(k or 0), ids, vals))
        collected = session.execute(select(Incident.id).limit(1)).first() is not None
    start, end = scope.start, scope.end
    weeks = _weeks(start, end)
    deployments = (
        _sorted_ids(row.ids for row in parts["D"]),
        _sorted_ids(row.vals for row in parts["D"]),
    )
    report = DoraReport(
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=scope.workflows,
        deployment_frequency=_frequency(parts["D"], deployments, weeks, _months(start, end)),
        lead_time=_lead_time(parts["P"], weeks),
        change_failure_rate=_failure_rate(parts["D"], parts["F"], deployments, weeks, collected),
        time_to_restore=_restore(parts["I"], weeks),
    )
    if not matched:
        for metric in (
            report.deployment_frequency,
            report.lead_time,
            report.change_failure_rate,
            report.time_to_restore,
        ):
            metric.reason = "no repository in this scope"
    return report


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weeks(start: datetime, end: datetime) -> list[date]:
    """The Mondays of the calendar weeks overlapping ``[start, end)``."""
    first, last = _monday(start.date()), _monday((end - timedelta(microseconds=1)).date())
    return [first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]


def _months(start: datetime, end: datetime) -> list[date]:
    month, last = start.date().replace(day=1), (end - timedelta(microseconds=1)).date()
    months = []
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _frequency(
    days: list[_Day],
    deployments: tuple[list[int], list[int]],
    weeks: list[date],
    months: list[date],
) -> DeploymentFrequency:
    per_week, per_month = dict.fromkeys(weeks, 0), dict.fromkeys(months, 0)
    for row in days:  # one row per deployment day
        per_week[_monday(row.day)] += 1
        per_month[row.day.replace(day=1)] += 1
    common: dict[str, Any] = {
        "unit": "deployment days per week",
        "trend": [TrendPoint[int](week_start=w, value=n) for w, n in per_week.items()],
        "rows": _rows(deployments),
        "deployment_days": len(days),
    }
    if not days:
        return DeploymentFrequency(
            value=None, level=None, reason="no deployments in the window", **common
        )
    week_median, month_median = median(list(per_week.values())), median(list(per_month.values()))
    return DeploymentFrequency(
        value=week_median,
        level=frequency_level(week_median, month_median),
        median_days_per_month=month_median,
        **common,
    )


def _duration_trend(per_week: dict[date, list[int]]) -> list[TrendPoint[timedelta]]:
    return [
        TrendPoint[timedelta](week_start=w, value=timedelta(seconds=median(v)) if v else None)
        for w, v in per_week.items()
    ]


def _lead_time(days: list[_Day], weeks: list[date]) -> LeadTime:
    per_week: dict[date, list[int]] = {w: [] for w in weeks}
    for row in days:
        per_week[_monday(row.day)] += _ints(row.vals)
    values = [v for week in per_week.values() for v in week]
    common: dict[str, Any] = {
        "unit": "duration",
        "trend": _duration_trend(per_week),
        "rows": _rows(pulls=_sorted_ids(row.ids for row in days)),
    }
    if not values:
        reason = "no merged pull request was shipped by a deployment in the window"
        return LeadTime(value=None, level=None, reason=reason, **common)
    value = timedelta(seconds=median(values))
    return LeadTime(value=value, level=lead_time_level(value), **common)


def _failure_rate(
    days: list[_Day],
    causes: list[_Day],
    deployments: tuple[list[int], list[int]],
    weeks: list[date],
    collected: bool,
) -> ChangeFailureRate:
    total, failed = dict.fromkeys(weeks, 0), dict.fromkeys(weeks, 0)
    for row in days:
        total[_monday(row.day)] += row.n
    failed_refs: set[DeploymentRef] = set()
    for row in causes:  # one entry per incident: a deployment may appear more than once
        refs = set(_refs(row.vals))
        failed[_monday(row.day)] += len(refs)
        failed_refs |= refs
    n, k = sum(total.values()), sum(failed.values())
    common: dict[str, Any] = {
        "unit": "ratio",
        "trend": [
            TrendPoint[float](week_start=w, value=failed[w] / total[w] if total[w] else None)
            for w in weeks
        ],
        "rows": _rows(deployments),
        "failed": _rows(
            (
                sorted(i for kind, i in failed_refs if kind == "deployment"),
                sorted(i for kind, i in failed_refs if kind == "run"),
            ),
            incidents=sorted(i for row in causes for i in _ints(row.ids)),
        ),
        "failed_count": k,
        "total": n,
    }
    if not n:
        reason = "no deployments in the window"
        return ChangeFailureRate(value=None, level=None, reason=reason, **common)
    if not collected:
        reason = "no incident was ever recorded: is an incident source connected?"
        return ChangeFailureRate(value=None, level=None, reason=reason, **common)
    return ChangeFailureRate(value=k / n, level=failure_rate_level(k / n), **common)


def _restore(days: list[_Day], weeks: list[date]) -> TimeToRestore:
    per_week: dict[date, list[int]] = {w: [] for w in weeks}
    opened: list[int] = []
    resolved: set[int] = set()
    without_cause: list[int] = []
    for row in days:
        opened += _ints(row.ids)
        for pair in row.vals.split(",") if row.vals else []:
            incident, _, seconds = pair.partition(":")
            resolved.add(int(incident))
            if seconds:
                per_week[_monday(row.day)].append(int(seconds))
            else:
                without_cause.append(int(incident))
    values = [v for week in per_week.values() for v in week]
    common: dict[str, Any] = {
        "unit": "duration",
        "trend": _duration_trend(per_week),
        "rows": _rows(incidents=sorted(opened)),
        "unresolved": sorted(set(opened) - resolved),
        "without_cause": sorted(without_cause),
    }
    if not values:
        reason = (
            "no incident opened in the window is resolved and has a causing deployment"
            if opened
            else "no incident opened in the window"
        )
        return TimeToRestore(value=None, level=None, reason=reason, **common)
    value = timedelta(seconds=median(values))
    return TimeToRestore(value=value, level=restore_level(value), **common)


# ---------- drill-down lists (the same links, row by row) ----------


def deployments_in(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    repo_ids: list[int] | None = None,
    team: str | None = None,
    deploy_workflows: list[str] | None = None,
) -> list[DeploymentRow]:
    """The deployments in the window, oldest first, with the incidents each caused."""
    scope, matched = _resolve(
        session,
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=deploy_workflows,
    )
    if not matched:
        return []
    d, c, i = DoraDeployment.__table__.c, DoraCause.__table__.c, Incident.__table__.c
    rows = session.execute(
        select(d.kind, d.ref_id, d.repo_id, d.at, d.sha)
        .where(scope.within(d.at), scope.in_scope(d.repo_id))
        .order_by(d.at, d.kind, d.ref_id)
    ).all()
    caused = (
        select(c.kind, c.ref_id, c.incident_id)
        .join_from(DoraCause.__table__, Incident.__table__, i.id == c.incident_id)
        .where(i.counted, scope.within(c.at), scope.in_scope(c.repo_id))
    )
    incidents: dict[DeploymentRef, list[int]] = {}
    for kind, ref_id, incident_id in session.execute(caused):
        incidents.setdefault(_ref(kind, ref_id), []).append(int(incident_id))
    return [
        DeploymentRow(
            ref=_ref(kind, ref_id),
            repo_id=repo_id,
            at=at,
            sha=sha,
            incidents=sorted(incidents.get(_ref(kind, ref_id), [])),
        )
        for kind, ref_id, repo_id, at, sha in rows
    ]


def deployed_pulls(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    repo_ids: list[int] | None = None,
    team: str | None = None,
    deploy_workflows: list[str] | None = None,
) -> list[DeployedPull]:
    """The merged PRs shipped by deployments in the window (the lead-time rows), in order."""
    scope, matched = _resolve(
        session,
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=deploy_workflows,
    )
    if not matched:
        return []
    ch, p = DoraChange.__table__.c, PullRequest.__table__.c
    query = (
        select(
            p.id,
            p.repo_id,
            p.number,
            p.title,
            p.merged_at,
            p.first_commit_at,
            p.created_at,
            ch.kind,
            ch.ref_id,
            ch.at,
            ch.lead,
            ch.matched_by,
        )
        .join_from(DoraChange.__table__, PullRequest.__table__, p.id == ch.pull_id)
        .where(scope.within(ch.at), scope.in_scope(ch.repo_id))
        .order_by(ch.at, p.id)
    )
    return [
        DeployedPull(
            id=row.id,
            repo_id=row.repo_id,
            number=row.number,
            title=row.title,
            merged_at=row.merged_at,
            started_at=row.first_commit_at or row.created_at,
            started_from="first_commit" if row.first_commit_at else "created",
            deployment=_ref(row.kind, row.ref_id),
            deployed_at=row.at,
            matched_by=row.matched_by,
            lead_time=timedelta(seconds=int(row.lead)),
        )
        for row in session.execute(query)
    ]


def incidents_in(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    repo_ids: list[int] | None = None,
    team: str | None = None,
    deploy_workflows: list[str] | None = None,
) -> list[IncidentRow]:
    """The incidents opened in the window (the time-to-restore rows), oldest first, with the
    deployment that caused each and why an incident is not in the median, if it is not."""
    scope, matched = _resolve(
        session,
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=deploy_workflows,
    )
    if not matched:
        return []
    i, c = Incident.__table__.c, DoraCause.__table__.c
    query = (
        select(
            i.id,
            i.repo_id,
            i.title,
            i.created_at,
            i.resolved_at,
            c.kind,
            c.ref_id,
            c.at,
            epoch(i.resolved_at) - epoch(c.at),
        )
        .select_from(Incident.__table__.outerjoin(DoraCause.__table__, c.incident_id == i.id))
        .where(_opened(scope))
        .order_by(i.created_at, i.id)
    )
    result = []
    for id_, repo_id, title, created_at, resolved_at, kind, ref_id, at, seconds in session.execute(
        query
    ):
        if repo_id is None:
            note = "no repository: cannot be attributed to a deployment"
        elif kind is None:
            note = "no deployment of its repository before it"
        elif resolved_at is None:
            note = "unresolved"
        else:
            note = None
        result.append(
            IncidentRow(
                id=id_,
                repo_id=repo_id,
                title=title,
                created_at=created_at,
                resolved_at=resolved_at,
                caused_by=_ref(kind, ref_id) if kind is not None else None,
                deployed_at=at,
                time_to_restore=timedelta(seconds=int(seconds)) if seconds is not None else None,
                note=note,
            )
        )
    return result
