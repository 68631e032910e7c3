"""The GitHub client against the replay server over real HTTP: pagination, ETags, the 1,000-run
cap, rate limits, retries, errors, Enterprise Server URLs and the Redis-shared rate budget."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
import structlog

from opssight.integrations.github import (
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnavailable,
    MemoryEtagStore,
    MemoryRateBudget,
    RateBudget,
    RateState,
)
from opssight.services import ratelimit
from opssight.services.ratelimit import RedisRateBudget
from tests.replay.github import RUN_CAP, TOKEN, GitHubReplay, RecordedRequest, load
from tests.support import RedisProcess, free_port

OWNER, REPO = "octo-org", "octo-repo"
RUNS = f"/repos/{OWNER}/{REPO}/actions/runs"
WORKFLOWS = f"/repos/{OWNER}/{REPO}/actions/workflows"
START = datetime(2024, 1, 1, tzinfo=UTC)


class FakeTime:
    """A clock that only moves when the client sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(
    server: GitHubReplay,
    fake_time: FakeTime,
    *,
    token: str = TOKEN,
    budget: RateBudget | None = None,
    api_url: str | None = None,
    max_retries: int = 4,
) -> GitHubClient:
    return GitHubClient(
        api_url or server.url,
        token,
        etags=MemoryEtagStore(),
        budget=budget or MemoryRateBudget(),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        max_retries=max_retries,
    )


@pytest.fixture
def client(github_replay: GitHubReplay, fake_time: FakeTime) -> Iterator[GitHubClient]:
    with make_client(github_replay, fake_time) as made:
        yield made


def run_requests(server: GitHubReplay, repo: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.path == f"/repos/{OWNER}/{repo}/actions/runs"]


# ---------- pagination and conditional requests ----------


