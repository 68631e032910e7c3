"""structlog JSON logs with request ids; cookies, tokens, private keys, password form fields and
the passwords of ``scheme://user:password@host`` URLs are redacted from every record (``redact``
also cleans text shown in pages, e.g. a connection test's error)."""

from __future__ import annotations

import logging
import re
import sys

import structlog

REDACTIONS = [
    (re.compile(r"(?i)((?:set-)?cookie['\"]?\s*[:=]\s*['\"]?)[^'\"\n]*"), r"\1[redacted]"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\n]*"), r"\1[redacted]"),
    (re.compile(r"(?i)(opssight_session=)[^;\s'\"]*"), r"\1[redacted]"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+"), "[redacted-jwt]"),
    # GitHub tokens: PATs, OAuth, user-to-server, installation (ghs_) and refresh tokens
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})"), "[redacted-token]"),
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
        ),
        "[redacted-private-key]",
    ),
    # a form's password fields, as an event's payload shows them (current_password: '...')
    (
        re.compile(r"(?i)(password['\"]?\s*[:=]\s*)(['\"])(?:\\.|(?!\2)[^\n])*\2?"),
        r"\1\2[redacted]\2",
    ),
    # URLs with inline credentials (user:password@): the scheme and host stay readable
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s'\"<>:]*:[^/?#\s'\"<>]*@"), r"\1[redacted]@"),
]


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Reflex logs whole events (Cookie header included) on errors: scrub before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _redact_event(_logger, _name, event_dict: dict) -> dict:
    return {k: redact(v) if isinstance(v, str) else v for k, v in event_dict.items()}


def configure(level: str = "INFO", json: bool = True) -> None:
    """Idempotent: route structlog and stdlib logging through one JSON (or console) renderer."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_event,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("reflex", "granian", "granian.access", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactingFilter())
