"""The change timeline: events of every kind made through their own services from recorded
payloads (a failed workflow run, a deployment, an Ansible run, a pod in CrashLoopBackOff, an
Alertmanager alert), then read back per service, per kind and around an alert or a problem."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from opssight.demo import ansible as demo_ansible
from opssight.demo import kubernetes as demo_kubernetes
from opssight.demo.recordings import load
from opssight.integrations.kubernetes import Listed
from opssight.models import Alert, AuditLog, KubeProblem, User
from opssight.models.base import utcnow
from opssight.services import clusters, service_map, webhooks
from opssight.services import timeline as t
from opssight.services.alerting import alertmanager
from opssight.services.automation import ingest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CLUSTER = "prod"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def webhook(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "github" / "webhooks" / name).read_text())


def failed_run(session: Session, at: datetime) -> dict[str, Any]:
    body = webhook("octokit.workflow_run.completed.payload.json")
    run = body["workflow_run"]
    run.update(conclusion="failure", created_at=iso(at - timedelta(minutes=9)),
               run_started_at=iso(at - timedelta(minutes=8)), updated_at=iso(at))  # fmt: skip
    webhooks.ingest(session, delivery_id="run-failed", event="workflow_run", payload=body)
    return body


def deployment(session: Session, at: datetime, repository: dict[str, Any]) -> dict[str, Any]:
    body = webhook("octokit.deployment_status.payload.json")
    body["repository"] = copy.deepcopy(repository)
    body["deployment"]["created_at"] = iso(at - timedelta(minutes=2))
    body["deployment_status"].update(created_at=iso(at), updated_at=iso(at), state="success")
    webhooks.ingest(session, delivery_id="deployed", event="deployment_status", payload=body)
    return body


def crashing_pod(session: Session, latest: datetime) -> dict[str, Any]:
    recording, name = demo_kubernetes.CRASHLOOP
    pods = load(f"kubernetes.{recording}")["items"]
    pod = copy.deepcopy(next(p for p in pods if p["metadata"]["name"] == name))
    (pod,) = demo_kubernetes.restamped([pod], latest + demo_kubernetes.LATEST_AGO)
    clusters.register(session, CLUSTER, "https://prod.invalid")
    clusters.apply(session, CLUSTER, [Listed("Pod", [pod], "1")], now=utcnow())
    return pod


def alert(session: Session, at: datetime, name: str, namespace: str) -> Alert:
    payload = json.loads(
        (FIXTURES / "alertmanager" / "prometheus-msteams.webhook.firing.json").read_text()
    )
    payload["alerts"] = payload["alerts"][:1]
    first = payload["alerts"][0]
    first["labels"].update(alertname=name, namespace=namespace)
    first.update(startsAt=iso(at), fingerprint=f"fp-{name}")
    alertmanager.store(session, alertmanager.parse(json.dumps(payload).encode()))
    return session.exec(select(Alert).where(Alert.name == name)).one()


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    """Five kinds of change, an hour or so apart, the newest an alert an hour ago."""
    now = utcnow().replace(microsecond=0)
    run = failed_run(session, now - timedelta(hours=5))
    deployed = deployment(session, now - timedelta(hours=4), run["repository"])
    (slot,) = demo_ansible.slots(now - timedelta(hours=3, minutes=30), now - timedelta(hours=3))
    batches = demo_ansible.batches(slot)
    for batch in batches:
        ingest.store(session, batch)
    pod = crashing_pod(session, now - timedelta(hours=2))
    firing = alert(session, now - timedelta(hours=1), "DiskFilling", pod["metadata"]["namespace"])
    other = alert(session, now - timedelta(minutes=30), "Elsewhere", "other-namespace")
    admin = User(login="admin", role="admin")
    session.add(admin)
    session.commit()
    return {
        "now": now, "run": run, "deployed": deployed, "pod": pod, "alert": firing, "other": other, "admin": admin,
        "ansible": str(batches[0].run.id),
    }  # fmt: skip


def window(world: dict[str, Any], **kwargs: Any) -> t.TimelineQuery:
    return t.TimelineQuery(since=world["now"] - timedelta(hours=24), until=world["now"], **kwargs)


def test_every_kind_in_time_order_with_links(session: Session, world: dict[str, Any]):
    entries = t.timeline(session, window(world))
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    kinds = [e.kind for e in entries]
    # newest first: the other alert, the alert, the pod (restart, problem), Ansible, deploy, failure
    assert kinds[:2] == ["alert", "alert"]
    assert kinds[-3:] == ["ansible", "deployment", "pipeline"]
    assert set(kinds[2:-3]) == {"kubernetes"}
    run = world["run"]["workflow_run"]
    by_kind = {e.kind: e for e in reversed(entries)}  # the newest of each kind
    assert by_kind["pipeline"].link == f"/pipelines?run={run['id']}&attempt={run['run_attempt']}"
    assert by_kind["pipeline"].title.endswith("failure")
    assert by_kind["deployment"].link == (
        f"/pipelines?repo=octo-org%2Focto-repo&search={world['deployed']['deployment']['sha'][:7]}"
    )
    assert by_kind["ansible"].link == f"/automation?run={world['ansible']}"
    assert by_kind["alert"].link == "/alerts?search=Elsewhere"
    pod = world["pod"]["metadata"]
    problem = next(e for e in entries if e.key.startswith("problem:"))
    assert (
        problem.link
        == f"/kubernetes?cluster={CLUSTER}&namespace={pod['namespace']}&pod={pod['name']}"
    )
    assert problem.title == f"CrashLoopBackOff on Pod/{pod['name']}"
    assert any(e.key.startswith("restart:") for e in entries)


def test_filters_by_kind_and_time(session: Session, world: dict[str, Any]):
    only = t.timeline(session, window(world, kinds=["ansible", "deployment"]))
    assert [e.kind for e in only] == ["ansible", "deployment"]
    recent = t.TimelineQuery(
        since=world["now"] - timedelta(hours=2, minutes=30), until=world["now"]
    )
    assert "ansible" not in {e.kind for e in t.timeline(session, recent)}


def test_a_service_sees_only_what_is_mapped_to_it(session: Session, world: dict[str, Any]):
    admin, namespace = world["admin"], world["pod"]["metadata"]["namespace"]
    shop = service_map.create_service(session, actor=admin, name="shop", description="the shop")
    for kind, value, ns in (("repository", "octo-org/octo-repo", ""), ("kubernetes", "*", namespace),
                            ("inventory_group", "db", "")):  # fmt: skip
        service_map.add_member(session, actor=admin, service_id=shop.id, kind=kind, value=value,
                               namespace=ns)  # fmt: skip
    scope = service_map.service_scope(session, shop.id)
    entries = t.timeline(session, window(world), scope, {"shop"})
    names = [e.title for e in entries if e.kind == "alert"]
    assert names == ["DiskFilling firing"]  # not the other namespace's alert
    assert {e.kind for e in entries} == set(t.KINDS)
    narrow = service_map.create_service(session, actor=admin, name="web-only")
    service_map.add_member(session, actor=admin, service_id=narrow.id, kind="inventory_group",
                           value="nothing-here")  # fmt: skip
    assert t.timeline(session, window(world), service_map.service_scope(session, narrow.id)) == []
    with pytest.raises(service_map.ServiceError, match="owner/repo"):
        service_map.add_member(session, actor=admin, service_id=shop.id, kind="repository",
                               value="no-slash")  # fmt: skip
    with pytest.raises(service_map.ServiceError, match="exists already"):
        service_map.create_service(session, actor=admin, name="shop")
    actions = [a.action for a in session.exec(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["service.create", *["service.member_add"] * 3, "service.create",
                       "service.member_add"]  # fmt: skip


def test_what_changed_before_an_alert(session: Session, world: dict[str, Any]):
    admin, namespace = world["admin"], world["pod"]["metadata"]["namespace"]
    shop = service_map.create_service(session, actor=admin, name="shop")
    service_map.add_member(session, actor=admin, service_id=shop.id, kind="kubernetes", value="*",
                           namespace=namespace)  # fmt: skip
    service_map.add_member(session, actor=admin, service_id=shop.id, kind="inventory_group",
                           value="shop")  # fmt: skip
    around = t.around_alert(session, world["alert"].id)
    assert around is not None and around.services == ["shop"]
    assert around.anchor.title == "DiskFilling firing"
    assert around.anchor.at == world["now"] - timedelta(hours=1)
    kinds = [e.kind for e in around.entries]
    assert kinds[-1] == "ansible" and set(kinds[:-1]) == {"kubernetes"}  # the repo is not mapped
    assert [e.at for e in around.entries] == sorted((e.at for e in around.entries), reverse=True)
    assert all(e.at <= around.anchor.at + t.AFTER for e in around.entries)
    lonely = t.around_alert(session, world["other"].id)  # no service covers it: everything
    assert lonely is not None and lonely.services == []
    assert {"pipeline", "deployment"} <= {e.kind for e in lonely.entries}
    assert t.around_alert(session, 999_999) is None


def test_what_changed_before_a_problem(session: Session, world: dict[str, Any]):
    problem = session.exec(select(KubeProblem)).first()
    assert problem is not None
    around = t.around_problem(session, problem.id)
    assert around is not None and around.anchor.kind == "kubernetes"
    assert around.services == []
    assert [e.kind for e in around.entries][-3:] == ["ansible", "deployment", "pipeline"]
    assert all(e.subject != around.anchor.subject for e in around.entries)
