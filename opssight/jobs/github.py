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
from opssight.services.source_config import GitHubConfig


def credentials(github: GitHubConfig) -> Credentials:
    """The token, else the GitHub App's installation tokens (one cache for every pass)."""
    if github.app:
        assert github.app_id and github.installation_id and github.private_key
        return InstallationTokenAuth(
            github.api_url, github.app_id, github.installation_id, github.private_key
        )
    return StaticToken(github.token or "")


def sync_job(github: GitHubConfig, settings: Settings) -> Callable[[Session], object]:
    """Conditional passes, and every ``github_full_sync_every``-th pass a full one."""
    budget = RedisRateBudget(settings.redis_url) if settings.redis_url else MemoryRateBudget()
    token = credentials(github)
    passes = itertools.count()

    def run(session: Session) -> object:
        full = next(passes) % settings.github_full_sync_every == settings.github_full_sync_every - 1
        etags = github_sync.DbEtagStore(session, conditional=not full)
        with GitHubClient(github.api_url, token, etags=etags, budget=budget) as client:
            return github_sync.sync(
                session,
                client,
                names=list(github.repositories),
                org=github.organisation,
                days=settings.github_history_days,
                interval=settings.github_sync_interval_seconds,
            )

    return run
