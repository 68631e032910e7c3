"""Services and what belongs to them (repositories, Kubernetes namespaces or workloads, Ansible
inventory groups): the scopes of the change timeline. Changed by admins, audited."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlmodel import Session, select

from opssight.models import Service, ServiceMember, User
from opssight.services import audit

KINDS = {
    "repository": "Repository",
    "kubernetes": "Kubernetes",
    "inventory_group": "Inventory group",
}
REPOSITORY = re.compile(r"^[\w.-]{1,100}/[\w.-]{1,100}$")
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
GROUP = re.compile(r"^[\w.-]{1,255}$")


class ServiceError(ValueError):
    """A service change that cannot be made (bad name or member, unknown service)."""


@dataclass
class Scope:
    """What one or more services cover; ``everything`` when no service narrows it."""

    repositories: set[str] = field(default_factory=set)
    kubernetes: set[tuple[str, str, str]] = field(default_factory=set)  # cluster, ns, workload
    groups: set[str] = field(default_factory=set)
    everything: bool = False

    def covers_pod(self, cluster: str | None, namespace: str | None, name: str) -> bool:
        """An object of this namespace (a pod named after a workload); cluster None: any."""
        return self.everything or any(
            (cluster is None or c in ("*", cluster))
            and ns == namespace
            and (not w or name == w or name.startswith(f"{w}-"))
            for c, ns, w in self.kubernetes
        )


EVERYTHING = Scope(everything=True)


def label(member: ServiceMember) -> str:
    """How a member reads: ``owner/repo``, ``cluster/namespace[/workload]``, ``group``."""
    if member.kind == "kubernetes":
        return "/".join(p for p in (member.value, member.namespace, member.workload) if p)
    return member.value


def list_services(session: Session) -> list[tuple[Service, list[ServiceMember]]]:
    members: dict[int, list[ServiceMember]] = {}
    for member in session.exec(
        select(ServiceMember).order_by(ServiceMember.kind, ServiceMember.id)
    ):
        members.setdefault(member.service_id, []).append(member)
    services = session.exec(select(Service).order_by(Service.name))
    return [(s, members.get(s.id or 0, [])) for s in services]


def scope_of(members: list[ServiceMember]) -> Scope:
    scope = Scope()
    for m in members:
        if m.kind == "repository":
            scope.repositories.add(m.value)
        elif m.kind == "kubernetes":
            scope.kubernetes.add((m.value, m.namespace, m.workload))
        else:
            scope.groups.add(m.value)
    return scope


def service_scope(session: Session, service_id: int) -> Scope | None:
    """The service's scope; None when there is no such service."""
    if session.get(Service, service_id) is None:
        return None
    return scope_of(
        list(session.exec(select(ServiceMember).where(ServiceMember.service_id == service_id)))
    )


def create_service(session: Session, *, actor: User, name: str, description: str = "") -> Service:
    name, description = name.strip(), description.strip()
    if not 1 <= len(name) <= 100:
        raise ServiceError("A service needs a name of 1 to 100 characters.")
    if len(description) > 500:
        raise ServiceError("The description is longer than 500 characters.")
    if session.exec(select(Service).where(Service.name == name)).first() is not None:
        raise ServiceError(f"A service named {name!r} exists already.")
    service = Service(name=name, description=description)
    session.add(service)
    session.flush()
    audit.record(
        session, actor=actor, action="service.create", target_type="service",
        target_id=str(service.id), before=None, after={"name": name, "description": description},
    )  # fmt: skip
    session.commit()
    return service


def delete_service(session: Session, *, actor: User, service_id: int | None) -> None:
    service = session.get(Service, service_id) if service_id is not None else None
    if service is None:
        raise ServiceError("No such service.")
    members = [
        label(m)
        for m in session.exec(select(ServiceMember).where(ServiceMember.service_id == service.id))
    ]
    audit.record(
        session, actor=actor, action="service.delete", target_type="service",
        target_id=str(service.id), before={"name": service.name, "members": members}, after=None,
    )  # fmt: skip
    session.delete(service)
    session.commit()


def _member(kind: str, value: str, namespace: str, workload: str) -> tuple[str, str, str]:
    """The member's (value, namespace, workload), checked; raises ServiceError."""
    value, namespace, workload = value.strip(), namespace.strip(), workload.strip()
    if kind == "repository":
        if not REPOSITORY.match(value):
            raise ServiceError(f"Repository {value!r}: write it as owner/repo.")
        return value, "", ""
    if kind == "inventory_group":
        if not GROUP.match(value):
            raise ServiceError(f"Inventory group {value!r}: letters, digits, '.', '_' or '-'.")
        return value, "", ""
    if kind != "kubernetes":
        raise ServiceError(f"Unknown member kind {kind!r}.")
    if not value or len(value) > 255:
        raise ServiceError("A Kubernetes member needs a cluster (* for every cluster).")
    if not K8S_NAME.match(namespace):
        raise ServiceError(f"Namespace {namespace!r} is not a Kubernetes name.")
    if workload and not K8S_NAME.match(workload):
        raise ServiceError(f"Workload {workload!r} is not a Kubernetes name.")
    return value, namespace, workload


def add_member(
    session: Session, *, actor: User, service_id: int | None, kind: str, value: str,
    namespace: str = "", workload: str = "",
) -> ServiceMember:  # fmt: skip
    service = session.get(Service, service_id) if service_id is not None else None
    if service is None:
        raise ServiceError("No such service.")
    value, namespace, workload = _member(kind, value, namespace, workload)
    exists = session.exec(
        select(ServiceMember).where(
            ServiceMember.service_id == service.id,
            ServiceMember.kind == kind,
            ServiceMember.value == value,
            ServiceMember.namespace == namespace,
            ServiceMember.workload == workload,
        )
    ).first()
    if exists is not None:
        raise ServiceError(f"{label(exists)} belongs to {service.name} already.")
    member = ServiceMember(
        service_id=service.id, kind=kind, value=value, namespace=namespace, workload=workload
    )
    session.add(member)
    session.flush()
    audit.record(
        session, actor=actor, action="service.member_add", target_type="service",
        target_id=str(service.id), before=None, after={"kind": kind, "member": label(member)},
    )  # fmt: skip
    session.commit()
    return member


def remove_member(session: Session, *, actor: User, member_id: int | None) -> None:
    member = session.get(ServiceMember, member_id) if member_id is not None else None
    if member is None:
        raise ServiceError("No such member.")
    audit.record(
        session, actor=actor, action="service.member_remove", target_type="service",
        target_id=str(member.service_id), before={"kind": member.kind, "member": label(member)},
        after=None,
    )  # fmt: skip
    session.delete(member)
    session.commit()


def services_covering(
    session: Session, *, cluster: str | None, namespace: str | None, name: str = "",
    service_label: str = "",
) -> list[tuple[Service, Scope]]:  # fmt: skip
    """The services an alert or problem belongs to: by its cluster and namespace (and, for a
    pod, its workload), or by a ``service`` label naming the service."""
    found = []
    for service, members in list_services(session):
        scope = scope_of(members)
        by_label = bool(service_label) and service.name == service_label
        if by_label or (namespace and scope.covers_pod(cluster, namespace, name)):
            found.append((service, scope))
    return found


def merged(scopes: list[Scope]) -> Scope:
    if not scopes:
        return EVERYTHING
    scope = Scope()
    for s in scopes:
        scope.repositories |= s.repositories
        scope.kubernetes |= s.kubernetes
        scope.groups |= s.groups
    return scope
