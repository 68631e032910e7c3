"""The view cache: shared by workers through Redis, never served after an event on its topics."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from opssight.api import create_api
from opssight.events import Event, InProcessBus, RedisBus, get_bus
from opssight.services import cache
from opssight.services.webhooks import sign
from tests.support import RedisProcess, reset_caches

WEBHOOKS = Path(__file__).resolve().parent.parent / "fixtures" / "github" / "webhooks"
SECRET = "webhook-secret-for-tests-0123456789abcdef"


class Report(BaseModel):
    total: int
    names: list[str]


class Counting:
    """A compute function that counts its calls and returns a new value each time."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Report:
        self.calls += 1
        return Report(total=self.calls, names=[f"call {self.calls}"])


def topic() -> str:
    return f"test{uuid.uuid4().hex[:8]}"


def test_in_process_values_are_kept_until_an_event_on_their_topic() -> None:
    bus, mine, other = get_bus(), topic(), topic()
    assert isinstance(bus, InProcessBus)
    compute = Counting()
    get = lambda: cache.get_or_set("k", compute, topics=(mine,), model=Report)  # noqa: E731
    assert get() == get() == Report(total=1, names=["call 1"])
    bus.publish(Event(topic=other))
    assert get().total == 1, "an event on another topic keeps the value"
    bus.publish(Event(topic=f"{mine}.sub"))  # a sub-topic counts for its parent
    assert get().total == 2
    assert compute.calls == 2


def test_a_value_computed_while_an_event_was_published_is_not_served() -> None:
    mine = topic()
    calls = []

    def compute() -> Report:
        calls.append(1)
        if len(calls) == 1:  # the data changes (and is announced) while the view is read
            get_bus().publish(Event(topic=mine))
        return Report(total=len(calls), names=[])

    assert cache.get_or_set("k", compute, topics=(mine,), model=Report).total == 1
    assert cache.get_or_set("k", compute, topics=(mine,), model=Report).total == 2
    assert cache.get_or_set("k", compute, topics=(mine,), model=Report).total == 2


def test_a_ttl_of_zero_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSSIGHT_CACHE_TTL_SECONDS", "0")
    reset_caches()
    compute = Counting()
    for _ in range(3):
        cache.get_or_set("k", compute, topics=("x",), model=Report)
    assert compute.calls == 3


@pytest.fixture
def redis_store(private_redis: RedisProcess) -> RedisProcess:
    return private_redis


async def test_workers_share_values_through_redis_and_drop_them_on_events(
    redis_store: RedisProcess,
) -> None:
    """Two workers (two caches, two buses): one computes, the other reads it; an event
    published by either makes both compute again."""
    url, mine = redis_store.url, topic()
    workers = [cache.Cache(cache.RedisStore(url), ttl=60) for _ in range(2)]
    buses = [RedisBus(url) for _ in range(2)]
    compute = Counting()
    get = lambda w: w.get_or_set("view", compute, topics=(mine,), model=Report)  # noqa: E731
    first = get(workers[0])
    assert get(workers[1]) == first and isinstance(get(workers[1]), Report)
    assert compute.calls == 1
    buses[1].publish(Event(topic=mine))
    assert get(workers[0]).total == 2
    assert get(workers[1]).total == 2
    buses[0].publish(Event(topic=mine))
    assert get(workers[1]).total == 3
    assert compute.calls == 3
    for bus in buses:
        bus._client.close()


async def test_while_redis_is_down_views_are_computed_not_refused(
    redis_store: RedisProcess,
) -> None:
    store = cache.Cache(cache.RedisStore(redis_store.url), ttl=60)
    compute = Counting()
    get = lambda: store.get_or_set("view", compute, topics=("t",), model=Report)  # noqa: E731
    get()
    redis_store.stop()
    try:
        assert get().total == 2
        assert get().total == 3, "no value is kept while Redis is away"
    finally:
        redis_store.start()


