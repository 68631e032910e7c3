"""The GitHub reconciliation poll as a job: one client per pass, one shared rate budget and
one set of credentials."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from sqlmodel import Session

from opssight.config import Settings
from opssight.integrations.github import Credentials, GitHubClient, MemoryRateBudget, StaticToken
from opssight.integrations.github_app import InstallationTokenAuth
from opssight.services import github_sync
from opssight.services.ratelimit import RedisRateBudget


def credentials(settings: Settings) -> Credentials:
    """The token, else the GitHub App's installation tokens (one cache for every pass)."""
    if settings.github_token is None and settings.github_app:
        assert settings.github_app_id and settings.github_app_installation_id
        return InstallationTokenAuth(
            settings.github_api_url,
            settings.github_app_id,
            settings.github_app_installation_id,
            settings.github_app_key(),
        )
    return StaticToken(settings.github_token.get_secret_value() if settings.github_token else "")


def sync_job(settings: Settings) -> Callable[[Session], object]:
    """Conditional passes, and every ``github_full_sync_every``-th pass a full one."""
    budget = RedisRateBudget(settings.redis_url) if settings.redis_url else MemoryRateBudget()
    token = credentials(settings)
    passes = itertools.count()

    def run(session: Session) -> object:
        full = next(passes) % settings.github_full_sync_every == settings.github_full_sync_every - 1
        etags = github_sync.DbEtagStore(session, conditional=not full)
        with GitHubClient(settings.github_api_url, token, etags=etags, budget=budget) as client:
            return github_sync.sync(
                session,
                client,
                names=settings.repositories,
                org=settings.github_org,
                days=settings.github_history_days,
                interval=settings.github_sync_interval_seconds,
            )

    return run
