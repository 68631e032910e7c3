"""The local GitHub OAuth provider over real HTTP: the authorize redirect, the token exchange
(form and JSON, its errors, single-use expiring codes), the REST endpoints a sign-in reads with
the real payload shapes, scopes, pagination, GitHub Enterprise Server URLs, and authlib."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.replay.github import load
from tests.replay.oauth import OAUTH_FIXTURES, OAuthProvider

CALLBACK = "http://127.0.0.1:8000/api/auth/github/callback"
SCOPES = "read:user user:email read:org"


@pytest.fixture
def provider() -> Iterator[OAuthProvider]:
    with OAuthProvider(callback=CALLBACK) as running:
        running.add_user(
            "alice",
            id=4242,
            name="Alice Liddell",
            email="alice@example.com",
            orgs=["acme"],
            teams=[("acme", "platform"), ("umbrella", "site-reliability")],
        )
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def authorize(
    http: httpx.Client, provider: OAuthProvider, **params: str
) -> tuple[httpx.Response, dict[str, str]]:
    query = {"client_id": provider.client_id, "redirect_uri": CALLBACK, "state": "st4te"}
    query |= {"scope": SCOPES} | params
    response = http.get(f"{provider.url}/login/oauth/authorize", params=query)
    location = response.headers.get("Location", "")
    return response, dict(parse_qsl(urlsplit(location).query))


def code_for(http: httpx.Client, provider: OAuthProvider, **params: str) -> str:
    response, redirected = authorize(http, provider, **params)
    assert response.status_code == 302, response.text
    return redirected["code"]


def exchange(
    http: httpx.Client, provider: OAuthProvider, code: str, *, as_json: bool = True, **fields: str
) -> dict[str, str]:
    form = {
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "code": code,
        "redirect_uri": CALLBACK,
    } | fields
    headers = {"Accept": "application/json"} if as_json else {}
    response = http.post(f"{provider.url}/login/oauth/access_token", data=form, headers=headers)
    assert response.status_code == 200  # errors too, as on GitHub
    if as_json:
        assert response.headers["Content-Type"].startswith("application/json")
        return response.json()
    assert response.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    return dict(parse_qsl(response.text))


def token_for(http: httpx.Client, provider: OAuthProvider, scope: str = SCOPES) -> str:
    return exchange(http, provider, code_for(http, provider, scope=scope))["access_token"]


def api(http: httpx.Client, provider: OAuthProvider, path: str, token: str) -> httpx.Response:
    return http.get(provider.api_url + path, headers={"Authorization": f"Bearer {token}"})


def recorded(name: str) -> dict[str, str]:
    return json.loads((OAUTH_FIXTURES / name).read_text())


# ---------- authorize ----------


def test_authorize_redirects_to_the_callback_with_a_code_and_the_state(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    response, redirected = authorize(http, provider, allow_signup="false")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert redirected["state"] == "st4te"
    assert len(redirected["code"]) == 20
    asked = provider.requests[-1]
    assert asked.path == "/login/oauth/authorize"
    assert asked.query["scope"] == [SCOPES]
    assert asked.status == 302


def test_each_authorize_issues_a_new_code(provider: OAuthProvider, http: httpx.Client) -> None:
    assert code_for(http, provider) != code_for(http, provider)


def test_an_unknown_client_id_gets_a_404_page(provider: OAuthProvider, http: httpx.Client) -> None:
    response, _ = authorize(http, provider, client_id="Iv1.someoneelse")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8000/api/auth/github/elsewhere",
        "http://127.0.0.1:8000/",
        "https://127.0.0.1:8000/api/auth/github/callback",
        "http://evil.example/api/auth/github/callback",
    ],
)
def test_a_redirect_uri_outside_the_callback_is_sent_to_the_callback_with_an_error(
    provider: OAuthProvider, http: httpx.Client, redirect_uri: str
) -> None:
    response, redirected = authorize(http, provider, redirect_uri=redirect_uri)

    assert response.status_code == 302
    assert response.headers["Location"].startswith(CALLBACK + "?")
    documented = recorded("access-token.redirect_uri_mismatch.json")
    assert redirected["error"] == "redirect_uri_mismatch"
    assert redirected["error_description"] == documented["error_description"]
    assert redirected["error_uri"].endswith("#redirect-uri-mismatch")
    assert redirected["state"] == "st4te"
    assert "code" not in redirected


@pytest.mark.parametrize(
    "redirect_uri",
    [
        CALLBACK + "/sub/dir",  # a subdirectory of the callback
        "http://127.0.0.1:9999/api/auth/github/callback",  # loopback: any port
    ],
)
def test_a_redirect_uri_under_the_callback_is_accepted(
    provider: OAuthProvider, http: httpx.Client, redirect_uri: str
) -> None:
    response, redirected = authorize(http, provider, redirect_uri=redirect_uri)

    assert response.headers["Location"].startswith(redirect_uri + "?")
    assert "code" in redirected


def test_subdomains_count_but_other_ports_do_not_for_a_non_loopback_callback(
    http: httpx.Client,
) -> None:
    with OAuthProvider(callback="https://example.com/path") as provider:
        provider.add_user("alice")
        for good in ("https://example.com/path/x", "https://oauth.example.com/path"):
            assert "code" in authorize(http, provider, redirect_uri=good)[1]
        for bad in ("https://example.com:8443/path", "https://example.com/bar"):
            assert authorize(http, provider, redirect_uri=bad)[1]["error"] == (
                "redirect_uri_mismatch"
            )


def test_without_a_redirect_uri_the_registered_callback_is_used(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    provider.register_callback("http://127.0.0.1:8100/cb")
    query = {"client_id": provider.client_id, "state": "s"}
    response = http.get(f"{provider.url}/login/oauth/authorize", params=query)

    assert response.headers["Location"].startswith("http://127.0.0.1:8100/cb?code=")


def test_a_declined_authorization_redirects_with_access_denied_once(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    provider.deny_next()
    response, redirected = authorize(http, provider)

    assert response.headers["Location"].startswith(CALLBACK + "?")
    assert redirected["error"] == "access_denied"
    assert redirected["error_description"] == "The user has denied your application access."
    assert redirected["state"] == "st4te"
    assert "code" not in redirected
    assert "code" in authorize(http, provider)[1]  # only the next one


def test_the_signed_in_user_is_sticky_and_can_be_switched(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    provider.add_user("bob")
    assert api(http, provider, "/user", token_for(http, provider)).json()["login"] == "alice"

    provider.sign_in_as("bob")
    assert api(http, provider, "/user", token_for(http, provider)).json()["login"] == "bob"
    assert api(http, provider, "/user", token_for(http, provider)).json()["login"] == "bob"
    with pytest.raises(KeyError):
        provider.sign_in_as("nobody")


def test_with_no_user_the_sign_in_page_is_shown(http: httpx.Client) -> None:
    with OAuthProvider(callback=CALLBACK) as provider:
        response, _ = authorize(http, provider)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


# ---------- token exchange ----------


def test_the_token_exchange_answers_json_in_the_documented_shape(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    answer = exchange(http, provider, code_for(http, provider))

    example = recorded("access-token.200.json")
    assert list(answer) == list(example)
    assert answer["token_type"] == "bearer"
    assert answer["scope"] == "read:user,user:email,read:org"
    assert answer["access_token"].startswith("gho_")
    assert len(answer["access_token"]) == len(example["access_token"])
    assert answer["access_token"] != example["access_token"]


def test_the_token_exchange_answers_a_form_by_default(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    answer = exchange(http, provider, code_for(http, provider), as_json=False)

    example = dict(parse_qsl((OAUTH_FIXTURES / "access-token.200.form").read_text()))
    assert list(answer) == list(example)
    assert answer["token_type"] == "bearer"
    assert answer["scope"] == "read:user,user:email,read:org"
    assert api(http, provider, "/user", answer["access_token"]).status_code == 200
    sent = provider.requests[-2]
    assert sent.path == "/login/oauth/access_token"
    assert sent.form["client_secret"] == [provider.client_secret]


def test_client_credentials_may_come_by_http_basic_auth(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    response = http.post(
        f"{provider.url}/login/oauth/access_token",
        data={"code": code_for(http, provider), "redirect_uri": CALLBACK},
        auth=(provider.client_id, provider.client_secret),
        headers={"Accept": "application/json"},
    )

    assert response.json()["token_type"] == "bearer"


@pytest.mark.parametrize("as_json", [True, False])
def test_a_code_is_single_use(provider: OAuthProvider, http: httpx.Client, as_json: bool) -> None:
    code = code_for(http, provider)
    assert "access_token" in exchange(http, provider, code, as_json=as_json)

    replayed = exchange(http, provider, code, as_json=as_json)

    assert replayed == recorded("access-token.bad_verification_code.json")


def test_unknown_and_expired_codes_are_bad_verification_codes(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    code = code_for(http, provider)
    assert exchange(http, provider, "0123456789abcdef0123")["error"] == "bad_verification_code"

    provider.expire_codes()

    assert exchange(http, provider, code)["error"] == "bad_verification_code"
    assert "access_token" in exchange(http, provider, code_for(http, provider))


@pytest.mark.parametrize(
    "fields", [{"client_secret": "wrong"}, {"client_id": "Iv1.other"}, {"client_secret": ""}]
)
def test_wrong_client_credentials_are_refused(
    provider: OAuthProvider, http: httpx.Client, fields: dict[str, str]
) -> None:
    code = code_for(http, provider)

    answer = exchange(http, provider, code, **fields)

    assert answer == recorded("access-token.incorrect_client_credentials.json")
    assert "access_token" in exchange(http, provider, code)  # the code was not spent


def test_a_form_error_carries_the_documented_fields(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    answer = exchange(http, provider, "nope", as_json=False, client_secret="wrong")

    assert answer == recorded("access-token.incorrect_client_credentials.json")


def test_a_code_is_bound_to_its_redirect_uri(provider: OAuthProvider, http: httpx.Client) -> None:
    code = code_for(http, provider, redirect_uri=CALLBACK + "/sub")

    answer = exchange(http, provider, code)  # sends CALLBACK

    assert answer == recorded("access-token.redirect_uri_mismatch.json")
    assert "access_token" in exchange(http, provider, code, redirect_uri=CALLBACK + "/sub")


def test_the_redirect_uri_may_be_left_out_of_the_exchange(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    code = code_for(http, provider)
    response = http.post(
        f"{provider.url}/login/oauth/access_token",
        data={"client_id": provider.client_id, "client_secret": provider.client_secret},
        params={"code": code},
        headers={"Accept": "application/json"},
    )

    assert "access_token" in response.json()


# ---------- REST ----------


def test_user_endpoints_return_the_users_values_in_the_recorded_shapes(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    token = token_for(http, provider)

    user = api(http, provider, "/user", token)
    emails = api(http, provider, "/user/emails", token)
    orgs = api(http, provider, "/user/orgs", token)
    teams = api(http, provider, "/user/teams", token)

    for response in (user, emails, orgs, teams):
        assert response.status_code == 200
        assert response.headers["X-OAuth-Scopes"] == "read:org, read:user, user:email"
    me = user.json()
    assert list(me) == list(load("get-authenticated-user.200.json"))
    assert (me["login"], me["id"], me["name"], me["email"]) == (
        "alice",
        4242,
        "Alice Liddell",
        "alice@example.com",
    )
    assert me["node_id"] == "MDQ6VXNlcjQyNDI="  # base64("04:User4242")
    assert me["avatar_url"] == "https://avatars.githubusercontent.com/u/4242?v=4"
    assert me["url"] == f"{provider.api_url}/users/alice"
    assert me["html_url"] == f"{provider.url}/alice"
    assert emails.json() == [
        {**load("list-emails-for-authenticated-user.200.json")[0], "email": "alice@example.com"}
    ]
    [org_shape] = load("list-orgs-for-authenticated-user.200.json")
    assert [list(org) for org in orgs.json()] == [list(org_shape)] * 2
    assert [org["login"] for org in orgs.json()] == ["acme", "umbrella"]
    assert orgs.json()[0]["url"] == f"{provider.api_url}/orgs/acme"
    [team_shape] = load("list-teams-for-authenticated-user.200.json")
    listed = teams.json()
    assert [list(team) for team in listed] == [list(team_shape)] * 2
    assert [list(team["organization"]) for team in listed] == [list(team_shape["organization"])] * 2
    assert [(t["organization"]["login"], t["slug"], t["name"]) for t in listed] == [
        ("acme", "platform", "Platform"),
        ("umbrella", "site-reliability", "Site Reliability"),
    ]
    assert listed[0]["html_url"] == f"{provider.url}/orgs/acme/teams/platform"
    assert listed[0]["organization"]["id"] == orgs.json()[0]["id"]  # one org, one id


def test_a_user_without_name_or_email_reads_like_github(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    provider.add_user("quiet", id=77, avatar_url="http://127.0.0.1:1/avatar.png")
    provider.sign_in_as("quiet")
    token = token_for(http, provider)

    me = api(http, provider, "/user", token).json()
    [email] = api(http, provider, "/user/emails", token).json()

    assert (me["name"], me["email"], me["avatar_url"]) == (
        None,
        None,
        "http://127.0.0.1:1/avatar.png",
    )
    assert email["email"] == "77+quiet@users.noreply.github.com"
    assert (email["primary"], email["verified"], email["visibility"]) == (True, True, "private")
    assert api(http, provider, "/user/orgs", token).json() == []
    assert api(http, provider, "/user/teams", token).json() == []


def test_endpoints_need_their_scopes(provider: OAuthProvider, http: httpx.Client) -> None:
    token = token_for(http, provider, scope="")

    assert api(http, provider, "/user", token).status_code == 200
    emails = api(http, provider, "/user/emails", token)
    orgs = api(http, provider, "/user/orgs", token)
    teams = api(http, provider, "/user/teams", token)

    assert (emails.status_code, emails.json()["message"]) == (404, "Not Found")
    assert orgs.status_code == 403
    assert orgs.json()["message"] == (
        "You need at least read:org scope or user scope to list your organizations."
    )
    assert (teams.status_code, teams.json()["message"]) == (404, "Not Found")
    assert emails.headers["X-OAuth-Scopes"] == ""
    broad = token_for(http, provider, scope="user")
    for path in ("/user/emails", "/user/orgs", "/user/teams"):
        assert api(http, provider, path, broad).status_code == 200


def test_the_api_needs_a_live_token(provider: OAuthProvider, http: httpx.Client) -> None:
    token = token_for(http, provider)

    missing = http.get(f"{provider.api_url}/user")
    unknown = api(http, provider, "/user", "gho_" + "x" * 36)
    as_token = http.get(f"{provider.api_url}/user", headers={"Authorization": f"token {token}"})

    assert (missing.status_code, missing.json()["message"]) == (401, "Requires authentication")
    assert (unknown.status_code, unknown.json()["message"]) == (401, "Bad credentials")
    assert list(unknown.json()) == ["message", "documentation_url"]
    assert as_token.status_code == 200

    provider.revoke_tokens()

    revoked = api(http, provider, "/user", token)
    assert (revoked.status_code, revoked.json()["message"]) == (401, "Bad credentials")


def test_lists_paginate_with_a_link_header(provider: OAuthProvider, http: httpx.Client) -> None:
    provider.add_user("joiner", orgs=[f"org-{n:02}" for n in range(35)])
    provider.sign_in_as("joiner")
    token = token_for(http, provider)

    first = api(http, provider, "/user/orgs", token)
    second = http.get(first.links["next"]["url"], headers={"Authorization": f"Bearer {token}"})
    small = api(http, provider, "/user/orgs?per_page=10&page=2", token)

    assert len(first.json()) == 30
    assert first.links["next"]["url"] == f"{provider.api_url}/user/orgs?per_page=30&page=2"
    assert first.links["last"]["url"] == f"{provider.api_url}/user/orgs?per_page=30&page=2"
    assert [org["login"] for org in second.json()] == [f"org-{n:02}" for n in range(30, 35)]
    assert "next" not in second.links
    assert [org["login"] for org in small.json()] == [f"org-{n:02}" for n in range(10, 20)]
    assert set(small.links) == {"prev", "next", "last", "first"}


def test_github_com_mode_puts_the_api_on_its_own_host(
    provider: OAuthProvider, http: httpx.Client
) -> None:
    assert provider.api_url != provider.url
    assert urlsplit(provider.api_url).path == ""
    token = token_for(http, provider)

    assert (
        http.get(f"{provider.url}/user", headers={"Authorization": f"Bearer {token}"}).status_code
        == 404
    )
    assert http.post(f"{provider.api_url}/login/oauth/access_token").status_code == 404


def test_enterprise_server_serves_the_api_under_api_v3(http: httpx.Client) -> None:
    with OAuthProvider(enterprise=True, callback=CALLBACK) as provider:
        provider.add_user("alice", orgs=["acme"])
        assert provider.api_url == f"{provider.url}/api/v3"
        token = token_for(http, provider)

        me = api(http, provider, "/user", token).json()
        orgs = api(http, provider, "/user/orgs?per_page=1", token)
        at_root = http.get(f"{provider.url}/user", headers={"Authorization": f"Bearer {token}"})

        assert me["url"] == f"{provider.api_url}/users/alice"
        assert me["html_url"] == f"{provider.url}/alice"
        assert orgs.json()[0]["url"] == f"{provider.api_url}/orgs/acme"
        assert at_root.status_code == 404
        assert provider.requests[-2].path == "/api/v3/user/orgs"


# ---------- authlib, as the app calls it ----------


@pytest.mark.parametrize("auth_method", [None, "client_secret_post"])
async def test_authlib_signs_in_against_the_provider(
    provider: OAuthProvider, auth_method: str | None
) -> None:
    async with AsyncOAuth2Client(
        provider.client_id,
        provider.client_secret,
        redirect_uri=CALLBACK,
        scope=SCOPES,
        token_endpoint_auth_method=auth_method,
    ) as client:
        url, state = client.create_authorization_url(
            f"{provider.url}/login/oauth/authorize", state="csrf-state"
        )
        async with httpx.AsyncClient() as browser:
            redirected = await browser.get(url)
        params = parse_qs(urlsplit(redirected.headers["Location"]).query)
        assert params["state"] == [state] == ["csrf-state"]

        token = await client.fetch_token(
            f"{provider.url}/login/oauth/access_token",
            code=params["code"][0],
            headers={"Accept": "application/json"},
        )
        me = await client.get(f"{provider.api_url}/user")  # authlib sends the bearer token

        assert token["token_type"] == "bearer"
        assert token["scope"] == "read:user,user:email,read:org"
        assert me.json()["login"] == "alice"

        with pytest.raises(OAuthError) as replayed:
            await client.fetch_token(
                f"{provider.url}/login/oauth/access_token",
                code=params["code"][0],
                headers={"Accept": "application/json"},
            )
        assert replayed.value.error == "bad_verification_code"
