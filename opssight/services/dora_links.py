"""DORA's links, materialized at ingest so that a report only reads ranges of narrow tables.

The rules (Apache DevLake's definitions; ``services.dora`` has the whole list):

- ``dora_deployment``: a ``Deployment`` with ``production`` that succeeded (time
  ``succeeded_at``, kind 4), or a run of a deploy workflow whose *latest* attempt completed with
  ``success`` (time ``completed_at``, sha ``head_sha``, kind 5). Deploy workflows are those the
  links were built with (``dora_config``; ``Settings.deploy_workflows`` by default): ``"Deploy"``
  in every repository, ``"owner/repo:Deploy"`` in one.
- ``dora_change``: a merged PR is shipped by the first deployment of its repository at or after
  the merge whose sha is its ``merge_commit_sha`` within ``SHA_MATCH_DAYS``; otherwise (PRs into
  the default branch only) by the first deployment at or after the merge. Deployments are ordered
  by (time, kind, id). ``lead``: whole seconds from ``first_commit_at`` (else ``created_at``).
- ``dora_cause``: an incident of a repository is caused by its last deployment strictly before
  the incident was opened.

``refresh`` keeps them exact in the writer's own transaction. A deployment whose counted row
appeared, vanished or moved recomputes what it can change in its repository: the PRs merged up
to its (old and new) times that are linked at or after them or not yet, the PRs with its sha
merged in the ``SHA_MATCH_DAYS`` before, and the incidents opened after. A merged PR recomputes
its own link, an incident its own cause. So the order in which rows arrive does not matter.
On PostgreSQL each repository's links are recomputed under an advisory lock (taken before any
link is read), so concurrent writers see each other's committed rows. ``rebuild`` recomputes
everything (data written around ingest, deploy workflows changed); ``ensure`` rebuilds when the
deploy workflows differ from those the links were built with.

The work is a generator of statements (``refresh_steps``) run by ``run_steps`` on a session and
by the webhook batch writer on its async connection: one piece of SQL for both write paths.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    SmallInteger,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, Executable, FunctionElement, Select
from sqlmodel import Session

from opssight.config import get_settings
from opssight.models import (
    Deployment,
    DoraCause,
    DoraChange,
    DoraConfig,
    DoraDeployment,
    Incident,
    PullRequest,
    Repository,
    WorkflowRun,
)
from opssight.models.base import utcnow

DEPLOYMENT, RUN = 4, 5  # kinds, in their order at the same instant
SHA_MATCH_DAYS = 30
DAY = 86_400
LOCK = 0x0D0A  # advisory lock namespace: (LOCK, 0) the whole set, (LOCK, repo) one repository

Step = Generator[Executable, Sequence[Any] | None, None]


# ---------- what a change asks to recompute ----------


@dataclass(frozen=True)
class Link:
    """A row whose DORA links may have changed: kind "deployment" (id), "run" (run id),
    "pull" (PR id) or "incident" (``(source, key)``), in repository ``repo_id``."""

    kind: str
    key: Any
    repo_id: int


def is_deploy_workflow(name: str | None, full_name: str) -> bool:
    """Whether runs of workflow ``name`` in ``full_name`` can be deployments (settings)."""
    for spec in get_settings().deploy_workflows:
        repo, sep, wanted = spec.partition(":")
        if _scoped(repo, sep, wanted):
            if repo.strip() == full_name and wanted.strip() == name:
                return True
        elif spec.strip() == name:
            return True
    return False


def _scoped(repo: str, sep: str, name: str) -> bool:
    """``owner/repo:Name`` (a name may itself contain ":", as in ``"CI: deploy"``)."""
    return bool(sep) and "/" in repo and " " not in repo.strip() and bool(name.strip())


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


def _lock(key: int, *, shared: bool = False) -> Select:
    name = func.pg_advisory_xact_lock_shared if shared else func.pg_advisory_xact_lock
    return select(name(cast(literal(LOCK), Integer), cast(literal(key), Integer)))


# ---------- the rules as queries ----------


def _specs(workflows: Iterable[str]) -> Generator[Executable, Any, tuple[list[str], list]]:
    """Deploy workflow specs as names (every repository) and (repo id, name) pairs."""
    names: list[str] = []
    scoped: list[tuple[str, str]] = []
    for spec in workflows:
        repo, sep, name = spec.partition(":")
        if _scoped(repo, sep, name):
            scoped.append((repo.strip(), name.strip()))
        else:
            names.append(spec.strip())
    if not scoped:
        return names, []
    r = Repository.__table__.c
    rows = yield select(r.full_name, r.id).where(r.full_name.in_({repo for repo, _ in scoped}))
    ids = dict(rows or [])
    return names, [(ids[repo], name) for repo, name in scoped if repo in ids]


def _counted(
    names: list[str],
    pairs: list[tuple[int, str]],
    deployments: Sequence[int] | None = None,
    runs: Sequence[int] | None = None,
) -> Select | None:
    """The ``dora_deployment`` rows (kind, ref_id, repo_id, at, sha) of the sources, all of them
    or those with these ids; None when there are none to look at."""
    queries = []
    if deployments is None or deployments:
        d = Deployment.__table__.c
        query = select(
            literal(DEPLOYMENT, SmallInteger).label("kind"),
            d.id.label("ref_id"),
            d.repo_id,
            d.succeeded_at.label("at"),
            d.sha,
        ).where(d.production, d.succeeded_at.is_not(None))
        queries.append(query if deployments is None else query.where(d.id.in_(deployments)))
    if (names or pairs) and (runs is None or runs):
        r = WorkflowRun.__table__.alias("run")
        later = WorkflowRun.__table__.alias("later")
        workflow = [r.c.workflow_name.in_(names)] if names else []
        workflow += [and_(r.c.repo_id == id_, r.c.workflow_name == n) for id_, n in pairs]
        query = select(
            literal(RUN, SmallInteger), r.c.run_id, r.c.repo_id, r.c.completed_at, r.c.head_sha
        ).where(
            # inlined constants, so that the partial index ix_workflow_run_deploys serves it
            r.c.status == literal_column("'completed'"),
            r.c.conclusion == literal_column("'success'"),
            r.c.completed_at.is_not(None),
            or_(*workflow),
            ~exists().where(later.c.run_id == r.c.run_id, later.c.attempt > r.c.attempt),
        )
        queries.append(query if runs is None else query.where(r.c.run_id.in_(runs)))
    if not queries:
        return None
    return queries[0] if len(queries) == 1 else union_all(*queries)  # type: ignore[return-value]


def _shipped(condition: ColumnElement[bool]) -> Select:
    """``dora_change`` rows of the merged PRs matching ``condition`` that a deployment shipped."""
    p, repo = PullRequest.__table__.c, Repository.__table__.c
    x = DoraDeployment.__table__.alias("x")
    sha_at = (
        select(func.min(x.c.at))
        .where(
            x.c.repo_id == p.repo_id,
            x.c.sha == p.merge_commit_sha,
            x.c.at >= p.merged_at,
            epoch(x.c.at) < epoch(p.merged_at) + SHA_MATCH_DAYS * DAY,
        )
        .scalar_subquery()
    )
    time_at = (
        select(func.min(x.c.at))
        .where(x.c.repo_id == p.repo_id, x.c.at >= p.merged_at)
        .scalar_subquery()
    )
    on_default = or_(repo.default_branch.is_(None), p.base_ref == repo.default_branch)
    picked = (
        select(
            p.id.label("pull_id"),
            p.repo_id,
            p.merge_commit_sha.label("sha"),
            epoch(func.coalesce(p.first_commit_at, p.created_at)).label("started"),
            sha_at.label("sha_at"),
            case((on_default, time_at)).label("time_at"),
        )
        .select_from(PullRequest.__table__.outerjoin(Repository.__table__, repo.id == p.repo_id))
        .where(p.merged_at.is_not(None), condition)
        .subquery("picked")
    )
    k, d = picked.c, DoraDeployment.__table__.alias("d")
    by_sha = k.sha_at.is_not(None)
    ranked = (
        select(
            k.pull_id,
            k.repo_id,
            d.c.kind,
            d.c.ref_id,
            d.c.at,
            (epoch(d.c.at) - k.started).label("lead"),
            case((by_sha, "sha"), else_="time").label("matched_by"),
            func.row_number()
            .over(partition_by=k.pull_id, order_by=(d.c.kind, d.c.ref_id))
            .label("n"),
        )
        .select_from(
            picked.join(
                d,
                and_(
                    d.c.repo_id == k.repo_id,
                    d.c.at == func.coalesce(k.sha_at, k.time_at),
                    or_(~by_sha, d.c.sha == k.sha),
                ),
            )
        )
        .subquery("ranked")
    )
    c = ranked.c
    return select(c.pull_id, c.repo_id, c.kind, c.ref_id, c.at, c.lead, c.matched_by).where(
        c.n == 1
    )


def _caused(condition: ColumnElement[bool]) -> Select:
    """``dora_cause`` rows of the incidents matching ``condition`` that have a cause."""
    i = Incident.__table__.c
    x = DoraDeployment.__table__.alias("x")
    last = (
        select(func.max(x.c.at))
        .where(x.c.repo_id == i.repo_id, x.c.at < i.created_at)
        .scalar_subquery()
    )
    picked = (
        select(i.id.label("incident_id"), i.repo_id, last.label("at"))
        .where(i.repo_id.is_not(None), condition)
        .subquery("picked")
    )
    k, d = picked.c, DoraDeployment.__table__.alias("d")
    ranked = (
        select(
            k.incident_id,
            k.repo_id,
            d.c.kind,
            d.c.ref_id,
            d.c.at,
            func.row_number()
            .over(partition_by=k.incident_id, order_by=(d.c.kind.desc(), d.c.ref_id.desc()))
            .label("n"),
        )
        .select_from(picked.join(d, and_(d.c.repo_id == k.repo_id, d.c.at == k.at)))
        .subquery("ranked")
    )
    c = ranked.c
    return select(c.incident_id, c.repo_id, c.kind, c.ref_id, c.at).where(c.n == 1)


def _write(model: type, query: Select) -> Executable:
    columns = [column.name for column in model.__table__.columns]
    return insert(model.__table__).from_select(columns, query)


# ---------- recomputing ----------


@dataclass
class _Range:
    """What changed among one repository's counted deployments."""

    low: datetime
    high: datetime
    shas: set[str] = field(default_factory=set)

    def add(self, at: datetime, sha: str) -> None:
        self.low, self.high = min(self.low, at), max(self.high, at)
        self.shas.add(sha)


