"""GitHub org/team → role rules: the strongest matching rule sets the role at each sign-in.

A person no rule matches keeps their role (an admin may have set it); a new one is a viewer.
"""

from __future__ import annotations

from sqlmodel import Session, select

from opssight.models import RoleRule, User
from opssight.schemas.identity import GitHubIdentity
from opssight.services import audit
from opssight.services.auth.rbac import ROLE_PERMISSIONS, strongest


class RuleError(ValueError):
    """A rule that cannot be saved (unknown role, missing organisation)."""


def list_rules(session: Session) -> list[RoleRule]:
    return list(session.exec(select(RoleRule).order_by(RoleRule.github_org, RoleRule.github_team)))


def matches(rule: RoleRule, identity: GitHubIdentity) -> bool:
    org = rule.github_org.lower()
    if rule.github_team:
        return (org, rule.github_team.lower()) in identity.team_keys()
    return org in identity.orgs


def role_for(session: Session, identity: GitHubIdentity) -> str | None:
    return strongest([r.role for r in list_rules(session) if matches(r, identity)])


def _public(rule: RoleRule) -> dict[str, str | None]:
    return {"github_org": rule.github_org, "github_team": rule.github_team, "role": rule.role}


def add_rule(session: Session, *, actor: User, org: str, team: str | None, role: str) -> RoleRule:
    org, team = org.strip().lstrip("@"), (team or "").strip() or None
    if not org or "/" in org or len(org) > 100 or (team and len(team) > 100):
        raise RuleError("Give a GitHub organisation login (and optionally a team slug).")
    if role not in ROLE_PERMISSIONS:
        raise RuleError(f"Unknown role {role!r}.")
    rule = RoleRule(github_org=org, github_team=team, role=role)
    session.add(rule)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="role_rule.create",
        target_type="role_rule",
        target_id=str(rule.id),
        before=None,
        after=_public(rule),
    )
    session.commit()
    return rule


def delete_rule(session: Session, *, actor: User, rule_id: int) -> bool:
    rule = session.get(RoleRule, rule_id)
    if rule is None:
        return False
    audit.record(
        session,
        actor=actor,
        action="role_rule.delete",
        target_type="role_rule",
        target_id=str(rule.id),
        before=_public(rule),
        after=None,
    )
    session.delete(rule)
    session.commit()
    return True
