"""Every table, imported here so Alembic sees the whole schema."""

from opssight.models.access import LoginFailure, RoleRule
from opssight.models.alert import Alert, AlertRule, AlertTransition
from opssight.models.audit import AuditLog
from opssight.models.automation import (
    AutomationHost,
    AutomationPlay,
    AutomationResult,
    AutomationRun,
    AutomationRunGroup,
    AutomationRunHost,
    AutomationTask,
    AutomationToken,
)
from opssight.models.connection import Connection
from opssight.models.connector import ConnectorCheckEntry, ConnectorStatus
from opssight.models.dora import DoraCause, DoraChange, DoraConfig, DoraDeployment
from opssight.models.github import (
    Deployment,
    DeploymentStatus,
    PullRequest,
    Repository,
    WebhookDelivery,
    Workflow,
    WorkflowJob,
    WorkflowRun,
)
from opssight.models.history import (
    AlertTransitionWeekly,
    AutomationResultWeekly,
    ConnectorCheckWeekly,
    KubeEventWeekly,
    KubeRestartWeekly,
    RetentionSetting,
    WorkflowJobWeekly,
)
from opssight.models.http_cache import HttpEtag
from opssight.models.incident import Incident
from opssight.models.kubernetes import (
    KubeCluster,
    KubeEvent,
    KubeNode,
    KubePod,
    KubeProblem,
    KubeRestart,
    KubeWorkload,
)
from opssight.models.metric import MetricPanel, MetricQuery
from opssight.models.notification import (
    ContactPoint,
    NotificationDelivery,
    NotificationEscalation,
    NotificationGroup,
    NotificationPolicy,
    NotificationPreference,
    Silence,
)
from opssight.models.service import Service, ServiceMember
from opssight.models.team import Team, TeamMember, TeamNamespace
from opssight.models.user import User, UserSession

__all__ = [
    "Alert",
    "AlertRule",
    "AlertTransition",
    "AlertTransitionWeekly",
    "AuditLog",
    "AutomationHost",
    "AutomationPlay",
    "AutomationResult",
    "AutomationResultWeekly",
    "AutomationRun",
    "AutomationRunGroup",
    "AutomationRunHost",
    "AutomationTask",
    "AutomationToken",
    "Connection",
    "ConnectorCheckEntry",
    "ConnectorCheckWeekly",
    "ConnectorStatus",
    "ContactPoint",
    "Deployment",
    "DeploymentStatus",
    "DoraCause",
    "DoraChange",
    "DoraConfig",
    "DoraDeployment",
    "HttpEtag",
    "Incident",
    "KubeCluster",
    "KubeEvent",
    "KubeEventWeekly",
    "KubeNode",
    "KubePod",
    "KubeProblem",
    "KubeRestart",
    "KubeRestartWeekly",
    "KubeWorkload",
    "LoginFailure",
    "MetricPanel",
    "MetricQuery",
    "NotificationDelivery",
    "NotificationEscalation",
    "NotificationGroup",
    "NotificationPolicy",
    "NotificationPreference",
    "PullRequest",
    "Repository",
    "RetentionSetting",
    "RoleRule",
    "Service",
    "ServiceMember",
    "Silence",
    "Team",
    "TeamMember",
    "TeamNamespace",
    "User",
    "UserSession",
    "WebhookDelivery",
    "Workflow",
    "WorkflowJob",
    "WorkflowJobWeekly",
    "WorkflowRun",
]
