"""Alertmanager notifications through the HTTP route: the recorded payloads, on both databases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from opssight import db
from opssight.api import create_api
from opssight.events import get_bus
from opssight.models import Alert, AlertTransition, ConnectorStatus, Incident, Repository
from opssight.services.dora import dora_report
from tests.support import reset_caches

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"
FIRING = (FIXTURES / "prometheus-msteams.webhook.firing.json").read_bytes()
RESOLVED = (FIXTURES / "prom2teams.webhook.resolved.json").read_bytes()
TOKEN = "alertmanager-token-for-tests-0123456789"


@pytest.fixture
async def client(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("OPSSIGHT_ALERTMANAGER_WEBHOOK_TOKEN", TOKEN)
    reset_caches()
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def send(
    client: httpx.AsyncClient, body: bytes | dict[str, Any], token: str | None = TOKEN
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post("/api/webhooks/alertmanager", content=content, headers=headers)


def rows(database_url: str, model: type[SQLModel]) -> list[Any]:
    with db.session_scope(database_url) as session:
        return list(session.exec(select(model).order_by(model.id)))


def connector_rows(database_url: str) -> list[ConnectorStatus]:
    with db.session_scope(database_url) as session:
        return list(session.exec(select(ConnectorStatus).order_by(ConnectorStatus.name)))


def count(database_url: str, model: type[SQLModel]) -> int:
    with db.session_scope(database_url) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def nothing_stored(database_url: str) -> bool:
    stored = (Alert, AlertTransition, Incident, ConnectorStatus)
    return all(count(database_url, m) == 0 for m in stored)


def critical(status: str, ends_at: str | None = None) -> dict[str, Any]:
    """The recorded firing notification, its first alert made critical (and resolved)."""
    payload = json.loads(FIRING)
    payload["alerts"] = payload["alerts"][:1]
    alert = payload["alerts"][0]
    alert["labels"]["severity"] = "critical"
    payload["status"] = alert["status"] = status
    if ends_at:
        alert["endsAt"] = ends_at
    return payload


async def test_recorded_firing_notification_is_stored(client, database_url):
    response = await send(client, FIRING)
    assert response.status_code == 200 and response.json()["result"] == "stored"
    alerts = rows(database_url, Alert)
    assert [a.fingerprint for a in alerts] == [
        "ff6a7a0f5f1c1309",
        "554664fa753a2b45",
        "911c76f0240f015b",
    ]
    first = alerts[0]
    assert (first.source, first.name, first.state, first.severity) == (
        "alertmanager",
        "JustATestAlert_1",
        "Firing",
        "info",
    )
    assert first.labels["name"] == "grafana" and first.annotations["value"] == "30.10 %"
    assert first.firing_at == datetime(2020, 10, 11, 14, 34, 11, 279383, tzinfo=UTC)
    assert first.generator_url.startswith("https://domain.com/promstack/prometheus/graph")
    transitions = rows(database_url, AlertTransition)
    assert [(t.from_state, t.to_state) for t in transitions] == [("Normal", "Firing")] * 3
    assert count(database_url, Incident) == 0  # info alerts are no incidents
    [connector] = connector_rows(database_url)
    assert (connector.name, connector.state, connector.detail) == (
        "alertmanager:webhook",
        "ok",
        "3 alert(s) from receiver whatever_promstack_with_resolve",
    )
    assert connector.facts["Alertmanager"] == "https://domain.com/promstack/alertmanager"


async def test_repeated_notification_changes_nothing(client, database_url):
    await send(client, FIRING)
    again = await send(client, FIRING)
    assert again.status_code == 200 and again.json()["detail"] == "3 alert(s), 0 state change(s)"
    assert count(database_url, Alert) == 3 and count(database_url, AlertTransition) == 3


async def test_recorded_resolved_notification_is_stored(client, database_url):
    assert (await send(client, RESOLVED)).status_code == 200
    [alert] = rows(database_url, Alert)
    assert (alert.fingerprint, alert.state, alert.severity) == (
        "dd19ae3d4e06ac55",
        "Resolved",
        "warning",
    )
    assert alert.resolved_at == datetime(2019, 1, 28, 20, 27, 23, 868893, tzinfo=UTC)


async def test_critical_alert_is_a_dora_incident_until_resolved(client, database_url):
    await send(client, critical("firing"))
    [incident] = rows(database_url, Incident)
    started = datetime(2020, 10, 11, 14, 34, 11, 279383, tzinfo=UTC)
    assert (incident.source, incident.created_at, incident.resolved_at) == ("alert", started, None)
    ended = "2020-10-11T15:04:11.279383004Z"
    await send(client, critical("resolved", ended))
    [incident] = rows(database_url, Incident)
    assert incident.resolved_at == started + timedelta(minutes=30)
    assert count(database_url, Alert) == 1
    transitions = rows(database_url, AlertTransition)
    assert [(t.to_state, t.at) for t in transitions] == [
        ("Firing", started),
        ("Resolved", started + timedelta(minutes=30)),
    ]
    # the firing notification arriving late does not reopen the episode
    assert (await send(client, critical("firing"))).json()["detail"].endswith("0 state change(s)")
    assert rows(database_url, Alert)[0].state == "Resolved"
    with db.session_scope(database_url) as session:  # DORA reports once a repository exists
        session.add(Repository(id=1, full_name="o/r", html_url="https://github.com/o/r"))
        session.commit()
        report = dora_report(
            session, start=started - timedelta(days=1), end=started + timedelta(days=1)
        )
    assert report.time_to_restore.rows.incidents == [incident.id]


@pytest.mark.parametrize(
    "token", [None, "wrong-token", TOKEN + "x", ""], ids=["missing", "wrong", "longer", "empty"]
)
async def test_a_wrong_token_gets_401_and_nothing_is_stored(client, database_url, token):
    response = await send(client, FIRING, token=token)
    assert response.status_code == 401 and response.json()["result"] == "bad_token"
    assert response.headers["www-authenticate"] == "Bearer"
    assert nothing_stored(database_url)


async def test_other_schemes_are_refused(client, database_url):
    response = await client.post(
        "/api/webhooks/alertmanager", content=FIRING, headers={"Authorization": f"Basic {TOKEN}"}
    )
    assert response.status_code == 401 and nothing_stored(database_url)


async def test_bad_bodies_get_precise_statuses_and_nothing_is_stored(
    client, database_url, monkeypatch
):
    assert (await send(client, b"{not json")).status_code == 400
    older = json.loads(FIRING) | {"version": "3"}
    invalid = await send(client, older)
    assert invalid.status_code == 422 and "version" in invalid.json()["detail"]
    no_fingerprint = json.loads(FIRING)
    del no_fingerprint["alerts"][1]["fingerprint"]
    response = await send(client, no_fingerprint)
    assert response.status_code == 422 and "alerts.1.fingerprint" in response.json()["detail"]
    monkeypatch.setenv("OPSSIGHT_ALERTMANAGER_WEBHOOK_MAX_BYTES", "1024")
    reset_caches()
    assert (await send(client, FIRING)).status_code == 413
    assert nothing_stored(database_url)


async def test_without_a_configured_token_the_receiver_is_disabled(
    client, database_url, monkeypatch
):
    monkeypatch.delenv("OPSSIGHT_ALERTMANAGER_WEBHOOK_TOKEN")
    reset_caches()
    response = await send(client, FIRING)
    assert response.status_code == 503 and response.json()["result"] == "disabled"
    assert nothing_stored(database_url)


async def test_database_down_answers_503(monkeypatch):
    monkeypatch.setenv("OPSSIGHT_ALERTMANAGER_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    reset_caches()
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await send(http, FIRING)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"


async def test_a_state_change_is_announced_on_the_alerts_topic(client, database_url):
    async with get_bus().subscribe("alerts") as subscription:
        await send(client, RESOLVED)
        event = await asyncio.wait_for(subscription.queue.get(), timeout=2)
    assert event.topic == "alerts" and event.keys["source"] == "alertmanager"
