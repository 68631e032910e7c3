"""Cookies, Authorization headers and session tokens never reach the logs."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from opssight.logs import RedactingFilter, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxIiwic2lkIjoiYWJjIn0"
    ".c2lnbmF0dXJlLXZhbHVlLWhlcmU"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Cookie: opssight_session=s3cr3t-cookie; theme=dark", "s3cr3t-cookie"),
        ("cookie: csrftoken=abc123def", "abc123def"),
        ("Set-Cookie: opssight_session=newsecret; Path=/; HttpOnly", "newsecret"),
        ("{'headers': {'cookie': 'other=topsecret', 'host': 'x'}}", "topsecret"),
        ('{"cookie": "a=b; opssight_session=jsonsecret"}', "jsonsecret"),
        ("Authorization: Bearer ghp_abcdef123456", "ghp_abcdef123456"),
        ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("{'authorization': 'token ghs_zzz999'}", "ghs_zzz999"),
        ("redirect with opssight_session=tok-from-query&next=/", "tok-from-query"),
        (f"token issued: {JWT} for user 1", JWT),
        (f"bearer={JWT}", "c2lnbmF0dXJlLXZhbHVlLWhlcmU"),
        ("token ghs_16C7e42F292c6912E7710c838347Ae178B4a issued", "16C7e42F292c6912E7710c8"),
        ("{'token': 'ghp_16C7e42F292c6912E7710c838347Ae178B4a'}", "16C7e42F292c6912E7710c8"),
        ("pat github_pat_11ABCDEFG0123456789_abcdefghij", "11ABCDEFG0123456789_abc"),
        (
            "key=-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- end",
            "MIIEow",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQ (cut short)", "MIIEvQ"),
        ("payload={'form': {'current_password': 'it\\'s old'}}", "s old"),
        ('{"new_password": "n3w \\"secret\\" pass", "login": "alice"}', "secret"),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "redacted" in cleaned


def test_redact_keeps_harmless_text() -> None:
    text = "GET /health 200 in 3 ms (user=alice, theme=dark)"
    assert redact(text) == text


def test_redact_keeps_the_surrounding_message() -> None:
    cleaned = redact(f"login ok token={JWT} user=alice")
    assert cleaned.startswith("login ok token=")
    assert cleaned.endswith(" user=alice")


def test_redact_keeps_other_headers_on_following_lines() -> None:
    cleaned = redact("Cookie: opssight_session=abc\nHost: ops.example")
    assert "abc" not in cleaned
    assert "Host: ops.example" in cleaned


def make_record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("reflex", logging.ERROR, __file__, 1, msg, args, None)


def test_filter_scrubs_a_formatted_record() -> None:
    record = make_record("event failed: %s", {"headers": {"cookie": "opssight_session=SECRET1"}})
    assert RedactingFilter().filter(record) is True
    assert "SECRET1" not in record.getMessage()
    assert "event failed" in record.getMessage()


def test_filter_leaves_clean_records_alone() -> None:
    record = make_record("%s rows", 3)
    RedactingFilter().filter(record)
    assert record.msg == "%s rows"
    assert record.args == (3,)
    assert record.getMessage() == "3 rows"


def test_logger_with_filter_never_emits_the_cookie(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("opssight.test.redaction")
    redacting = RedactingFilter()
    logger.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.error("request headers: %r", {"Cookie": "opssight_session=SECRET2; a=b"})
            logger.info("Authorization: Bearer SECRET3")
    finally:
        logger.removeFilter(redacting)
    assert len(caplog.records) == 2
    assert "SECRET2" not in caplog.text
    assert "SECRET3" not in caplog.text


def run_configured(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` after ``logs.configure()`` in a fresh interpreter (global logging untouched)."""
    prelude = "import logging, structlog\nfrom opssight import logs\nlogs.configure()\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_configured_logging_redacts_stdlib_and_structlog_output() -> None:
    result = run_configured(
        f"""
        logging.getLogger("reflex.state").error("event: %s", {{"cookie": "opssight_session=S1"}})
        logging.getLogger("uvicorn").warning("Authorization: Bearer S2")
        structlog.get_logger("opssight.x").info("signed in", token="{JWT}", user="alice")
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    for secret in ("S1", "S2", JWT):
        assert secret not in result.stderr
    assert "alice" in result.stderr
    assert "signed in" in result.stderr


def test_configured_logging_redacts_cookies_in_exception_tracebacks() -> None:
    result = run_configured(
        """
        try:
            raise ValueError("bad event {'cookie': 'opssight_session=S4'}")
        except ValueError:
            logging.getLogger("reflex").exception("event handler failed")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "event handler failed" in result.stderr
    assert "S4" not in result.stderr


def test_configured_logging_keeps_exception_details() -> None:
    result = run_configured(
        """
        def handler():
            raise ValueError("boom-from-stdlib")
        try:
            handler()
        except ValueError:
            logging.getLogger("reflex").exception("event failed")
        try:
            raise KeyError("boom-from-structlog")
        except KeyError:
            structlog.get_logger("opssight.jobs").exception("job failed")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "<traceback object" not in result.stderr
    assert "boom-from-stdlib" in result.stderr
    # the failing frame is named (plain-text traceback or structured dict_tracebacks)
    assert "in handler" in result.stderr or '"name": "handler"' in result.stderr
    assert "boom-from-structlog" in result.stderr
