"""Forged events: a client that talks to the running server's websocket like a browser would, but
sends every protected event handler by name, with arguments that would change data.

The protected handlers are found, not listed: every state reachable from ``rx.State`` whose
handler function carries ``required_permission`` (set by ``@protected``). Each is sent on its own
connection (its own tab token, so its own state), after the hydrate event the frontend sends.

- a visitor without a session (a demo guest, read-only) is sent to /login for everything that
  needs more than "read";
- a signed-in viewer gets "Not allowed" for everything their role lacks;
- tampered, expired, wrong-key, unsigned, revoked and outdated tokens count as no session;
- the database is unchanged (every table but those the demo feed writes in the background);
- the same forged event with an admin's session does change data: the harness can fail.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import reflex as rx
from sqlalchemy import func
from sqlmodel import SQLModel, select

import opssight.opssight  # noqa: F401  (registers every page and state)
from opssight import db
from opssight.config import get_settings
from opssight.models import AuditLog, Repository, RoleRule, Team, User, UserSession
from opssight.models.base import utcnow
from opssight.services import teams
from opssight.services.auth import rules, sessions
from opssight.services.auth.rbac import GUEST_PERMISSIONS, ROLE_PERMISSIONS
from opssight.state import live
from opssight.state.live import LiveState
from opssight.state.shell import ShellState
from tests.e2e.conftest import Server
from tests.socket_client import Replies, SocketClient

# Written in the background by the demo feed and the connectors, whoever is connected.
BACKGROUND_TABLES = {
    "connector_status",
    "connector_check",  # each connector check, kept as history
    "repository",  # only its team assignment is compared (see _snapshot)
    "workflow_run",
    "workflow_job",
    "pull_request",
    "deployment",
    "deployment_status",
    "webhook_delivery",
    "incident",
    "http_etag",
    "workflow",
    "alert_transition",  # the alert job's and Alertmanager's; acknowledgements: see _snapshot
    # the demo Ansible runs (automation_token is people's: compared)
    "automation_run",
    "automation_play",
    "automation_task",
    "automation_result",
    "automation_run_host",
    "automation_run_group",
    "automation_host",
    "notification_group",  # the notify job's sending state, deliveries and escalations
    "notification_delivery",
    "notification_escalation",
    # the partitions job's weekly roll-ups (retention_setting is people's: compared)
    "workflow_job_weekly",
    "alert_transition_weekly",
    "automation_result_weekly",
    "connector_check_weekly",
}
# ... and every table of a data source's derived or ingested state (DORA links, clusters).
BACKGROUND_PREFIXES = ("dora_", "kube_")
# Moved forward each time a session is used (sliding renewal, last seen).
TOUCHED_COLUMNS = {"user": {"last_seen_at"}, "user_session": {"last_seen_at", "expires_at"}}
WRONG_KEY = "not-the-server-key-0123456789-abcdefghijklmnopqrstuvwxyz"
HYDRATE_PATH = "/login"  # a page without the live-updates listener: its replies are only ours
NOT_ALLOWED = "Not allowed"
PARALLEL = 40
QUIET = 1.0
PREFIX = "forged-"
SENT_TOKENS: set[str] = set()  # every session cookie value sent by these tests


# ---------- the handlers ----------


@dataclass(frozen=True)
class Handler:
    state: type[rx.State]
    name: str
    permission: str | None
    params: tuple[inspect.Parameter, ...]

    @property
    def event(self) -> str:
        return f"{self.state.get_full_name()}.{self.name}"

    def __str__(self) -> str:
        return f"{self.state.__name__}.{self.name}"


def _states(cls: type[rx.State]) -> Iterator[type[rx.State]]:
    yield cls
    for sub in sorted(cls.get_substates(), key=lambda s: s.get_full_name()):
        yield from _states(sub)


def protected_handlers() -> list[Handler]:
    found = []
    for state in _states(rx.State):
        for name, handler in sorted(state.event_handlers.items()):
            if not hasattr(handler.fn, "required_permission"):
                continue
            signature = inspect.signature(handler.fn.__wrapped__)
            params = tuple(signature.parameters.values())[1:]  # without self
            found.append(Handler(state, name, handler.fn.required_permission, params))
    return found


HANDLERS = protected_handlers()


def test_the_protected_handlers_are_found() -> None:
    """The enumeration sees what exists today (so an empty walk cannot pass everything)."""
    names = {str(h) for h in HANDLERS}
    assert {"AdminState.set_role", "AuditState.load", "AccountState.sign_out_everywhere"} <= names
    assert "AccountState.change_password" in names
    assert {"DoraState.load", "PipelinesState.load", "OverviewState.load"} <= names
    assert {"LiveState.start"} <= names
    assert len([h for h in HANDLERS if h.permission == "admin"]) >= 15


# ---------- what the forged events aim at ----------


@dataclass
class World:
    """Real rows the forged events aim at, and sessions to send them with."""

    admin: User
    admin_token: str
    viewer: User
    viewer_token: str
    target: User
    target_token: str
    target_session: str
    rule_id: int
    team: Team
    repository: str

    def cookie(self, token: str) -> str:
        SENT_TOKENS.add(token)
        return f"{sessions.COOKIE_NAME}={token}"


def _user(session, login: str, role: str) -> User:
    user = session.exec(select(User).where(User.login == login)).first()
    if user is None:
        user = User(login=login, name=login.title(), role=role)
        session.add(user)
        session.commit()
        session.refresh(user)
    assert user.role == role and user.is_active, f"{login} was changed by an earlier run"
    return user


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def world(as_server: Server) -> World:
    with db.session_scope() as session:
        admin = _user(session, f"{PREFIX}admin", "admin")
        viewer = _user(session, f"{PREFIX}viewer", "viewer")
        target = _user(session, f"{PREFIX}target", "user")
        rule = session.exec(
            select(RoleRule).where(RoleRule.github_org == f"{PREFIX}org")
        ).first() or rules.add_rule(
            session, actor=admin, org=f"{PREFIX}org", team=None, role="developer"
        )
        team = session.exec(
            select(Team).where(Team.slug == f"{PREFIX}team")
        ).first() or teams.create_team(session, actor=admin, slug=f"{PREFIX}team", name="Forged")
        repository = session.exec(
            select(Repository.full_name).order_by(Repository.full_name)
        ).first()
        target_token = sessions.issue(session, user=target, method="password")
        return World(
            admin=admin,
            admin_token=sessions.issue(session, user=admin, method="password"),
            viewer=viewer,
            viewer_token=sessions.issue(session, user=viewer, method="github"),
            target=target,
            target_token=target_token,
            target_session=_claims(target_token)["sid"],
            rule_id=rule.id,
            team=team,
            repository=repository or "octo-org/octo-repo",
        )


def payload(handler: Handler, world: World, victim: User) -> dict[str, Any]:
    """Arguments that would change data if the handler ran: from the signature, by name/type."""
    form = {
        "org": "evil-org",
        "team": world.team.slug,
        "role": "admin",
        "slug": f"{PREFIX}evil",
        "name": "Evil",
        "login": victim.login,
        "action": "add",
        "repository": world.repository,
        "actor": "",
        "target": "",
    }
    by_name: dict[str, Any] = {
        "user_id": str(victim.id),
        "role": "admin",
        "session_id": world.target_session,
        "rule_id": str(world.rule_id),
        "team_id": str(world.team.id),
        "delta": 1,
    }
    args = {}
    for param in handler.params:
        annotation = str(param.annotation)
        if param.name in by_name:
            args[param.name] = by_name[param.name]
        elif annotation.startswith("dict"):
            args[param.name] = form
        elif annotation == "bool":
            args[param.name] = False
        elif annotation == "int":
            args[param.name] = 1
        else:
            args[param.name] = "1"
    return args


# ---------- the database, before and after ----------


def _snapshot() -> dict[str, tuple[int, str]]:
    """Row count and a hash of every row (ordered by primary key) of each compared table."""
    found = {}
    with db.session_scope() as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "repository":
                query = select(table.c.id, table.c.team).where(table.c.team.is_not(None))
            elif table.name == "alert":  # only what a person changes: acknowledgements
                query = select(table.c.id, table.c.acknowledged_by, table.c.acknowledged_at).where(
                    table.c.acknowledged_by.is_not(None)
                )
            elif table.name == "alert_rule":  # OpsSight's rules, less what the alert job writes
                written = {"health", "last_error", "last_evaluated_at"}
                query = select(*[c for c in table.columns if c.name not in written]).where(
                    table.c.source == "opssight"
                )
            elif table.name in BACKGROUND_TABLES or table.name.startswith(BACKGROUND_PREFIXES):
                continue
            else:
                skip = TOUCHED_COLUMNS.get(table.name, set())
                query = select(*[c for c in table.columns if c.name not in skip])
            rows = session.connection().execute(query.order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            found[table.name] = (len(rows), digest)
    assert {"audit_log", "user", "user_session", "team", "role_rule"} <= set(found)
    return found


def _counts() -> dict[str, int]:
    with db.session_scope() as session:
        return {
            "audit_log": session.exec(select(func.count()).select_from(AuditLog)).one(),
            "team": session.exec(select(func.count()).select_from(Team)).one(),
            "role_rule": session.exec(select(func.count()).select_from(RoleRule)).one(),
        }


def _person(user_id: int) -> tuple[str, bool, int]:
    with db.session_scope() as session:
        user = session.get(User, user_id)
        return user.role, user.is_active, user.token_version


def _resolves(token: str) -> int | None:
    with db.session_scope() as session:
        user = sessions.resolve(session, token)
        return user.id if user else None


@dataclass
class Before:
    snapshot: dict[str, tuple[int, str]]
    counts: dict[str, int]
    people: dict[int, tuple[str, bool, int]]


def before(world: World) -> Before:
    people = {u.id: _person(u.id) for u in (world.admin, world.viewer, world.target)}
    return Before(_snapshot(), _counts(), people)


def assert_unchanged(world: World, was: Before) -> None:
    assert _counts() == was.counts, "a forged event added or removed audit/team/rule rows"
    for user_id, person in was.people.items():
        assert _person(user_id) == person, f"user {user_id}: role/active/token version changed"
    after = _snapshot()
    changed = [name for name in was.snapshot if after[name] != was.snapshot[name]]
    assert not changed, f"forged events changed these tables: {changed}"
    for user, token in (
        (world.admin, world.admin_token),
        (world.viewer, world.viewer_token),
        (world.target, world.target_token),
    ):
        assert _resolves(token) == user.id, f"{user.login}'s session no longer resolves"


# ---------- sending ----------


@dataclass
class Sent:
    handler: Handler
    payload: dict[str, Any]
    identity: dict[str, Any]  # ShellState as the server saw this connection's caller
    baseline: dict[str, dict[str, Any]]  # every state's vars before the forged event
    replies: Replies

    def describe(self) -> str:
        return f"{self.handler}({self.payload}) -> {json.dumps(self.replies.messages)[:800]}"


def _run(coro: Any) -> Any:
    """Run in a thread of its own: sync Playwright may keep an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _merged(replies: list[Replies]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for reply in replies:
        for delta in reply.deltas:
            for state, values in delta.items():
                merged.setdefault(state, {}).update(values)
    return merged


async def _forge(url: str, cookie: str | None, handler: Handler, args: dict) -> Sent:
    client = SocketClient(url, cookie=cookie, pathname=HYDRATE_PATH)
    try:
        hydrated = await client.connect(quiet=QUIET)
        shell = await client.send(  # however slow a loaded machine makes the answer
            f"{ShellState.get_full_name()}.load",
            quiet=QUIET,
            until=lambda r: bool(r.state_vars(ShellState.get_full_name()) or r.redirects()),
        )
        baseline = _merged([hydrated, shell])
        replies = await client.send(handler.event, args, quiet=QUIET)
    finally:
        await client.close()
    identity = {
        k.removesuffix("_rx_state_"): v
        for k, v in baseline.get(ShellState.get_full_name(), {}).items()
    }
    return Sent(handler, args, identity, baseline, replies)


def forge(url: str, jobs: list[tuple[str | None, Handler, dict]]) -> list[Sent]:
    """Send each (cookie, handler, payload) on a connection of its own, many at a time."""

    async def everything() -> list[Sent]:
        gate = asyncio.Semaphore(PARALLEL)

        async def one(cookie: str | None, handler: Handler, args: dict) -> Sent:
            async with gate:
                return await _forge(url, cookie, handler, args)

        return await asyncio.gather(*(one(*job) for job in jobs))

    return _run(everything())


def assert_no_state_change(sent: Sent) -> None:
    """A refused handler sends back no data: every var it sends equals what the tab had."""
    for state, values in _merged([sent.replies]).items():
        for var, value in values.items():
            assert sent.baseline.get(state, {}).get(var) == value, (
                f"refused {sent.handler} changed {state}.{var}: {sent.describe()}"
            )


def assert_sent_to_login(sent: Sent) -> None:
    assert sent.identity.get("signed_in") is False, f"not a guest: {sent.identity}"
    # back to the page the tab is on after signing in (HYDRATE_PATH is the sign-in page: "/")
    assert sent.replies.redirects() == ["/login?next=%2F"], f"not sent to /login: {sent.describe()}"
    assert [e["name"] for e in sent.replies.events] == ["_redirect"], sent.describe()
    assert_no_state_change(sent)


# ---------- the tests ----------


def test_a_visitor_without_a_session_is_sent_to_sign_in(as_server: Server, world: World) -> None:
    """Demo guest: everything beyond "read" redirects to /login; "read" answers, changes nothing."""
    was = before(world)
    jobs = [(None, h, payload(h, world, world.target)) for h in HANDLERS]
    results = forge(as_server.url, jobs)
    refused = [s for s in results if s.handler.permission not in GUEST_PERMISSIONS]
    assert len(refused) >= 16 and len(results) == len(HANDLERS)
    for sent in results:
        assert sent.identity.get("guest") is True, f"not a demo guest: {sent.identity}"
    for sent in refused:
        assert_sent_to_login(sent)
        admin_vars = sent.replies.state_vars(sent.handler.state.get_full_name())
        assert not any(admin_vars.get(f"{v}_rx_state_") for v in ("users", "sessions", "rows"))
    assert_unchanged(world, was)


def test_a_viewer_is_not_allowed_what_their_role_lacks(as_server: Server, world: World) -> None:
    """Signed-in viewer: "Not allowed" for every permission a viewer lacks; nothing changes.

    The viewer aims at themself (promote to admin, disable, sign out) and at another person's
    session, team membership, rules and teams.
    """
    granted = ROLE_PERMISSIONS["viewer"]
    sendable = [h for h in HANDLERS if h.name != "sign_out_everywhere" or h.permission]
    was = before(world)
    cookie = world.cookie(world.viewer_token)
    results = forge(as_server.url, [(cookie, h, payload(h, world, world.viewer)) for h in sendable])
    refused = [s for s in results if s.handler.permission not in granted | {None}]
    assert len(refused) >= 15
    for sent in results:
        assert sent.identity.get("login") == world.viewer.login, f"not the viewer: {sent.identity}"
        assert sent.identity.get("role") == "viewer"
    for sent in refused:
        assert sent.replies.mentions(NOT_ALLOWED), f"not refused: {sent.describe()}"
        assert [e["name"] for e in sent.replies.events] == ["_call_function"], sent.describe()
        assert_no_state_change(sent)
    assert_unchanged(world, was)


def test_a_viewer_signing_out_everywhere_signs_out_only_themself(
    as_server: Server, world: World
) -> None:
    """The one handler open to anyone signed in: it ends the caller's sessions and no others."""
    handler = next(h for h in HANDLERS if h.name == "sign_out_everywhere")
    assert handler.permission is None
    others = {u.id: _person(u.id) for u in (world.admin, world.target)}
    audit_before = _counts()["audit_log"]
    viewer_version = _person(world.viewer.id)[2]
    [sent] = forge(
        as_server.url,
        [(world.cookie(world.viewer_token), handler, payload(handler, world, world.viewer))],
    )
    assert sent.identity.get("login") == world.viewer.login
    assert sent.replies.mentions("/login"), sent.describe()
    assert _resolves(world.viewer_token) is None, "the viewer's session still resolves"
    assert _person(world.viewer.id)[2] == viewer_version + 1
    for user_id, person in others.items():
        assert _person(user_id) == person, f"user {user_id} was changed by the viewer"
    assert _resolves(world.admin_token) == world.admin.id
    assert _resolves(world.target_token) == world.target.id
    with db.session_scope() as session:
        added = session.exec(select(AuditLog).order_by(AuditLog.id).offset(audit_before)).all()
        live = session.exec(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id != world.viewer.id, UserSession.revoked_at.is_(None))
        ).one()
    assert [(a.action, a.target_id) for a in added] == [
        ("user.sign_out_everywhere", world.viewer.login)
    ]
    assert live >= 2


