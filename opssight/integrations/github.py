"""GitHub REST client: conditional requests, Link pagination, a shared rate budget, retries.

Synchronous (the sync job runs in a worker thread); returns raw dicts that services validate.
Only a listing's first page is asked conditionally: a 304 there means the listing is unchanged
and nothing is yielded. Later pages are always fetched in full, so a changed listing is complete.
The first page's ETag is stored only once the whole listing has been read, so an interrupted
listing is read again on the next poll. The bearer token comes from ``Credentials``: a fixed token
(``StaticToken``, a PAT) or GitHub App installation tokens (``integrations.github_app``), renewed
once when a request answers 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import structlog

log = structlog.get_logger(__name__)

Item = dict[str, Any]

API_VERSION = "2022-11-28"
PER_PAGE = 100
RESULT_CAP = 1000  # GET .../actions/runs returns at most 1,000 results for a filtered query
SECONDARY_WAIT_SECONDS = 60.0  # GitHub's advice when a secondary limit names no wait
RESET_MARGIN_SECONDS = 1.0  # our clock and GitHub's differ: wait a little past the reset


class GitHubError(Exception):
    """A GitHub request failed; ``status`` is the HTTP status (None when nothing answered)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(f"GitHub {status}: {message}" if status else f"GitHub: {message}")
        self.message = message
        self.status = status


class GitHubAuthError(GitHubError):
    """401: the token is missing, wrong, expired or revoked."""


class GitHubNotFound(GitHubError):
    """404: no such resource, or the token may not see it."""


class GitHubRateLimited(GitHubError):
    """Still rate limited after every allowed wait."""


class GitHubUnavailable(GitHubError):
    """Network errors or 5xx answers outlasted every retry."""


@dataclass(frozen=True)
class RateState:
    """One reading of GitHub's ``X-RateLimit-*`` headers; ``reset`` is in epoch seconds."""

    limit: int
    remaining: int
    reset: int
    resource: str = "core"

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateState | None:
        """Read from case-insensitive headers (``httpx.Headers``); None when any is missing."""
        try:
            return cls(
                limit=int(headers["x-ratelimit-limit"]),
                remaining=int(headers["x-ratelimit-remaining"]),
                reset=int(headers["x-ratelimit-reset"]),
                resource=headers.get("x-ratelimit-resource", "core"),
            )
        except (KeyError, ValueError):
            return None

    def merge(self, other: RateState) -> RateState:
        """The fresher reading: a later window wins; within one window, the lower count."""
        if other.reset != self.reset:
            return other if other.reset > self.reset else self
        return other if other.remaining <= self.remaining else self

    def wait_seconds(self, now: float) -> float:
        """How long requests must wait: until just past the reset when none remain, else 0."""
        if self.remaining > 0 or now >= self.reset:
            return 0.0
        return self.reset - now + RESET_MARGIN_SECONDS


class Credentials(Protocol):
    """Where a client's bearer token comes from; ``label`` says how it authenticates."""

    label: str

    def token(self) -> str: ...

    def refresh(self) -> bool:
        """Forget the token (GitHub refused it); True when a new one may be tried."""
        ...


@dataclass(frozen=True)
class StaticToken:
    """A token that cannot be renewed: a personal access token, or one made elsewhere."""

    value: str = field(repr=False)
    label: str = "access token"

    def token(self) -> str:
        return self.value

    def refresh(self) -> bool:
        return False