def refresh_steps(links: Iterable[Link], *, postgresql: bool) -> Step:
    """Recompute what ``links`` can change (see the module docstring)."""
    links = set(links)
    by_kind: dict[str, list[Any]] = {}
    for link in links:
        by_kind.setdefault(link.kind, []).append(link.key)
    if postgresql:  # a rebuild excludes every refresh; one repository's refreshes in turn
        yield _lock(0, shared=True)
        for repo_id in sorted({link.repo_id for link in links}):
            yield _lock(repo_id % 2_147_483_647)
    deployments = sorted(by_kind.get("deployment", []))
    runs = sorted(by_kind.get("run", []))
    ranges: dict[int, _Range] = {}
    if deployments or runs:
        built = yield select(DoraConfig.__table__.c.deploy_workflows)  # what the links follow
        workflows = built[0][0] if built else get_settings().deploy_workflows
        names, pairs = yield from _specs(workflows)
        t = DoraDeployment.__table__.c
        mine = or_(
            and_(t.kind == DEPLOYMENT, t.ref_id.in_(deployments)),
            and_(t.kind == RUN, t.ref_id.in_(runs)),
        )
        stored = yield select(t.kind, t.ref_id, t.repo_id, t.at, t.sha).where(mine)
        old = {tuple(row) for row in stored or []}
        counted = _counted(names, pairs, deployments, runs)
        fresh = (yield counted) if counted is not None else None
        new = {tuple(row) for row in fresh or []}
        if old != new:
            yield delete(DoraDeployment.__table__).where(mine)
            if new:
                yield _write(DoraDeployment, counted)
            for _, _, repo_id, at, sha in old ^ new:
                ranges.setdefault(repo_id, _Range(at, at)).add(at, sha)
    p, c, i = PullRequest.__table__.c, DoraChange.__table__.c, Incident.__table__.c
    for repo_id, changed in sorted(ranges.items()):
        repo = Repository.__table__.c
        on_default = or_(repo.default_branch.is_(None), p.base_ref == repo.default_branch)
        early = changed.low - timedelta(days=SHA_MATCH_DAYS + 1)
        pulls = yield (
            select(p.id)
            .select_from(
                PullRequest.__table__.outerjoin(DoraChange.__table__, c.pull_id == p.id).outerjoin(
                    Repository.__table__, repo.id == p.repo_id
                )
            )
            .where(
                p.repo_id == repo_id,
                p.merged_at.is_not(None),
                p.merged_at <= changed.high,
                or_(
                    c.at >= changed.low,
                    and_(c.pull_id.is_(None), or_(on_default, p.merged_at >= early)),
                    and_(p.merge_commit_sha.in_(sorted(changed.shas)), p.merged_at >= early),
                ),
            )
        )
        by_kind.setdefault("pull", []).extend(row[0] for row in pulls or [])
        later = and_(i.repo_id == repo_id, i.created_at > changed.low)
        yield delete(DoraCause.__table__).where(
            DoraCause.__table__.c.incident_id.in_(select(i.id).where(later))
        )
        yield _write(DoraCause, _caused(later))
    pull_ids = sorted(set(by_kind.get("pull", [])))
    if pull_ids:
        yield delete(DoraChange.__table__).where(c.pull_id.in_(pull_ids))
        yield _write(DoraChange, _shipped(p.id.in_(pull_ids)))
    keys = sorted(by_kind.get("incident", []))
    if keys:
        these = or_(*(and_(i.source == source, i.key == key) for source, key in keys))
        yield delete(DoraCause.__table__).where(
            DoraCause.__table__.c.incident_id.in_(select(i.id).where(these))
        )
        yield _write(DoraCause, _caused(these))


