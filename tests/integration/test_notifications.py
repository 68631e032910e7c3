"""Notifications to a local HTTP receiver (Slack and generic webhook) and a local SMTP server
(aiosmtpd, STARTTLS required): once per group and interval, silences, retries, on both databases."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import Session, select

from opssight.models import (
    Alert,
    ContactPoint,
    NotificationDelivery,
    NotificationPolicy,
    Silence,
)
from opssight.schemas.connections import ContactPointForm
from opssight.services import contact_points
from opssight.services.alerting import history, notify
from opssight.services.alerting.states import Snapshot, State
from tests.support import free_port, reset_caches

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """A local HTTP server keeping every POST body by path; ``fail`` answers 500 that many times."""

    fail: int = 0
    bodies: dict[str, list[dict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(500)
                else:
                    receiver.bodies.setdefault(self.path, []).append(body)
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def got(self, path: str) -> list[dict]:
        return self.bodies.get(path, [])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """aiosmtpd on loopback requiring STARTTLS; its self-signed certificate is trusted."""
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox()
    port = free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("OPSSIGHT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("OPSSIGHT_SMTP_PORT", str(port))
    monkeypatch.setenv("OPSSIGHT_SMTP_FROM", "opssight@example.org")
    reset_caches()
    yield box
    controller.stop()


def contact(session: Session, name: str, kind: str, target: str) -> ContactPoint:
    addresses = [a.strip() for a in target.split(",")] if kind == "email" else []
    form = ContactPointForm(
        name=name, kind=kind, url="" if addresses else target, addresses=addresses
    )
    point = ContactPoint(name=name, kind=kind, target="")
    contact_points.fill(point, form)
    session.add(point)
    session.commit()
    session.refresh(point)
    return point


def policy(session: Session, point: ContactPoint, **values: object) -> NotificationPolicy:
    defaults = {
        "group_by": ["alertname"],
        "group_wait_seconds": 0,
        "group_interval_seconds": 60,
        "repeat_interval_seconds": 3600,
    }
    row = NotificationPolicy(
        name=f"to-{point.name}", contact_point_id=point.id, **(defaults | values)
    )
    session.add(row)
    session.commit()
    return row


def fire(session: Session, name: str, at: datetime, *, pod: str = "a") -> Alert:
    alert = history.instance(
        session, source="alertmanager", fingerprint=f"{name}-{pod}", name=name, updated_at=at
    )
    alert.labels, alert.severity = {"alertname": name, "pod": pod}, "critical"
    alert.annotations = {"summary": f"{name} on {pod}"}
    history.apply(session, alert, Snapshot(State.FIRING, at, at), at=at)
    session.commit()
    return alert


def resolve(session: Session, alert: Alert, at: datetime) -> None:
    snapshot = Snapshot(State.RESOLVED, alert.started_at, alert.firing_at, at)
    history.apply(session, alert, snapshot, at=at)
    session.commit()


def tick(session: Session, at: datetime) -> int:
    return notify.run_pass(session, now=lambda: at)


def test_webhook_and_slack_once_per_group_and_interval(session, receiver):
    hook = contact(session, "hook", "webhook", f"{receiver.url}/hook")
    slack = contact(session, "slack", "slack", f"{receiver.url}/slack")
    policy(session, hook, matchers=[["severity", "=", "critical"]], continue_matching=True)
    policy(session, slack, matchers=[["alertname", "=~", "Disk.*"]])

    first = fire(session, "DiskFull", T0)
    assert tick(session, T0) == 2
    [body] = receiver.got("/hook")
    assert (body["status"], body["groupLabels"], [a["name"] for a in body["alerts"]]) == (
        "firing",
        {"alertname": "DiskFull"},
        ["DiskFull"],
    )
    [slack_body] = receiver.got("/slack")
    assert slack_body["text"].startswith("[FIRING:1] to-slack (alertname=DiskFull)")
    assert "DiskFull on a" in slack_body["text"]

    assert tick(session, T0 + timedelta(seconds=5)) == 0  # nothing new: nothing sent
    fire(session, "DiskFull", T0 + timedelta(seconds=10), pod="b")
    assert tick(session, T0 + timedelta(seconds=30)) == 0  # within the group interval
    assert tick(session, T0 + timedelta(seconds=61)) == 2  # the group, now with both
    assert len(receiver.got("/hook")[-1]["alerts"]) == 2

    assert tick(session, T0 + timedelta(seconds=61 + 1800)) == 0
    assert tick(session, T0 + timedelta(seconds=61 + 3600)) == 2  # repeated once
    resolve(session, first, T0 + timedelta(seconds=3700))
    assert tick(session, T0 + timedelta(seconds=3700 + 61)) == 2
    states = [a["state"] for a in receiver.got("/hook")[-1]["alerts"]]
    assert sorted(states) == ["Firing", "Resolved"]
    assert len(receiver.got("/hook")) == len(receiver.got("/slack")) == 4
    sent = session.exec(select(NotificationDelivery)).all()
    assert len(sent) == 8 and {d.status for d in sent} == {"sent"}


def test_a_silence_stops_notifications(session, receiver):
    hook = contact(session, "hook", "webhook", f"{receiver.url}/hook")
    policy(session, hook)
    session.add(
        Silence(
            matchers=[["alertname", "=", "Noisy"]],
            starts_at=T0 - timedelta(minutes=1),
            ends_at=T0 + timedelta(minutes=30),
            created_by="alice",
        )
    )
    session.commit()
    fire(session, "Noisy", T0)
    fire(session, "Real", T0)
    assert tick(session, T0) == 1
    assert [b["groupLabels"]["alertname"] for b in receiver.got("/hook")] == ["Real"]
    assert tick(session, T0 + timedelta(minutes=10)) == 0
    assert tick(session, T0 + timedelta(minutes=30)) == 1  # the silence expired
    assert receiver.got("/hook")[-1]["groupLabels"] == {"alertname": "Noisy"}


def test_group_wait_holds_the_first_notification(session, receiver):
    hook = contact(session, "hook", "webhook", f"{receiver.url}/hook")
    policy(session, hook, group_wait_seconds=30)
    fire(session, "Slow", T0)
    assert tick(session, T0) == 0
    fire(session, "Slow", T0 + timedelta(seconds=10), pod="b")
    assert tick(session, T0 + timedelta(seconds=30)) == 1
    assert len(receiver.got("/hook")[0]["alerts"]) == 2


def test_failed_deliveries_are_retried_with_backoff_then_given_up(session, receiver):
    hook = contact(session, "hook", "webhook", f"{receiver.url}/hook")
    policy(session, hook)
    receiver.fail = 2
    fire(session, "Flaky", T0)
    assert tick(session, T0) == 0
    [delivery] = session.exec(select(NotificationDelivery)).all()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error.startswith("HTTP 500")
    assert delivery.next_attempt_at == T0 + timedelta(seconds=10)
    assert tick(session, T0 + timedelta(seconds=9)) == 0 and receiver.fail == 1  # not yet due
    assert tick(session, T0 + timedelta(seconds=10)) == 0  # second failure: 20 s more
    assert tick(session, T0 + timedelta(seconds=30)) == 1
    session.refresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 3, None)
    assert len(receiver.got("/hook")) == 1

    receiver.fail = 100
    fire(session, "Flaky", T0 + timedelta(seconds=40), pod="b")
    at = T0 + timedelta(seconds=100)
    for _ in range(notify.MAX_ATTEMPTS):
        tick(session, at)
        at += timedelta(minutes=5)
    failed = session.exec(select(NotificationDelivery).order_by(NotificationDelivery.id)).all()[-1]
    assert (failed.status, failed.attempts) == ("failed", notify.MAX_ATTEMPTS)


def test_email_over_starttls_once_per_group(session, mailbox):
    mail = contact(session, "oncall", "email", "oncall@example.org, lead@example.org")
    policy(session, mail)
    fire(session, "Down", T0)
    assert tick(session, T0) == 1
    assert tick(session, T0 + timedelta(seconds=5)) == 0
    [(recipients, content)] = mailbox.messages
    assert recipients == ["oncall@example.org", "lead@example.org"]
    assert "Subject: [FIRING:1] to-oncall (alertname=Down)" in content
    assert "Down on a" in content


def test_email_without_smtp_settings_is_logged_as_failed(session):
    mail = contact(session, "oncall", "email", "oncall@example.org")
    policy(session, mail)
    fire(session, "Down", T0)
    tick(session, T0)
    [delivery] = session.exec(select(NotificationDelivery)).all()
    assert delivery.status == "pending" and "no SMTP server" in delivery.last_error


def test_matchers():
    labels = {"alertname": "DiskFull", "severity": "critical"}
    assert notify.matches([["alertname", "=~", "Disk.*"], ["severity", "!=", "info"]], labels)
    assert not notify.matches([["alertname", "=~", "Disk"]], labels)  # anchored
    assert notify.matches([["team", "=", ""]], labels)  # missing is empty
    assert not notify.matches([["severity", "!~", "crit.*"]], labels)
