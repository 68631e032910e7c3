"""deploy/: the Kubernetes manifests are valid for a current Kubernetes (strict schemas) and hold
what the guide promises; the Compose file runs OpsSight with PostgreSQL, Redis and Prometheus,
and that Prometheus scrapes OpsSight."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from opssight.integrations.kubernetes import RESOURCES
from tests.support import ROOT, missing_service

K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
KUBERNETES_VERSION = kubernetes_validate.latest_version()
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
READ_ONLY = {"get", "list", "watch"}

Obj = dict[str, Any]


# ---------- rendering ----------


def _merge(target: Obj, patch: Obj) -> None:
    """A strategic-merge patch made of maps only (lists would need the per-field merge keys)."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list):
            raise NotImplementedError(f"list in a patch ({key}): extend render()")
        else:
            target[key] = value


def _containers(obj: Obj) -> list[Obj]:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def render(folder: Path) -> list[Obj]:
    """``kubectl kustomize folder`` for what our kustomizations use (resources, namespace,
    images, patches of maps); anything else fails here rather than renders wrong."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - {
        "apiVersion", "kind", "resources", "namespace", "images", "patches",
    }  # fmt: skip
    assert not unknown, f"render() does not know {unknown}"
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = folder / entry
        if path.is_dir():
            objects += render(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for entry in kustomization.get("patches", []):
        patch = yaml.safe_load((folder / entry["path"]).read_text())
        (target,) = [o for o in objects if _key(o) == _key(patch)]
        _merge(target, {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")})
    for image in kustomization.get("images", []):
        for container in (c for o in objects for c in _containers(o)):
            if container["image"].split(":")[0] == image["name"]:
                name = image.get("newName", image["name"])
                container["image"] = f"{name}:{image['newTag']}" if "newTag" in image else name
    if namespace := kustomization.get("namespace"):
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
            for subject in obj.get("subjects", []):
                if subject["kind"] == "ServiceAccount" and subject.get("namespace") == "default":
                    subject["namespace"] = namespace
    return objects


def _key(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _by_kind(objects: list[Obj]) -> dict[str, Obj]:
    found = {obj["kind"]: obj for obj in objects}
    assert len(found) == len(objects), "one object of each kind expected"
    return found


@pytest.fixture(scope="module")
def base() -> dict[str, Obj]:
    return _by_kind(render(BASE))


@pytest.fixture(scope="module")
def overlay() -> dict[str, Obj]:
    return _by_kind(render(OVERLAY))


# ---------- validity ----------


@pytest.mark.parametrize("folder", [BASE, OVERLAY], ids=["base", "overlay"])
def test_every_object_is_valid_for_a_current_kubernetes(folder: Path) -> None:
    objects = render(folder)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(copy.deepcopy(obj), KUBERNETES_VERSION, strict=True)


def test_the_secret_example_is_valid_but_not_applied() -> None:
    text = (BASE / "secret.example.yaml").read_text()
    kubernetes_validate.validate(yaml.safe_load(text), KUBERNETES_VERSION, strict=True)
    assert "kubectl -n opssight create secret generic opssight-secrets" in text
    assert all(o["kind"] != "Secret" for o in render(OVERLAY))


def test_every_manifest_file_is_used_or_an_example() -> None:
    used = set()
    for folder in (BASE, OVERLAY):
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        patches = [p["path"] for p in kustomization.get("patches", [])]
        names = kustomization.get("resources", []) + patches
        used |= {(folder / n).resolve() for n in names if not (folder / n).is_dir()}
    files = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert files - used == {(BASE / "secret.example.yaml").resolve()}


@pytest.mark.parametrize("folder", [BASE, OVERLAY], ids=["base", "overlay"])
def test_render_matches_kubectl_kustomize(folder: Path) -> None:
    """The renderer above is checked against the real kustomize where kubectl is installed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the renderer is not cross-checked")
    printed = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True
    ).stdout
    real = sorted((o for o in yaml.safe_load_all(printed) if o), key=_key)
    assert real == sorted(render(folder), key=_key)


# ---------- what the guide promises ----------


