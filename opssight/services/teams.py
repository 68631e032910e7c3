"""Teams: imported from GitHub at sign-in or made by an admin; they own repositories and
Kubernetes namespaces.

A team's slug is ``org/team-slug`` for GitHub teams and the admin's choice for local ones.
A repository's team is ``Repository.team`` (the slug); a namespace's is its ``TeamNamespace``
row. The team filters of the pages read them.
"""

from __future__ import annotations

import re

from sqlalchemy import Select, delete, func
from sqlmodel import Session, select

from opssight.events import Event, get_bus
from opssight.models import Repository, Team, TeamMember, TeamNamespace, User
from opssight.schemas.identity import GitHubIdentity
from opssight.services import audit
from opssight.services.pipelines import PIPELINES

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


class TeamError(ValueError):
    """A team change that cannot be made (bad name, unknown team or repository)."""


def list_teams(session: Session) -> list[tuple[Team, int, list[str]]]:
    """Every team with its member count and what it owns (repositories, cluster/namespace)."""
    members = dict(
        session.exec(select(TeamMember.team_id, func.count()).group_by(TeamMember.team_id)).all()
    )
    repos: dict[str, list[str]] = {}
    for name, team in session.exec(
        select(Repository.full_name, Repository.team).where(Repository.team.is_not(None))
    ):
        repos.setdefault(team, []).append(name)
    for cluster, namespace, slug in session.exec(
        select(TeamNamespace.cluster, TeamNamespace.namespace, Team.slug).join(
            Team, Team.id == TeamNamespace.team_id
        )
    ):
        repos.setdefault(slug, []).append(f"{cluster}/{namespace}")
    return [
        (team, members.get(team.id, 0), sorted(repos.get(team.slug, [])))
        for team in session.exec(select(Team).order_by(Team.slug))
    ]


def teams_of(session: Session, user_id: int) -> list[str]:
    """Slugs of the teams a person belongs to."""
    query = (
        select(Team.slug)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user_id)
        .order_by(Team.slug)
    )
    return list(session.exec(query))


def owning_teams(session: Session) -> list[str]:
    """Slugs of the teams that own something (a repository or a namespace)."""
    repos = select(Repository.team).where(Repository.team.is_not(None))
    namespaces = select(Team.slug).join(TeamNamespace, TeamNamespace.team_id == Team.id)
    return sorted({slug for (slug,) in session.exec(repos.union(namespaces)).all()})


def owned_namespaces(slug: str) -> Select:
    """The (cluster, namespace) pairs a team owns, as a query (a subquery for the views)."""
    return (
        select(TeamNamespace.cluster, TeamNamespace.namespace)
        .join(Team, Team.id == TeamNamespace.team_id)
        .where(Team.slug == slug)
    )


def team_namespaces(session: Session, slug: str) -> list[tuple[str, str]]:
    """(cluster, namespace) of the namespaces a team owns."""
    return sorted((c, n) for c, n in session.exec(owned_namespaces(slug)).all())


def namespace_teams(session: Session) -> list[str]:
    """Slugs of the teams that own a Kubernetes namespace."""
    query = select(Team.slug).join(TeamNamespace, TeamNamespace.team_id == Team.id).distinct()
    return sorted(session.exec(query).all())


def default_team(session: Session, user_id: int) -> str:
    """The team a person's pages open on: their first team that owns something, else none."""
    owning = set(owning_teams(session))
    return next((t for t in teams_of(session, user_id) if t in owning), "")


def import_github_teams(session: Session, *, user: User, identity: GitHubIdentity) -> None:
    """Make the person a member of exactly their GitHub teams (local teams are left alone)."""
    wanted = {f"{t.organization.login}/{t.slug}".lower(): t.name for t in identity.teams}
    existing = {t.slug: t for t in session.exec(select(Team).where(Team.slug.in_(wanted)))}
    for slug, name in wanted.items():
        if slug not in existing:
            existing[slug] = Team(slug=slug, name=name, source="github")
            session.add(existing[slug])
    session.flush()
    github_teams = select(Team.id).where(Team.source == "github")
    session.exec(
        delete(TeamMember).where(
            TeamMember.user_id == user.id,
            TeamMember.team_id.in_(github_teams),
            TeamMember.team_id.not_in([t.id for t in existing.values()]),
        )
    )
    member_of = set(
        session.exec(select(TeamMember.team_id).where(TeamMember.user_id == user.id)).all()
    )
    session.add_all(
        TeamMember(team_id=t.id, user_id=user.id)
        for t in existing.values()
        if t.id not in member_of
    )


