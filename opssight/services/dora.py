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
  ``"owner/repo:Deploy"`` in that repository only) whose *latest* attempt completed with
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

Where the work is done: one SQL statement (SQLite and PostgreSQL; window functions) returns, per
UTC day, counts and the ids and seconds behind them as comma-joined text; Python parses them,
takes medians and buckets days into weeks. Two small queries before it find, per repository,
how far back deployments must be read (see ``_resolve``). Its cost grows with the deployments,
merges and incidents from 30 days before the window on (bench/dora.py); on PostgreSQL it runs
with JIT and merge joins off for that statement (see ``_tuned``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement, Select
from sqlmodel import Session

from opssight.config import get_settings
from opssight.models import Deployment, Incident, PullRequest, Repository, WorkflowRun

Level = Literal["elite", "high", "medium", "low"]
DeploymentRef = tuple[Literal["deployment", "run"], int]
V = TypeVar("V")

SHA_MATCH_DAYS = 30
DAY = 86_400
# Timeline kinds, in their order at the same instant: incidents and merges before deployments.
INCIDENT, PULL, OTHER_PULL, DEPLOYMENT, RUN = 1, 2, 3, 4, 5  # OTHER_PULL: not into default branch


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


class epoch(FunctionElement):
    """Whole seconds since 1970 of a UTC timestamp column."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: Any, **kw: Any) -> str:
    # date_part() is float8 arithmetic; EXTRACT() returns numeric and is several times slower
    return f"CAST(floor(date_part('epoch', {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@compiles(epoch)
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # SQLite stores UTC text; substr() drops the fraction, which strftime() would round up
    return (
        f"CAST(strftime('%s', substr({compiler.process(element.clauses, **kw)}, 1, 19)) AS INTEGER)"
    )


def _joined(expr: ColumnElement[Any]) -> ColumnElement[str]:
    """Comma-joined text of the (non-null) values: string_agg / group_concat."""
    return func.aggregate_strings(cast(expr, String), ",")


def _ints(joined: str | None) -> list[int]:
    return list(map(int, joined.split(","))) if joined else []


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


def _as_datetime(value: Any) -> datetime:
    """A timestamp read through an expression (SQLite may hand back its stored text)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


_SETTINGS = {"jit": "off", "enable_mergejoin": "off"}


@contextmanager
def _tuned(session: Session) -> Iterator[None]:
    """PostgreSQL planner settings for one statement, then the previous values are restored.

    - jit off: above a cost threshold (long windows) PostgreSQL JIT-compiles the plan, which for
      these sub-second statements costs more than it saves (~200 ms of ~900 ms measured).
    - merge joins off: CTE scans have no statistics (200 distinct values assumed), so hash joins
      look skewed and the planner sorts both sides for merge joins instead; our joins are
      equi-joins whose inner sides fit in memory (bench: -20% on 90 days and on a year).
    """
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    names = list(_SETTINGS)
    current = ", ".join(f"current_setting('{name}')" for name in names)
    previous = dict(zip(names, session.execute(text(f"SELECT {current}")).one(), strict=True))
    changes = ", ".join(f"set_config('{name}', :{name}, true)" for name in names)
    session.execute(text(f"SELECT {changes}"), _SETTINGS)
    yield
    session.execute(text(f"SELECT {changes}"), previous)


# ---------- scope ----------


@dataclass(frozen=True)
class _Scope:
    start: datetime
    end: datetime
    repo_ids: list[int] | None  # as asked
    team: str | None
    names: list[str]  # deploy workflow names, in every repository
    pairs: list[tuple[int, str]]  # (repo_id, deploy workflow name)
    workflows: list[str]  # as configured, for the report
    old: dict[int, datetime] = field(default_factory=dict)
    """Repositories whose last deployment before the window precedes ``recent``: that one."""
    fresh: list[int] = field(default_factory=list)
    """Repositories never deployed before the window, deployed since."""

    @property
    def recent(self) -> datetime:
        """From when every repository's deployments and merges are read."""
        return self.start - timedelta(days=SHA_MATCH_DAYS)

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


def _configured(deploy_workflows: list[str] | None) -> list[str]:
    return list(get_settings().deploy_workflows if deploy_workflows is None else deploy_workflows)


def _workflow_specs(
    session: Session, workflows: Iterable[str]
) -> tuple[list[str], list[tuple[int, str]]]:
    """``"Deploy"`` -> a name for every repository; ``"owner/repo:Deploy"`` -> (repo id, name).
    A name may contain ":" (``"CI: deploy"``): only ``owner/repo`` before it makes a pair."""
    names: list[str] = []
    scoped: list[tuple[str, str]] = []
    for spec in workflows:
        repo, sep, name = spec.partition(":")
        if sep and "/" in repo and " " not in repo.strip() and name.strip():
            scoped.append((repo.strip(), name.strip()))
        else:
            names.append(spec.strip())
    if not scoped:
        return names, []
    ids = dict(
        session.execute(
            select(Repository.full_name, Repository.id).where(
                Repository.full_name.in_({repo for repo, _ in scoped})
            )
        ).all()
    )
    return names, [(ids[repo], name) for repo, name in scoped if repo in ids]


@dataclass(frozen=True)
class _Source:
    """One kind of deployment: rows (kind, ref_id, repo_id, at, sha) and its time and repo."""

    query: Select
    at: ColumnElement[datetime]
    repo_id: ColumnElement[int]


def _sources(scope: _Scope) -> list[_Source]:
    """Succeeded production deployments; successful latest attempts of deploy workflow runs."""
    d = Deployment.__table__.c
    columns = (
        literal(DEPLOYMENT, Integer).label("kind"),
        d.id.label("ref_id"),
        d.repo_id.label("repo_id"),
        d.succeeded_at.label("at"),
        d.sha.label("sha"),
    )
    query = select(*columns).where(d.production, d.succeeded_at.is_not(None))
    sources = [_Source(query, d.succeeded_at, d.repo_id)]
    if scope.names or scope.pairs:
        r = WorkflowRun.__table__.alias("run")
        later = WorkflowRun.__table__.alias("later")
        workflow = [r.c.workflow_name.in_(scope.names)] if scope.names else []
        workflow += [and_(r.c.repo_id == id_, r.c.workflow_name == n) for id_, n in scope.pairs]
        runs = select(
            literal(RUN, Integer), r.c.run_id, r.c.repo_id, r.c.completed_at, r.c.head_sha
        ).where(
            # inlined constants, so that a partial index on them can serve this query
            r.c.status == literal_column("'completed'"),
            r.c.conclusion == literal_column("'success'"),
            r.c.completed_at.is_not(None),
            or_(*workflow),
            ~exists().where(later.c.run_id == r.c.run_id, later.c.attempt > r.c.attempt),
        )
        sources.append(_Source(runs, r.c.completed_at, r.c.repo_id))
    return sources


def _deployments(scope: _Scope, *, before: datetime | None = None) -> Any:
    """The deployments in scope from ``scope.recent`` (and, for ``scope.old`` repositories,
    from their last one before the window) up to ``before``."""
    queries = []
    for source in _sources(scope):
        since = source.at >= scope.recent
        if scope.old:
            earlier = min(scope.old.values())
            since = or_(since, and_(source.repo_id.in_(scope.old), source.at >= earlier))
        query = source.query.where(scope.in_scope(source.repo_id), since)
        if before is not None:
            query = query.where(source.at < before)
        queries.append(query)
    return union_all(*queries)


def _resolve(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    repo_ids: list[int] | None,
    team: str | None,
    deploy_workflows: list[str] | None,
) -> _Scope | None:
    """The scope and how far back its deployments must be read; None if no repository matches.

    A repository's last deployment before the window caused the window's first incidents and
    shipped every merge before it. Most repositories deployed in the ``SHA_MATCH_DAYS`` before
    the window (one range read finds them); for the others one pass over their (sparse)
    deployments finds their last one (``old``) or that they have none before (``fresh``).
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    if start >= end:
        raise ValueError("start must be before end")
    workflows = _configured(deploy_workflows)
    names, pairs = _workflow_specs(session, workflows)
    scope = _Scope(start, end, repo_ids, team, names, pairs, workflows)
    repos = set(session.execute(scope.repositories()).scalars())
    if repo_ids is not None:
        repos &= set(repo_ids)
    if not repos:
        return None
    last = _deployments(scope, before=start).subquery()
    missing = sorted(repos - set(session.execute(select(last.c.repo_id).distinct()).scalars()))
    old: dict[int, datetime] = {}
    fresh: list[int] = []
    if missing:
        sources = _sources(scope)
        rows = union_all(
            *(s.query.where(s.repo_id.in_(missing), s.at < scope.recent) for s in sources),
            *(s.query.where(s.repo_id.in_(missing), s.at >= start) for s in sources),
        ).subquery()
        history = select(rows.c.repo_id, func.max(case((rows.c.at < start, rows.c.at))))
        for repo_id, before in session.execute(history.group_by(rows.c.repo_id)):
            if before is not None:
                old[repo_id] = _as_datetime(before)
            else:
                fresh.append(repo_id)
    return replace(scope, old=old, fresh=fresh)


# ---------- the attribution rules, in one place ----------


class _Pipeline:
    """The SQL behind the report and the drill-down lists.

    ``timeline``: per repository in time order, its deployments (see ``_deployments``),
    incidents opened since the window start and candidate merges, with, from one window
    function, ``g``: the number of deployments so far (a deployment's own number; for an incident
    or a merge, the number of the last deployment strictly before it) and ``last_ep``, that
    deployment's time. Then only hash joins, no other sort of the timeline:

    - ``causes``: incident -> its repository's deployment number ``g``;
    - ``shipped``: merged PR -> the first deployment at or after the merge with the merge
      commit's sha within ``SHA_MATCH_DAYS``, else (PRs into the default branch) deployment
      ``g + 1``; for deployments in the window, with the lead time in seconds.

    Filters on the timeline test ``IS NOT NULL`` marker columns (``dg``, ``started_ep``),
    which PostgreSQL's planner estimates as most rows (equality on a CTE column: 0.5%), so it
    hash-joins instead of nesting loops over CTE scans.
    """

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        start, end = scope.start, scope.end
        d = _deployments(scope).subquery("deployments")
        i = Incident.__table__.c
        no_sha, no_ep = cast(null(), String), cast(null(), BigInteger)
        events = union_all(
            select(
                d.c.repo_id,
                d.c.at,
                d.c.kind,
                d.c.ref_id,
                d.c.sha,
                no_ep.label("started_ep"),
                no_ep.label("resolved_ep"),
            ),
            select(
                i.repo_id,
                i.created_at,
                literal(INCIDENT, Integer),
                cast(i.id, BigInteger),
                no_sha,
                no_ep,
                epoch(i.resolved_at),
            ).where(
                i.counted,
                i.created_at >= start,
                i.repo_id.is_not(None),
                scope.in_scope(i.repo_id),
            ),
            self._pulls(),
        ).subquery("events")
        e = events.c
        ep = epoch(e.at)
        is_deployment = e.kind >= DEPLOYMENT
        window = {"partition_by": e.repo_id, "order_by": (e.at, e.kind, e.ref_id)}
        g = func.count(case((is_deployment, 1))).over(rows=(None, 0), **window)
        self.timeline = select(
            e.repo_id,
            e.at,
            ep.label("ep"),
            e.kind,
            e.ref_id,
            e.sha,
            e.started_ep,
            e.resolved_ep,
            g.label("g"),
            case((is_deployment, g)).label("dg"),
            func.max(case((is_deployment, ep))).over(rows=(None, 0), **window).label("last_ep"),
        ).cte("dora_timeline")
        t = self.timeline.c
        self.in_window = and_(t.dg.is_not(None), t.at >= start, t.at < end)

        # incident -> the deployment numbered its g
        cause = self.timeline.alias("cause")
        self.causes = (
            select(
                t.ref_id.label("incident_id"),
                cause.c.repo_id,
                cause.c.g,
                cause.c.kind,
                cause.c.ref_id,
                cause.c.at,
                cause.c.ep,
            )
            .select_from(
                self.timeline.join(cause, and_(cause.c.repo_id == t.repo_id, cause.c.dg == t.g))
            )
            .where(t.kind == INCIDENT)  # estimated few: the side PostgreSQL hashes
            .cte("dora_causes")
        )

        # merged PR -> the first deployment at or after the merge with its merge commit's sha
        # (within SHA_MATCH_DAYS), else (into the default branch) deployment g + 1
        p, d = self.timeline.alias("merge"), self.timeline.alias("deployed")
        by_sha = (
            select(p.c.ref_id.label("pull_id"), func.min(d.c.dg).label("g"))
            .select_from(
                p.join(
                    d,
                    and_(
                        d.c.repo_id == p.c.repo_id,
                        d.c.sha == p.c.sha,
                        d.c.dg.is_not(None),
                        d.c.at >= p.c.at,
                        d.c.ep < p.c.ep + SHA_MATCH_DAYS * DAY,
                    ),
                )
            )
            .where(p.c.started_ep.is_not(None))
            .group_by(p.c.ref_id)
            .subquery("by_sha")
        )
        picked = (
            select(
                t.ref_id.label("pull_id"),
                t.repo_id,
                t.started_ep,
                func.coalesce(by_sha.c.g, case((t.kind == PULL, t.g + 1))).label("g"),
                case((by_sha.c.g.is_not(None), "sha"), else_="time").label("matched_by"),
            )
            .select_from(self.timeline.outerjoin(by_sha, by_sha.c.pull_id == t.ref_id))
            .where(t.started_ep.is_not(None))
            .cte("dora_picked")  # materialized: its g must be a plain hash key on PostgreSQL
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        pk = picked.c
        self.shipped = (
            select(
                pk.pull_id,
                t.kind,
                t.ref_id,
                t.at,
                t.ep,
                (t.ep - pk.started_ep).label("lead"),
                pk.matched_by,
            )
            .select_from(picked.join(self.timeline, and_(t.repo_id == pk.repo_id, t.dg == pk.g)))
            .where(self.in_window)
            .subquery("dora_shipped")
        )

    def _pulls(self) -> Select:
        """Merges that may ship in the window: since ``recent`` (earlier ones were shipped by the
        repository's deployment before ``recent``), since their last deployment for ``old``
        repositories, all for ``fresh`` ones. Kind PULL when into the default branch."""
        scope = self.scope
        p, repo = PullRequest.__table__.c, Repository.__table__.c
        bounds = [p.merged_at >= scope.recent]
        if scope.old:
            bounds.append(and_(p.repo_id.in_(scope.old), p.merged_at >= min(scope.old.values())))
        if scope.fresh:
            bounds.append(p.repo_id.in_(scope.fresh))
        on_default = or_(repo.default_branch.is_(None), p.base_ref == repo.default_branch)
        return (
            select(
                p.repo_id,
                p.merged_at,
                case((on_default, PULL), else_=OTHER_PULL),
                p.id,
                p.merge_commit_sha,
                epoch(func.coalesce(p.first_commit_at, p.created_at)),
                cast(null(), BigInteger),
            )
            .select_from(
                PullRequest.__table__.outerjoin(Repository.__table__, repo.id == p.repo_id)
            )
            .where(
                p.merged_at.is_not(None),
                p.merged_at < scope.end,
                or_(*bounds),
                scope.in_scope(p.repo_id),
            )
        )

    def opened(self) -> Any:
        """Incidents opened in the window: id, repo_id, ep, resolved_ep, g, last_ep (the cause:
        deployment ``g`` of the repository, at ``last_ep``)."""
        t, start, end = self.timeline.c, self.scope.start, self.scope.end
        query = select(t.ref_id.label("id"), t.repo_id, t.ep, t.resolved_ep, t.g, t.last_ep)
        query = query.where(t.kind == INCIDENT, t.at < end)
        if not self.scope.everything:
            return query
        i = Incident.__table__.c  # incidents without a repository: listed, never attributed
        orphans = select(
            cast(i.id, BigInteger),
            i.repo_id,
            epoch(i.created_at),
            epoch(i.resolved_at),
            literal(0, BigInteger),
            cast(null(), BigInteger),
        ).where(i.counted, i.repo_id.is_(None), i.created_at >= start, i.created_at < end)
        return union_all(query, orphans)

    def report_rows(self) -> Any:
        """Per UTC day (days since 1970): ("D") deployments in the window (ids: Deployment ids,
        vals: run ids), ("F") incidents caused by deployments in the window, by the deployment's
        day (vals: the causes as ``d12``/``r34``), ("P") the PRs shipped by deployments in the
        window (vals: lead seconds), ("I") incidents opened (k: unresolved; vals:
        ``id:seconds`` for resolved ones, ``id:`` without a cause). Lists are comma-joined."""
        t, c, sh = self.timeline.c, self.causes.c, self.shipped.c
        start, end = self.scope.start, self.scope.end
        deploy_day = (t.ep // DAY).label("day")
        deployments = (
            select(
                literal("D").label("part"),
                deploy_day,
                func.count().label("n"),
                literal(0).label("k"),
                _joined(case((t.kind == DEPLOYMENT, t.ref_id))).label("ids"),
                _joined(case((t.kind == RUN, t.ref_id))).label("vals"),
            )
            .where(self.in_window)
            .group_by(deploy_day)
        )
        cause_day = (c.ep // DAY).label("day")
        failed = (
            select(
                literal("F"),
                cause_day,
                func.count(),
                literal(0),
                _joined(c.incident_id),
                _joined(_ref_text(c.kind, c.ref_id)),
            )
            .where(c.at >= start, c.at < end)
            .group_by(cause_day)
        )
        pull_day = (sh.ep // DAY).label("day")
        pulls = select(
            literal("P"), pull_day, func.count(), literal(0), _joined(sh.pull_id), _joined(sh.lead)
        ).group_by(pull_day)
        op = self.opened().subquery("opened")
        incident_day = (op.c.ep // DAY).label("day")
        seconds = func.coalesce(cast(op.c.resolved_ep - op.c.last_ep, String), "")
        resolved = op.c.resolved_ep.is_not(None)
        incidents = select(
            literal("I"),
            incident_day,
            func.count(),
            func.sum(case((resolved, 0), else_=1)),
            _joined(op.c.id),
            _joined(case((resolved, cast(op.c.id, String) + ":" + seconds))),  # "id:" no cause
        ).group_by(incident_day)
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
    scope = _resolve(
        session,
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=deploy_workflows,
    )
    parts: dict[str, list[_Day]] = {"D": [], "F": [], "P": [], "I": []}
    collected = True
    if scope is not None:
        with _tuned(session):
            rows = session.execute(_Pipeline(scope).report_rows()).all()
        for part, day, n, k, ids, vals in rows:
            day_ = date(1970, 1, 1) + timedelta(days=int(day))
            parts[part].append(_Day(day_, int(n), int(k or 0), ids, vals))
        collected = session.execute(select(Incident.id).limit(1)).first() is not None
    start, end = _aware(start, "start"), _aware(end, "end")
    weeks = _weeks(start, end)
    deployments = (
        sorted(i for row in parts["D"] for i in _ints(row.ids)),
        sorted(i for row in parts["D"] for i in _ints(row.vals)),
    )
    report = DoraReport(
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=scope.workflows if scope else _configured(deploy_workflows),
        deployment_frequency=_frequency(parts["D"], deployments, weeks, _months(start, end)),
        lead_time=_lead_time(parts["P"], weeks),
        change_failure_rate=_failure_rate(parts["D"], parts["F"], deployments, weeks, collected),
        time_to_restore=_restore(parts["I"], weeks),
    )
    if scope is None:
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
    pulls: list[int] = []
    for row in days:
        pulls += _ints(row.ids)
        per_week[_monday(row.day)] += _ints(row.vals)
    values = [v for week in per_week.values() for v in week]
    common: dict[str, Any] = {
        "unit": "duration",
        "trend": _duration_trend(per_week),
        "rows": _rows(pulls=sorted(pulls)),
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


# ---------- drill-down lists (the same pipeline, row by row) ----------


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
    scope = _resolve(
        session,
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=deploy_workflows,
    )
    if scope is None:
        return []
    pipeline = _Pipeline(scope)
    t, c = pipeline.timeline.c, pipeline.causes.c
    deployments = select(t.kind, t.ref_id, t.repo_id, t.at, t.sha).where(pipeline.in_window)
    caused = select(c.kind, c.ref_id, c.incident_id).where(c.at >= scope.start, c.at < scope.end)
    with _tuned(session):
        rows = session.execute(deployments.order_by(t.at, t.kind, t.ref_id)).all()
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
    scope = _resolve(
        session,
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=deploy_workflows,
    )
    if scope is None:
        return []
    shipped = _Pipeline(scope).shipped
    sh, p = shipped.c, PullRequest.__table__.c
    query = (
        select(
            p.id,
            p.repo_id,
            p.number,
            p.title,
            p.merged_at,
            p.first_commit_at,
            p.created_at,
            sh.kind,
            sh.ref_id,
            sh.at,
            sh.lead,
            sh.matched_by,
        )
        .join_from(PullRequest.__table__, shipped, p.id == sh.pull_id)
        .order_by(sh.at, p.id)
    )
    with _tuned(session):
        rows = session.execute(query).all()
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
            deployed_at=_as_datetime(row.at),
            matched_by=row.matched_by,
            lead_time=timedelta(seconds=int(row.lead)),
        )
        for row in rows
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
    scope = _resolve(
        session,
        start=start,
        end=end,
        repo_ids=repo_ids,
        team=team,
        deploy_workflows=deploy_workflows,
    )
    if scope is None:
        return []
    pipeline = _Pipeline(scope)
    op, t, i = pipeline.opened().subquery("opened"), pipeline.timeline.c, Incident.__table__.c
    query = (
        select(
            i.id,
            i.repo_id,
            i.title,
            i.created_at,
            i.resolved_at,
            t.kind,
            t.ref_id,
            t.at,
            op.c.resolved_ep - op.c.last_ep,
        )
        .select_from(
            Incident.__table__.join(op, op.c.id == i.id).outerjoin(
                pipeline.timeline, and_(t.repo_id == op.c.repo_id, t.dg == op.c.g)
            )
        )
        .order_by(i.created_at, i.id)
    )
    with _tuned(session):
        rows = session.execute(query).all()
    result = []
    for id_, repo_id, title, created_at, resolved_at, kind, ref_id, at, seconds in rows:
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
                deployed_at=_as_datetime(at) if at is not None else None,
                time_to_restore=timedelta(seconds=int(seconds)) if seconds is not None else None,
                note=note,
            )
        )
    return result