def test_lists_every_run_once_across_pages_following_links(
    github_replay: GitHubReplay, client: GitHubClient
) -> None:
    repo = github_replay.add_repo(f"{OWNER}/busy", runs=250, first_created=START)
    listing = client.iter_workflow_runs(OWNER, "busy", START, START + timedelta(days=30))
    ids = [run["id"] for run in listing]
    assert sorted(ids) == sorted(run.id for run in repo.runs)
    assert len(ids) == len(set(ids)) == 250
    assert (listing.pages, listing.items, listing.not_modified) == (3, 250, False)
    sent = run_requests(github_replay, "busy")
    assert [r.query.get("page") for r in sent] == [None, ["2"], ["3"]]
    assert all(r.query["per_page"] == ["100"] for r in sent)
    assert {r.query["created"][0] for r in sent} == {"2024-01-01T00:00:00Z..2024-01-31T00:00:00Z"}
    headers = sent[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["user-agent"] == "OpsSight"


def test_unchanged_listing_is_one_free_304(
    github_replay: GitHubReplay, client: GitHubClient
) -> None:
    github_replay.add_repo(f"{OWNER}/busy", runs=250, first_created=START)
    window = (OWNER, "busy", START, START + timedelta(days=30))
    assert len(list(client.iter_workflow_runs(*window))) == 250
    remaining = github_replay.remaining

    again = client.iter_workflow_runs(*window)
    assert list(again) == []
    assert again.not_modified and (again.pages, again.unchanged) == (1, 1)
    last = github_replay.requests[-1]
    assert last.status == 304 and last.headers["if-none-match"].startswith('"')
    assert github_replay.remaining == remaining
    assert client.budget.state() == RateState(5000, remaining, github_replay.reset)
    assert (client.stats.requests, client.stats.not_modified, client.stats.items) == (4, 1, 250)
    assert client.stats.not_modified_ratio == 0.25


def test_etag_is_kept_only_once_the_listing_was_read_to_the_end(
    github_replay: GitHubReplay, client: GitHubClient
) -> None:
    github_replay.add_repo(f"{OWNER}/busy", runs=150, first_created=START)
    window = (OWNER, "busy", START, START + timedelta(days=30))
    next(iter(client.iter_workflow_runs(*window)))  # interrupted after the first page
    assert len(list(client.iter_workflow_runs(*window))) == 150
    assert [r.status for r in run_requests(github_replay, "busy")] == [200, 200, 200]


def test_window_over_the_cap_is_split_until_every_run_comes_once(
    github_replay: GitHubReplay, client: GitHubClient
) -> None:
    repo = github_replay.add_repo(
        f"{OWNER}/huge", runs=2500, first_created=START, spacing=timedelta(minutes=17)
    )
    listing = client.iter_workflow_runs(OWNER, "huge", START, START + timedelta(days=60))
    ids = [run["id"] for run in listing]
    assert len(ids) == len(set(ids)) == 2500
    assert set(ids) == {run.id for run in repo.runs}
    sent = run_requests(github_replay, "huge")
    assert any(r.total_count > RUN_CAP for r in sent)
    paged = [r for r in sent if r.query.get("page")]
    assert paged and all(r.total_count <= RUN_CAP for r in paged)

    again = client.iter_workflow_runs(OWNER, "huge", START, START + timedelta(days=60))
    assert list(again) == [] and again.not_modified


def test_replay_enforces_the_cap_a_plain_listing_would_hit(
    github_replay: GitHubReplay, client: GitHubClient
) -> None:
    github_replay.add_repo(f"{OWNER}/huge", runs=2500, first_created=START)
    plain = client.paginate(
        f"/repos/{OWNER}/huge/actions/runs", {"created": "2024-01-01..*"}, item_key="workflow_runs"
    )
    assert len(list(plain)) == RUN_CAP


def test_every_endpoint_serves_the_recorded_payloads(
    github_replay: GitHubReplay, client: GitHubClient
) -> None:
    run_id = github_replay.repos[f"{OWNER}/{REPO}"].runs[0].id
    assert client.get_authenticated_user() == load("get-authenticated-user.200.json")
    assert client.get_rate_limit()["resources"]["core"]["remaining"] == github_replay.remaining
    assert [w["name"] for w in client.list_repo_workflows(OWNER, REPO)] == ["CI", "Linter"]
    assert [j["run_id"] for j in client.list_jobs_for_run(OWNER, REPO, run_id)] == [run_id]
    assert [j["run_id"] for j in client.list_jobs_for_run(OWNER, REPO, run_id, 1)] == [run_id]
    pulls = list(client.list_pull_requests(OWNER, REPO))
    assert pulls == load("list-pull-requests.200.json")
    commits = client.list_pull_request_commits(OWNER, REPO, pulls[0]["number"])
    assert list(commits) == load("list-commits.200.json")
    deployments = list(client.list_deployments(OWNER, REPO))
    assert deployments == load("list-deployments.200.json")
    statuses = client.list_deployment_statuses(OWNER, REPO, deployments[0]["id"])
    assert list(statuses) == load("list-deployment-statuses.200.json")
    assert [r["full_name"] for r in client.list_org_repos(OWNER)] == [f"{OWNER}/{REPO}"]
    assert github_replay.requests[3].query == {"filter": ["all"], "per_page": ["100"]}
    assert github_replay.requests[4].path.endswith(f"/runs/{run_id}/attempts/1/jobs")
    assert github_replay.requests[5].query["state"] == ["all"]
    assert httpx.post(f"{github_replay.url}/user").status_code == 404
    assert github_replay.requests[-1].method == "POST"


def test_enterprise_server_api_url_with_a_path_prefix(fake_time: FakeTime) -> None:
    with (
        GitHubReplay(prefix="/api/v3") as server,
        make_client(server, fake_time, api_url=server.url + "/") as client,
    ):
        assert len(list(client.list_repo_workflows(OWNER, REPO))) == 2
        assert client.get_rate_limit()["rate"]["limit"] == 5000
        with (
            make_client(server, fake_time, api_url=server.origin) as unprefixed,
            pytest.raises(GitHubNotFound),
        ):
            unprefixed.get_authenticated_user()
    assert [r.path for r in server.requests] == [
        f"/api/v3{WORKFLOWS}",
        "/api/v3/rate_limit",
        "/user",
    ]


# ---------- rate limits ----------


def test_primary_rate_limit_waits_until_reset_then_succeeds(
    github_replay: GitHubReplay, client: GitHubClient, fake_time: FakeTime
) -> None:
    earliest_reset = int(time.time()) + 5
    github_replay.primary_rate_limit(WORKFLOWS, reset_in=5)
    assert len(list(client.list_repo_workflows(OWNER, REPO))) == 2
    assert len(fake_time.sleeps) == 1 and 5 <= fake_time.sleeps[0] <= 7
    assert fake_time.now > earliest_reset
    assert [r.status for r in github_replay.requests] == [403, 200]


def test_spent_budget_holds_requests_until_reset(
    github_replay: GitHubReplay, client: GitHubClient, fake_time: FakeTime
) -> None:
    budget = client.budget
    assert isinstance(budget, MemoryRateBudget)
    budget.record(RateState(limit=5000, remaining=0, reset=int(fake_time.now) + 30))
    client.get_authenticated_user()
    assert len(fake_time.sleeps) == 1 and 30 <= fake_time.sleeps[0] <= 31


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(403, 7, 7.0), (429, 3, 3.0), (403, None, 60.0), (429, None, 60.0)],
)
def test_secondary_rate_limit_honours_retry_after_else_waits_a_minute(
    github_replay: GitHubReplay,
    client: GitHubClient,
    fake_time: FakeTime,
    status: int,
    retry_after: int | None,
    expected: float,
) -> None:
    github_replay.secondary_rate_limit(WORKFLOWS, status=status, retry_after=retry_after)
    assert len(list(client.list_repo_workflows(OWNER, REPO))) == 2
    assert fake_time.sleeps == [expected]


