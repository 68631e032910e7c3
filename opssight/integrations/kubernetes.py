"""Kubernetes API adapter (official ``kubernetes`` client, synchronous; no database, no Reflex).

Each kubeconfig context, and the in-cluster service account when running in a pod, is a
``Cluster``. A ``ClusterSource`` runs one thread per resource kind that lists (in pages), then
watches from the list's resourceVersion with bookmarks; a ``410 Gone`` relists, any other failure
reconnects with exponential backoff, resuming from the last resourceVersion seen. Everything it
sees becomes a ``Change`` on one queue, which the caller drains in batches (``take``). A cluster
that is unreachable or refuses us reports a ``Health`` with the exact error; its threads keep
retrying and the other clusters are not affected.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import structlog
import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from opssight.schemas.connections import unsafe_kubeconfig_problem
from opssight.schemas.kubernetes import ClusterState

log = structlog.get_logger(__name__)

Obj = dict[str, Any]
IN_CLUSTER = "in-cluster"


class Resource(NamedTuple):
    api: Callable[[client.ApiClient], Any]
    method: str
    path: str


# Every kind a cluster is watched for, in the order a cluster's error is reported.
RESOURCES: dict[str, Resource] = {
    "Node": Resource(client.CoreV1Api, "list_node", "/api/v1/nodes"),
    "Pod": Resource(client.CoreV1Api, "list_pod_for_all_namespaces", "/api/v1/pods"),
    "Deployment": Resource(
        client.AppsV1Api, "list_deployment_for_all_namespaces", "/apis/apps/v1/deployments"
    ),
    "StatefulSet": Resource(
        client.AppsV1Api, "list_stateful_set_for_all_namespaces", "/apis/apps/v1/statefulsets"
    ),
    "DaemonSet": Resource(
        client.AppsV1Api, "list_daemon_set_for_all_namespaces", "/apis/apps/v1/daemonsets"
    ),
    "ReplicaSet": Resource(
        client.AppsV1Api, "list_replica_set_for_all_namespaces", "/apis/apps/v1/replicasets"
    ),
    "Job": Resource(client.BatchV1Api, "list_job_for_all_namespaces", "/apis/batch/v1/jobs"),
    "CronJob": Resource(
        client.BatchV1Api, "list_cron_job_for_all_namespaces", "/apis/batch/v1/cronjobs"
    ),
    "Event": Resource(client.CoreV1Api, "list_event_for_all_namespaces", "/api/v1/events"),
}


# ---------- what a source reports ----------


@dataclass(frozen=True)
class Listed:
    """A full (re)list of one kind: objects not in it are gone."""

    kind: str
    items: list[Obj]
    resource_version: str


@dataclass(frozen=True)
class Watched:
    """One watch event: ``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK``."""

    kind: str
    type: str
    object: Obj
    resource_version: str


@dataclass(frozen=True)
class Usage:
    """metrics.k8s.io ``NodeMetrics`` and ``PodMetrics`` items; ``None`` when not served."""

    nodes: list[Obj] | None
    pods: list[Obj] | None


@dataclass(frozen=True)
class Health:
    state: ClusterState
    error: str | None = None


Change = Listed | Watched | Usage | Health


class KubeError(Exception):
    """A failed call, classified as a cluster state, with the message to show."""

    def __init__(self, state: ClusterState, message: str) -> None:
        super().__init__(message)
        self.state = state
        self.message = message


# ---------- clusters ----------


@dataclass
class Cluster:
    """One cluster to watch: its context name, API server, and client (``None`` when its
    configuration could not be loaded: ``error`` says why)."""

    name: str
    server: str = ""
    api: client.ApiClient | None = None
    error: str | None = None
    request_timeout: float = 10.0

    def timeouts(self, read: float | None = None) -> tuple[float, float]:
        """(connect, read) timeouts of one request."""
        return (self.request_timeout, read if read is not None else self.request_timeout)


def _client(configuration: client.Configuration) -> client.ApiClient:
    configuration.retries = 0  # we retry with our own backoff and report every failure
    configuration.connection_pool_maxsize = len(RESOURCES) + 4
    return client.ApiClient(configuration)


def load_clusters(
    kubeconfig: str | dict | None,
    *,
    in_cluster: bool = False,
    contexts: Sequence[str] = (),
    request_timeout: float = 10.0,
) -> list[Cluster]:
    """Every context of ``kubeconfig`` (a file path, or the parsed YAML), or only those named
    in ``contexts``, sorted by name, and, when ``in_cluster``, the cluster this pod runs in. A
    context that cannot be loaded is returned with its error."""
    clusters: list[Cluster] = []
    if in_cluster:
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            clusters.append(Cluster(IN_CLUSTER, error=f"in-cluster configuration: {exc}"))
        else:
            api = _client(configuration)
            clusters.append(Cluster(IN_CLUSTER, configuration.host, api, None, request_timeout))
    if not kubeconfig:
        return clusters
    where = (
        "the uploaded kubeconfig" if isinstance(kubeconfig, dict) else f"kubeconfig {kubeconfig}"
    )
    if isinstance(kubeconfig, dict) and (problem := unsafe_kubeconfig_problem(kubeconfig)):
        raise KubeError("error", f"{where}: {problem}")  # saved before uploads were checked
    try:
        if isinstance(kubeconfig, dict):
            names = [c["name"] for c in kubeconfig.get("contexts") or []]
        else:
            found, _active = config.list_kube_config_contexts(config_file=kubeconfig)
            names = [c["name"] for c in found]
    except (ConfigException, OSError, KeyError, TypeError) as exc:
        raise KubeError("error", f"{where}: {exc}") from None
    for name in sorted(n for n in names if not contexts or n in contexts):
        configuration = client.Configuration()
        try:
            if isinstance(kubeconfig, dict):
                config.load_kube_config_from_dict(
                    kubeconfig,
                    context=name,
                    client_configuration=configuration,
                    persist_config=False,
                )
            else:
                config.load_kube_config(
                    config_file=kubeconfig,
                    context=name,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (ConfigException, OSError, ValueError) as exc:
            clusters.append(Cluster(name, error=f"context {name}: {exc}"))
            continue
        api = _client(configuration)
        clusters.append(Cluster(name, configuration.host, api, None, request_timeout))
    return clusters


def count_nodes(cluster: Cluster) -> int:
    """How many nodes the cluster's API lists (a connection test). Raises ``KubeError``."""
    if cluster.api is None:
        raise KubeError("error", cluster.error or f"cluster {cluster.name} is not configured")
    try:
        nodes = client.CoreV1Api(cluster.api).list_node(_request_timeout=cluster.timeouts())
    except Exception as exc:  # API refusals and network failures, classified
        raise describe(exc, cluster.server) from None
    return len(nodes.items)