def create_team(session: Session, *, actor: User, slug: str, name: str) -> Team:
    slug, name = slug.strip().lower(), name.strip() or slug.strip()
    if not SLUG.match(slug):
        raise TeamError("A team slug is 1-100 lower-case letters, digits, '.', '_' or '-'.")
    if session.exec(select(Team).where(Team.slug == slug)).first() is not None:
        raise TeamError(f"Team {slug!r} already exists.")
    team = Team(slug=slug, name=name[:200], source="local")
    session.add(team)
    session.flush()
    _audit(session, actor, "team.create", team, None, {"slug": slug, "name": team.name})
    session.commit()
    return team


def delete_team(session: Session, *, actor: User, team_id: int) -> None:
    team = _team(session, team_id)
    repos = session.exec(select(Repository).where(Repository.team == team.slug)).all()
    for repo in repos:
        repo.team = None
    session.add_all(repos)
    session.exec(delete(TeamMember).where(TeamMember.team_id == team.id))
    session.exec(delete(TeamNamespace).where(TeamNamespace.team_id == team.id))
    _audit(session, actor, "team.delete", team, {"slug": team.slug, "name": team.name}, None)
    session.delete(team)
    session.commit()
    if repos:  # pages scoped by team (and their cached figures) read again
        get_bus().publish(Event(topic=PIPELINES, keys={"team": team.slug}))


def set_member(session: Session, *, actor: User, team_id: int, login: str, member: bool) -> None:
    team = _team(session, team_id)
    user = session.exec(select(User).where(User.login == login.strip())).first()
    if user is None:
        raise TeamError(f"No user {login!r}.")
    row = session.get(TeamMember, (team.id, user.id))
    if (row is not None) == member:
        return
    if member:
        session.add(TeamMember(team_id=team.id, user_id=user.id))
    else:
        session.delete(row)
    before, after = {"member": row is not None}, {"member": member}
    audit.record(
        session,
        actor=actor,
        action="team.member",
        target_type="team",
        target_id=f"{team.slug}:{user.login}",
        before=before,
        after=after,
    )
    session.commit()


def assign_repository(
    session: Session, *, actor: User, full_name: str, team_id: int | None
) -> None:
    """Give a repository to a team (None: to no team)."""
    repo = session.exec(select(Repository).where(Repository.full_name == full_name)).first()
    if repo is None:
        raise TeamError(f"No repository {full_name!r}.")
    slug = _team(session, team_id).slug if team_id is not None else None
    if repo.team == slug:
        return
    audit.record(
        session,
        actor=actor,
        action="repository.team",
        target_type="repository",
        target_id=repo.full_name,
        before={"team": repo.team},
        after={"team": slug},
    )
    repo.team = slug
    session.add(repo)
    session.commit()
    get_bus().publish(Event(topic=PIPELINES, keys={"repo": repo.full_name}))


def assign_namespace(
    session: Session, *, actor: User, cluster: str, namespace: str, team_id: int | None
) -> None:
    """Give a cluster's namespace to a team (None: to no team)."""
    cluster, namespace = cluster.strip(), namespace.strip()
    if not cluster or not namespace:
        raise TeamError("Choose a cluster and a namespace.")
    slug = _team(session, team_id).slug if team_id is not None else None
    row = session.get(TeamNamespace, (cluster, namespace))
    before = _team(session, row.team_id).slug if row is not None else None
    if before == slug:
        return
    if row is not None:
        session.delete(row)
        session.flush()
    if team_id is not None:
        session.add(TeamNamespace(cluster=cluster, namespace=namespace, team_id=team_id))
    audit.record(
        session,
        actor=actor,
        action="namespace.team",
        target_type="namespace",
        target_id=f"{cluster}/{namespace}",
        before={"team": before},
        after={"team": slug},
    )
    session.commit()


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise TeamError("No such team.")
    return team


def _audit(
    session: Session, actor: User, action: str, team: Team, before: dict | None, after: dict | None
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="team",
        target_id=team.slug,
        before=before,
        after=after,
    )
