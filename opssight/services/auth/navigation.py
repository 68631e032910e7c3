"""Where sign-in sends people: the sign-in page, its error messages, and safe return paths."""

from __future__ import annotations

LOGIN_PAGE = "/login"

MESSAGES: dict[str, str] = {
    "state": "The sign-in link expired or did not come from this browser. Please sign in again.",
    "denied": "GitHub sign-in was cancelled.",
    "exchange": "GitHub did not accept the sign-in code (it may have been used already). "
    "Please sign in again.",
    "github": "GitHub could not be reached or answered with an error. Please try again.",
    "org": "Your GitHub account is not a member of an organisation allowed to use OpsSight.",
    "disabled": "This account is disabled. Ask an administrator.",
    "conflict": "A local account already uses this login. Ask an administrator.",
    "not_configured": "Sign-in with GitHub is not configured on this server.",
    "credentials": "Wrong login or password.",
    "throttled": "Too many failed attempts. Please wait before trying again.",
    "rate_limited": "Too many sign-in requests from your address. Please wait a minute.",
    "origin": "The sign-in form was posted from another site.",
}


def safe_next(value: str | None) -> str:
    """A local path to return to after sign-in (never another site, never the sign-in page)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    return "/" if value.split("?")[0] == LOGIN_PAGE else value
