"""GitHub App authentication: installation access tokens for ``GitHubClient``.

An app JWT (RS256, signed with the app's private key: ``iat`` 60 s in the past for clock drift,
``exp`` 10 minutes after ``iat``, ``iss`` the app id) is exchanged at
``POST /app/installations/{id}/access_tokens`` for an installation token, which is cached and
renewed a few minutes before its ``expires_at``. The key, the JWT and the token are never logged
or put in an error message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from pydantic import ValidationError

from opssight.integrations.github import (
    HEADERS,
    GitHubAuthError,
    GitHubError,
    GitHubUnavailable,
    error_of,
)
from opssight.schemas.github import InstallationToken

JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 600  # GitHub's maximum
REFRESH_MARGIN_SECONDS = 300.0  # renew this long before the token expires
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class InstallationTokenAuth:
    """``Credentials`` of one installation of a GitHub App (thread-safe; keep one per process
    so its token is reused by every client)."""

    def __init__(
        self,
        api_url: str,
        app_id: str,
        installation_id: int,
        private_key: str | Path,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``private_key`` is the PEM text, or a file holding it (read at each signing)."""
        self.label = f"GitHub App {app_id}, installation {installation_id}"
        self._url = f"{api_url.rstrip('/')}/app/installations/{installation_id}/access_tokens"
        self._app_id = app_id
        self._private_key = private_key
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        """The cached installation token, exchanged anew when it is about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - REFRESH_MARGIN_SECONDS:
                self._token, self._expires_at = self._exchange()
            return self._token

    def refresh(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def app_jwt(self) -> str:
        """A fresh app JWT; GitHubAuthError when the key cannot sign it."""
        issued = int(self._clock()) - JWT_BACKDATE_SECONDS
        claims = {"iat": issued, "exp": issued + JWT_LIFETIME_SECONDS, "iss": self._app_id}
        try:
            return jwt.encode(claims, self._key(), algorithm="RS256")
        except (ValueError, TypeError, AttributeError, jwt.PyJWTError, UnsupportedAlgorithm):
            raise GitHubAuthError(
                "the GitHub App private key is not an RSA private key in PEM format"
            ) from None

    def _key(self) -> str:
        if isinstance(self._private_key, str):
            return self._private_key
        try:
            return self._private_key.read_text()
        except OSError as exc:
            raise GitHubAuthError(
                f"cannot read the GitHub App private key file {self._private_key}: {exc.strerror}"
            ) from None

    def _exchange(self) -> tuple[str, float]:
        headers = HEADERS | {"Authorization": f"Bearer {self.app_jwt()}"}
        try:
            response = httpx.post(self._url, headers=headers, timeout=TIMEOUT)
        except httpx.TransportError as exc:
            where = httpx.URL(self._url).path
            raise GitHubUnavailable(f"cannot reach POST {where}: {exc}") from None
        if response.status_code != 201:
            raise error_of(response)
        try:
            answer = InstallationToken.model_validate_json(response.content)
        except ValidationError:
            raise GitHubError("not an installation token answer", response.status_code) from None
        return answer.token, answer.expires_at.timestamp()
