# OpsSight's Ansible callback plugin: the standard library only, so any control node runs it.
from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ANSIBLE_VERSION

DOCUMENTATION = """
    name: opssight
    type: notification
    short_description: send playbook, play, task and host results to OpsSight
    description:
      - Sends the run in batches to OpsSight's POST /api/automation/events, with a bearer token.
      - When OpsSight cannot be reached the playbook runs on unchanged; the batches are kept in a
        spool folder (bounded) and sent, oldest first, at the end of this run or the next one.
      - Enable it with C(export ANSIBLE_CALLBACK_PLUGINS=$(opssight ansible-callback-path)).
    options:
      url:
        description: OpsSight's address.
        default: http://localhost:3000
        env: [{name: OPSSIGHT_URL}]
        ini: [{section: opssight, key: url}]
      token:
        description: The ingest token (OPSSIGHT_ANSIBLE_TOKEN of the server, or one it issued).
        env: [{name: OPSSIGHT_ANSIBLE_TOKEN}]
        ini: [{section: opssight, key: token}]
      timeout:
        description: Seconds one request may take.
        type: float
        default: 5
        env: [{name: OPSSIGHT_ANSIBLE_TIMEOUT}]
        ini: [{section: opssight, key: timeout}]
      spool_dir:
        description: Where batches wait while OpsSight is unreachable.
        default: ~/.cache/opssight/ansible-spool
        env: [{name: OPSSIGHT_ANSIBLE_SPOOL_DIR}]
        ini: [{section: opssight, key: spool_dir}]
      spool_max_mb:
        description: The spool's size limit; the oldest batches are dropped beyond it.
        type: float
        default: 50
        env: [{name: OPSSIGHT_ANSIBLE_SPOOL_MAX_MB}]
        ini: [{section: opssight, key: spool_max_mb}]
"""

PATH = "/api/automation/events"
BATCH_RESULTS = 200
MESSAGE_CHARS = 2000
SECRET = re.compile(r"pass|secret|token|key|credential|private|auth", re.IGNORECASE)
REDACTED = "********"


def now() -> str:
    return datetime.now(UTC).isoformat()