def _forged_tokens(world: World) -> dict[str, str]:
    """Tokens that must count as no session; each claims the admin's (or a viewer's) session."""
    key = get_settings().resolved_secret_key()
    admin_claims = _claims(world.admin_token)
    tampered = {**_claims(world.viewer_token), "roles": ["admin"]}
    tampered["permissions"] = sorted(ROLE_PERMISSIONS["admin"])
    header, _body, signature = world.viewer_token.split(".")
    edited = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    past = int((utcnow() - timedelta(minutes=5)).timestamp())
    with db.session_scope() as session:
        admin = session.get(User, world.admin.id)
        revoked = sessions.issue(session, user=admin, method="password")
        sessions.revoke(session, _claims(revoked)["sid"])
        stale = _user(session, f"{PREFIX}stale-admin", "admin")
        outdated = sessions.issue(session, user=stale, method="password")
        stale.token_version += 1  # as after "sign out everywhere", but the row kept live
        session.add(stale)
        session.commit()
    return {
        "tampered role, re-signed with a wrong key": jwt.encode(tampered, WRONG_KEY, "HS256"),
        "tampered role, original signature": f"{header}.{edited}.{signature}",
        "admin claims, wrong key": jwt.encode(admin_claims, WRONG_KEY, "HS256"),
        "admin claims, unsigned (alg none)": jwt.encode(admin_claims, None, "none"),
        "expired": jwt.encode({**admin_claims, "exp": past}, key, "HS256"),
        "revoked session": revoked,
        "outdated token version": outdated,
        "garbage": uuid.uuid4().hex,
    }


