"""Admin changes: roles, accounts, teams, repositories and rules; each one audited."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from opssight.demo import kubernetes as kube_demo
from opssight.models import Alert, AuditLog, Repository, RoleRule, Team, TeamMember, User
from opssight.models.base import utcnow
from opssight.schemas.identity import GitHubAccount, GitHubIdentity, GitHubOrg, GitHubTeam
from opssight.schemas.kubernetes import KubeFilter
from opssight.services import audit, clusters, kube_queries, teams, users
from opssight.services.alerting import queries as alert_queries
from opssight.services.auth import rules, sessions


def person(session: Session, login: str, role: str = "viewer") -> User:
    user = User(login=login, role=role)
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def actions(session: Session) -> list[tuple[str, str, str]]:
    rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    return [(e.actor_login, e.action, e.target_id) for e in rows]


def test_set_role_and_disable_are_audited(session: Session) -> None:
    admin, bob = person(session, "root", "admin"), person(session, "bob")
    users.set_role(session, actor=admin, user_id=bob.id, role="developer")
    users.set_active(session, actor=admin, user_id=bob.id, active=False)
    session.refresh(bob)
    assert (bob.role, bob.is_active) == ("developer", False)
    assert actions(session) == [("root", "user.role", "bob"), ("root", "user.active", "bob")]
    entry = session.exec(select(AuditLog).where(AuditLog.action == "user.role")).one()
    assert (entry.before, entry.after) == ({"role": "viewer"}, {"role": "developer"})
    users.set_role(session, actor=admin, user_id=bob.id, role="developer")  # no change: no row
    assert len(actions(session)) == 2


def test_unknown_role_and_last_admin_are_refused(session: Session) -> None:
    admin = person(session, "root", "admin")
    with pytest.raises(users.UserError, match="Unknown role"):
        users.set_role(session, actor=admin, user_id=admin.id, role="superuser")
    with pytest.raises(users.UserError, match="at least one active admin"):
        users.set_role(session, actor=admin, user_id=admin.id, role="viewer")
    with pytest.raises(users.UserError, match="at least one active admin"):
        users.set_active(session, actor=admin, user_id=admin.id, active=False)
    other = person(session, "second", "admin")
    users.set_role(session, actor=other, user_id=admin.id, role="viewer")
    assert actions(session) == [("second", "user.role", "root")]


def test_sign_out_everywhere_by_an_admin(session: Session, database_url: str) -> None:
    admin, bob = person(session, "root", "admin"), person(session, "bob")
    token = sessions.issue(session, user=bob)
    assert users.sign_out_everywhere(session, actor=admin, user_id=bob.id) == 1
    assert sessions.resolve(session, token) is None
    assert actions(session) == [("root", "user.sign_out_everywhere", "bob")]


def test_teams_members_and_repositories(session: Session) -> None:
    admin, bob = person(session, "root", "admin"), person(session, "bob")
    session.add(Repository(id=7, full_name="acme/pay"))
    session.commit()
    team = teams.create_team(session, actor=admin, slug="Payments", name="Payments squad")
    assert team.slug == "payments"
    with pytest.raises(teams.TeamError, match="already exists"):
        teams.create_team(session, actor=admin, slug="payments", name="again")
    with pytest.raises(teams.TeamError, match="slug"):
        teams.create_team(session, actor=admin, slug="no spaces/allowed", name="x")
    teams.set_member(session, actor=admin, team_id=team.id, login="bob", member=True)
    teams.assign_repository(session, actor=admin, full_name="acme/pay", team_id=team.id)
    assert teams.teams_of(session, bob.id) == ["payments"]
    assert teams.default_team(session, bob.id) == "payments"
    [(listed, members, repos)] = teams.list_teams(session)
    assert (listed.slug, members, repos) == ("payments", 1, ["acme/pay"])
    with pytest.raises(teams.TeamError, match="No repository"):
        teams.assign_repository(session, actor=admin, full_name="acme/nope", team_id=team.id)

    teams.delete_team(session, actor=admin, team_id=team.id)
    assert session.get(Repository, 7).team is None
    assert session.exec(select(TeamMember)).all() == []
    assert [a for _, a, _ in actions(session)] == [
        "team.create",
        "team.member",
        "repository.team",
        "team.delete",
    ]


def identity(teams_of: list[tuple[str, str]], orgs: list[str]) -> GitHubIdentity:
    return GitHubIdentity(
        account=GitHubAccount(id=1, login="mona"),
        email=None,
        orgs=orgs,
        teams=[
            GitHubTeam(slug=slug, name=slug.title(), organization=GitHubOrg(login=org))
            for org, slug in teams_of
        ],
    )


def test_github_teams_replace_github_memberships_only(session: Session) -> None:
    admin, mona = person(session, "root", "admin"), person(session, "mona")
    local = teams.create_team(session, actor=admin, slug="oncall", name="On call")
    teams.set_member(session, actor=admin, team_id=local.id, login="mona", member=True)
    teams.import_github_teams(
        session, user=mona, identity=identity([("Octo", "web"), ("octo", "api")], ["octo"])
    )
    session.commit()
    assert teams.teams_of(session, mona.id) == ["octo/api", "octo/web", "oncall"]
    teams.import_github_teams(session, user=mona, identity=identity([("octo", "api")], ["octo"]))
    session.commit()
    assert teams.teams_of(session, mona.id) == ["octo/api", "oncall"]
    assert session.exec(select(Team).where(Team.slug == "octo/web")).one().source == "github"


def test_role_rules(session: Session) -> None:
    admin = person(session, "root", "admin")
    rules.add_rule(session, actor=admin, org="@octo", team="", role="developer")
    rules.add_rule(session, actor=admin, org="octo", team="SRE", role="admin")
    with pytest.raises(rules.RuleError):
        rules.add_rule(session, actor=admin, org="octo", team=None, role="owner")
    with pytest.raises(rules.RuleError):
        rules.add_rule(session, actor=admin, org="", team=None, role="viewer")
    assert rules.role_for(session, identity([], ["octo"])) == "developer"
    assert rules.role_for(session, identity([("octo", "sre")], ["octo"])) == "admin"
    assert rules.role_for(session, identity([], ["other"])) is None
    rule = session.exec(select(RoleRule).where(RoleRule.role == "admin")).one()
    assert rules.delete_rule(session, actor=admin, rule_id=rule.id) is True
    assert rules.delete_rule(session, actor=admin, rule_id=rule.id) is False
    assert [a for _, a, _ in actions(session)] == [
        "role_rule.create",
        "role_rule.create",
        "role_rule.delete",
    ]


def test_audit_search_filters(session: Session) -> None:
    admin, bob = person(session, "root", "admin"), person(session, "bob", "admin")
    users.set_role(session, actor=admin, user_id=bob.id, role="developer")
    teams.create_team(session, actor=bob, slug="web", name="Web")
    teams.create_team(session, actor=bob, slug="web_2", name="Web 2")
    assert audit.search(session)[1] == 3
    assert [e.action for e in audit.search(session, actor="bob")[0]] == ["team.create"] * 2
    assert [e.target_id for e in audit.search(session, action="user.")[0]] == ["bob"]
    assert audit.search(session, target="web_")[1] == 1  # "_" is literal, not a wildcard
    entries, total = audit.search(session, limit=1, offset=1)
    assert total == 3 and len(entries) == 1 and entries[0].target_id == "web"


def test_namespaces_belong_to_teams_and_scope_the_kubernetes_views(session: Session) -> None:
    admin, mona = person(session, "root", "admin"), person(session, "mona")
    clusters.register(session, "prod", "https://prod.invalid")
    clusters.apply(session, "prod", kube_demo.listing(utcnow()))
    team = teams.create_team(session, actor=admin, slug="scrapers", name="Scrapers")
    teams.set_member(session, actor=admin, team_id=team.id, login="mona", member=True)
    assert teams.default_team(session, mona.id) == ""  # the team owns nothing yet
    teams.assign_namespace(
        session, actor=admin, cluster="prod", namespace="scraper", team_id=team.id
    )
    assert teams.namespace_teams(session) == ["scrapers"]
    assert teams.default_team(session, mona.id) == "scrapers"
    [(_, _, owns)] = teams.list_teams(session)
    assert owns == ["prod/scraper"]

    scoped = kube_queries.list_pods(session, KubeFilter(team="scrapers"))
    assert scoped.total > 0 and {p.namespace for p in scoped.rows} == {"scraper"}
    assert kube_queries.list_pods(session, KubeFilter()).total > scoped.total
    assert {p.namespace for p in kube_queries.problems(session, team="scrapers")} == {"scraper"}
    assert kube_queries.list_workloads(session, KubeFilter(team="nobody")).total == 0

    teams.assign_namespace(session, actor=admin, cluster="prod", namespace="scraper", team_id=None)
    assert kube_queries.list_pods(session, KubeFilter(team="scrapers")).total == 0
    entries = session.exec(select(AuditLog).where(AuditLog.action == "namespace.team")).all()
    assert [(e.before, e.after) for e in entries] == [
        ({"team": None}, {"team": "scrapers"}),
        ({"team": "scrapers"}, {"team": None}),
    ]
    with pytest.raises(teams.TeamError, match="namespace"):
        teams.assign_namespace(session, actor=admin, cluster="prod", namespace=" ", team_id=None)


def test_alerts_filter_by_team_label_or_owned_namespace(session: Session) -> None:
    admin = person(session, "root", "admin")
    team = teams.create_team(session, actor=admin, slug="payments", name="Payments")
    teams.assign_namespace(session, actor=admin, cluster="prod", namespace="pay", team_id=team.id)
    for n, labels in enumerate(
        [
            {"alertname": "HighLatency", "team": "payments"},
            {"alertname": "PodCrash", "namespace": "pay"},
            {"alertname": "PodCrash", "namespace": "payroll"},  # another namespace
            {"alertname": "DiskFull", "team": "payments-ops"},  # another team
        ]
    ):
        session.add(
            Alert(
                source="alertmanager",
                fingerprint=f"f{n}",
                name=labels["alertname"],
                labels=labels,
                state="Firing",
                updated_at=utcnow(),
            )
        )
    session.commit()
    found = alert_queries.list_alerts(session, alert_queries.AlertFilter(team="payments"))
    assert sorted(a.fingerprint for a in found) == ["f0", "f1"]
    assert len(alert_queries.list_alerts(session, alert_queries.AlertFilter())) == 4


def test_the_problems_panel_shows_at_most_its_limit(session: Session) -> None:
    clusters.register(session, "prod", "https://prod.invalid")
    clusters.apply(session, "prod", kube_demo.listing(utcnow()))
    every = kube_queries.problems(session)
    assert len(every) > 2
    assert kube_queries.problems(session, limit=2) == every[:2]  # the newest first
