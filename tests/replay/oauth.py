"""A local GitHub OAuth provider: the web application flow of an OAuth app, and the REST
endpoints a sign-in reads, with GitHub's URL shapes, status codes and (real) payloads.

``OAuthProvider`` is a context manager that starts stdlib ``ThreadingHTTPServer``s on 127.0.0.1
(free ports, background threads). ``url`` is the web root (what ``OPSSIGHT_GITHUB_URL`` names) and
``api_url`` the REST root (``OPSSIGHT_GITHUB_API_URL``):

- github.com (default): two servers, as github.com and api.github.com are two hosts: the web
  root serves ``/login/oauth/*`` and the API server serves ``/user...`` at its root.
- GitHub Enterprise Server (``enterprise=True``): one server, the web flow at its root and the
  API under ``/api/v3`` (``api_url`` is ``{url}/api/v3``).

Web flow (GitHub's "Authorizing OAuth apps" and its two troubleshooting pages):

- ``GET /login/oauth/authorize?client_id&redirect_uri&state&scope[&allow_signup]``. An unknown
  ``client_id`` gets a 404 HTML page. A ``redirect_uri`` that is not "under" the registered
  callback (same scheme; same host or a subdomain of it; same port, except that a 127.0.0.1 or
  ::1 callback accepts any port; the callback's path or a subdirectory of it) is sent with a 302
  to the registered callback with ``error=redirect_uri_mismatch&error_description&error_uri``
  and ``state``. Otherwise the request is approved at once as the signed-in user (the first
  user added, or the one named by ``sign_in_as``; with no user at all a 200 HTML stand-in for
  the sign-in page is answered) and a 302 goes to ``redirect_uri`` (or the callback when it is
  left out) with ``code=<20 hex>&state=<as sent>``; after ``deny_next`` the next one gets
  ``error=access_denied`` there instead. ``scope`` is split on spaces (and commas) and
  granted as asked; ``allow_signup``, ``login`` and ``prompt`` are accepted and ignored. With
  no callback registered (``callback=None`` and no ``register_callback``) every
  ``redirect_uri`` is taken.
- ``POST /login/oauth/access_token`` with ``client_id``, ``client_secret``, ``code`` and
  ``redirect_uri`` as form fields, JSON or query parameters; the client credentials may come
  in an HTTP Basic ``Authorization`` header instead (RFC 6749 ``client_secret_basic``, authlib's
  default). It answers form-urlencoded unless ``Accept`` names ``application/json`` (XML is not
  offered). Success: ``access_token`` (``gho_`` and 36 letters/digits), ``scope`` (the granted
  scopes, comma-separated) and ``token_type=bearer``. Errors are HTTP 200 with ``error``,
  ``error_description``, ``error_uri``, checked in this order: ``incorrect_client_credentials``;
  ``bad_verification_code`` for a code that is missing, unknown, already exchanged (codes are
  single use), older than 10 minutes (``expire_codes`` ages them all at once) or issued to
  another client; ``redirect_uri_mismatch`` when a ``redirect_uri`` is sent that differs from
  the one the code was redirected to (the code stays usable then).

REST (under ``api_url``), with ``Authorization: Bearer <token>`` or ``token <token>``: no header
gets 401 "Requires authentication", an unknown or revoked token 401 "Bad credentials". Every
authenticated answer carries ``X-OAuth-Scopes`` (the granted scopes, sorted, ", "-separated).

- ``GET /user``; ``GET /user/emails`` needs ``user`` or ``user:email`` and is a 404 "Not Found"
  without (as GitHub answers, e.g. octokit/core.js#338); ``GET /user/orgs`` needs ``user`` or
  ``read:org`` (or ``write:org``/``admin:org``, which include it) and is GitHub's documented 403
  "You need at least read:org scope or user scope to list your organizations." without;
  ``GET /user/teams`` needs ``user``, ``repo`` or ``read:org`` (and its parents) and is a 404
  without (GitHub documents the scopes but not the status: 404 is GitHub's usual answer for a
  resource a token's scopes do not reach). Anything else, and any method but GET, is a 404.
- The lists paginate with ``per_page``/``page`` and a ``Link`` header, and errors carry the
  recorded error body, both through ``tests.replay.github.GitHubReplay``'s helpers.

Derived from real payloads (no shape is written here):

- ``/user``: get-authenticated-user.200.json with ``login``, ``id``, ``node_id``, ``name``,
  ``email`` (the public email: null when the user has none), ``avatar_url`` and the user's
  ``url``/``html_url``/``*_url`` (on this server's roots) changed; profile counters, plan, bio
  and the like stay the recorded ones.
- ``/user/emails``: the one item of list-emails-for-authenticated-user.200.json with ``email``
  set (primary, verified, public); a user added without an email gets GitHub's private
  ``{id}+{login}@users.noreply.github.com`` with ``visibility`` "private".
- ``/user/orgs``: the item of list-orgs-for-authenticated-user.200.json per organisation, with
  ``login``, ``id``, ``node_id`` and its URLs changed. The organisations of the user's teams
  are listed too (a team member is an org member), after the ones named in ``orgs``.
- ``/user/teams``: the item of list-teams-for-authenticated-user.200.json per ``(org, slug)``
  with ``id``, ``node_id``, ``slug``, ``name`` (the slug's words capitalised, as the recorded
  "justice-league"/"Justice League"), URLs and the nested ``organization`` (login, name, id,
  node_id, URLs) changed.
- ids: ``id`` when given, else a stable number from the login / org / ``org/slug``; ``node_id``
  is GitHub's legacy global id (base64 of ``04:User<id>``, ``012:Organization<id>``,
  ``04:Team<id>``), checked against the recorded examples.
- token endpoint: the web-flow examples of GitHub's docs (``tests/fixtures/github/oauth``,
  see tests/fixtures/SOURCES.md) for the JSON and form success bodies (keys and their order;
  token and scope values changed) and the three JSON error bodies as they are; a form error is
  the same fields form-encoded. The authorize error redirects take ``error``,
  ``error_description`` and ``error_uri`` from the documented redirect examples.

Not mimicked: the device flow, refresh tokens and expiring user tokens (GitHub Apps), PKCE,
XML answers, GitHub App installations, re-use of previously granted scopes when ``scope`` is
left out (the grant is what is asked, possibly nothing), scope normalisation (``user`` next to
``user:email`` is kept as asked), the revocation of tokens when a code is replayed, rate
limits and their headers, ETags, ``X-Accepted-OAuth-Scopes``, and the consent/sign-in pages
(HTML bodies here are short stand-ins, not GitHub's pages).

With authlib (what the app uses)::

    client = AsyncOAuth2Client(client_id, client_secret, redirect_uri=callback, scope=...)
    url, state = client.create_authorization_url(f"{provider.url}/login/oauth/authorize")
    token = await client.fetch_token(
        f"{provider.url}/login/oauth/access_token", code=code,
        headers={"Accept": "application/json"},
    )

Nothing GitHub-specific is needed beyond that: authlib's default ``client_secret_basic`` works
(GitHub, and this provider, take Basic client credentials), and ``client_secret_post`` works too.
When ``headers`` is passed, pass ``Accept: application/json`` in it: without it the answer is
form-encoded, which authlib cannot read (it raises ``ValueError``). Errors come back as HTTP 200
with ``error``, which authlib raises as ``OAuthError`` with ``error`` set.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from tests.replay.github import Answer, GitHubReplay, Query, _dump, load

OAUTH_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github" / "oauth"
ENTERPRISE_API_PREFIX = "/api/v3"
CODE_LIFETIME_SECONDS = 600  # "The temporary code will expire after 10 minutes."
RECORDED_API = "https://api.github.com"
RECORDED_WEB = "https://github.com"
NOREPLY_DOMAIN = "users.noreply.github.com"
ORGS_SCOPE_MESSAGE = "You need at least read:org scope or user scope to list your organizations."

EMAIL_SCOPES = frozenset({"user", "user:email"})
ORG_SCOPES = frozenset({"user", "read:org", "write:org", "admin:org"})
TEAM_SCOPES = ORG_SCOPES | {"repo"}

TOKEN_ERRORS = ("incorrect_client_credentials", "bad_verification_code", "redirect_uri_mismatch")

JSON_TYPE = "application/json; charset=utf-8"
FORM_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
LOOPBACK = frozenset({"127.0.0.1", "::1"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def _fixture(name: str) -> str:
    return (OAUTH_FIXTURES / name).read_text()


def _documented_redirect(name: str) -> dict[str, str]:
    """The query of a documented redirect example (one parameter per line in the docs)."""
    url = "".join(line.strip() for line in _fixture(name).splitlines())
    return dict(parse_qsl(urlsplit(url).query))


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"{kind}{number}".encode()).decode()


def _stable_id(name: str) -> int:
    return 10_000_000 + zlib.crc32(name.encode()) % 90_000_000


def _html(status: int, title: str) -> Answer:
    body = f"<!DOCTYPE html><html><head><title>{title}</title></head><body></body></html>"
    return Answer(status, body.encode(), {"Content-Type": HTML_TYPE})


def _redirect(location: str) -> Answer:
    return Answer(302, b"", {"Location": location})


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit(parts._replace(query=query))


def _scopes(value: str) -> list[str]:
    return list(dict.fromkeys(s for s in value.replace(",", " ").split() if s))


def _redirect_allowed(callback: str, redirect_uri: str) -> bool:
    """GitHub's rule for an OAuth app's ``redirect_uri`` against its callback URL."""
    cb, rd = urlsplit(callback), urlsplit(redirect_uri)
    cb_host, rd_host = cb.hostname or "", rd.hostname or ""
    if rd.scheme != cb.scheme or not (rd_host == cb_host or rd_host.endswith("." + cb_host)):
        return False
    try:
        cb_port = cb.port or DEFAULT_PORTS.get(cb.scheme)
        rd_port = rd.port or DEFAULT_PORTS.get(rd.scheme)
    except ValueError:
        return False
    if cb_host not in LOOPBACK and cb_port != rd_port:
        return False
    base = cb.path.rstrip("/")
    return rd.path.rstrip("/") == base or rd.path.startswith(base + "/")


@dataclass(frozen=True)
class OAuthRequest:
    method: str
    path: str  # as sent (the GHES API prefix included)
    query: Query
    headers: dict[str, str]  # names in lower case
    form: Query  # the POST body's fields (form-urlencoded or JSON), else empty
    status: int


@dataclass
class _User:
    login: str
    id: int
    name: str | None
    email: str | None
    avatar_url: str | None
    orgs: list[str]
    teams: list[tuple[str, str]]


@dataclass
class _Code:
    client_id: str
    redirect_uri: str  # where the code was sent (without code and state)
    login: str
    scopes: list[str]
    expires: float
    used: bool = False


@dataclass
class _Token:
    login: str
    scopes: list[str]


@dataclass
class _Servers:
    web: _Server
    api: _Server | None = None  # github.com mode only
    threads: list[threading.Thread] = field(default_factory=list)


class _Rest(GitHubReplay):
    """Only ``GitHubReplay``'s pagination (``_page`` with its Link header) and recorded error
    bodies (``_error``), bound to the provider's API URL; no repository or rate-limit state."""

    def __init__(self, api_url: Callable[[], str]) -> None:
        recorded_404 = load("octokit-fixtures.branch-protection.404-then-200.recording.json")[0]
        self._error_keys = recorded_404["response"].keys()
        self._api_url = api_url

    @property
    def url(self) -> str:
        return self._api_url()


