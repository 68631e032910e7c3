"""Alerts: current alerts (firing and pending first) with filters, the history of state changes,
per-rule figures, and the rules; acknowledging and changing rules need ``write``. Live from the
``alerts`` topic."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

import reflex as rx
import structlog
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from opssight import db
from opssight.models import Alert, AlertRule, Silence
from opssight.models.base import utcnow
from opssight.schemas.alerting import RuleForm
from opssight.services import teams
from opssight.services.alerting import queries, rules, silences
from opssight.services.alerting.queries import AlertFilter, RuleFigures, TransitionRow
from opssight.state.formatting import ago, duration, when
from opssight.state.live import live_view
from opssight.state.session import caller, protected, signed_in_user
from opssight.state.team_scope import callers_team

log = structlog.get_logger(__name__)

FIGURES_DAYS = 7
STATES = ["Firing", "Pending", "Error", "NoData", "Resolved", "Normal"]
DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Params(NamedTuple):
    filter: AlertFilter


@dataclass(frozen=True)
class AlertsData:
    teams: list[str]
    silences: list[Silence]
    alerts: list[Alert]
    history: list[TransitionRow]
    figures: list[RuleFigures]
    rules: list[AlertRule]


def _fetch(params: Params) -> AlertsData:
    with db.read_session_scope() as session:
        since = utcnow() - timedelta(days=FIGURES_DAYS)
        return AlertsData(
            teams=teams.owning_teams(session),
            silences=silences.active(session),
            alerts=queries.list_alerts(session, params.filter),
            history=queries.transitions(session),
            figures=queries.rule_figures(session, since=since),
            rules=queries.list_rules(session),
        )


def parse_duration(text: str, what: str = "For") -> int:
    """``90``, ``30s``, ``5m``, ``2h`` or ``1d`` as seconds."""
    match = DURATION.match(text or "0")
    if match is None:
        raise ValueError(f"{what}: {text!r} is not a duration like 30s, 5m or 1h")
    return int(match.group(1)) * UNITS[match.group(2)]


def duration_text(seconds: int) -> str:
    """Seconds as ``parse_duration`` reads them, in the largest whole unit."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """One ``name=value`` per line (blank lines skipped)."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{what}, line {number}: expected name=value")
        pairs[name.strip()] = value.strip()
    return pairs


def _pairs_text(pairs: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in pairs.items())


def _state_color(state: str) -> str:
    return {"Firing": "down", "Error": "down", "Pending": "degraded", "NoData": "degraded"}.get(
        state, "ok"
    )


def alert_cells(a: Alert) -> dict[str, str]:
    labels = {k: v for k, v in a.labels.items() if k != "alertname"}
    active = a.state in ("Firing", "Pending", "Error", "NoData")
    return {
        "id": str(a.id),
        "name": a.name,
        "source": a.source,
        "severity": a.severity or "—",
        "state": a.state,
        "tone": _state_color(a.state),
        "value": "" if a.value is None else f"{a.value:g}",
        "labels": ", ".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "summary": a.annotations.get("summary") or a.annotations.get("description") or "",
        "error": a.error or "",
        "since": ago(a.firing_at if a.state == "Firing" else a.started_at or a.updated_at),
        "resolved": when(a.resolved_at) if a.state == "Resolved" else "",
        "ack": f"{a.acknowledged_by} · {ago(a.acknowledged_at)} ago" if a.acknowledged_by else "",
        "can_ack": "yes" if active and not a.acknowledged_by else "",
    }


def _silence_cells(s: Silence) -> dict[str, str]:
    return {
        "id": str(s.id),
        "matchers": ", ".join(f"{n}{op}{v}" for n, op, v in s.matchers),
        "until": when(s.ends_at),
        "by": s.created_by or "—",
        "comment": s.comment,
    }


def history_cells(t: TransitionRow) -> dict[str, str]:
    change = f"acknowledged by {t.actor}" if t.actor else f"{t.from_state or '—'} → {t.to_state}"
    return {
        "alert_id": str(t.alert_id),
        "name": t.name,
        "source": t.source,
        "change": change,
        "state": t.to_state,
        "tone": _state_color(t.to_state) if not t.actor else "ok",
        "value": "" if t.value is None else f"{t.value:g}",
        "error": t.error or "",
        "at": when(t.at),
    }


def _figure_cells(f: RuleFigures) -> dict[str, str]:
    return {
        "name": f.name,
        "source": f.source,
        "firings": str(f.firings),
        "flaps": str(f.flaps),
        "mtta": duration(f.mtta.total_seconds()) if f.mtta is not None else "—",
        "mttr": duration(f.mttr.total_seconds()) if f.mttr is not None else "—",
    }