def test_endless_rate_limit_gives_up(github_replay: GitHubReplay, fake_time: FakeTime) -> None:
    for _ in range(3):
        github_replay.secondary_rate_limit(WORKFLOWS, retry_after=1)
    with (
        make_client(github_replay, fake_time, max_retries=2) as client,
        pytest.raises(GitHubRateLimited, match="secondary rate limit"),
    ):
        list(client.list_repo_workflows(OWNER, REPO))


# ---------- retries and errors ----------


def test_bad_gateway_twice_then_success_after_backoff(
    github_replay: GitHubReplay, client: GitHubClient, fake_time: FakeTime
) -> None:
    github_replay.fail(WORKFLOWS, 502, times=2)
    remaining = github_replay.remaining
    assert len(list(client.list_repo_workflows(OWNER, REPO))) == 2
    assert fake_time.sleeps == [1.0, 2.0]
    assert client.stats.retries == 2
    assert github_replay.remaining == remaining - 1


def test_bad_gateway_forever_raises_unavailable(
    github_replay: GitHubReplay, fake_time: FakeTime
) -> None:
    github_replay.fail(WORKFLOWS, 502, times=10)
    with (
        make_client(github_replay, fake_time, max_retries=3) as client,
        pytest.raises(GitHubUnavailable) as raised,
    ):
        list(client.list_repo_workflows(OWNER, REPO))
    assert raised.value.status == 502
    assert "Bad Gateway" in str(raised.value) and WORKFLOWS in str(raised.value)
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert len(github_replay.requests) == 4


def test_network_errors_are_retried_then_unavailable(fake_time: FakeTime) -> None:
    with (
        GitHubClient(
            f"http://127.0.0.1:{free_port()}",
            TOKEN,
            etags=MemoryEtagStore(),
            budget=MemoryRateBudget(),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            max_retries=2,
        ) as client,
        pytest.raises(GitHubUnavailable, match="cannot reach GET /user") as raised,
    ):
        client.get_authenticated_user()
    assert raised.value.status is None
    assert fake_time.sleeps == [1.0, 2.0]


