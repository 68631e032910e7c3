"""A batch from OpsSight's Ansible callback (``opssight/ansible/callback/opssight.py``).

Every batch carries its run's header, then the plays, tasks and host results since the last
batch, and, in the last one, Ansible's recap per host.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

ResultStatus = Literal["ok", "changed", "failed", "skipped", "unreachable"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _text(limit: int) -> Any:
    """A string cut to ``limit`` characters (a long task name is no reason to lose a batch)."""
    return Annotated[str, BeforeValidator(lambda v: v[:limit] if isinstance(v, str) else v)]


Name = _text(300)
Path = _text(1000)


class RunHeader(_Model):
    id: UUID
    playbook: Path
    name: Name = ""
    user: _text(200) = ""
    controller: _text(200) = ""
    ansible_version: _text(50) = ""
    check_mode: bool = False
    started_at: AwareDatetime
    extra_vars: dict[str, Any] = Field(default_factory=dict)
    arguments: dict[str, Any] = Field(default_factory=dict)


class PlayIn(_Model):
    id: UUID
    name: Name = ""
    pattern: _text(500) = ""
    position: int = Field(default=0, ge=0)
    started_at: AwareDatetime


class TaskIn(_Model):
    id: UUID
    play_id: UUID
    name: _text(500) = ""
    action: _text(200) = ""
    path: Path = ""
    position: int = Field(default=0, ge=0)
    handler: bool = False
    started_at: AwareDatetime


class ResultIn(_Model):
    task_id: UUID
    host: str = Field(min_length=1, max_length=255)
    status: ResultStatus
    changed: bool = False
    ignore_errors: bool = False
    message: _text(2000) = ""
    delegated_to: str | None = Field(default=None, max_length=255)
    items: int = Field(default=0, ge=0)
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime


class HostStats(_Model):
    ok: int = Field(default=0, ge=0)
    changed: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    skipped: int = Field(default=0, ge=0)
    unreachable: int = Field(default=0, ge=0)
    rescued: int = Field(default=0, ge=0)
    ignored: int = Field(default=0, ge=0)
    groups: list[str] = Field(default_factory=list, max_length=500)

    @field_validator("groups")
    @classmethod
    def _short_names(cls, groups: list[str]) -> list[str]:
        return sorted({g[:255] for g in groups if g})


class Stats(_Model):
    ended_at: AwareDatetime
    hosts: dict[str, HostStats] = Field(default_factory=dict)

    @field_validator("hosts")
    @classmethod
    def _host_names(cls, hosts: dict[str, HostStats]) -> dict[str, HostStats]:
        if any(not name or len(name) > 255 for name in hosts):
            raise ValueError("host names are 1 to 255 characters")
        return hosts


class AutomationBatch(_Model):
    version: Literal[1]
    run: RunHeader
    plays: list[PlayIn] = Field(default_factory=list, max_length=1000)
    tasks: list[TaskIn] = Field(default_factory=list, max_length=5000)
    results: list[ResultIn] = Field(default_factory=list, max_length=20000)
    stats: Stats | None = None