class EtagStore(Protocol):
    """The ETag of each listing's first page, keyed by its full URL (query included)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, etag: str) -> None: ...


class MemoryEtagStore:
    """ETags kept in this process only."""

    def __init__(self) -> None:
        self._etags: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._etags.get(key)

    def set(self, key: str, etag: str) -> None:
        self._etags[key] = etag


class RateBudget(Protocol):
    """The rate budget GitHub reports, shared by every client that holds it."""

    def update(self, headers: Mapping[str, str]) -> None: ...

    def state(self) -> RateState | None: ...

    def wait_seconds(self, now: float) -> float: ...


class MemoryRateBudget:
    """The rate budget of one process (thread-safe)."""

    def __init__(self) -> None:
        self._state: RateState | None = None
        self._lock = threading.Lock()

    def update(self, headers: Mapping[str, str]) -> None:
        state = RateState.from_headers(headers)
        if state is not None:
            self.record(state)

    def record(self, state: RateState) -> None:
        with self._lock:
            self._state = state if self._state is None else self._state.merge(state)

    def state(self) -> RateState | None:
        return self._state

    def wait_seconds(self, now: float) -> float:
        state = self._state
        return 0.0 if state is None else state.wait_seconds(now)


@dataclass
class GitHubStats:
    """What a client has spent, for the connector panel ("requests spent", "304 ratio")."""

    requests: int = 0  # HTTP requests sent, retries included
    not_modified: int = 0  # of which answered 304 (free: no rate budget spent)
    items: int = 0  # list items received
    retries: int = 0
    waited_seconds: float = 0.0

    @property
    def not_modified_ratio(self) -> float:
        return self.not_modified / self.requests if self.requests else 0.0


class Listing:
    """The items of a paginated GET, fetched lazily page by page as it is iterated (once).

    Afterwards ``pages`` counts the pages answered (304s included), ``unchanged`` the 304s and
    ``items`` the items received; ``not_modified`` means every first page was a 304, so nothing
    was yielded and the caller already holds the listing.
    """

    def __init__(self, fetch: Callable[[Listing], Iterator[Item]]) -> None:
        self._fetch = fetch
        self.pages = 0
        self.unchanged = 0
        self.items = 0

    def __iter__(self) -> Iterator[Item]:
        return self._fetch(self)

    @property
    def not_modified(self) -> bool:
        return self.pages > 0 and self.unchanged == self.pages


@dataclass(frozen=True)
class _Page:
    body: Any
    next_url: str | None
    etag: str | None

    @classmethod
    def of(cls, response: httpx.Response) -> _Page:
        next_url = response.links.get("next", {}).get("url")
        return cls(response.json(), next_url, response.headers.get("etag"))


HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": API_VERSION,
    "User-Agent": "OpsSight",
}


class GitHubClient:
    """GitHub's REST API on github.com or Enterprise Server (``https://host/api/v3``)."""

    def __init__(
        self,
        api_url: str,
        token: str | Credentials,
        *,
        etags: EtagStore,
        budget: RateBudget,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_retries: int = 4,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.credentials = StaticToken(token) if isinstance(token, str) else token
        self.budget = budget
        self.stats = GitHubStats()
        self._etags = etags
        self._sleep, self._clock, self._max_retries = sleep, clock, max_retries
        self._owns_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True
        )
        self._headers = HEADERS

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------- endpoints ----------

    def get_rate_limit(self) -> Item:
        """``GET /rate_limit`` (free: it does not count against the budget)."""
        return self.get_json("/rate_limit")

    def get_authenticated_user(self) -> Item:
        return self.get_json("/user")

    def list_org_repos(self, org: str) -> Listing:
        return self.paginate(f"/orgs/{quote(org, safe='')}/repos")

    def list_repo_workflows(self, owner: str, repo: str) -> Listing:
        return self.paginate(f"{_repo(owner, repo)}/actions/workflows", item_key="workflows")

    def iter_workflow_runs(
        self, owner: str, repo: str, created_from: datetime, created_to: datetime
    ) -> Listing:
        """Runs created in ``[created_from, created_to]`` (aware datetimes, whole seconds).

        A window holding more than GitHub's 1,000-result cap is halved, recursively, into
        windows that do not overlap, so every run in it is yielded exactly once.
        """
        path = f"{_repo(owner, repo)}/actions/runs"
        start, end = _epoch(created_from), _epoch(created_to)
        return Listing(lambda listing: self._runs_window(path, start, end, listing))

    def list_jobs_for_run(
        self, owner: str, repo: str, run_id: int, attempt: int | None = None
    ) -> Listing:
        """The jobs of one attempt, or of every attempt when ``attempt`` is None."""
        run = f"{_repo(owner, repo)}/actions/runs/{run_id}"
        if attempt is None:
            return self.paginate(f"{run}/jobs", {"filter": "all"}, item_key="jobs")
        return self.paginate(f"{run}/attempts/{attempt}/jobs", item_key="jobs")

    def list_pull_requests(self, owner: str, repo: str, state: str = "all") -> Listing:
        return self.paginate(f"{_repo(owner, repo)}/pulls", {"state": state})

    def list_pull_request_commits(self, owner: str, repo: str, number: int) -> Listing:
        return self.paginate(f"{_repo(owner, repo)}/pulls/{number}/commits")

    def list_issues(self, owner: str, repo: str, labels: str, state: str = "all") -> Listing:
        """Issues carrying every label of ``labels`` (comma separated); GitHub lists pull
        requests here too (items with a ``pull_request`` key)."""
        return self.paginate(f"{_repo(owner, repo)}/issues", {"labels": labels, "state": state})

    def list_deployments(self, owner: str, repo: str) -> Listing:
        return self.paginate(f"{_repo(owner, repo)}/deployments")

    def list_deployment_statuses(self, owner: str, repo: str, deployment_id: int) -> Listing:
        return self.paginate(f"{_repo(owner, repo)}/deployments/{deployment_id}/statuses")

    # ---------- building blocks ----------

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """One unconditional GET; its parsed body."""
        return self._get(self._url(path, params), etag=None).json()

    def paginate(
        self, path: str, params: Mapping[str, str] | None = None, *, item_key: str | None = None
    ) -> Listing:
        """Every item of a list endpoint, ``per_page=100``, following ``Link: rel="next"``.

        ``item_key`` names the list inside object bodies such as ``{"total_count", "jobs"}``.
        """
        url = self._url(path, {**(params or {}), "per_page": str(PER_PAGE)})
        return Listing(lambda listing: self._listing(url, item_key, listing))

    def _url(self, path: str, params: Mapping[str, str] | None) -> str:
        return str(httpx.URL(self.api_url + path, params=params))

    def _listing(self, url: str, item_key: str | None, listing: Listing) -> Iterator[Item]:
        first = self._first_page(url, listing)
        if first is not None:
            yield from self._pages(first, item_key, listing)
            self._remember(url, first)

    def _runs_window(self, path: str, start: int, end: int, listing: Listing) -> Iterator[Item]:
        created = f"{_iso(start)}..{_iso(end)}"  # GitHub's range: inclusive at both ends
        url = self._url(path, {"created": created, "per_page": str(PER_PAGE)})
        first = self._first_page(url, listing)
        if first is None:
            return
        total = first.body["total_count"]
        if total > RESULT_CAP and end > start:
            middle = (start + end) // 2
            yield from self._runs_window(path, start, middle, listing)
            yield from self._runs_window(path, middle + 1, end, listing)
        else:
            if total > RESULT_CAP:
                log.warning("github.result_cap", created=created, total=total, cap=RESULT_CAP)
            yield from self._pages(first, "workflow_runs", listing)
        self._remember(url, first)

    def _first_page(self, url: str, listing: Listing) -> _Page | None:
        """The first page, asked conditionally; None when GitHub answers 304 (unchanged)."""
        response = self._get(url, etag=self._etags.get(url))
        listing.pages += 1
        if response.status_code == 304:
            listing.unchanged += 1
            return None
        return _Page.of(response)

    def _pages(self, page: _Page, item_key: str | None, listing: Listing) -> Iterator[Item]:
        while True:
            items = page.body[item_key] if item_key else page.body
            listing.items += len(items)
            self.stats.items += len(items)
            yield from items
            if page.next_url is None:
                return
            page = _Page.of(self._get(page.next_url, etag=None))
            listing.pages += 1

    def _remember(self, url: str, page: _Page) -> None:
        if page.etag:
            self._etags.set(url, page.etag)

    def _get(self, url: str, etag: str | None) -> httpx.Response:
        """A GET that respects the budget and retries; a 2xx or 304 response or a GitHubError.

        A 401 renews the credentials once (an installation token GitHub no longer accepts)."""
        headers = self._headers if etag is None else {**self._headers, "If-None-Match": etag}
        failures = waits = 0
        renewed = False
        while True:
            self._pause(self.budget.wait_seconds(self._clock()), "rate budget spent", url)
            self.stats.requests += 1
            authorization = {"Authorization": f"Bearer {self.credentials.token()}"}
            try:
                response = self._http.get(url, headers=headers | authorization)
            except httpx.TransportError as exc:
                failures += 1
                if failures > self._max_retries:
                    raise GitHubUnavailable(f"cannot reach {_where(url)}: {exc}") from exc
                self._retry(2.0 ** (failures - 1), f"network error: {exc}", url)
                continue
            self.budget.update(response.headers)
            if response.status_code == 304:
                self.stats.not_modified += 1
                return response
            if response.is_success:
                return response
            if response.status_code == 401 and not renewed and self.credentials.refresh():
                renewed = True
                continue
            delay = _rate_limit_delay(response, self._clock())
            if delay is not None:
                waits += 1
                if waits > self._max_retries:
                    raise GitHubRateLimited(_describe(response), response.status_code)
                self._retry(delay, "rate limited", url)
            elif response.is_server_error:
                failures += 1
                if failures > self._max_retries:
                    raise GitHubUnavailable(_describe(response), response.status_code)
                self._retry(2.0 ** (failures - 1), f"HTTP {response.status_code}", url)
            else:
                raise error_of(response)

    def _retry(self, seconds: float, reason: str, url: str) -> None:
        self.stats.retries += 1
        self._pause(seconds, reason, url)

    def _pause(self, seconds: float, reason: str, url: str) -> None:
        if seconds <= 0:
            return
        log.warning("github.wait", seconds=round(seconds, 1), reason=reason, target=_where(url))
        self.stats.waited_seconds += seconds
        self._sleep(seconds)


