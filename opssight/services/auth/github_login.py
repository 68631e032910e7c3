"""Sign-in with GitHub (OAuth web flow, authlib): authorize URL, code exchange, identity, user.

The flow: ``/api/auth/github/login`` keeps a random ``state`` in an HttpOnly cookie and sends the
browser to ``{github_url}/login/oauth/authorize``; the callback checks the state, exchanges the
code (single use at GitHub), reads ``/user``, ``/user/emails``, ``/user/orgs`` and
``/user/teams`` with the person's token (never stored), then ``sign_in`` creates or updates the
user, applies the role rules, imports their teams and opens a session.
"""

from __future__ import annotations

import secrets
import warnings

import httpx
import structlog
from authlib.deprecate import AuthlibDeprecationWarning
from pydantic import ValidationError
from sqlmodel import Session, select

from opssight.config import get_settings
from opssight.integrations.github import (
    GitHubClient,
    GitHubError,
    MemoryEtagStore,
    MemoryRateBudget,
)
from opssight.models import User
from opssight.schemas.identity import (
    GitHubAccount,
    GitHubEmail,
    GitHubIdentity,
    GitHubOrg,
    GitHubTeam,
)
from opssight.services import audit, teams
from opssight.services.auth import rules
from opssight.services.auth.rbac import DEFAULT_ROLE

with warnings.catch_warnings():  # authlib warns when it runs on httpx rather than httpx2
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

log = structlog.get_logger(__name__)

SCOPES = "read:user user:email read:org"
CALLBACK_PATH = "/api/auth/github/callback"
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class SignInError(Exception):
    """A sign-in that cannot go on; ``code`` picks the message the sign-in page shows
    (``navigation.MESSAGES``)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def new_state() -> str:
    return secrets.token_urlsafe(32)


def callback_url() -> str:
    return get_settings().public_url + CALLBACK_PATH


def _client() -> AsyncOAuth2Client:
    settings = get_settings()
    if not settings.github_sign_in:
        raise SignInError("not_configured")
    return AsyncOAuth2Client(
        settings.github_client_id,
        settings.github_client_secret.get_secret_value(),
        scope=SCOPES,
        redirect_uri=callback_url(),
        token_endpoint_auth_method="client_secret_post",
        timeout=HTTP_TIMEOUT,
    )


def authorize_url(state: str) -> str:
    url, _ = _client().create_authorization_url(
        get_settings().github_url.rstrip("/") + "/login/oauth/authorize", state=state
    )
    return url


async def exchange(code: str) -> str:
    """The person's access token for a one-time ``code``; ``SignInError`` otherwise."""
    async with _client() as client:
        try:
            token = await client.fetch_token(
                get_settings().github_url.rstrip("/") + "/login/oauth/access_token",
                code=code,
                headers={"Accept": "application/json"},
            )
        except OAuthError as exc:
            raise SignInError("exchange", exc.error or "") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInError("github", type(exc).__name__) from None
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise SignInError("exchange", "no access_token")
    return access


def read_identity(access_token: str) -> GitHubIdentity:
    """What GitHub says about the person (sync: call it from a worker thread)."""
    settings = get_settings()
    with GitHubClient(
        settings.github_api_url,
        access_token,
        etags=MemoryEtagStore(),
        budget=MemoryRateBudget(),
        max_retries=0,
    ) as client:
        try:
            account = GitHubAccount.model_validate(client.get_authenticated_user())
            emails = [GitHubEmail.model_validate(e) for e in client.paginate("/user/emails")]
            orgs = [GitHubOrg.model_validate(o) for o in client.paginate("/user/orgs")]
            found = [GitHubTeam.model_validate(t) for t in client.paginate("/user/teams")]
        except GitHubError as exc:
            raise SignInError("github", str(exc)) from None
        except ValidationError as exc:
            raise SignInError("github", f"unexpected payload: {exc.error_count()} errors") from None
    primary = next((e.email for e in emails if e.primary and e.verified), None)
    return GitHubIdentity(
        account=account,
        email=primary or account.email,
        orgs=sorted({o.login.lower() for o in orgs}),
        teams=found,
    )


def sign_in(session: Session, identity: GitHubIdentity) -> User:
    """Create or update the person's user row, role and teams; ``SignInError`` if refused."""
    settings = get_settings()
    account = identity.account
    allowed = settings.allowed_orgs
    if allowed and not set(allowed) & set(identity.orgs):
        log.warning("auth.github_org_refused", login=account.login, orgs=identity.orgs)
        raise SignInError("org")
    user = session.exec(select(User).where(User.github_id == account.id)).first()
    if user is None:
        if session.exec(select(User).where(User.login == account.login)).first() is not None:
            raise SignInError("conflict", account.login)
        user = User(login=account.login, github_id=account.id, role=DEFAULT_ROLE)
    if not user.is_active:
        raise SignInError("disabled")
    user.login, user.name = account.login, account.name
    user.email, user.avatar_url = identity.email, account.avatar_url
    session.add(user)
    session.flush()
    role = rules.role_for(session, identity)
    if role is not None and role != user.role:
        audit.record(
            session,
            actor=user,
            action="user.role_from_rule",
            target_type="user",
            target_id=str(user.id),
            before={"role": user.role},
            after={"role": role},
        )
        user.role = role
        session.add(user)
    teams.import_github_teams(session, user=user, identity=identity)
    session.commit()
    session.refresh(user)
    log.info("auth.github_signed_in", login=user.login, role=user.role)
    return user