def _rule_cells(r: AlertRule) -> dict[str, str]:
    return {
        "id": str(r.id),
        "name": r.name,
        "source": r.source,
        "expr": r.expr,
        "for": duration(r.for_seconds) if r.for_seconds else "—",
        "severity": r.severity or "—",
        "enabled": "yes" if r.enabled else "",
        "health": r.health,
        "tone": {"ok": "ok", "err": "down"}.get(r.health, "unknown"),
        "error": r.last_error or "",
        "evaluated": ago(r.last_evaluated_at) if r.last_evaluated_at else "never",
        "editable": "yes" if r.source == "opssight" else "",
    }


def _change(action: Callable[[Session], object]) -> str | None:
    """Run one change as the caller; the refusal's wording if it was refused."""
    with db.session_scope() as session:
        try:
            action(session)
        except rules.AlertingError as exc:
            session.rollback()
            return str(exc)
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@live_view("alerts")
class AlertsState(rx.State):
    state_filter: str = ""
    severity_filter: str = ""
    source_filter: str = ""
    team_filter: str = ""
    search: str = ""
    teams: list[str] = []
    silences: list[dict[str, str]] = []
    alerts: list[dict[str, str]] = []
    history: list[dict[str, str]] = []
    figures: list[dict[str, str]] = []
    rules: list[dict[str, str]] = []
    can_write: bool = False
    loaded: bool = False
    error: str = ""
    # the rule form
    form_open: bool = False
    form_id: int = 0  # 0: a new rule
    form_name: str = ""
    form_expr: str = ""
    form_for: str = "0"
    form_severity: str = "warning"
    form_labels: str = ""
    form_annotations: str = ""
    form_datasource: str = ""
    form_no_data: str = "Normal"
    form_enabled: bool = True
    form_error: str = ""

    def _params(self) -> Params:
        try:
            query = AlertFilter(
                state=self.state_filter or None,
                severity=self.severity_filter,
                source=self.source_filter,
                search=self.search,
                team=self.team_filter,
            )
        except ValidationError:
            query = AlertFilter()
        return Params(query)

    def _live_params(self) -> Params | None:
        return self._params() if self.loaded else None

    @staticmethod
    def _fetch(params: Params) -> AlertsData:
        return _fetch(params)

    def _apply(self, data: AlertsData) -> None:
        self.teams = data.teams
        self.silences = [_silence_cells(s) for s in data.silences]
        self.alerts = [alert_cells(a) for a in data.alerts]
        self.history = [history_cells(t) for t in data.history]
        self.figures = [_figure_cells(f) for f in data.figures]
        self.rules = [_rule_cells(r) for r in data.rules]
        self.loaded, self.error = True, ""

    async def _reload(self) -> None:
        try:
            self._apply(await asyncio.to_thread(_fetch, self._params()))
        except SQLAlchemyError as exc:
            log.error("alerts.load_failed", error=str(exc).splitlines()[0])
            self.error = "The database is unreachable; alerts cannot be shown right now."

    async def _run(self, action: Callable[[Session], object], done: str) -> Any:
        try:
            refused = await asyncio.to_thread(_change, action)
        except SQLAlchemyError as exc:
            log.error("alerts.change_failed", error=str(exc).splitlines()[0])
            return rx.toast.error("The database is unreachable; nothing was changed.")
        await self._reload()
        if refused:
            log.info("alerts.change_refused", reason=refused)
            return rx.toast.error(refused)
        return rx.toast.success(done)

    @rx.event
    @protected("read")
    async def load(self) -> None:
        """The first visit opens on the person's own team (when it owns something)."""
        self.can_write = "write" in caller().permissions
        link = str(self.router.url.query_parameters.get("search", ""))  # a timeline link
        if not self.loaded and not link:
            self.team_filter = await callers_team()
        if link:
            self.search, self.team_filter, self.state_filter = link[:200], "", ""
        await self._reload()

    # ---------- filters ----------

    @rx.event
    @protected("read")
    async def choose_state(self, value: str) -> None:
        self.state_filter = value if value in STATES else ""
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_severity(self, value: str) -> None:
        self.severity_filter = value if value in queries.SEVERITIES else ""
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_source(self, value: str) -> None:
        self.source_filter = value if value in queries.SOURCES else ""
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_team(self, value: str) -> None:
        self.team_filter = value[:200] if value in self.teams else ""
        await self._reload()

    @rx.event
    @protected("read")
    async def search_for(self, value: str) -> None:
        self.search = str(value)[:200]
        await self._reload()

    # ---------- changes (write) ----------

    @rx.event
    @protected("write")
    async def acknowledge(self, alert_id: str) -> Any:
        found = _int(alert_id)
        if found is None:
            return rx.toast.error("No such alert.")
        actor = signed_in_user()
        return await self._run(lambda s: rules.acknowledge(s, found, actor=actor), "Acknowledged.")

    @rx.event
    @protected("write")
    async def silence(self, alert_id: str, hours: int) -> Any:
        found = _int(alert_id)
        if found is None:
            return rx.toast.error("No such alert.")
        actor, span = signed_in_user(), _int(hours) or 0
        return await self._run(
            lambda s: silences.silence_alert(s, found, actor=actor, hours=span),
            f"Silenced for {span} h.",
        )

    @rx.event
    @protected("write")
    async def expire_silence(self, silence_id: str) -> Any:
        found = _int(silence_id)
        if found is None:
            return rx.toast.error("No such silence.")
        actor = signed_in_user()
        return await self._run(lambda s: silences.expire(s, found, actor=actor), "Silence ended.")

    @rx.event
    @protected("write")
    async def new_rule(self) -> None:
        self.form_id, self.form_name, self.form_expr, self.form_for = 0, "", "", "0"
        self.form_severity, self.form_labels, self.form_annotations = "warning", "", ""
        self.form_datasource, self.form_no_data, self.form_enabled = "", "Normal", True
        self.form_error, self.form_open = "", True

    @rx.event
    @protected("write")
    async def edit_rule(self, rule_id: str) -> Any:
        found = _int(rule_id)
        rule = await asyncio.to_thread(_get_rule, found) if found is not None else None
        if rule is None or rule.source != "opssight":
            return rx.toast.error("That rule cannot be edited here.")
        self.form_id, self.form_name, self.form_expr = rule.id or 0, rule.name, rule.expr
        self.form_for = str(rule.for_seconds)
        self.form_severity = rule.severity
        self.form_labels, self.form_annotations = (
            _pairs_text(rule.labels),
            _pairs_text(rule.annotations),
        )
        self.form_datasource, self.form_no_data = rule.datasource, rule.no_data_state
        self.form_enabled, self.form_error, self.form_open = rule.enabled, "", True
        return None

    @rx.event
    def close_form(self) -> None:
        self.form_open, self.form_error = False, ""

    @rx.event
    def set_form_field(self, field: str, value: Any) -> None:
        """Every input of the rule form (a forged field name changes nothing)."""
        if field == "enabled":
            self.form_enabled = bool(value)
        elif field in ("name", "expr", "for", "severity", "labels", "annotations",
                       "datasource", "no_data"):  # fmt: skip
            setattr(self, f"form_{field}", str(value)[:8000])

    def _form(self) -> RuleForm:
        return RuleForm(
            name=self.form_name,
            expr=self.form_expr,
            for_seconds=parse_duration(self.form_for),
            severity=self.form_severity,  # type: ignore[arg-type]
            labels=parse_pairs(self.form_labels, "Labels"),
            annotations=parse_pairs(self.form_annotations, "Annotations"),
            enabled=self.form_enabled,
            datasource=self.form_datasource,
            no_data_state=self.form_no_data,  # type: ignore[arg-type]
        )

    @rx.event
    @protected("write")
    async def save_rule(self) -> Any:
        try:
            data = self._form()
        except ValidationError as exc:
            self.form_error = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: "
                + str(e["msg"]).removeprefix("Value error, ")
                for e in exc.errors()
            )
            log.info("alerts.bad_rule", error=self.form_error)
            return None
        except ValueError as exc:
            self.form_error = str(exc)
            log.info("alerts.bad_rule", error=self.form_error)
            return None
        actor, rule_id = signed_in_user(), self.form_id

        def action(session: Session) -> AlertRule:
            if rule_id:
                return rules.update_rule(session, rule_id, data, actor=actor)
            return rules.create_rule(session, data, actor=actor)

        try:
            refused = await asyncio.to_thread(_change, action)
        except SQLAlchemyError as exc:
            log.error("alerts.change_failed", error=str(exc).splitlines()[0])
            self.form_error = "The database is unreachable; the rule was not saved."
            return None
        if refused:
            self.form_error = refused
            return None
        self.form_open, self.form_error = False, ""
        await self._reload()
        return rx.toast.success(f"Saved rule “{data.name}”.")

    @rx.event
    @protected("write")
    async def toggle_rule(self, rule_id: str, enabled: bool) -> Any:
        found, on = _int(rule_id), bool(enabled)
        if found is None:
            return rx.toast.error("No such rule.")
        actor = signed_in_user()
        done = "Rule enabled." if on else "Rule disabled."
        return await self._run(lambda s: rules.set_enabled(s, found, on, actor=actor), done)

    @rx.event
    @protected("write")
    async def delete_rule(self, rule_id: str) -> Any:
        found = _int(rule_id)
        if found is None:
            return rx.toast.error("No such rule.")
        actor = signed_in_user()
        return await self._run(lambda s: rules.delete_rule(s, found, actor=actor), "Rule deleted.")


def _get_rule(rule_id: int) -> AlertRule | None:
    with db.session_scope() as session:
        return session.get(AlertRule, rule_id)
