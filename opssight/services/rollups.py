"""Weekly roll-ups of the history tables (PostgreSQL), written before a month's partition goes.

Weeks start on Monday (UTC). A month's first and last weeks straddle its neighbours: rolling up a
month covers every week that touches it, reading that week's rows wherever they are (the next
month's partition is still there). A week rolled up already keeps its rows (``ON CONFLICT DO
NOTHING``): it was complete then, whereas the neighbour's rows are gone by now.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from opssight.models.history import History
from opssight.services.partitions import add_months

FAILED = "('failure', 'timed_out')"


def _week(column: str) -> str:
    return f"CAST(date_trunc('week', {column} AT TIME ZONE 'UTC') AS date)"


def _seconds(start: str, end: str) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {end} - {start}) AS double precision)"


_DURATION = _seconds("j.started_at", "j.completed_at")
SQL: dict[str, str] = {
    "workflow_job": f"""
INSERT INTO workflow_job_weekly (week, repository, workflow, jobs, failures, p50_seconds,
  p95_seconds)
SELECT {_week("j.created_at")}, COALESCE(r.full_name, ''), COALESCE(w.workflow_name, ''),
  count(*), count(*) FILTER (WHERE j.conclusion IN {FAILED}),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY {_DURATION}),
  percentile_cont(0.95) WITHIN GROUP (ORDER BY {_DURATION})
FROM workflow_job j
LEFT JOIN workflow_run w ON w.run_id = j.run_id AND w.attempt = j.attempt
LEFT JOIN repository r ON r.id = w.repo_id
WHERE j.created_at >= :lo AND j.created_at < :hi
GROUP BY 1, 2, 3""",
    "alert_transition": f"""
INSERT INTO alert_transition_weekly (week, source, rule, severity, firings, resolutions,
  acknowledgements)
SELECT {_week("t.at")}, a.source, a.name, a.severity,
  count(*) FILTER (WHERE t.actor IS NULL AND t.to_state = 'Firing'
    AND t.from_state IS DISTINCT FROM 'Firing'),
  count(*) FILTER (WHERE t.actor IS NULL AND t.to_state = 'Resolved'),
  count(*) FILTER (WHERE t.actor IS NOT NULL)
FROM alert_transition t JOIN alert a ON a.id = t.alert_id
WHERE t.at >= :lo AND t.at < :hi
GROUP BY 1, 2, 3, 4""",
    "kube_event": f"""
INSERT INTO kube_event_weekly (week, cluster, namespace, events, warnings, occurrences)
SELECT {_week("created_at")}, cluster, namespace, count(*),
  count(*) FILTER (WHERE type = 'Warning'), COALESCE(sum(count), 0)
FROM kube_event WHERE created_at >= :lo AND created_at < :hi
GROUP BY 1, 2, 3""",
    "kube_restart": f"""
INSERT INTO kube_restart_weekly (week, cluster, namespace, restarts)
SELECT {_week("at")}, cluster, namespace, count(*)
FROM kube_restart WHERE at >= :lo AND at < :hi
GROUP BY 1, 2, 3""",
    "automation_result": f"""
INSERT INTO automation_result_weekly (week, host, ok, changed, failed, skipped, unreachable)
SELECT {_week("ended_at")}, host, count(*) FILTER (WHERE status = 'ok'),
  count(*) FILTER (WHERE status = 'changed'), count(*) FILTER (WHERE status = 'failed'),
  count(*) FILTER (WHERE status = 'skipped'), count(*) FILTER (WHERE status = 'unreachable')
FROM automation_result WHERE ended_at >= :lo AND ended_at < :hi
GROUP BY 1, 2""",
    "connector_check": f"""
INSERT INTO connector_check_weekly (week, name, checks, ok, p95_latency_ms)
SELECT {_week("at")}, name, count(*), count(*) FILTER (WHERE state = 'ok'),
  percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
FROM connector_check WHERE at >= :lo AND at < :hi
GROUP BY 1, 2""",
}


def weeks_of(month: date) -> tuple[datetime, datetime]:
    """[first Monday on or before the month, the Monday after its last week)."""
    first = month - timedelta(days=month.weekday())
    last = add_months(month, 1) - timedelta(days=1)
    end = last - timedelta(days=last.weekday()) + timedelta(days=7)
    return tuple(datetime(d.year, d.month, d.day, tzinfo=UTC) for d in (first, end))


def roll_up(session: Session, history: History, month: date) -> int:
    """Write the weekly roll-up of every week touching ``month``; the rows added."""
    lo, hi = weeks_of(month)
    statement = text(SQL[history.name] + "\nON CONFLICT DO NOTHING")
    return session.execute(statement, {"lo": lo, "hi": hi}).rowcount
