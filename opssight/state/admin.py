"""Admin: users, role rules, teams and sessions. Every handler checks the admin permission."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reflex as rx
from sqlmodel import Session, select

from opssight import db
from opssight.models import Repository, User
from opssight.services import kube_queries, teams, users
from opssight.services.auth import rules, sessions
from opssight.services.auth.rbac import ROLES
from opssight.services.teams import TeamError
from opssight.services.users import UserError
from opssight.state.formatting import when
from opssight.state.session import protected, signed_in_user

NO_TEAM = "(no team)"


def _snapshot(session: Session) -> dict[str, Any]:
    people = users.list_users(session)
    logins = {u.id: u.login for u in people}
    team_rows = teams.list_teams(session)
    return {
        "users": [
            {
                "id": str(u.id),
                "login": u.login,
                "name": u.name or "",
                "role": u.role,
                "active": "active" if u.is_active else "disabled",
                "kind": "GitHub" if u.github_id else "local",
                "last_seen": when(u.last_seen_at) if u.last_seen_at else "never",
                "teams": ", ".join(teams.teams_of(session, u.id)),
            }
            for u in people
        ],
        "rules": [
            {
                "id": str(r.id),
                "org": r.github_org,
                "team": r.github_team or "(any team)",
                "role": r.role,
            }
            for r in rules.list_rules(session)
        ],
        "teams": [
            {
                "id": str(t.id),
                "slug": t.slug,
                "name": t.name,
                "source": t.source,
                "members": str(count),
                "repos": ", ".join(repos) or "none",
            }
            for t, count, repos in team_rows
        ],
        "sessions": [
            {
                "id": s.id,
                "login": logins.get(s.user_id, "?"),
                "method": s.method,
                "ip": s.ip or "",
                "agent": (s.user_agent or "")[:60],
                "started": when(s.created_at),
                "last_seen": when(s.last_seen_at) if s.last_seen_at else "",
            }
            for s in sessions.active(session)
        ],
        "repositories": list(
            session.exec(select(Repository.full_name).order_by(Repository.full_name))
        ),
        "namespaces": [f"{c}/{n}" for c, n in kube_queries.cluster_namespaces(session)],
    }


def _read() -> dict[str, Any]:
    with db.session_scope() as session:
        return _snapshot(session)


def _change(action: Callable[[Session, User], object]) -> str | None:
    """Run one admin change as the calling admin; the error message if it was refused."""
    with db.session_scope() as session:
        actor = session.get(User, signed_in_user().id)
        try:
            action(session, actor)
        except (UserError, TeamError, rules.RuleError) as exc:
            session.rollback()
            return str(exc)
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class AdminState(rx.State):
    loaded: bool = False
    users: list[dict[str, str]] = []
    rules: list[dict[str, str]] = []
    teams: list[dict[str, str]] = []
    sessions: list[dict[str, str]] = []
    repositories: list[str] = []
    namespaces: list[str] = []  # "cluster/namespace"
    roles: list[str] = list(ROLES)

    @rx.var
    def team_choices(self) -> list[str]:
        return [NO_TEAM, *[t["slug"] for t in self.teams]]

    async def _reload(self) -> None:
        data = await asyncio.to_thread(_read)
        self.users, self.rules, self.teams = data["users"], data["rules"], data["teams"]
        self.sessions, self.repositories = data["sessions"], data["repositories"]
        self.namespaces = data["namespaces"]
        self.loaded = True

    async def _apply(self, action: Callable[[Session, User], object], done: str):
        error = await asyncio.to_thread(_change, action)
        await self._reload()
        return rx.toast.error(error) if error else rx.toast.success(done)

    @rx.event
    @protected("admin")
    async def load(self) -> None:
        await self._reload()

    @rx.event
    @protected("admin")
    async def set_role(self, user_id: str, role: str):
        uid = _int(user_id)
        return await self._apply(
            lambda s, actor: users.set_role(s, actor=actor, user_id=uid, role=role),
            f"Role set to {role}.",
        )

    @rx.event
    @protected("admin")
    async def set_active(self, user_id: str, active: bool):
        uid = _int(user_id)
        return await self._apply(
            lambda s, actor: users.set_active(s, actor=actor, user_id=uid, active=bool(active)),
            "Account enabled." if active else "Account disabled.",
        )

    @rx.event
    @protected("admin")
    async def sign_out_user(self, user_id: str):
        uid = _int(user_id)
        return await self._apply(
            lambda s, actor: users.sign_out_everywhere(s, actor=actor, user_id=uid),
            "Signed out everywhere.",
        )

    @rx.event
    @protected("admin")
    async def revoke_session(self, session_id: str):
        def revoke(s: Session, actor: User) -> None:
            row = sessions.revoke(s, str(session_id))
            if row is None:
                raise UserError("That session has already ended.")
            owner = users.get_user(s, row.user_id)
            users.record_session_revoked(s, actor=actor, user=owner, session_id=row.id)

        return await self._apply(revoke, "Session ended.")

    @rx.event
    @protected("admin")
    async def add_rule(self, form: dict[str, Any]):
        org, team = str(form.get("org", "")), str(form.get("team", ""))
        role = str(form.get("role", ""))
        return await self._apply(
            lambda s, actor: rules.add_rule(s, actor=actor, org=org, team=team, role=role),
            "Rule added.",
        )

    @rx.event
    @protected("admin")
    async def delete_rule(self, rule_id: str):
        rid = _int(rule_id)
        return await self._apply(
            lambda s, actor: rules.delete_rule(s, actor=actor, rule_id=rid), "Rule deleted."
        )

    @rx.event
    @protected("admin")
    async def create_team(self, form: dict[str, Any]):
        slug, name = str(form.get("slug", "")), str(form.get("name", ""))
        return await self._apply(
            lambda s, actor: teams.create_team(s, actor=actor, slug=slug, name=name),
            "Team created.",
        )

    @rx.event
    @protected("admin")
    async def delete_team(self, team_id: str):
        tid = _int(team_id)
        return await self._apply(
            lambda s, actor: teams.delete_team(s, actor=actor, team_id=tid), "Team deleted."
        )

    @rx.event
    @protected("admin")
    async def set_member(self, form: dict[str, Any]):
        tid = self._team_id(str(form.get("team", "")))
        login, member = str(form.get("login", "")), form.get("action", "add") != "remove"
        return await self._apply(
            lambda s, actor: teams.set_member(
                s, actor=actor, team_id=tid, login=login, member=member
            ),
            "Team members updated.",
        )

    @rx.event
    @protected("admin")
    async def assign_repository(self, form: dict[str, Any]):
        full_name, team = str(form.get("repository", "")), str(form.get("team", NO_TEAM))
        tid = None if team == NO_TEAM else self._team_id(team)
        return await self._apply(
            lambda s, actor: teams.assign_repository(
                s, actor=actor, full_name=full_name, team_id=tid
            ),
            "Repository assigned.",
        )

    @rx.event
    @protected("admin")
    async def assign_namespace(self, form: dict[str, Any]):
        # a namespace never holds "/", a kubeconfig context name may
        cluster, _, namespace = str(form.get("namespace", "")).rpartition("/")
        team = str(form.get("team", NO_TEAM))
        tid = None if team == NO_TEAM else self._team_id(team)
        return await self._apply(
            lambda s, actor: teams.assign_namespace(
                s, actor=actor, cluster=cluster, namespace=namespace, team_id=tid
            ),
            "Namespace assigned.",
        )

    def _team_id(self, slug: str) -> int:
        """The id of a listed team (-1, which no team has, for an unknown slug)."""
        return next((int(t["id"]) for t in self.teams if t["slug"] == slug), -1)
