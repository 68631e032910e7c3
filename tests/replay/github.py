"""A GitHub REST replay server: real payloads with GitHub's URL shapes, headers and status codes.

``GitHubReplay`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (a free port, a background
thread), optionally under a path prefix such as GitHub Enterprise Server's ``/api/v3``; its
``url`` is the API URL to give a client. It serves the payloads in ``tests/fixtures/github/rest``
(byte-for-byte copies of the shared fixtures, see the SOURCES.md there) for any repo added with
``add_repo`` (``octo-org/octo-repo`` by default):

- ``/rate_limit``, ``/user``, ``/orgs/{org}/repos`` and, under ``/repos/{owner}/{repo}``:
  ``actions/workflows``, ``actions/runs`` (``created=<from>..<to>``), ``actions/runs/{id}/jobs``,
  ``actions/runs/{id}/attempts/{n}/jobs``, ``pulls`` (``state``), ``pulls/{n}/commits``,
  ``deployments``, ``deployments/{id}/statuses``, ``issues`` (``labels``, ``state``).
  Anything else is a 404.
- Lists paginate like GitHub: ``per_page`` (default 30, at most 100), ``page`` and a ``Link``
  header (first, prev, next, last). Runs filtered by ``created`` report the filtered
  ``total_count`` but, as on GitHub, only the first 1,000 of them can be paged to.
- Every 200 carries a strong ETag of its body; a matching ``If-None-Match`` gets a 304 with no
  body that spends nothing. Other authenticated answers spend one request of the
  ``X-RateLimit-*`` budget (except ``/rate_limit`` and injected faults); a spent budget answers
  403 until its reset. A missing or wrong token gets 401; any other method
  (but the POST below) a 404.
- GitHub App installations (``install_app``): ``POST /app/installations/{id}/access_tokens``
  checks the app JWT like GitHub (RS256 signature by the app's key, ``iss`` the app id, ``iat``
  not in the future, ``exp`` in the future and at most 10 minutes ahead; 401 otherwise, 404 for
  an unknown installation) and answers 201 with the recorded
  create-installation-access-token.201.json, its ``token`` a new ``ghs_`` token and its
  ``expires_at`` ``token_ttl`` ahead by the server's ``clock``. Issued tokens are accepted like
  ``token`` until they expire; ``revoke_app_tokens`` forgets them.
- Faults for tests: ``fail`` (the next N requests to a path get a status), ``primary_rate_limit``
  and ``secondary_rate_limit``. Every request is kept in ``requests``.

Derived from the real payloads (no shape is written here):

- workflow runs: copies of the one run of list-workflow-runs-for-repo.200.json with ``id``,
  ``run_number``, ``created_at``/``updated_at``/``run_started_at``, and the run id and repository
  inside its URLs, changed; ``add_repo(name, runs=2500)`` spreads them ``spacing`` apart;
- workflows: those of list-repo-workflows.200.json, with the repository inside their URLs (and,
  but for the default repository, their ids) changed per repo; a test may remove some from
  ``Repo.workflows`` (a deleted workflow);
- jobs: the jobs of list-jobs-for-workflow-run.200.json with ``run_id`` (and the run id inside
  their URLs) set to the run asked for;
- issues: the one item of list-issues-for-repo.200.json (a pull request, as GitHub lists them
  among issues) with ``id``, ``number``, label names, ``state`` and times changed by
  ``add_issue``; a plain issue is that item without its optional ``pull_request`` key;
- org repos: that run's ``repository`` (a minimal-repository, the item shape of
  ``GET /orgs/{org}/repos``) with ``id``, ``name``, ``full_name`` and owner ``login`` per repo;
- ``/rate_limit``: the real payload with ``resources.core`` and ``rate`` set to live counters;
- error bodies: the recorded 404 body (branch-protection recording) with the message GitHub
  documents for the case and ``documentation_url`` pointing at the REST docs; a bad ``created``
  gets the recorded 422 body as it is.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import secrets
import string
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github" / "rest"
TOKEN = "replay-token"
DEFAULT_REPO = "octo-org/octo-repo"
RUN_CAP = 1000
RATE_WINDOW_SECONDS = 3600
API = "https://api.github.com"
DOCS = "https://docs.github.com/rest"
RATE_LIMIT_DOCS = f"{DOCS}/using-the-rest-api/rate-limits-for-the-rest-api"
PRIMARY_MESSAGE = "API rate limit exceeded for user ID 1."
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)

Query = dict[str, list[str]]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as sent, prefix included
    query: Query
    headers: dict[str, str]  # names in lower case
    status: int
    total_count: int | None  # the filtered total of a workflow-runs answer


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    total_count: int | None = None
    spends: bool = True


@dataclass(frozen=True)
class Run:
    id: int
    created: int  # epoch seconds
    attempts: int
    body: bytes


@dataclass(frozen=True)
class App:
    """A GitHub App installation: who may exchange a JWT for its tokens."""

    app_id: str
    public_key: str  # PEM
    token_ttl: float


@dataclass
class Repo:
    full_name: str
    runs: list[Run]  # newest first, as GitHub lists them
    issues: list[dict[str, Any]] = field(default_factory=list)  # newest first
    workflows: list[dict[str, Any]] = field(default_factory=list)  # a test may remove some

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]

    @property
    def id(self) -> int:
        """A stable id of its own (recorded payloads all name one repository)."""
        return 1_000_000 + zlib.crc32(self.full_name.encode()) % 1_000_000

    def own(self, repository: dict[str, Any]) -> dict[str, Any]:
        """A recorded repository object re-labelled as this repository (the default repository
        serves the recordings unchanged)."""
        if self.full_name == DEFAULT_REPO:
            return repository
        owner, name = self.full_name.split("/")
        repository = {**repository, "id": self.id, "name": name, "full_name": self.full_name}
        repository["owner"] = {**repository["owner"], "login": owner}
        return repository


class GitHubReplay:
    """The server; use it as a context manager (it starts on enter, stops on exit)."""

    def __init__(
        self,
        *,
        prefix: str = "",
        token: str = TOKEN,
        limit: int = 5000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.token = token
        self.clock = clock  # judges app JWTs and installation tokens
        self.apps: dict[int, App] = {}  # by installation id
        self.app_tokens: dict[str, float] = {}  # issued installation token -> expiry (epoch)
        self.limit, self.remaining, self.used = limit, limit, 0
        self.reset = int(time.time()) + RATE_WINDOW_SECONDS
        self.requests: list[RecordedRequest] = []
        self.repos: dict[str, Repo] = {}
        self._faults: dict[str, deque[Answer]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._run_template = load("list-workflow-runs-for-repo.200.json")["workflow_runs"][0]
        self._job_template = load("list-jobs-for-workflow-run.200.json")["jobs"]
        self._run_ids = itertools.count(self._run_template["id"])
        self._pulls = load("list-pull-requests.200.json")
        self._workflows_template = load("list-repo-workflows.200.json")["workflows"]
        self._deployments = load("list-deployments.200.json")
        [self._issue_template] = load("list-issues-for-repo.200.json")
        recorded_404 = load("octokit-fixtures.branch-protection.404-then-200.recording.json")[0]
        self._error_keys = recorded_404["response"].keys()
        recorded_422 = load("octokit-fixtures.errors.422-validation-failed.recording.json")[0]
        self._validation_failed = recorded_422["response"]
        self._routes: list[tuple[re.Pattern[str], Callable[..., Answer]]] = [
            (re.compile(pattern), handler)
            for pattern, handler in [
                (r"/rate_limit", self._rate_limit),
                (r"/user", self._user),
                (r"/orgs/(?P<org>[^/]+)/repos", self._org_repos),
                (r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/workflows", self._workflows),
                (r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs", self._runs),
                (
                    r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run_id>\d+)"
                    r"(?:/attempts/(?P<attempt>\d+))?/jobs",
                    self._jobs,
                ),
                (r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls", self._pull_requests),
                (
                    r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls/(?P<number>\d+)/commits",
                    self._commits,
                ),
                (r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/deployments", self._deployments_list),
                (r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues", self._issues),
                (
                    r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/deployments/(?P<deployment_id>\d+)"
                    r"/statuses",
                    self._statuses,
                ),
            ]
        ]
        self._server: _Server | None = None
        self.add_repo(DEFAULT_REPO)

    # ---------- lifecycle ----------

    def __enter__(self) -> GitHubReplay:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.replay = self
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def origin(self) -> str:
        assert self._server is not None, "the server is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The API URL for a client (``http://127.0.0.1:<port><prefix>``)."""
        return self.origin + self.prefix

    # ---------- test controls ----------

    def add_repo(
        self,
        full_name: str,
        *,
        runs: int = 1,
        first_created: datetime | None = None,
        spacing: timedelta = timedelta(minutes=10),
    ) -> Repo:
        """A repo whose ``runs`` runs are created ``spacing`` apart from ``first_created``
        (default: the real run's own ``created_at``, so one run is the real run unchanged)."""
        template = self._run_template
        start = first_created or datetime.fromisoformat(template["created_at"])
        text = json.dumps(template).replace(DEFAULT_REPO, full_name)
        made = []
        labelled = Repo(full_name, [])
        for index in range(runs):
            run_id = next(self._run_ids)
            run = json.loads(text.replace(f"/runs/{template['id']}", f"/runs/{run_id}"))
            created = start + index * spacing
            run.update(
                repository=labelled.own(run["repository"]),
                id=run_id,
                run_number=template["run_number"] + index,
                created_at=_stamp(created),
                updated_at=_stamp(created),
                run_started_at=_stamp(created),
            )
            made.append(Run(run_id, int(created.timestamp()), run["run_attempt"], _dump(run)))
        made.sort(key=lambda run: (run.created, run.id), reverse=True)
        workflows = json.loads(
            json.dumps(self._workflows_template).replace(DEFAULT_REPO, full_name)
        )
        if full_name != DEFAULT_REPO:  # workflow ids are unique on GitHub
            for index, workflow in enumerate(workflows):
                workflow["id"] = labelled.id * 100 + index
        with self._lock:
            repo = self.repos[full_name] = Repo(full_name, made, workflows=workflows)
        return repo

    def add_issue(
        self,
        full_name: str,
        number: int,
        *,
        labels: tuple[str, ...] = ("incident",),
        created: datetime,
        closed: datetime | None = None,
        updated: datetime | None = None,
        pull_request: bool = False,
    ) -> dict[str, Any]:
        """An issue (or, with ``pull_request``, a pull request) of a repo added before."""
        recorded = self._issue_template["repository_url"].removeprefix(f"{API}/repos/")
        item = json.loads(json.dumps(self._issue_template).replace(recorded, full_name))
        if not pull_request:
            del item["pull_request"]
        label = item["labels"][0]
        item.update(
            id=2_000_000 + number,
            number=number,
            labels=[{**label, "name": name} for name in labels],
            state="closed" if closed else "open",
            created_at=_stamp(created),
            updated_at=_stamp(updated or closed or created),
            closed_at=_stamp(closed) if closed else None,
        )
        with self._lock:
            issues = self.repos[full_name].issues
            issues.insert(0, item)
            issues.sort(key=lambda i: (i["created_at"], i["number"]), reverse=True)
        return item

    def install_app(
        self, app_id: str, installation_id: int, public_key: str, *, token_ttl: float = 3600
    ) -> None:
        """An installation of the app whose JWTs ``public_key`` (PEM) verifies."""
        with self._lock:
            self.apps[installation_id] = App(app_id, public_key, token_ttl)

    def revoke_app_tokens(self) -> None:
        with self._lock:
            self.app_tokens.clear()

    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        """The next ``times`` requests to ``path`` (no prefix, no query) answer ``status``."""
        with self._lock:
            self._faults[path].extend(
                Answer(status, body, dict(headers or {}), spends=False) for _ in range(times)
            )

    def primary_rate_limit(self, path: str, *, reset_in: int = 5) -> None:
        """The next request to ``path`` gets GitHub's 403 for a spent budget."""
        headers = self._rate_headers() | {
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Used": str(self.limit),
            "X-RateLimit-Reset": str(int(time.time()) + reset_in),
        }
        self.fail(path, 403, headers=headers, body=self._error_body(PRIMARY_MESSAGE))

    def secondary_rate_limit(
        self, path: str, *, status: int = 403, retry_after: int | None = None
    ) -> None:
        """The next request to ``path`` gets a secondary limit, with ``Retry-After`` if given."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self.fail(path, status, headers=headers, body=self._error_body(SECONDARY_MESSAGE))

    # ---------- answering ----------

    def answer(self, method: str, raw_path: str, query: Query, headers: Message) -> Answer:
        """Answer one request and record it."""
        with self._lock:
            answer = self._answer(method, raw_path, query, headers)
            self.requests.append(
                RecordedRequest(
                    method,
                    raw_path,
                    query,
                    {name.lower(): value for name, value in headers.items()},
                    answer.status,
                    answer.total_count,
                )
            )
        return answer

    def _answer(self, method: str, raw_path: str, query: Query, headers: Message) -> Answer:
        if method not in {"GET", "POST"} or not raw_path.startswith(self.prefix + "/"):
            return self._error(404, "Not Found")
        path = raw_path.removeprefix(self.prefix)
        exchange = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if (method == "POST") != (exchange is not None):
            return self._error(404, "Not Found")
        authorization = headers.get("Authorization")
        if authorization is None:
            return self._error(401, "Requires authentication")
        if exchange is not None:
            return self._access_token(int(exchange[1]), authorization)
        if not self._accepts(authorization):
            return self._error(401, "Bad credentials")
        if time.time() >= self.reset:
            self.remaining, self.used = self.limit, 0
            self.reset = int(time.time()) + RATE_WINDOW_SECONDS
        if self._faults[path]:
            fault = self._faults[path].popleft()
            fault.headers = self._rate_headers() | fault.headers
            return fault
        if self.remaining <= 0 and path != "/rate_limit":
            answer = self._error(403, PRIMARY_MESSAGE)
            answer.spends = False
        else:
            answer = self._route(path, query)
        if answer.status == 200:
            etag = f'"{hashlib.sha256(answer.body).hexdigest()}"'
            answer.headers["ETag"] = etag
            if etag in _etags(headers.get("If-None-Match", "")):
                return Answer(304, headers={"ETag": etag, **self._rate_headers()})
        if answer.spends:
            self.remaining -= 1
            self.used += 1
        answer.headers.update(self._rate_headers())
        return answer

    def _accepts(self, authorization: str) -> bool:
        scheme, _, credential = authorization.partition(" ")
        if scheme not in {"Bearer", "token"}:
            return False
        expires = self.app_tokens.get(credential)
        return credential == self.token or (expires is not None and self.clock() < expires)

    def _access_token(self, installation_id: int, authorization: str) -> Answer:
        app = self.apps.get(installation_id)
        if app is None:
            return self._error(404, "Not Found")
        problem = _jwt_problem(authorization.removeprefix("Bearer "), app, self.clock())
        if problem is not None:
            return self._error(401, problem)
        alphabet = string.ascii_letters + string.digits
        token = "ghs_" + "".join(secrets.choice(alphabet) for _ in range(36))
        expires = self.clock() + app.token_ttl
        self.app_tokens[token] = expires
        body = load("create-installation-access-token.201.json")
        body.update(token=token, expires_at=_stamp(datetime.fromtimestamp(expires, UTC)))
        return Answer(201, _dump(body), spends=False)

    def _route(self, path: str, query: Query) -> Answer:
        for pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match:
                return handler(path, query, **match.groupdict())
        return self._error(404, "Not Found")

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Used": str(self.used),
            "X-RateLimit-Resource": "core",
        }

    def _error_body(self, message: str) -> bytes:
        docs = RATE_LIMIT_DOCS if "rate limit" in message else DOCS
        body = {"message": message, "documentation_url": docs}
        assert body.keys() == self._error_keys, "the recorded error shape changed"
        return _dump(body)

    def _error(self, status: int, message: str) -> Answer:
        return Answer(status, self._error_body(message))

    def _page(
        self,
        path: str,
        query: Query,
        items: list[bytes],
        key: str | None = None,
        reachable: int | None = None,
    ) -> Answer:
        """One page of ``items`` (JSON each) as a bare array, or ``{"total_count", key}``."""
        per_page = min(_int(query, "per_page", 30), 100)
        page = _int(query, "page", 1)
        visible = items[:reachable]
        array = b"[" + b",".join(visible[(page - 1) * per_page : page * per_page]) + b"]"
        body = array
        if key is not None:
            body = b'{"total_count":%d,"%s":%s}' % (len(items), key.encode(), array)
        last = max(1, math.ceil(len(visible) / per_page))
        rels = {"next": page + 1, "last": last} if page < last else {}
        if page > 1:
            rels = {"prev": page - 1, **rels, "first": 1}
        params = {name: values[0] for name, values in query.items()}
        link = ", ".join(
            f"<{self.url}{path}?{urlencode(params | {'per_page': per_page, 'page': number})}>; "
            f'rel="{rel}"'
            for rel, number in rels.items()
        )
        return Answer(200, body, {"Link": link} if link else {})

    # ---------- routes ----------

    def _rate_limit(self, _path: str, _query: Query) -> Answer:
        payload = load("get-rate-limit.200.json")
        live = {"limit": self.limit, "used": self.used, "remaining": self.remaining}
        payload["resources"]["core"] = payload["rate"] = live | {"reset": self.reset}
        return Answer(200, _dump(payload), spends=False)

    def _user(self, _path: str, _query: Query) -> Answer:
        return Answer(200, _dump(load("get-authenticated-user.200.json")))

    def _org_repos(self, path: str, query: Query, org: str) -> Answer:
        names = [name for name, repo in self.repos.items() if repo.owner == org]
        if not names:
            return self._error(404, "Not Found")
        template = self._run_template["repository"]
        items = []
        for offset, full_name in enumerate(names):
            item = json.loads(json.dumps(template).replace(template["full_name"], full_name))
            item.update(id=template["id"] + offset, name=full_name.split("/")[1])
            item["owner"]["login"] = org
            items.append(_dump(item))
        return self._page(path, query, items)

    def _repo(self, owner: str, repo: str) -> Repo | None:
        return self.repos.get(f"{owner}/{repo}")

    def _workflows(self, path: str, query: Query, owner: str, repo: str) -> Answer:
        found = self._repo(owner, repo)
        if found is None:
            return self._error(404, "Not Found")
        return self._page(path, query, [_dump(w) for w in found.workflows], "workflows")

    def _runs(self, path: str, query: Query, owner: str, repo: str) -> Answer:
        found = self._repo(owner, repo)
        if found is None:
            return self._error(404, "Not Found")
        runs, reachable = found.runs, None
        if "created" in query:
            try:
                low, high = _created_range(query["created"][0])
            except ValueError:
                return Answer(422, _dump(self._validation_failed))
            runs = [run for run in runs if low <= run.created <= high]
            reachable = RUN_CAP
        answer = self._page(path, query, [run.body for run in runs], "workflow_runs", reachable)
        answer.total_count = len(runs)
        return answer

    def _jobs(
        self, path: str, query: Query, owner: str, repo: str, run_id: str, attempt: str | None
    ) -> Answer:
        found = self._repo(owner, repo)
        run = next((r for r in found.runs if r.id == int(run_id)), None) if found else None
        if run is None or (attempt is not None and not 1 <= int(attempt) <= run.attempts):
            return self._error(404, "Not Found")
        items = []
        for index, template in enumerate(self._job_template):
            text = json.dumps(template).replace(f"/runs/{template['run_id']}", f"/runs/{run.id}")
            job = json.loads(text.replace(DEFAULT_REPO, found.full_name))
            # each run's jobs get ids of their own, as on GitHub (job ids are unique)
            job |= {"run_id": run.id, "id": run.id * 100 + index}
            items.append(_dump(job))
        return self._page(path, query, items, "jobs")

    def _pull_requests(self, path: str, query: Query, owner: str, repo: str) -> Answer:
        if self._repo(owner, repo) is None:
            return self._error(404, "Not Found")
        state = query.get("state", ["open"])[0]
        found = self._repo(owner, repo)
        pulls = [
            {**p, "base": {**p["base"], "repo": found.own(p["base"]["repo"])}}
            for p in self._pulls
            if state == "all" or p["state"] == state
        ]
        return self._page(path, query, [_dump(p) for p in pulls])

    def _commits(self, path: str, query: Query, owner: str, repo: str, number: str) -> Answer:
        known = {pull["number"] for pull in self._pulls}
        if self._repo(owner, repo) is None or int(number) not in known:
            return self._error(404, "Not Found")
        return self._page(path, query, [_dump(c) for c in load("list-commits.200.json")])

    def _deployments_list(self, path: str, query: Query, owner: str, repo: str) -> Answer:
        if self._repo(owner, repo) is None:
            return self._error(404, "Not Found")
        return self._page(path, query, [_dump(d) for d in self._deployments])

    def _issues(self, path: str, query: Query, owner: str, repo: str) -> Answer:
        found = self._repo(owner, repo)
        if found is None:
            return self._error(404, "Not Found")
        state = query.get("state", ["open"])[0]
        wanted = {n.strip().casefold() for n in query.get("labels", [""])[0].split(",")} - {""}
        items = [
            _dump(issue)
            for issue in found.issues
            if (state == "all" or issue["state"] == state)
            and wanted <= {label["name"].casefold() for label in issue["labels"]}
        ]
        return self._page(path, query, items)

    def _statuses(
        self, path: str, query: Query, owner: str, repo: str, deployment_id: str
    ) -> Answer:
        known = {deployment["id"] for deployment in self._deployments}
        if self._repo(owner, repo) is None or int(deployment_id) not in known:
            return self._error(404, "Not Found")
        statuses = load("list-deployment-statuses.200.json")
        return self._page(path, query, [_dump(s) for s in statuses])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    replay: GitHubReplay


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        url = urlsplit(self.path)
        answer = self.server.replay.answer(
            self.command, url.path, parse_qs(url.query), self.headers
        )
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.body:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if answer.status != 304:
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``GitHubReplay.requests`` instead."""