async def test_concurrent_misses_compute_once() -> None:
    calls = []

    def slow() -> Report:
        calls.append(1)
        import time

        time.sleep(0.2)
        return Report(total=1, names=[])

    key = uuid.uuid4().hex
    cache.get_cache()  # made once per process (at the first view read), before the threads
    results = await asyncio.gather(
        *(
            asyncio.to_thread(cache.get_or_set, key, slow, topics=("t",), model=Report)
            for _ in range(5)
        )
    )
    assert len(calls) == 1 and all(r.total == 1 for r in results)


@pytest.fixture(params=["in-process", "redis"])
def bus_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "redis":
        server: RedisProcess = request.getfixturevalue("private_redis")
        monkeypatch.setenv("OPSSIGHT_REDIS_URL", server.url)
    return request.param


async def test_pipeline_statistics_change_once_a_delivery_is_announced(
    database_url: str, bus_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's cached statistics: a workflow run delivered by webhook shows as soon as its
    event arrives (both databases, both buses)."""
    from opssight.services.pipeline_queries import RunFilter
    from opssight.state.pipelines import Params, _fetch

    monkeypatch.setenv("OPSSIGHT_GITHUB_WEBHOOK_SECRET", SECRET)
    reset_caches()
    params = Params(RunFilter(), 36500, None)
    before = await asyncio.to_thread(_fetch, params)
    assert before.stats == [] and before.page.total == 0
    body = (WEBHOOKS / "octokit.workflow_run.completed.payload.json").read_bytes()
    async with get_bus().subscribe("pipelines") as subscription:
        transport = httpx.ASGITransport(app=create_api())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.post(
                "/api/webhooks/github",
                content=body,
                headers={
                    "X-GitHub-Event": "workflow_run",
                    "X-GitHub-Delivery": str(uuid.uuid4()),
                    "X-Hub-Signature-256": sign(SECRET, body),
                },
            )
        assert answer.status_code == 200, answer.text
        await asyncio.wait_for(subscription.queue.get(), 5)
    after = await asyncio.to_thread(_fetch, params)
    assert after.page.total == 1
    assert [(s.workflow, s.runs) for s in after.stats] == [(after.page.rows[0].workflow, 1)]
    if isinstance(get_bus(), RedisBus):
        await get_bus().aclose()


def test_giving_a_repository_to_a_team_refreshes_the_teams_figures(database_url: str) -> None:
    """A repository's team scopes DORA and pipeline statistics: assigning it is an event."""
    from datetime import UTC, datetime

    from opssight import db
    from opssight.models import Repository, User, WorkflowRun
    from opssight.services import teams
    from opssight.services.pipeline_queries import RunFilter
    from opssight.state.pipelines import Params, _fetch

    now = datetime.now(UTC)
    with db.session_scope() as session:
        admin = User(login="root", role="admin")
        session.add_all([admin, Repository(id=1, full_name="acme/pay")])
        session.flush()
        session.add(WorkflowRun(run_id=1, attempt=1, repo_id=1, workflow_name="CI", run_number=1,
                                title="t", event="push", head_branch="main", head_sha="a" * 40,
                                status="completed", conclusion="success", created_at=now,
                                run_started_at=now, updated_at=now, completed_at=now))  # fmt: skip
        team = teams.create_team(session, actor=admin, slug="payments", name="Payments")
        team_id, admin_id = team.id, admin.id
    params = Params(RunFilter(team="payments"), 30, None)
    assert _fetch(params).stats == []
    with db.session_scope() as session:
        admin = session.get(User, admin_id)
        teams.assign_repository(session, actor=admin, full_name="acme/pay", team_id=team_id)
    assert [(s.repo, s.runs) for s in _fetch(params).stats] == [("acme/pay", 1)]


async def test_a_view_cached_inside_another_views_computation() -> None:
    """The Pipelines page caches its statistics inside its own cached read."""

    def outer() -> Report:
        inner = cache.get_or_set("inner", lambda: Report(total=7, names=[]), topics=("t",),
                                 model=Report)  # fmt: skip
        return Report(total=inner.total + 1, names=[])

    result = await asyncio.wait_for(
        asyncio.to_thread(cache.get_or_set, "outer", outer, topics=("t",), model=Report), 5
    )
    assert result.total == 8