def _status_message(exc: client.ApiException) -> str:
    """The API server's own ``Status.message`` when the body is one, else the raw reason."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "").strip()


def describe(exc: BaseException, server: str = "") -> KubeError:
    """Classify a failure: 401 unauthorized, 403 forbidden, connection/timeouts unreachable."""
    if isinstance(exc, client.ApiException):
        status = exc.status or 0
        state: ClusterState = {401: "unauthorized", 403: "forbidden"}.get(status, "error")
        label = {401: "Unauthorized", 403: "Forbidden"}.get(status, str(exc.reason or ""))
        return KubeError(state, f"{status} {label}: {_status_message(exc)}".strip())
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # before: it is a timeout too
        return KubeError("unreachable", f"cannot reach {server}: {exc}")
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return KubeError("unreachable", f"timed out talking to {server}: {exc}")
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return KubeError("unreachable", f"cannot reach {server}: {exc}")
    return KubeError("error", f"{type(exc).__name__}: {exc}")


def pod_logs(
    cluster: Cluster,
    namespace: str,
    pod: str,
    container: str | None = None,
    tail_lines: int = 200,
    previous: bool = False,
) -> str:
    """The last ``tail_lines`` of a container's log (``previous``: of its last terminated run).
    Raises ``KubeError``; a 403 says the service account may not read that pod's logs."""
    if cluster.api is None:
        raise KubeError("error", cluster.error or f"cluster {cluster.name} is not configured")
    try:
        text = client.CoreV1Api(cluster.api).read_namespaced_pod_log(
            pod,
            namespace,
            container=container or None,
            tail_lines=tail_lines,
            previous=previous,
            _request_timeout=cluster.timeouts(),
        )
    except client.ApiException as exc:
        if exc.status == 403:
            raise KubeError(
                "forbidden",
                f"the service account may not read the logs of pod {namespace}/{pod} "
                "(403 Forbidden)",
            ) from None
        raise describe(exc, cluster.server) from None
    except Exception as exc:  # network failures, classified
        raise describe(exc, cluster.server) from None
    return text if isinstance(text, str) else str(text)


# ---------- metrics.k8s.io ----------


def read_usage(cluster: Cluster) -> Usage:
    """Node and pod metrics from metrics.k8s.io; either is ``None`` when not served (or not
    allowed): the views then show no usage, and nothing is an error."""
    if cluster.api is None:
        return Usage(None, None)
    api = client.CustomObjectsApi(cluster.api)
    found: list[list[Obj] | None] = []
    for plural in ("nodes", "pods"):
        try:
            body = api.list_cluster_custom_object(
                "metrics.k8s.io", "v1beta1", plural, _request_timeout=cluster.timeouts()
            )
        except Exception:  # absent (404), forbidden, or down: no usage
            found.append(None)
            continue
        found.append(body.get("items") or [] if isinstance(body, dict) else None)
    return Usage(*found)


# ---------- list + watch ----------


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[str]:
    """The stream's lines; a connection cut after the watch was established just ends it (the
    caller resumes from the last resourceVersion)."""
    try:
        yield from iter_resp_lines(response)
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, OSError):
        return


def _cut(response: urllib3.BaseHTTPResponse) -> None:
    """Shut the stream's socket down, so that a thread blocked reading it returns at once."""
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    with contextlib.suppress(OSError):  # already closed
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)


class Gone(Exception):
    """The resourceVersion we watch from has expired (410): relist."""