def test_the_deployment_probes_health_without_flapping_on_sources(base: dict[str, Obj]) -> None:
    (container,) = base["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    # /health/detailed answers 503 only while the database is down (a source down: 200)
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/detailed", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # the image's start period


def test_the_deployment_resources_settings_and_user(base: dict[str, Obj]) -> None:
    pod = base["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert container["envFrom"] == [
        {"configMapRef": {"name": base["ConfigMap"]["metadata"]["name"]}},
        {"secretRef": {"name": "opssight-secrets"}},
    ]
    assert {"name": "GRANIAN_WORKERS", "value": "1"} in container["env"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "useradd --create-home --uid 10001 opssight" in dockerfile
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "replicas" not in base["Deployment"]["spec"], "the autoscaler owns the count"


def test_the_settings_are_settings_opssight_knows(base: dict[str, Obj]) -> None:
    from opssight.config import ENV_PREFIX, Settings

    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    names = set(base["ConfigMap"]["data"])
    secret = yaml.safe_load((BASE / "secret.example.yaml").read_text())
    names |= set(secret["stringData"])
    assert names <= known, names - known
    assert "OPSSIGHT_SECRET_KEY" not in base["ConfigMap"]["data"]


def test_the_service_and_the_autoscaler(base: dict[str, Obj]) -> None:
    deployment = base["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = base["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = base["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    assert base["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert base["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def test_rbac_reads_exactly_what_the_kubernetes_integration_reads(base: dict[str, Obj]) -> None:
    rules = base["ClusterRole"]["rules"]
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert set().union(*granted.values()) <= READ_ONLY, "read-only verbs only"
    watched = set()
    for resource in RESOURCES.values():  # /api/v1/pods, /apis/apps/v1/deployments, ...
        parts = resource.path.strip("/").split("/")
        group = "" if parts[0] == "api" else parts[1]
        watched.add((group, parts[-1]))
    wanted = {key: READ_ONLY for key in watched}
    wanted[("", "pods/log")] = {"get"}  # the log panel
    wanted |= {("metrics.k8s.io", r): {"get", "list"} for r in ("nodes", "pods")}  # usage
    assert granted == wanted


def test_the_pods_run_as_the_service_account_the_role_is_bound_to(
    overlay: dict[str, Obj],
) -> None:
    account = overlay["ServiceAccount"]
    pod = overlay["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert account.get("automountServiceAccountToken", True), "the in-cluster watch needs it"
    binding = overlay["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == overlay["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "opssight", "namespace": "opssight"}
    ]
    assert account["metadata"]["namespace"] == "opssight"


def test_the_network_policy_lets_opssight_reach_its_services(base: dict[str, Obj]) -> None:
    policy = base["NetworkPolicy"]["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {3000}
    egress = {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}
    needed = {
        ("UDP", 53): "DNS",
        ("TCP", 5432): "PostgreSQL",
        ("TCP", 6379): "Redis",
        ("TCP", 443): "GitHub and the Kubernetes API Service",
        ("TCP", 6443): "the Kubernetes API server",
        ("TCP", 9090): "Prometheus",
    }
    assert set(needed) <= egress, [needed[k] for k in set(needed) - egress]


def test_the_overlay_sets_namespace_image_and_address(overlay: dict[str, Obj]) -> None:
    for obj in overlay.values():
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == "opssight", obj["kind"]
    assert overlay["Namespace"]["metadata"]["name"] == "opssight"
    (container,) = overlay["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/opssight:0.1.0"
    data = overlay["ConfigMap"]["data"]
    assert data["OPSSIGHT_PUBLIC_URL"] == "https://opssight.example.com"
    assert data["OPSSIGHT_LOG_JSON"] == "true", "the patch merges into the base's settings"
    backend = overlay["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": overlay["Service"]["metadata"]["name"], "port": {"name": "http"}}


# ---------- Compose ----------


def test_compose_runs_opssight_with_postgresql_redis_and_prometheus() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"app", "postgres", "redis", "prometheus"} <= set(services)
    app = services["app"]
    env = app["environment"]
    assert "@postgres:5432/" in env["OPSSIGHT_DATABASE_URL"]
    assert env["OPSSIGHT_REDIS_URL"].startswith("redis://redis:6379/")
    assert "http://prometheus:9090" in env["OPSSIGHT_PROMETHEUS_URL"]
    assert {"postgres", "redis", "prometheus"} <= set(app["depends_on"])
    volume = "./prometheus.yml:/etc/prometheus/prometheus.yml:ro"
    assert volume in services["prometheus"]["volumes"]
    command = services["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command


def test_compose_prometheus_scrapes_opssight() -> None:
    path = ROOT / "deploy" / "prometheus.yml"
    config = yaml.safe_load(path.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "opssight"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert ["app:3000"] in [c["targets"] for c in job["static_configs"]]
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_service("promtool (Debian's prometheus package) is not installed")
    checked = subprocess.run([promtool, "check", "config", str(path)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
