"""Incidents from GitHub issues (an issue counts while it carries the incident label) and from
critical alerts (each firing episode of a critical alert is one incident).

``issue_changes`` maps one issue (a webhook ``issues`` delivery or an item of the REST issues
listing) to the ``incident`` row it writes, like the ``services.pipelines`` ``*_changes``
functions: the one-by-one path (``pipelines.apply_changes``) and the webhook batch writer write
the same rows with the same guard. Only issues that carry the label, or just lost it, write a
row; one that lost it or was deleted keeps its row with ``counted`` false, and the ``updated_at``
guard keeps an older delivery arriving later from counting it again. ``resolved_at`` is the
issue's ``closed_at`` (a reopened issue has none).

``alert_changes`` maps a critical alert's firing episode to its incident (source "alert"):
opened when it started firing, resolved when the alert resolved. Alerts belong to no
repository, so DORA counts them when its report is not scoped to repositories or teams.
"""

from __future__ import annotations

from opssight.events import Event
from opssight.models import Alert, Incident
from opssight.models.base import utcnow
from opssight.schemas import github as gh
from opssight.services.dora_links import Link
from opssight.services.pipelines import DEPLOYMENTS, Changes, Target, repository_changes

SOURCE = "github-issue"
ALERT_SOURCE = "alert"
CRITICAL = "critical"
INCIDENT = Target(Incident, ("source", "key"), unless_newer="updated_at")


def _has(labels: list[gh.Label], name: str) -> bool:
    wanted = name.casefold()
    return any(label.name.casefold() == wanted for label in labels)


def issue_changes(
    repo: gh.Repo,
    issue: gh.Issue,
    *,
    label: str,
    action: str | None = None,
    changed_label: gh.Label | None = None,
) -> Changes:
    """The rows one issue writes: its repository and, if it is or just was an incident (carries
    ``label``, or ``action`` is ``unlabeled`` with ``changed_label`` it), its ``incident`` row.
    Pull requests (``issue.pull_request``) are never incidents."""
    labelled = _has(issue.labels, label)
    lost = action == "unlabeled" and changed_label is not None and _has([changed_label], label)
    if issue.pull_request is not None or not (labelled or lost):
        return Changes()
    values = {
        "source": SOURCE,
        "key": str(issue.id),
        "repo_id": repo.id,
        "title": issue.title[:500],
        "url": issue.html_url,
        "created_at": issue.created_at,
        "resolved_at": issue.closed_at if issue.state == "closed" else None,
        "updated_at": issue.updated_at,
        "counted": labelled and action != "deleted",
    }
    event = Event(topic=DEPLOYMENTS, keys={"repo": repo.full_name, "issue": str(issue.number)})
    link = Link("incident", (SOURCE, values["key"]), repo.id)
    own = Changes(rows=[(INCIDENT, values)], events=[event], links=[link])
    return repository_changes(repo) + own


def alert_changes(alert: Alert) -> Changes:
    """The incident row of a critical alert's current firing episode (none for other alerts or
    before it fires). Its key names the alert and the episode's firing time."""
    if alert.severity.casefold() != CRITICAL or alert.firing_at is None:
        return Changes()
    resolved = alert.resolved_at if alert.state == "Resolved" else None
    key = f"{alert.source}:{alert.fingerprint}:{alert.firing_at.isoformat()}"
    values = {
        "source": ALERT_SOURCE,
        "key": key,
        "repo_id": None,
        "title": alert.name[:500],
        "url": alert.generator_url
        if alert.generator_url and len(alert.generator_url) <= 500
        else None,
        "created_at": alert.firing_at,
        "resolved_at": resolved,
        "updated_at": utcnow(),
        "counted": True,
    }
    event = Event(topic=DEPLOYMENTS, keys={"incident": key})
    return Changes(rows=[(INCIDENT, values)], events=[event])
