"""Every table, imported here so Alembic sees the whole schema."""

from opssight.models.audit import AuditLog
from opssight.models.connector import ConnectorStatus
from opssight.models.user import User, UserSession

__all__ = ["AuditLog", "ConnectorStatus", "User", "UserSession"]
