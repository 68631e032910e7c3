"""Roles and the permissions they grant (the seed of DESIGN.md's security model)."""

from __future__ import annotations

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read", "metrics:view"}),
    "user": frozenset({"read"}),
    "developer": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin", "pipelines:manage", "metrics:view"}),
}


def permissions_for(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())