def test_bad_token_raises_auth_error(github_replay: GitHubReplay, fake_time: FakeTime) -> None:
    with (
        make_client(github_replay, fake_time, token="ghp_wrong") as client,
        pytest.raises(GitHubAuthError) as raised,
    ):
        client.get_authenticated_user()
    assert raised.value.status == 401
    assert raised.value.message == "Bad credentials (GET /user)"
    assert "ghp_wrong" not in str(raised.value)
    anonymous = httpx.get(f"{github_replay.url}/user")
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "Requires authentication"


def test_unknown_repo_raises_not_found_with_githubs_message(client: GitHubClient) -> None:
    with pytest.raises(GitHubNotFound) as raised:
        list(client.list_repo_workflows(OWNER, "no-such-repo"))
    assert raised.value.status == 404
    assert raised.value.message == f"Not Found (GET /repos/{OWNER}/no-such-repo/actions/workflows)"


def test_other_client_errors_carry_status_and_message(client: GitHubClient) -> None:
    with pytest.raises(GitHubError) as raised:
        list(client.paginate(RUNS, {"created": "yesterday"}, item_key="workflow_runs"))
    assert type(raised.value) is GitHubError
    assert raised.value.status == 422
    assert raised.value.message.startswith("Validation Failed")


# ---------- the shared rate budget ----------


@pytest.fixture
def budget_key(redis_url: str) -> Iterator[str]:
    key = f"opssight:test:github:rate:{uuid.uuid4().hex}"
    yield key
    with redis.Redis.from_url(redis_url) as connection:
        connection.delete(key)


def test_redis_budget_is_shared_between_clients(
    github_replay: GitHubReplay, fake_time: FakeTime, redis_url: str, budget_key: str
) -> None:
    first, second = RedisRateBudget(redis_url, budget_key), RedisRateBudget(redis_url, budget_key)
    with (
        make_client(github_replay, fake_time, budget=first) as one,
        make_client(github_replay, fake_time, budget=second) as two,
    ):
        list(one.list_repo_workflows(OWNER, REPO))
        list(one.list_deployments(OWNER, REPO))
        seen = second.state()
        assert seen is not None and seen.remaining == github_replay.remaining == 4998
        two.get_authenticated_user()
        seen = first.state()
        assert seen is not None and seen.remaining == github_replay.remaining == 4997
    first.close()
    second.close()


def test_redis_budget_never_goes_back_to_a_stale_reading(redis_url: str, budget_key: str) -> None:
    budget = RedisRateBudget(redis_url, budget_key)
    reset = int(time.time()) + 600
    for remaining in (10, 12, 9):
        budget.update(_headers(RateState(5000, remaining, reset)))
    assert budget.state() == RateState(5000, 9, reset)
    budget.update(_headers(RateState(5000, 4999, reset + 3600)))  # a new window
    assert budget.state() == RateState(5000, 4999, reset + 3600)
    budget.close()


def test_redis_budget_degrades_to_memory_while_redis_is_down(
    github_replay: GitHubReplay,
    fake_time: FakeTime,
    private_redis: RedisProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ratelimit, "RETRY_REDIS_AFTER_SECONDS", 0.0)
    budget = RedisRateBudget(private_redis.url)
    with make_client(github_replay, fake_time, budget=budget) as client:
        client.get_authenticated_user()
        private_redis.stop()
        with structlog.testing.capture_logs() as logs:
            list(client.list_repo_workflows(OWNER, REPO))
            client.get_authenticated_user()
        state = budget.state()
        assert state is not None and state.remaining == github_replay.remaining
        degraded = [log for log in logs if log["event"] == "github.rate_budget_degraded"]
        assert len(degraded) == 1 and degraded[0]["log_level"] == "warning"

        private_redis.start()
        client.get_authenticated_user()
    with redis.Redis.from_url(private_redis.url, decode_responses=True) as shared:
        assert shared.hget(budget.key, "remaining") == str(github_replay.remaining)
    budget.close()


def _headers(state: RateState) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(state.limit),
        "x-ratelimit-remaining": str(state.remaining),
        "x-ratelimit-reset": str(state.reset),
    }