def redact(value):
    """Secrets (by key name) replaced, and everything made JSON-safe."""
    if isinstance(value, dict):
        return {str(k): REDACTED if SECRET.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [redact(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def message(result: dict, status: str) -> str:
    """The module's own words: ``msg``, else (for failures) stderr, else stdout."""
    text = result.get("msg") or result.get("censored") or result.get("skip_reason") or ""
    if isinstance(text, (list, tuple)):
        text = "\n".join(map(str, text))
    text = str(text)
    stderr = str(result.get("stderr") or "").strip()
    if status in ("failed", "unreachable") and stderr and stderr not in text:
        text = f"{text}\n{stderr}".strip()
    if not text:
        text = str(result.get("stdout") or "").strip()
    return text[:MESSAGE_CHARS]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "opssight"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.run = {}
        self.plays, self.tasks, self.results = [], [], []
        self.task_ids, self.starts, self.groups = {}, {}, {}
        self.positions = {"play": 0, "task": 0}
        self.play_id = ""
        self.offline = False
        self.warned = False

    # ---------- delivery ----------

    def _post(self, batch: dict) -> str:
        """``sent``, ``retry`` (unreachable, refused or failing: keep it) or ``drop`` (refused
        for good: a bad batch would never be accepted)."""
        body = json.dumps(batch).encode()
        request = urllib.request.Request(
            self.get_option("url").rstrip("/") + PATH,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.get_option('token') or ''}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=float(self.get_option("timeout"))):
                return "sent"
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 413, 422):
                self._display.warning(f"OpsSight refused a batch ({exc.code}): {exc.read()[:300]}")
                return "drop"
            self._warn(f"HTTP {exc.code}")
        except (OSError, ValueError) as exc:
            self._warn(str(getattr(exc, "reason", exc)))
        return "retry"

    def _warn(self, reason: str) -> None:
        if not self.warned:
            self.warned = True
            self._display.warning(
                f"OpsSight at {self.get_option('url')} cannot take events now ({reason}); "
                f"they are kept in {self._spool()} and sent later"
            )

    def _spool(self) -> str:
        return os.path.expanduser(self.get_option("spool_dir"))

    def _spooled(self) -> list:
        folder = self._spool()
        if not os.path.isdir(folder):
            return []
        return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".json"))

    def _keep(self, batch: dict) -> None:
        folder = self._spool()
        os.makedirs(folder, mode=0o700, exist_ok=True)
        path = os.path.join(folder, f"{time.time_ns():020d}-{uuid.uuid4().hex}.json")
        draft = path + ".part"
        with open(draft, "w") as file:
            json.dump(batch, file)
        os.replace(draft, path)
        self._bound()

    def _bound(self) -> None:
        """Drop the oldest batches beyond the size limit."""
        limit = float(self.get_option("spool_max_mb")) * 1024 * 1024
        files = [(p, os.path.getsize(p)) for p in self._spooled()]
        total, dropped = sum(size for _, size in files), 0
        for path, size in files:
            if total <= limit:
                break
            os.remove(path)
            total, dropped = total - size, dropped + 1
        if dropped:
            self._display.warning(
                f"OpsSight spool over its limit: {dropped} oldest batch(es) dropped"
            )

    def _send_spooled(self) -> None:
        """Send what waits, oldest first; stop at the first that cannot go."""
        for path in self._spooled():
            try:
                with open(path) as file:
                    batch = json.load(file)
            except (OSError, ValueError):
                continue  # another run is sending or has sent it
            outcome = self._post(batch)
            if outcome == "retry":
                self.offline = True
                return
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        self.offline = False

    def _flush(self, stats: dict | None = None) -> None:
        if not self.run or not (self.plays or self.tasks or self.results or stats is not None):
            return
        batch = {
            "version": 1,
            "run": self.run,
            "plays": self.plays,
            "tasks": self.tasks,
            "results": self.results,
            "stats": stats,
        }
        self.plays, self.tasks, self.results = [], [], []
        if self.offline or self._post(batch) == "retry":
            self.offline = True
            self._keep(batch)

    # ---------- playbook ----------

    def v2_playbook_on_start(self, playbook):
        args = context.CLIARGS
        self.run = {
            "id": str(uuid.uuid4()),
            "playbook": getattr(playbook, "_file_name", "") or "",
            "name": "",
            "user": getpass.getuser(),
            "controller": socket.gethostname(),
            "ansible_version": ANSIBLE_VERSION,
            "check_mode": bool(args.get("check", False)),
            "started_at": now(),
            "extra_vars": {},
            "arguments": redact(
                {
                    "inventory": list(args.get("inventory") or []),
                    "limit": args.get("subset"),
                    "tags": list(args.get("tags") or []),
                    "skip_tags": list(args.get("skip_tags") or []),
                }
            ),
        }
        if self._spooled():
            self._send_spooled()

    def v2_playbook_on_play_start(self, play):
        if not self.run["name"]:
            self.run["name"] = play.get_name() or os.path.basename(self.run["playbook"])
            manager = play.get_variable_manager()
            self.run["extra_vars"] = redact(dict(manager.extra_vars)) if manager else {}
        self.positions["play"] += 1
        self.play_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.run['id']}:{play._uuid}"))
        pattern = play.hosts if isinstance(play.hosts, str) else ",".join(play.hosts or [])
        self.plays.append(
            {
                "id": self.play_id,
                "name": play.get_name() or "",
                "pattern": pattern,
                "position": self.positions["play"],
                "started_at": now(),
            }
        )
        self._flush()

    def _task_start(self, task, handler: bool) -> None:
        self.positions["task"] += 1
        task_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.run['id']}:{task._uuid}"))
        self.task_ids[task._uuid] = task_id
        self.tasks.append(
            {
                "id": task_id,
                "play_id": self.play_id,
                "name": task.get_name(),
                "action": task.action or "",
                "path": task.get_path() or "",
                "position": self.positions["task"],
                "handler": handler,
                "started_at": now(),
            }
        )
        self._flush()  # with what the previous task did: this one now shows as running

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task, handler=False)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task, handler=True)

    def v2_runner_on_start(self, host, task):
        self.starts[(task._uuid, host.get_name())] = now()

    # ---------- results ----------

    def _result(self, result, status: str, ignore_errors: bool = False) -> None:
        task, host = result._task, result._host.get_name()
        task_id = self.task_ids.get(task._uuid)
        if task_id is None:  # a result without a task start (e.g. a meta task)
            self._task_start(task, handler=False)
            task_id = self.task_ids[task._uuid]
        data = result._result
        self.groups[host] = sorted(g.get_name() for g in result._host.get_groups())
        delegated = (data.get("_ansible_delegated_vars") or {}).get("ansible_host")
        self.results.append(
            {
                "task_id": task_id,
                "host": host,
                "status": status,
                "changed": bool(data.get("changed", False)),
                "ignore_errors": bool(ignore_errors),
                "message": message(data, status),
                "delegated_to": str(delegated) if delegated else None,
                "items": len(data.get("results") or []),
                "started_at": self.starts.pop((task._uuid, host), None),
                "ended_at": now(),
            }
        )
        if len(self.results) >= BATCH_RESULTS:
            self._flush()

    def v2_runner_on_ok(self, result):
        self._result(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "failed", ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    # ---------- the end ----------

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed):
            counts = stats.summarize(host)
            hosts[host] = {
                "ok": counts["ok"],
                "changed": counts["changed"],
                "failed": counts["failures"],
                "skipped": counts["skipped"],
                "unreachable": counts["unreachable"],
                "rescued": counts["rescued"],
                "ignored": counts["ignored"],
                "groups": self.groups.get(host, []),
            }
        self._flush(stats={"ended_at": now(), "hosts": hosts})
        if self.offline:  # OpsSight may be back: one more try before the playbook ends
            self._send_spooled()