def _repo(owner: str, repo: str) -> str:
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("created_from and created_to must be timezone-aware")
    return int(moment.timestamp())


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _where(url: str, method: str = "GET") -> str:
    return f"{method} {httpx.URL(url).path}"


def _message(response: httpx.Response) -> str:
    """GitHub's ``message``, else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return response.reason_phrase or f"HTTP {response.status_code}"


def _describe(response: httpx.Response) -> str:
    return f"{_message(response)} ({_where(str(response.url), response.request.method)})"


def error_of(response: httpx.Response) -> GitHubError:
    """The GitHubError an unsuccessful answer stands for."""
    kind = {401: GitHubAuthError, 404: GitHubNotFound}.get(response.status_code, GitHubError)
    return kind(_describe(response), response.status_code)


def _rate_limit_delay(response: httpx.Response, now: float) -> float | None:
    """Seconds to wait before retrying a rate-limited answer; None when it is not one.

    GitHub's order: ``Retry-After``; else a spent primary budget waits for
    ``X-RateLimit-Reset``; else a secondary limit that names no wait waits 60 s.
    """
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    if "retry-after" in headers:
        try:
            return max(0.0, float(headers["retry-after"]))
        except ValueError:
            return SECONDARY_WAIT_SECONDS
    if headers.get("x-ratelimit-remaining") == "0":
        state = RateState.from_headers(headers)
        return SECONDARY_WAIT_SECONDS if state is None else state.wait_seconds(now)
    if response.status_code == 429 or "rate limit" in _message(response).lower():
        return SECONDARY_WAIT_SECONDS
    return None
