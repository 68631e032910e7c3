"""Roles and the permissions they grant (the seed of DESIGN.md's security model)."""

from __future__ import annotations

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read", "metrics:view"}),
    "user": frozenset({"read"}),
    "developer": frozenset({"read", "write", "pipelines:manage", "metrics:view"}),
    "admin": frozenset({"read", "write", "admin", "pipelines:manage", "metrics:view"}),
}
ROLES: tuple[str, ...] = ("viewer", "user", "developer", "admin")  # weakest first
DEFAULT_ROLE = "viewer"
GUEST_PERMISSIONS = frozenset({"read"})  # a demo visitor who has not signed in


def permissions_for(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def strongest(roles: list[str]) -> str | None:
    """The role granting the most, by ``ROLES`` order; None for no roles."""
    known = [r for r in roles if r in ROLE_PERMISSIONS]
    return max(known, key=ROLES.index) if known else None