def _jwt_problem(token: str, app: App, now: float) -> str | None:
    """GitHub's message for an app JWT it would refuse; None when it is good."""
    try:
        claims = jwt.decode(
            token,
            app.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp", "iss"]},
        )
    except jwt.PyJWTError:
        claims = None
    if claims is None or str(claims["iss"]) != app.app_id:  # signed by another app's key
        return "A JSON web token could not be decoded"
    if not isinstance(claims["iat"], int) or claims["iat"] > now:
        return (
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued"
        )
    if not isinstance(claims["exp"], int) or claims["exp"] <= now:
        return (
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires"
        )
    if claims["exp"] > now + 600:
        return "'Expiration time' claim ('exp') is too far in the future"
    return None


def _int(query: Query, name: str, default: int) -> int:
    try:
        return max(1, int(query[name][0]))
    except (KeyError, ValueError):
        return default


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _created_range(value: str) -> tuple[float, float]:
    """GitHub's ``<from>..<to>`` (inclusive, ``*`` for an open end) in epoch seconds."""
    low, separator, high = value.partition("..")
    if not separator:
        raise ValueError(value)
    return _moment(low, -math.inf), _moment(high, math.inf)


def _moment(text: str, open_end: float) -> float:
    if text == "*":
        return open_end
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
