"""Sending notifications: a Slack incoming webhook, a generic webhook (JSON POST) and email over
SMTP with STARTTLS. Synchronous; each raises ``SendError`` with a short reason on failure."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx


class SendError(Exception):
    """The notification was not accepted (worth retrying later)."""


def post_json(url: str, payload: dict[str, Any], *, timeout: float) -> None:
    """POST ``payload``; any 2xx is accepted (Slack answers ``ok``, webhooks anything)."""
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from None
    if not response.is_success:
        raise SendError(f"HTTP {response.status_code}: {response.text[:200]}")


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None


@contextmanager
def _session(smtp: Smtp, timeout: float) -> Iterator[smtplib.SMTP]:
    """A connection after STARTTLS (a server without it is refused) and the login, if any."""
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
            client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            yield client
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from None


def send_email(smtp: Smtp, to: list[str], subject: str, body: str, *, timeout: float) -> None:
    """One plain-text message."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = smtp.sender, ", ".join(to), subject
    message.set_content(body)
    with _session(smtp, timeout) as client:
        client.send_message(message)


def check_smtp(smtp: Smtp, *, timeout: float) -> str:
    """Connect, STARTTLS and log in without sending anything; the server's greeting name."""
    with _session(smtp, timeout) as client:
        client.noop()
        return (
            client.ehlo_resp.decode(errors="replace").splitlines()[0]
            if client.ehlo_resp
            else smtp.host
        )