def test_bad_tokens_count_as_no_session(as_server: Server, world: World) -> None:
    tokens = _forged_tokens(world)
    for name, token in tokens.items():
        assert _resolves(token) is None, f"{name}: resolves in the service layer"
    was = before(world)
    beyond_guest = [h for h in HANDLERS if h.permission not in GUEST_PERMISSIONS]
    jobs = [
        (world.cookie(token), h, payload(h, world, world.target))
        for token in tokens.values()
        for h in beyond_guest
    ]
    results = forge(as_server.url, jobs)
    names = [name for name in tokens for _ in beyond_guest]
    for name, sent in zip(names, results, strict=True):
        assert sent.identity.get("guest") is True, f"{name}: not a guest: {sent.identity}"
        try:
            assert_sent_to_login(sent)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    assert_unchanged(world, was)


def test_the_same_forged_event_from_an_admin_is_applied(as_server: Server, world: World) -> None:
    """Control: the harness delivers events, so the refusals above are the server's doing."""
    handler = next(h for h in HANDLERS if str(h) == "AdminState.create_team")
    slug = f"{PREFIX}control-{uuid.uuid4().hex[:8]}"
    args = payload(handler, world, world.target)  # what the refused senders sent, but a new slug
    args["form"] = {**args["form"], "slug": slug}
    was = before(world)
    [sent] = forge(as_server.url, [(world.cookie(world.admin_token), handler, args)])
    assert sent.identity.get("login") == world.admin.login and sent.identity.get("is_admin")
    after = _snapshot()  # the comparison the refusal tests rely on does see a change
    assert {n for n in after if after[n] != was.snapshot[n]} == {"team", "audit_log"}
    with pytest.raises(AssertionError, match="added or removed"):
        assert_unchanged(world, was)
    with db.session_scope() as session:
        team = session.exec(select(Team).where(Team.slug == slug)).first()
        assert team is not None, f"the admin's create_team did not apply: {sent.describe()}"
        audited = session.exec(
            select(AuditLog).where(AuditLog.action == "team.create", AuditLog.target_id == slug)
        ).all()
        admin = session.get(User, world.admin.id)
        teams.delete_team(session, actor=admin, team_id=team.id)
    assert len(audited) == 1
    listed = sent.replies.state_vars(handler.state.get_full_name()).get("teams_rx_state_") or []
    assert slug in [t["slug"] for t in listed], sent.describe()