@dataclass
class ClusterSource:
    """Lists then watches every kind of one cluster on threads; ``take`` drains what changed."""

    cluster: Cluster
    watch_timeout: int = 60
    backoff_start: float = 0.5
    backoff_max: float = 30.0
    metrics_interval: float = 30.0
    page_size: int = 500
    changes: queue.Queue[Change] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._responses: dict[str, urllib3.BaseHTTPResponse] = {}
        self._errors: dict[str, KubeError] = {}
        self._synced: set[str] = set()
        self._reported: Health | None = None

    # -- lifecycle --

    def start(self) -> None:
        if self.cluster.api is None:
            self._put_health(Health("error", self.cluster.error))
            return
        self._put_health(Health("syncing"))
        targets: list[tuple[str, Callable[[], None]]] = [
            (kind, lambda kind=kind: self._run_kind(kind)) for kind in RESOURCES
        ]
        targets.append(("metrics", self._run_metrics))
        for label, target in targets:
            thread = threading.Thread(
                target=target, name=f"kube:{self.cluster.name}:{label}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every thread: open watch streams are cut, waits end at once."""
        self._stop.set()
        with self._lock:
            responses = list(self._responses.values())
        for response in responses:
            _cut(response)
        for thread in self._threads:
            thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def take(self, timeout: float) -> list[Change]:
        """What changed since the last call, waiting up to ``timeout`` for the first change."""
        try:
            batch = [self.changes.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                batch.append(self.changes.get_nowait())
            except queue.Empty:
                return batch

    # -- health --

    def _put_health(self, health: Health) -> None:
        if health != self._reported:
            self._reported = health
            self.changes.put(health)

    def _report(self) -> None:
        with self._lock:
            failed = next((self._errors[k] for k in RESOURCES if k in self._errors), None)
            if failed is not None:
                health = Health(failed.state, failed.message)
            elif self._synced >= set(RESOURCES):
                health = Health("ok")
            else:
                health = Health("syncing")
            self._put_health(health)

    def _ok(self, kind: str) -> None:
        with self._lock:
            self._errors.pop(kind, None)
            self._synced.add(kind)
        self._report()

    def _failed(self, kind: str, exc: BaseException) -> None:
        error = describe(exc, self.cluster.server)
        with self._lock:
            before = self._errors.get(kind)
            self._errors[kind] = KubeError(error.state, f"{RESOURCES[kind].path}: {error.message}")
        if before is None or before.message != self._errors[kind].message:
            log.warning("kube.failed", cluster=self.cluster.name, kind=kind, error=error.message)
        self._report()

    # -- one kind --

    def _call(self, kind: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        resource = RESOURCES[kind]
        api = resource.api(self.cluster.api)
        return getattr(api, resource.method)(_preload_content=False, **kwargs)

    def _run_kind(self, kind: str) -> None:
        version: str | None = None
        delay = self.backoff_start
        while not self.stopped:
            try:
                if version is None:
                    version = self._list(kind)
                version = self._watch(kind, version)
                delay = self.backoff_start
            except Exception as exc:
                if isinstance(exc, Gone) or getattr(exc, "status", None) == 410:
                    version = None  # expired: relist, which also drops what was deleted meanwhile
                    continue
                if self.stopped:
                    return
                self._failed(kind, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)

    def _list(self, kind: str) -> str:
        """List every object of ``kind`` in pages; reports them as one ``Listed``."""
        items: list[Obj] = []
        token: str | None = None
        while True:
            response = self._call(
                kind,
                limit=self.page_size,
                _continue=token,
                _request_timeout=self.cluster.timeouts(),
            )
            body = json.loads(response.data)
            items.extend({**item, "kind": kind} for item in body.get("items") or [])
            metadata = body.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                version = metadata.get("resourceVersion") or ""
                break
        self.changes.put(Listed(kind, items, version))
        self._ok(kind)
        return version

    def _watch(self, kind: str, version: str) -> str:
        """Watch from ``version`` until the server ends the stream; returns the last version."""
        response = self._call(
            kind,
            watch=True,
            resource_version=version or None,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout,
            _request_timeout=self.cluster.timeouts(
                self.watch_timeout + self.cluster.request_timeout
            ),
        )
        with self._lock:
            if self.stopped:  # stop() ran while this watch was connecting
                response.release_conn()
                return version
            self._responses[kind] = response
        self._ok(kind)
        try:
            for line in _lines(response):
                if self.stopped:
                    break
                if not line.strip():
                    continue
                event = json.loads(line)
                kind_of, obj = event.get("type", ""), event.get("object") or {}
                if kind_of == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone(obj.get("message", ""))
                    raise client.ApiException(
                        status=obj.get("code"), reason=f"{obj.get('reason')}: {obj.get('message')}"
                    )
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                self.changes.put(Watched(kind, kind_of, {**obj, "kind": kind}, version))
        finally:
            with self._lock:
                self._responses.pop(kind, None)
            response.release_conn()
        return version

    # -- metrics --

    def _run_metrics(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                ready = {"Node", "Pod"} <= self._synced
            if ready:
                break
        while not self.stopped:
            self.changes.put(read_usage(self.cluster))
            self._stop.wait(self.metrics_interval)