class OAuthProvider:
    """The provider; use it as a context manager (it starts on enter, stops on exit)."""

    def __init__(
        self,
        *,
        enterprise: bool = False,
        client_id: str = "Iv1.replayclient",
        client_secret: str = "replay-secret",
        callback: str | None = None,
    ) -> None:
        self.enterprise = enterprise
        self.client_id = client_id
        self.client_secret = client_secret
        self.callback = callback
        self.requests: list[OAuthRequest] = []
        self._users: dict[str, _User] = {}
        self._signed_in: str | None = None
        self._deny_next = False
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._servers: _Servers | None = None
        self._rest = _Rest(lambda: self.api_url)
        self._user_template = load("get-authenticated-user.200.json")
        [self._email_template] = load("list-emails-for-authenticated-user.200.json")
        [self._org_template] = load("list-orgs-for-authenticated-user.200.json")
        [self._team_template] = load("list-teams-for-authenticated-user.200.json")
        recorded_ids = [
            (self._user_template, "04:User"),
            (self._org_template, "012:Organization"),
            (self._team_template, "04:Team"),
            (self._team_template["organization"], "012:Organization"),
        ]
        for recorded, kind in recorded_ids:
            assert recorded["node_id"] == _node_id(kind, recorded["id"]), "node_id scheme changed"
        self._token_json = json.loads(_fixture("access-token.200.json"))
        self._token_form_keys = [key for key, _ in parse_qsl(_fixture("access-token.200.form"))]
        assert set(self._token_form_keys) == self._token_json.keys(), "token shapes differ"
        self._token_errors = {
            name: json.loads(_fixture(f"access-token.{name}.json")) for name in TOKEN_ERRORS
        }
        self._authorize_errors = {
            name: _documented_redirect(f"authorize.{name}.txt")
            for name in ("redirect_uri_mismatch", "access_denied")
        }

    # ---------- lifecycle ----------

    def __enter__(self) -> OAuthProvider:
        web = _Server(("127.0.0.1", 0), _Handler)
        web.provider, web.role = self, "both" if self.enterprise else "web"
        servers = _Servers(web)
        if not self.enterprise:
            servers.api = _Server(("127.0.0.1", 0), _Handler)
            servers.api.provider, servers.api.role = self, "api"
        for server in (servers.web, servers.api):
            if server is not None:
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
                )
                thread.start()
                servers.threads.append(thread)
        self._servers = servers
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._servers is not None:
            for server in (self._servers.web, self._servers.api):
                if server is not None:
                    server.shutdown()
                    server.server_close()
            self._servers = None

    @property
    def url(self) -> str:
        """The web root (``/login/oauth/...``), e.g. ``http://127.0.0.1:<port>``."""
        assert self._servers is not None, "the provider is not running"
        return f"http://127.0.0.1:{self._servers.web.server_address[1]}"

    @property
    def api_url(self) -> str:
        """The REST root: ``{url}/api/v3`` for GHES, else the API server's own origin."""
        assert self._servers is not None, "the provider is not running"
        if self._servers.api is None:
            return self.url + ENTERPRISE_API_PREFIX
        return f"http://127.0.0.1:{self._servers.api.server_address[1]}"

    # ---------- test controls ----------

    def register_callback(self, url: str) -> None:
        """The OAuth app's registered callback URL (without one, any redirect_uri is taken)."""
        with self._lock:
            self.callback = url

    def add_user(
        self,
        login: str,
        *,
        id: int | None = None,
        name: str | None = None,
        email: str | None = None,
        orgs: Sequence[str] = (),
        teams: Sequence[tuple[str, str]] = (),
        avatar_url: str | None = None,
    ) -> None:
        """A GitHub account (added again, it is replaced); the first one added is signed in.
        ``teams`` are ``(org, team_slug)``; ``avatar_url`` defaults to GitHub's
        ``https://avatars.githubusercontent.com/u/<id>?v=4``."""
        user = _User(
            login,
            _stable_id(f"user:{login}") if id is None else id,
            name,
            email,
            avatar_url,
            list(dict.fromkeys([*orgs, *(org for org, _ in teams)])),
            list(dict.fromkeys(teams)),
        )
        with self._lock:
            self._users[login] = user
            if self._signed_in is None:
                self._signed_in = login

    def sign_in_as(self, login: str) -> None:
        """The user the authorize endpoint approves from now on."""
        with self._lock:
            if login not in self._users:
                raise KeyError(f"no user {login!r}: add_user first")
            self._signed_in = login

    def deny_next(self) -> None:
        """The next authorize request is declined by the user (``error=access_denied``)."""
        with self._lock:
            self._deny_next = True

    def expire_codes(self) -> None:
        """Every code issued so far is past its 10 minutes."""
        with self._lock:
            for code in self._codes.values():
                code.expires = 0.0

    def revoke_tokens(self) -> None:
        """Every access token issued so far is revoked (the API answers 401)."""
        with self._lock:
            self._tokens.clear()

    # ---------- answering ----------

    def answer(
        self, role: str, method: str, raw_path: str, query: Query, headers: Message, body: bytes
    ) -> Answer:
        """Answer one request and record it."""
        form = _form(headers, body) if method == "POST" else {}
        with self._lock:
            answer = self._answer(role, method, raw_path, query, headers, form)
            self.requests.append(
                OAuthRequest(
                    method,
                    raw_path,
                    query,
                    {name.lower(): value for name, value in headers.items()},
                    form,
                    answer.status,
                )
            )
        return answer

    def _answer(
        self, role: str, method: str, path: str, query: Query, headers: Message, form: Query
    ) -> Answer:
        if role == "api":
            return self._api(method, path, query, headers)
        if role == "both" and (
            path == ENTERPRISE_API_PREFIX or path.startswith(ENTERPRISE_API_PREFIX + "/")
        ):
            return self._api(method, path.removeprefix(ENTERPRISE_API_PREFIX), query, headers)
        if path == "/login/oauth/authorize" and method == "GET":
            return self._authorize(query)
        if path == "/login/oauth/access_token" and method == "POST":
            return self._access_token(query, headers, form)
        return _html(404, "Page not found")

    # ---------- web flow ----------

    def _authorize(self, query: Query) -> Answer:
        params = {name: values[0] for name, values in query.items()}
        if params.get("client_id") != self.client_id:
            return _html(404, "Page not found")
        state = {"state": params["state"]} if "state" in params else {}
        redirect_uri = params.get("redirect_uri") or self.callback
        if redirect_uri is None:
            return _html(404, "Page not found")
        if self.callback is not None and not _redirect_allowed(self.callback, redirect_uri):
            error = self._authorize_errors["redirect_uri_mismatch"]
            return _redirect(_with_query(self.callback, _error_fields(error) | state))
        if self._deny_next:
            self._deny_next = False
            error = self._authorize_errors["access_denied"]
            return _redirect(_with_query(redirect_uri, _error_fields(error) | state))
        if self._signed_in is None:
            return _html(200, "Sign in to GitHub")
        code = secrets.token_hex(10)
        self._codes[code] = _Code(
            self.client_id,
            redirect_uri,
            self._signed_in,
            _scopes(params.get("scope", "")),
            time.monotonic() + CODE_LIFETIME_SECONDS,
        )
        return _redirect(_with_query(redirect_uri, {"code": code} | state))

    def _access_token(self, query: Query, headers: Message, form: Query) -> Answer:
        fields = {name: values[0] for name, values in (query | form).items()}
        basic_id, basic_secret = _basic_credentials(headers.get("Authorization", ""))
        client_id = fields.get("client_id") or basic_id
        client_secret = fields.get("client_secret") or basic_secret
        as_json = "application/json" in headers.get("Accept", "")
        if client_id != self.client_id or client_secret != self.client_secret:
            return self._token_answer(self._token_errors["incorrect_client_credentials"], as_json)
        code = self._codes.get(fields.get("code", ""))
        if (
            code is None
            or code.used
            or time.monotonic() >= code.expires
            or code.client_id != client_id
        ):
            return self._token_answer(self._token_errors["bad_verification_code"], as_json)
        if "redirect_uri" in fields and fields["redirect_uri"] != code.redirect_uri:
            return self._token_answer(self._token_errors["redirect_uri_mismatch"], as_json)
        code.used = True
        prefix, _, recorded_token = self._token_json["access_token"].partition("_")
        alphabet = string.ascii_letters + string.digits
        token = f"{prefix}_" + "".join(secrets.choice(alphabet) for _ in recorded_token)
        self._tokens[token] = _Token(code.login, code.scopes)
        values = {"access_token": token, "scope": ",".join(code.scopes)}
        payload = {key: values.get(key, recorded) for key, recorded in self._token_json.items()}
        return self._token_answer(payload, as_json)

    def _token_answer(self, payload: dict[str, str], as_json: bool) -> Answer:
        if as_json:
            return Answer(200, _dump(payload), {"Content-Type": JSON_TYPE})
        keys = self._token_form_keys if payload.keys() == set(self._token_form_keys) else payload
        body = urlencode([(key, payload[key]) for key in keys])
        return Answer(200, body.encode(), {"Content-Type": FORM_TYPE})

    # ---------- REST ----------

    def _api(self, method: str, path: str, query: Query, headers: Message) -> Answer:
        if method != "GET":
            return self._rest._error(404, "Not Found")
        authorization = headers.get("Authorization")
        if authorization is None:
            return self._rest._error(401, "Requires authentication")
        scheme, _, credential = authorization.partition(" ")
        token = self._tokens.get(credential.strip())
        if scheme.lower() not in {"bearer", "token"} or token is None:
            return self._rest._error(401, "Bad credentials")
        user = self._users[token.login]
        granted = set(token.scopes)
        if path == "/user":
            answer = Answer(200, _dump(self._user_payload(user)))
        elif path == "/user/emails":
            answer = (
                self._rest._page(path, query, [_dump(self._email_payload(user))])
                if granted & EMAIL_SCOPES
                else self._rest._error(404, "Not Found")
            )
        elif path == "/user/orgs":
            answer = (
                self._rest._page(path, query, [_dump(self._org_payload(o)) for o in user.orgs])
                if granted & ORG_SCOPES
                else self._rest._error(403, ORGS_SCOPE_MESSAGE)
            )
        elif path == "/user/teams":
            teams = [_dump(self._team_payload(org, slug)) for org, slug in user.teams]
            answer = (
                self._rest._page(path, query, teams)
                if granted & TEAM_SCOPES
                else self._rest._error(404, "Not Found")
            )
        else:
            answer = self._rest._error(404, "Not Found")
        answer.headers["X-OAuth-Scopes"] = ", ".join(sorted(token.scopes))
        return answer

    def _relabel(self, recorded: dict[str, Any], old: str, new: str) -> dict[str, Any]:
        """A recorded object with its API and web URLs moved to this server and the path
        segment ``old`` (a login or org name) in them replaced by ``new``."""
        text = json.dumps(recorded)
        for root, here in ((RECORDED_API, self.api_url), (RECORDED_WEB, self.url)):
            for kind in ("/users/", "/orgs/", "/"):
                text = text.replace(f'{root}{kind}{old}"', f'{here}{kind}{new}"')
                text = text.replace(f"{root}{kind}{old}/", f"{here}{kind}{new}/")
                text = text.replace(f"{root}{kind}{old}{{", f"{here}{kind}{new}{{")
        return json.loads(text)

    def _user_payload(self, user: _User) -> dict[str, Any]:
        recorded = self._user_template
        payload = self._relabel(recorded, recorded["login"], user.login)
        avatar = user.avatar_url or f"https://avatars.githubusercontent.com/u/{user.id}?v=4"
        payload.update(
            login=user.login,
            id=user.id,
            node_id=_node_id("04:User", user.id),
            avatar_url=avatar,
            name=user.name,
            email=user.email,
        )
        return payload

    def _email_payload(self, user: _User) -> dict[str, Any]:
        if user.email is not None:
            return {**self._email_template, "email": user.email}
        noreply = f"{user.id}+{user.login}@{NOREPLY_DOMAIN}"
        return {**self._email_template, "email": noreply, "visibility": "private"}

    def _org_payload(self, org: str, recorded: dict[str, Any] | None = None) -> dict[str, Any]:
        recorded = recorded or self._org_template
        number = _stable_id(f"org:{org}")
        payload = self._relabel(recorded, recorded["login"], org)
        payload.update(login=org, id=number, node_id=_node_id("012:Organization", number))
        # the full organization nested in a team also has a name and a (recorded: the
        # octocat user's) html_url
        if "name" in payload:
            payload["name"] = org
        if "html_url" in payload:
            payload["html_url"] = f"{self.url}/{org}"
        return payload

    def _team_payload(self, org: str, slug: str) -> dict[str, Any]:
        recorded = self._team_template
        number = _stable_id(f"team:{org}/{slug}")
        text = json.dumps({k: v for k, v in recorded.items() if k != "organization"})
        text = text.replace(
            f"{RECORDED_API}/teams/{recorded['id']}", f"{self.api_url}/teams/{number}"
        )
        recorded_team_url = f"{RECORDED_WEB}/orgs/{recorded['organization']['login']}/teams/"
        text = text.replace(
            f"{recorded_team_url}{recorded['slug']}", f"{self.url}/orgs/{org}/teams/{slug}"
        )
        payload = json.loads(text)
        payload.update(
            id=number,
            node_id=_node_id("04:Team", number),
            slug=slug,
            name=" ".join(word.capitalize() for word in slug.split("-")),
            organization=self._org_payload(org, recorded["organization"]),
        )
        return payload


def _error_fields(documented: dict[str, str]) -> dict[str, str]:
    return {key: documented[key] for key in ("error", "error_description", "error_uri")}


def _basic_credentials(authorization: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, client_secret = decoded.partition(":")
    return unquote(client_id), unquote(client_secret)


def _form(headers: Message, body: bytes) -> Query:
    if "json" in headers.get("Content-Type", ""):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        return {str(k): [str(v)] for k, v in data.items()} if isinstance(data, dict) else {}
    return parse_qs(body.decode(errors="replace"), keep_blank_values=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    provider: OAuthProvider
    role: str  # "web", "api", or "both" (GHES: web at the root, API under /api/v3)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        url = urlsplit(self.path)
        answer = self.server.provider.answer(
            self.server.role, self.command, url.path, parse_qs(url.query), self.headers, body
        )
        self.send_response(answer.status)
        headers = {"Content-Type": JSON_TYPE} if answer.body else {}
        for name, value in (headers | answer.headers).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``OAuthProvider.requests`` instead."""