def test_no_session_token_reached_the_server_log(as_server: Server) -> None:
    """Forged events are what makes Reflex log an event with its headers: none of the cookies
    sent above (real, revoked or forged) may appear in the server's log."""
    if not SENT_TOKENS:
        pytest.skip("runs after the forged-event tests above")
    logged = as_server.log.read_text(errors="replace")
    leaked = [token[:12] for token in SENT_TOKENS if token in logged]
    assert not leaked, f"session tokens in the server log: {leaked}"


def _live_clients(url: str) -> float:
    """``opssight_live_clients`` summed over the workers (each scrape reaches one worker)."""
    seen: dict[str, float] = {}
    for _ in range(12):
        text = httpx.get(f"{url}/metrics", timeout=10).text
        pid = next(line for line in text.splitlines() if line.startswith("process_start_time"))
        value = next(line for line in text.splitlines() if line.startswith("opssight_live_clients"))
        seen[pid] = float(value.split()[-1])
    return sum(seen.values())


def test_listeners_of_closed_tabs_stop(as_server: Server) -> None:
    """Forged ``LiveState.start`` events from tabs that then close leave no listener behind."""
    name = f"{LiveState.get_full_name()}.start"

    async def start_and_leave(count: int) -> None:
        async def one() -> None:
            async with SocketClient(as_server.url, pathname=HYDRATE_PATH) as client:
                await client.send(name, quiet=0.3)

        await asyncio.gather(*(one() for _ in range(count)))

    baseline = _live_clients(as_server.url)
    _run(start_and_leave(6))
    deadline = time.monotonic() + live.CHECK_SECONDS + 15
    while _live_clients(as_server.url) > baseline and time.monotonic() < deadline:
        time.sleep(1)
    assert _live_clients(as_server.url) <= baseline