def rebuild_steps(workflows: list[str], *, postgresql: bool) -> Step:
    """Every link from the source tables, for these deploy workflows."""
    if postgresql:
        yield _lock(0)
    names, pairs = yield from _specs(workflows)
    for model in (DoraCause, DoraChange, DoraDeployment):
        yield delete(model.__table__)
    counted = _counted(names, pairs)
    if counted is not None:
        yield _write(DoraDeployment, counted)
    yield _write(DoraChange, _shipped(true()))
    yield _write(DoraCause, _caused(true()))
    yield delete(DoraConfig.__table__)
    yield insert(DoraConfig.__table__).values(id=1, deploy_workflows=workflows, built_at=utcnow())


def run_steps(session: Session, steps: Step) -> None:
    """Run a generator of statements on a session, sending each SELECT's rows back."""
    rows: Sequence[Any] | None = None
    while True:
        try:
            statement = steps.send(rows)
        except StopIteration:
            return
        result = session.execute(statement)
        rows = result.all() if result.returns_rows else None


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def refresh(session: Session, links: Iterable[Link]) -> None:
    """Recompute what ``links`` can change, in the caller's transaction."""
    links = list(links)
    if links:
        run_steps(session, refresh_steps(links, postgresql=_postgresql(session)))


def rebuild(session: Session, deploy_workflows: list[str] | None = None) -> None:
    """Recompute every link (``deploy_workflows`` defaults to the settings)."""
    workflows = list(
        get_settings().deploy_workflows if deploy_workflows is None else deploy_workflows
    )
    run_steps(session, rebuild_steps(workflows, postgresql=_postgresql(session)))


def ensure(session: Session, deploy_workflows: list[str] | None = None) -> list[str]:
    """Rebuild unless the links were built with these deploy workflows; returns them."""
    workflows = list(
        get_settings().deploy_workflows if deploy_workflows is None else deploy_workflows
    )
    built = session.execute(select(DoraConfig.__table__.c.deploy_workflows)).scalar()
    if built != workflows:
        rebuild(session, workflows)
    return workflows
