"""Who a person is on GitHub: the parts of ``/user``, ``/user/emails``, ``/user/orgs`` and
``/user/teams`` that sign-in reads."""

from __future__ import annotations

from pydantic import BaseModel


class GitHubAccount(BaseModel):
    id: int
    login: str
    name: str | None = None
    email: str | None = None
    avatar_url: str | None = None


class GitHubEmail(BaseModel):
    email: str
    primary: bool = False
    verified: bool = False


class GitHubOrg(BaseModel):
    login: str


class GitHubTeam(BaseModel):
    slug: str
    name: str
    organization: GitHubOrg


class GitHubIdentity(BaseModel):
    """Everything sign-in decides on; org logins and team keys are lower-case."""

    account: GitHubAccount
    email: str | None
    orgs: list[str]
    teams: list[GitHubTeam]

    def team_keys(self) -> set[tuple[str, str]]:
        return {(t.organization.login.lower(), t.slug.lower()) for t in self.teams}
