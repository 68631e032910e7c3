"""A Kubernetes API replay server: real payloads at the API server's paths, with its list, watch,
pagination and error semantics, for one cluster per instance.

``KubeReplay`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (a free port, a background
thread, plain HTTP); use it as a context manager. ``write_kubeconfig`` writes a real kubeconfig
naming several instances (one context each, bearer-token users), which the official
``kubernetes`` client loads as it would any other.

Served (GET only; anything else gets a 405 Status, an unknown path a 404 Status):

- ``/version``;
- lists, watches and single objects at the real paths, cluster-wide and, for namespaced kinds,
  under ``/namespaces/{ns}``: ``/api/v1/{nodes,namespaces,pods,events}``,
  ``/apis/apps/v1/{deployments,statefulsets,daemonsets,replicasets}``,
  ``/apis/batch/v1/{jobs,cronjobs}``; ``.../{plural}/{name}`` for one object;
- ``/api/v1/namespaces/{ns}/pods/{name}/log`` (``container``, ``tailLines``, ``previous``):
  the plain-text lines a test set with ``set_log`` (none: an empty 200);
- ``/apis/metrics.k8s.io/v1beta1/nodes`` and ``.../pods`` (+ namespaced, + ``/{name}``): lists
  only, no watch, computed from the current nodes and running pods on each request.

Lists are typed ``<Kind>List`` objects (``kind``, ``apiVersion``, ``metadata.resourceVersion``,
``items``), items sorted by namespace then name (etcd key order). The kdash fixtures are
kubectl's generic ``List``: only that envelope is replaced, items are served as recorded except
``metadata.resourceVersion``, which the server owns: one counter per instance, bumped by every
change (``add``/``modify``/``delete``), so every object carries the version of its last change
and a list carries the counter.

- ``limit``/``continue``: pages of a snapshot taken at the first page; ``metadata.continue`` is
  an opaque base64 token (like the API server's: ``{"v","rv","start"}``) and
  ``metadata.remainingItemCount`` is given when no selector is used. A continue token older than
  the kind's last ``expire`` gets 410 ``Expired`` with the API server's message; a malformed one
  400 ``BadRequest``.
- ``labelSelector``: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``,
  ``k notin (a,b)``, comma-joined. ``fieldSelector``: ``path=v``, ``path==v``, ``path!=v`` on any
  dotted path of the object (``metadata.name``, ``metadata.namespace``, ``spec.nodeName``,
  ``status.phase``, ``involvedObject.name``, ``type``...). Unlike the API server, unsupported
  field paths are not refused.
- ``resourceVersion`` on a list is accepted and ignored (the current state is served, as for
  ``""``); ``resourceVersionMatch=Exact`` with a version older than the kind's last ``expire``
  gets 410.

Watches (``watch=1``/``watch=true``) answer 200 with a chunked ``application/json`` body of one
event per chunk, each ``{"type":...,"object":...}`` plus ``\\n`` in the compact form of the
recorded stream (kubeclient.watch-stream.pods.jsonl); event objects carry ``kind`` and
``apiVersion`` as on the API server.

- ``resourceVersion`` absent, ``""`` or ``"0"``: ``ADDED`` for every current object (matching
  namespace and selectors), then live events. A version ``N``: every change after ``N`` (the
  server keeps the whole history), then live events. A version older than the kind's last
  ``expire`` gets one ``ERROR`` event carrying the 410 ``Expired`` Status (``too old resource
  version: N (M)``) and the stream ends, as the API server does.
- ``allowWatchBookmarks=true``: ``BOOKMARK`` events whose object is the kind with only
  ``metadata.resourceVersion`` (the counter), sent when a test calls ``bookmark()`` and every
  ``bookmark_interval`` seconds if the instance was given one. (The API server also fills in
  zero values, e.g. ``"spec":{"containers":null}`` for pods; clients ignore the object.)
- ``timeoutSeconds``: the stream ends cleanly (terminating chunk) after that many seconds.
  Without it the stream stays open until the client leaves, the test drops it or the server
  stops (the API server would end it after 30-60 min).
- ``drop_watches()`` and ``down()`` close open streams abruptly (no terminating chunk);
  ``expire(kind, open_watches=True)`` ends open watches of that kind with the ERROR 410 event.
- Not mimicked: an object leaving a selector's scope by a modification is not sent as
  ``DELETED``; ``sendInitialEvents``; watching a version ahead of the counter does not wait.

Auth and faults: every request needs ``Authorization: Bearer <token>`` (else 401 ``Unauthorized``
Status). ``set_status(prefix, status)`` makes the next requests under a path answer that status
with the Status body the API server sends (403 names the user, verb, resource, group and
namespace like the RBAC authorizer). ``down()`` closes the listening socket (connections are
refused) or, with ``hang=True``, accepts connections and never answers, until ``up()``. Every
request is kept in ``requests``.

Derived from the real payloads (no shape is written here):

- Status bodies: the 404 Status of the API conventions (k8s-community...) with ``code``,
  ``reason``, ``message`` and ``details`` set to what the API server sends for the case; 410s
  start from kubeclient's recorded 410 Status;
- namespaces: the ``default`` item of libcloud's NamespaceList, renamed (uid, selfLink) for each
  namespace of the loaded objects (``add`` of an object in a new namespace adds the namespace);
- node metrics: kdash's NodeMetricsList items, renamed to each node (usage copied in turn);
- pod metrics: libcloud's PodMetricsList items, renamed to each running pod, one container
  entry per container of the pod (usages copied in turn from the recorded containers);
- ``copies``/``add_copies``: a loaded object with name, uid (and generateName-derived name)
  changed, e.g. 10,000 pods from one real pod.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import copy
import itertools
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kubernetes"
TOKEN = "replay-kube-token"
USER = "system:serviceaccount:opssight:opssight"
FIRST_RESOURCE_VERSION = 1000
SNAPSHOTS_KEPT = 64

CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)
# status -> (reason, message used when set_status is given none)
STATUS_REASONS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", ""),  # built from the request, as the RBAC authorizer words it
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: (
        "Conflict",
        "the object has been modified; please apply your changes to the latest "
        "version and try again",
    ),
    410: ("Expired", "too old resource version"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: etcdserver: request timed out"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: (
        "Timeout",
        "Timeout: request did not complete within requested timeout - context deadline exceeded",
    ),
}

Query = dict[str, list[str]]
Object = dict[str, Any]


def load(name: str) -> Any:
    """A fixture file, parsed (``.yaml`` with PyYAML, the rest as JSON)."""
    text = (FIXTURES / name).read_text()
    return yaml.safe_load(text) if name.endswith(".yaml") else json.loads(text)


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Resource:
    """One kind of the API: where it is served and what it is called."""

    kind: str  # "Pod"
    plural: str  # "pods"
    group_version: str  # "v1", "apps/v1", "metrics.k8s.io/v1beta1"
    namespaced: bool
    watchable: bool = True

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]

    @property
    def base(self) -> str:
        """The path prefix: ``/api/v1`` for the core group, ``/apis/<group>/<version>`` else."""
        return "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        scope = f"/namespaces/{namespace}" if namespace and self.namespaced else ""
        return f"{self.base}{scope}/{self.plural}" + (f"/{name}" if name else "")


RESOURCES: tuple[Resource, ...] = (
    Resource("Node", "nodes", "v1", namespaced=False),
    Resource("Namespace", "namespaces", "v1", namespaced=False),
    Resource("Pod", "pods", "v1", namespaced=True),
    Resource("Event", "events", "v1", namespaced=True),
    Resource("Deployment", "deployments", "apps/v1", namespaced=True),
    Resource("StatefulSet", "statefulsets", "apps/v1", namespaced=True),
    Resource("DaemonSet", "daemonsets", "apps/v1", namespaced=True),
    Resource("ReplicaSet", "replicasets", "apps/v1", namespaced=True),
    Resource("Job", "jobs", "batch/v1", namespaced=True),
    Resource("CronJob", "cronjobs", "batch/v1", namespaced=True),
    Resource("NodeMetrics", "nodes", "metrics.k8s.io/v1beta1", namespaced=False, watchable=False),
    Resource("PodMetrics", "pods", "metrics.k8s.io/v1beta1", namespaced=True, watchable=False),
)
BY_KIND = {resource.kind: resource for resource in RESOURCES}
BY_PATH = {(resource.group_version, resource.plural): resource for resource in RESOURCES}

# What load_fixtures() loads by default: kind -> fixture files (lists), in that order.
DEFAULT_FIXTURES: dict[str, tuple[str, ...]] = {
    "Node": ("kdash.nodes.list.yaml", "honeycomb.nodelist.eks.json"),
    "Pod": (
        "kdash.pods.list.yaml",
        "nri-kubernetes.kubelet-pods.podlist.v1.34.crashloopbackoff.json",
        "cloudability.podlist.json",
    ),
    "Event": ("kdash.events.list.yaml",),
    "Deployment": ("kdash.deployments.list.yaml",),
    "StatefulSet": ("kdash.stfs.list.yaml",),
    "DaemonSet": ("kdash.daemonsets.list.yaml",),
    "ReplicaSet": ("kdash.replicasets.list.yaml",),
    "Job": ("kdash.jobs.list.yaml",),
    "CronJob": ("kdash.cronjobs.list.yaml",),
}

_ROUTE = re.compile(
    r"(?P<base>/api/v1|/apis/(?P<group_version>[^/]+/[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>log))?"
)


def resource(kind: str) -> Resource:
    """The resource for a kind (``"Pod"``) or a core/apps/batch plural (``"pods"``)."""
    if kind in BY_KIND:
        return BY_KIND[kind]
    for found in RESOURCES:
        if found.plural == kind and not found.group.startswith("metrics"):
            return found
    raise KeyError(f"unknown kind {kind!r}")


Key = tuple[str, str]  # (namespace or "", name)


def _key(obj: Object) -> Key:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: Query
    headers: dict[str, str]  # names in lower case
    status: int
    watch: bool = False


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    watch: _Watch | None = None  # a 200 that streams events instead of a body


@dataclass
class _Change:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: Object  # the object as of this change
    line: bytes  # the watch event line, newline included


@dataclass(eq=False)
class _Watch:
    resource: Resource
    namespace: str | None
    labels: Callable[[Object], bool]
    fields: Callable[[Object], bool]
    bookmarks: bool
    deadline: float | None
    cursor: int  # changes after this version are still to send
    pending: list[bytes]
    bookmark_seen: int
    next_bookmark: float | None = None
    dropped: bool = False
    error: bytes | None = None  # an ERROR event that ends the stream

    def matches(self, obj: Object) -> bool:
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.labels(obj) and self.fields(obj)


@dataclass
class _Fault:
    prefix: str
    status: int
    message: str | None
    times: int | None  # None: until clear_status()


@dataclass
class _Snapshot:
    rv: int
    items: list[tuple[Key, Object, bytes]] = field(default_factory=list)


class KubeReplay:
    """One cluster's API server; use it as a context manager (it starts on enter, stops on
    exit). ``load_fixtures`` runs unless ``fixtures=False``."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        user: str = USER,
        fixtures: bool = True,
        bookmark_interval: float | None = None,
    ) -> None:
        self.token = token
        self.user = user  # named in 403 messages
        self.bookmark_interval = bookmark_interval
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._rv = FIRST_RESOURCE_VERSION
        self._objects: dict[str, dict[Key, Object]] = {r.kind: {} for r in RESOURCES}
        self._bodies: dict[str, dict[Key, bytes]] = {r.kind: {} for r in RESOURCES}
        self._history: dict[str, list[_Change]] = defaultdict(list)
        self._history_rvs: dict[str, list[int]] = defaultdict(list)
        self._expired_below: dict[str, int] = {}
        self._snapshots: dict[str, deque[_Snapshot]] = defaultdict(
            lambda: deque(maxlen=SNAPSHOTS_KEPT)
        )
        self._watches: set[_Watch] = set()
        self._bookmark_generation = 0
        self._faults: list[_Fault] = []
        self._logs: dict[tuple[str, str, str, bool], list[str]] = {}
        self._uids = itertools.count(1)
        self._hanging = False
        self._stopping = False
        self._port: int | None = None
        self._server: _Server | None = None
        self._status_404 = load("k8s-community.api-conventions.status-404-notfound.json")
        self._status_410 = load("kubeclient.status-410-expired.json")
        self._version = (FIXTURES / "libcloud.version.json").read_bytes()
        [self._namespace_template, _] = load("libcloud.namespacelist.json")["items"]
        self._node_metrics = load("kdash.nodemetricslist.json")["items"]
        self._pod_metrics = load("libcloud.podmetricslist.json")["items"]
        if fixtures:
            self.load_fixtures()

    # ---------- lifecycle ----------

    def __enter__(self) -> KubeReplay:
        self._stopping = False
        self._start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._changed:
            self._stopping = True
            self._hanging = False
            self._changed.notify_all()
        self._stop()

    def _start(self) -> None:
        self._server = _Server(("127.0.0.1", self._port or 0), _Handler)
        self._server.replay = self
        self._port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The API server URL for a client (``http://127.0.0.1:<port>``); stable across
        ``down()``/``up()``."""
        assert self._port is not None, "the server was never started"
        return f"http://127.0.0.1:{self._port}"

    @property
    def resource_version(self) -> str:
        """The counter: the version of the last change, as lists report it."""
        return str(self._rv)

    # ---------- objects ----------

    def load_fixtures(
        self, files: Mapping[str, Sequence[str]] | None = None, *, nodes_for_pods: bool = True
    ) -> None:
        """Add the objects of the fixture lists (``DEFAULT_FIXTURES`` unless ``files`` maps
        kinds to other fixture files), their namespaces, in file order; an object whose
        namespace and name were already loaded is skipped (kdash.pods lists one pod twice).
        With ``nodes_for_pods``, every ``spec.nodeName`` of a pod that names no node gets a
        node: a copy of a loaded node (in turn) with that name, hostname label and a uid."""
        with self._changed:
            for kind, names in (DEFAULT_FIXTURES if files is None else files).items():
                found = resource(kind)
                for name in names:
                    for item in load(name)["items"]:
                        if _key(item) not in self._objects[found.kind]:
                            self._add(found, item)
            templates = list(self._objects["Node"].values())
            if not nodes_for_pods or not templates:
                return
            wanted = {pod["spec"].get("nodeName") for pod in self._objects["Pod"].values()}
            missing = sorted(n for n in wanted - {k[1] for k in self._objects["Node"]} if n)
            for index, node_name in enumerate(missing):
                node = copy.deepcopy(templates[index % len(templates)])
                node["metadata"].update(name=node_name, uid=self._uid())
                labels = node["metadata"].get("labels") or {}
                if "kubernetes.io/hostname" in labels:
                    labels["kubernetes.io/hostname"] = node_name
                self._add(BY_KIND["Node"], node)

    def add(self, kind: str, obj: Object) -> Object:
        """Store a copy of ``obj`` (its namespace is added first if new) with the next
        resourceVersion and send ``ADDED`` to open watches; returns the stored copy. An object
        with the same namespace and name is replaced (``MODIFIED``)."""
        obj = copy.deepcopy(obj)
        with self._changed:
            self._add(resource(kind), obj)
        return copy.deepcopy(obj)

    def _add(self, found: Resource, obj: Object) -> None:
        """``add`` without copies: ``obj`` is the caller's no more."""
        namespace = obj["metadata"].get("namespace")
        if found.namespaced and namespace:
            self._ensure_namespace(namespace)
        existed = _key(obj) in self._objects[found.kind]
        self._put(found, obj, "MODIFIED" if existed else "ADDED")

    def modify(
        self, kind: str, name: str, namespace: str | None, mutate: Callable[[Object], None]
    ) -> Object:
        """Apply ``mutate`` to a copy of the stored object, store it with the next
        resourceVersion and send ``MODIFIED``; returns the new copy (KeyError if absent)."""
        found = resource(kind)
        with self._changed:
            obj = copy.deepcopy(self._objects[found.kind][(namespace or "", name)])
            mutate(obj)
            self._put(found, obj, "MODIFIED")
        return copy.deepcopy(obj)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> Object:
        """Remove the object; ``DELETED`` carries its last state with the next
        resourceVersion, as the API server sends it (KeyError if absent)."""
        found = resource(kind)
        with self._changed:
            key = (namespace or "", name)
            stored = self._objects[found.kind].pop(key)
            del self._bodies[found.kind][key]
            self._rv += 1
            obj = {**stored, "metadata": {**stored["metadata"], "resourceVersion": str(self._rv)}}
            self._record(found, "DELETED", obj)
        return copy.deepcopy(obj)

    def get(self, kind: str, name: str, namespace: str | None = None) -> Object:
        """A copy of a stored object (KeyError if absent)."""
        with self._lock:
            return copy.deepcopy(self._objects[resource(kind).kind][(namespace or "", name)])

    def objects(self, kind: str, namespace: str | None = None) -> list[Object]:
        """Copies of the stored objects of a kind, in list order."""
        with self._lock:
            found = self._objects[resource(kind).kind]
            return [
                copy.deepcopy(found[key])
                for key in sorted(found)
                if namespace is None or key[0] == namespace
            ]

    def copies(
        self,
        kind: str,
        like: Key,
        count: int,
        *,
        namespace: str | None = None,
        name: Callable[[int], str] | None = None,
    ) -> list[Object]:
        """``count`` copies of the stored object ``like`` (``(namespace, name)``), each with
        its own name (``<name>-<i>`` unless ``name(i)`` says otherwise) and uid, optionally
        in another namespace. They are not stored: ``add`` them."""
        original = self.get(kind, like[1], like[0] or None)
        made = []
        for index in range(count):
            obj = copy.deepcopy(original)
            meta = obj["metadata"]
            meta["name"] = name(index) if name else f"{like[1]}-{index}"
            meta["uid"] = self._uid()
            if namespace is not None and resource(kind).namespaced:
                meta["namespace"] = namespace
            made.append(obj)
        return made

    def add_copies(self, kind: str, like: Key, count: int, **options: Any) -> list[Object]:
        """``copies`` then ``add`` of each (one resourceVersion each); returns the copies as
        stored (do not change them: ``modify`` does)."""
        made = self.copies(kind, like, count, **options)
        with self._changed:
            for obj in made:
                self._add(resource(kind), obj)
        return made

    def set_log(
        self,
        namespace: str,
        pod: str,
        lines: Iterable[str],
        *,
        container: str | None = None,
        previous: bool = False,
    ) -> None:
        """The log lines of a pod's container (its first container by default); ``previous``
        sets the previous (terminated) container's log, served for ``previous=true``."""
        spec = self.get("Pod", pod, namespace)["spec"]
        container = container or spec["containers"][0]["name"]
        with self._lock:
            self._logs[(namespace, pod, container, previous)] = list(lines)

    # ---------- faults and stream control ----------

    def expire(self, kind: str, *, open_watches: bool = False) -> None:
        """Compact ``kind``'s history as etcd does: from now on a watch from a version before
        now, a continue token of a list from before now and a ``resourceVersionMatch=Exact``
        list of such a version get 410 Expired (lists made after this call are not affected).
        With ``open_watches``, open watches of the kind get the ERROR 410 event and end."""
        found = resource(kind)
        with self._changed:
            self._rv += 1
            self._expired_below[found.kind] = self._rv
            for watch in self._watches:
                if open_watches and watch.resource is found:
                    watch.error = _event("ERROR", self._too_old(watch.cursor, self._rv))
            self._changed.notify_all()

    def bookmark(self) -> None:
        """Every open watch that allowed bookmarks gets a BOOKMARK at the current version."""
        with self._changed:
            self._bookmark_generation += 1
            self._changed.notify_all()

    def drop_watches(self) -> None:
        """Close every open watch stream abruptly (no terminating chunk)."""
        with self._changed:
            for watch in self._watches:
                watch.dropped = True
            self._changed.notify_all()

    @property
    def open_watches(self) -> int:
        with self._lock:
            return len(self._watches)

    def set_status(
        self,
        path_prefix: str,
        status: int,
        *,
        times: int | None = 1,
        message: str | None = None,
    ) -> None:
        """The next ``times`` requests (``None``: all, until ``clear_status``) whose path
        starts with ``path_prefix`` answer ``status`` with the API server's Status body for it;
        ``message`` replaces its message. Checked after the token."""
        with self._lock:
            self._faults.append(_Fault(path_prefix, status, message, times))

    def clear_status(self) -> None:
        with self._lock:
            self._faults.clear()

    def down(self, *, hang: bool = False) -> None:
        """Stop answering: open watches are dropped and the listening socket is closed
        (connections refused) or, with ``hang``, connections are accepted and never answered
        (clients time out) until ``up()``."""
        self.drop_watches()
        if hang:
            with self._lock:
                self._hanging = True
        else:
            self._stop()

    def up(self) -> None:
        """Answer again, on the same port."""
        with self._changed:
            self._hanging = False
            self._changed.notify_all()
        if self._server is None:
            self._start()

    # ---------- answering ----------

    def answer(self, method: str, path: str, query: Query, headers: Message) -> Answer:
        """Answer one request and record it."""
        with self._lock:
            answer = self._answer(method, path, query, headers)
            self.requests.append(
                RecordedRequest(
                    method,
                    path,
                    query,
                    {name.lower(): value for name, value in headers.items()},
                    answer.status,
                    answer.watch is not None,
                )
            )
            if answer.watch is not None:
                self._watches.add(answer.watch)
        return answer

    def _answer(self, method: str, path: str, query: Query, headers: Message) -> Answer:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return self._status(401)
        for fault in self._faults:
            if path.startswith(fault.prefix):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return self._status(fault.status, fault.message, path=path, query=query)
        if method != "GET":
            return self._status(405)
        if path in ("/version", "/version/"):
            return Answer(200, self._version)
        match = _ROUTE.fullmatch(path)
        found = match and BY_PATH.get((match["group_version"] or "v1", match["plural"]))
        if not match or not found or (match["namespace"] and not found.namespaced):
            return self._status(404)
        namespace, name, sub = match["namespace"], match["name"], match["sub"]
        if sub and (found.kind != "Pod" or not name):
            return self._status(404)
        if found.kind in ("NodeMetrics", "PodMetrics"):
            return self._metrics(found, namespace, name, query)
        if name is None:
            if _flag(query, "watch"):
                return self._watch(found, namespace, query)
            return self._list(found, namespace, query)
        stored = self._bodies[found.kind].get((namespace or "", name))
        if stored is None:
            return self._not_found(found, name)
        if sub == "log":
            return self._log(namespace or "", name, query)
        return Answer(200, stored)

    # ---------- lists ----------

    def _list(self, found: Resource, namespace: str | None, query: Query) -> Answer:
        try:
            labels = _label_selector(_one(query, "labelSelector"))
            fields = _field_selector(_one(query, "fieldSelector"))
        except ValueError as error:
            return self._status(400, str(error))
        expired_below = self._expired_below.get(found.kind, 0)
        if _one(query, "resourceVersionMatch") == "Exact":
            asked = _int(_one(query, "resourceVersion"))
            if asked is not None and asked < expired_below:
                return self._expired(self._too_old(asked, expired_below))
        token = _one(query, "continue")
        if token:
            try:
                decoded = json.loads(base64.b64decode(token, validate=True))
                rv, start = int(decoded["rv"]), tuple(decoded["start"])
            except (ValueError, KeyError, TypeError):
                return self._status(400, f'continue key is not valid: "{token}"')
            if rv < expired_below:
                return self._expired(CONTINUE_EXPIRED)
            snapshot = next((s for s in self._snapshots[found.kind] if s.rv == rv), None)
            if snapshot is None:
                snapshot = self._snapshot(found)
                snapshot.rv = rv
        else:
            snapshot = self._snapshot(found)
            start = ()
        scope = [
            (key, body)
            for key, obj, body in snapshot.items
            if (not namespace or key[0] == namespace) and labels(obj) and fields(obj)
        ]
        begin = bisect.bisect_left([key for key, _ in scope], start) if start else 0
        limit = _int(_one(query, "limit")) or 0
        page = scope[begin : begin + limit] if limit > 0 else scope[begin:]
        meta: dict[str, Any] = {"resourceVersion": str(snapshot.rv)}
        rest = len(scope) - begin - len(page)
        if rest > 0:
            last = page[-1][0]
            meta["continue"] = base64.b64encode(
                _dump(
                    {"v": "meta.k8s.io/v1", "rv": snapshot.rv, "start": [last[0], last[1] + "\0"]}
                )
            ).decode()
            if "labelSelector" not in query and "fieldSelector" not in query:
                meta["remainingItemCount"] = rest
        return Answer(200, self._list_body(found, meta, [body for _, body in page]))

    def _snapshot(self, found: Resource) -> _Snapshot:
        objects, bodies = self._objects[found.kind], self._bodies[found.kind]
        snapshot = _Snapshot(
            self._rv, [(key, objects[key], bodies[key]) for key in sorted(objects)]
        )
        self._snapshots[found.kind].append(snapshot)
        return snapshot

    @staticmethod
    def _list_body(found: Resource, meta: Mapping[str, Any], items: list[bytes]) -> bytes:
        return b'{"kind":%s,"apiVersion":%s,"metadata":%s,"items":[%s]}' % (
            _dump(f"{found.kind}List"),
            _dump(found.group_version),
            _dump(meta),
            b",".join(items),
        )

    # ---------- watches ----------

    def _watch(self, found: Resource, namespace: str | None, query: Query) -> Answer:
        try:
            labels = _label_selector(_one(query, "labelSelector"))
            fields = _field_selector(_one(query, "fieldSelector"))
        except ValueError as error:
            return self._status(400, str(error))
        timeout = _int(_one(query, "timeoutSeconds"))
        watch = _Watch(
            found,
            namespace,
            labels,
            fields,
            bookmarks=_flag(query, "allowWatchBookmarks"),
            deadline=time.monotonic() + timeout if timeout else None,
            cursor=self._rv,
            pending=[],
            bookmark_seen=self._bookmark_generation,
        )
        if self.bookmark_interval and watch.bookmarks:
            watch.next_bookmark = time.monotonic() + self.bookmark_interval
        asked = _one(query, "resourceVersion") or "0"
        if asked == "0":
            objects = self._objects[found.kind]
            watch.pending = [
                _event("ADDED", _typed(found, objects[key]))
                for key in sorted(objects)
                if watch.matches(objects[key])
            ]
        else:
            version = _int(asked)
            if version is None:
                return self._status(400, f'resourceVersion: Invalid value: "{asked}"')
            expired_below = self._expired_below.get(found.kind, 0)
            if version < expired_below:
                watch.error = _event("ERROR", self._too_old(version, expired_below))
            else:
                watch.cursor = version
        return Answer(200, watch=watch)

    def stream(self, watch: _Watch, write: Callable[[bytes], None]) -> bool:
        """Run one watch: write its event lines until it ends; False if it must be dropped
        (the caller then closes the connection without the terminating chunk)."""
        try:
            while True:
                with self._changed:
                    lines, end = self._next_lines(watch)
                    while not lines and end is None:
                        self._changed.wait(self._wait_time(watch))
                        lines, end = self._next_lines(watch)
                for line in lines:
                    write(line)
                if end is not None:
                    return end
        finally:
            with self._lock:
                self._watches.discard(watch)

    def _next_lines(self, watch: _Watch) -> tuple[list[bytes], bool | None]:
        """Lines to send now and whether the stream then ends (True: cleanly, False: drop)."""
        if watch.dropped or self._stopping:
            return [], False
        lines, watch.pending = watch.pending, []
        if watch.error is not None:
            return [*lines, watch.error], True
        history, rvs = self._history[watch.resource.kind], self._history_rvs[watch.resource.kind]
        for change in history[bisect.bisect_right(rvs, watch.cursor) :]:
            if watch.matches(change.obj):
                lines.append(change.line)
        watch.cursor = max(watch.cursor, self._rv)
        now = time.monotonic()
        if watch.bookmarks and (
            watch.bookmark_seen != self._bookmark_generation
            or (watch.next_bookmark is not None and now >= watch.next_bookmark)
        ):
            watch.bookmark_seen = self._bookmark_generation
            if self.bookmark_interval:
                watch.next_bookmark = now + self.bookmark_interval
            bookmark = {
                "kind": watch.resource.kind,
                "apiVersion": watch.resource.group_version,
                "metadata": {"resourceVersion": str(self._rv)},
            }
            lines.append(_event("BOOKMARK", bookmark))
        if watch.deadline is not None and now >= watch.deadline:
            return lines, True
        return lines, None

    def _wait_time(self, watch: _Watch) -> float:
        now = time.monotonic()
        waits = [1.0]
        if watch.deadline is not None:
            waits.append(watch.deadline - now)
        if watch.next_bookmark is not None:
            waits.append(watch.next_bookmark - now)
        return max(0.0, min(waits))

    # ---------- logs and metrics ----------

    def _log(self, namespace: str, name: str, query: Query) -> Answer:
        spec = self._objects["Pod"][(namespace, name)]["spec"]
        names = [c["name"] for c in spec["containers"]]
        init = [c["name"] for c in spec.get("initContainers") or []]
        container = _one(query, "container")
        if not container:
            if len(names) != 1:
                message = (
                    f"a container name must be specified for pod {name}, "
                    f"choose one of: [{' '.join(names)}]"
                )
                if init:
                    message += f" or one of the init containers: [{' '.join(init)}]"
                return self._status(400, message)
            container = names[0]
        if container not in names + init:
            return self._status(400, f"container {container} is not valid for pod {name}")
        previous = _flag(query, "previous")
        lines = self._logs.get((namespace, name, container, previous))
        if lines is None and previous:
            return self._status(
                400, f'previous terminated container "{container}" in pod "{name}" not found'
            )
        lines = lines or []
        tail = _int(_one(query, "tailLines"))
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        return Answer(200, "".join(f"{line}\n" for line in lines).encode(), "text/plain")

    def _metrics(
        self, found: Resource, namespace: str | None, name: str | None, query: Query
    ) -> Answer:
        if _flag(query, "watch"):
            return self._status(405)
        items: list[Object] = []
        if found.kind == "NodeMetrics":
            for index, key in enumerate(sorted(self._objects["Node"])):
                item = copy.deepcopy(self._node_metrics[index % len(self._node_metrics)])
                item["metadata"].update(name=key[1], selfLink=found.path(None, key[1]))
                items.append(item)
        else:
            usages = [c["usage"] for item in self._pod_metrics for c in item["containers"]]
            cycle = itertools.cycle(usages)
            for index, (key, pod) in enumerate(sorted(self._objects["Pod"].items())):
                if pod.get("status", {}).get("phase") != "Running":
                    continue
                item = copy.deepcopy(self._pod_metrics[index % len(self._pod_metrics)])
                item["metadata"].update(
                    name=key[1], namespace=key[0], selfLink=found.path(key[0], key[1])
                )
                item["containers"] = [
                    {"name": c["name"], "usage": dict(next(cycle))}
                    for c in pod["spec"]["containers"]
                ]
                items.append(item)
        items = [
            item
            for item in items
            if (not namespace or item["metadata"].get("namespace") == namespace)
            and (not name or item["metadata"]["name"] == name)
        ]
        if name:
            return Answer(200, _dump(items[0])) if items else self._not_found(found, name)
        return Answer(200, self._list_body(found, {}, [_dump(item) for item in items]))

    # ---------- storage ----------

    def _put(self, found: Resource, obj: Object, type_: str) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = _key(obj)
        self._objects[found.kind][key] = obj
        self._bodies[found.kind][key] = _dump(obj)
        self._record(found, type_, obj)

    def _record(self, found: Resource, type_: str, obj: Object) -> None:
        # stored objects are never changed in place (modify and delete make new ones), so the
        # history shares them with the store
        line = _event(type_, _typed(found, obj))
        self._history[found.kind].append(_Change(self._rv, type_, obj, line))
        self._history_rvs[found.kind].append(self._rv)
        self._changed.notify_all()

    def _ensure_namespace(self, namespace: str) -> None:
        if ("", namespace) in self._objects["Namespace"]:
            return
        item = copy.deepcopy(self._namespace_template)
        item["metadata"].update(
            name=namespace, selfLink=f"/api/v1/namespaces/{namespace}", uid=self._uid()
        )
        self._put(BY_KIND["Namespace"], item, "ADDED")

    def _uid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opssight-replay/{next(self._uids)}"))

    # ---------- Status bodies ----------

    def _status(
        self,
        code: int,
        message: str | None = None,
        *,
        path: str | None = None,
        query: Query | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Answer:
        reason, default = STATUS_REASONS.get(code, ("", f"the server responded with {code}"))
        if code == 403 and message is None and path is not None:
            message, details = self._forbidden(path, query or {})
        body = self._status_410 if code == 410 else self._status_404
        body = {**body, "message": message or default, "reason": reason, "code": code}
        if details:
            body["details"] = dict(details)
        else:
            body.pop("details", None)
        body = {key: body[key] for key in self._status_404 if key in body}  # recorded order
        return Answer(code, _dump(body))

    def _not_found(self, found: Resource, name: str) -> Answer:
        details = {"name": name, "kind": found.plural}
        if found.group:
            details = {"name": name, "group": found.group, "kind": found.plural}
        return self._status(404, f'{found.plural} "{name}" not found', details=details)

    def _expired(self, message: str) -> Answer:
        return self._status(410, message)

    def _too_old(self, asked: int, oldest: int) -> Object:
        return {**self._status_410, "message": f"too old resource version: {asked} ({oldest})"}

    def _forbidden(self, path: str, query: Query) -> tuple[str, dict[str, Any]]:
        """The RBAC authorizer's words for a request it refuses."""
        match = _ROUTE.fullmatch(path)
        found = match and BY_PATH.get((match["group_version"] or "v1", match["plural"]))
        if not match or not found:
            return f'forbidden: User "{self.user}" cannot get path "{path}"', {}
        name, namespace = match["name"], match["namespace"]
        verb = "get" if name else "watch" if _flag(query, "watch") else "list"
        resource_name = found.plural + (f"/{match['sub']}" if match["sub"] else "")
        subject = f'{found.plural} "{name}"' if name else found.plural
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{self.user}" cannot {verb} resource '
            f'"{resource_name}" in API group "{found.group}" {where}'
        )
        details: dict[str, Any] = {"name": name} if name else {}
        if found.group:
            details["group"] = found.group
        details["kind"] = found.plural
        return message, details


def _typed(found: Resource, obj: Object) -> Object:
    """The object with ``kind`` and ``apiVersion`` first, as watch events carry it."""
    rest = {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}
    return {"kind": found.kind, "apiVersion": found.group_version, **rest}


def _event(type_: str, obj: Object) -> bytes:
    return _dump({"type": type_, "object": obj}) + b"\n"


def write_kubeconfig(
    path: str | Path, clusters: Mapping[str, KubeReplay], current: str | None = None
) -> Path:
    """A kubeconfig with one cluster, user (bearer token) and context per entry, each named by
    its key; ``current-context`` is ``current`` or the first key."""
    names = list(clusters)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": name, "cluster": {"server": replay.url}} for name, replay in clusters.items()
        ],
        "users": [
            {"name": name, "user": {"token": replay.token}} for name, replay in clusters.items()
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}} for name in names],
        "current-context": current or names[0],
    }
    target = Path(path)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


# ---------- query parsing ----------


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _flag(query: Query, name: str) -> bool:
    return (_one(query, name) or "").lower() in ("1", "true")


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _split_terms(text: str) -> list[str]:
    """Comma-separated terms, keeping the commas inside ``in (a,b)``."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current.strip())
    return terms


_SET_TERM = re.compile(r"(?P<key>[^\s!=]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)")


Requirement = tuple[str, str, frozenset[str]]  # (key or path, operator, values)


def _label_selector(text: str | None) -> Callable[[Object], bool]:
    """``labelSelector``: ``k=v``, ``k==v``, ``k!=v``, ``k in (..)``, ``k notin (..)``,
    ``k``, ``!k``."""
    requirements: list[Requirement] = []
    for term in _split_terms(text or ""):
        if match := _SET_TERM.fullmatch(term):
            values = frozenset(v.strip() for v in match["values"].split(","))
            requirements.append((match["key"], match["op"], values))
        elif "!=" in term or "=" in term:
            operator = "!=" if "!=" in term else "="
            key, value = term.replace("==", "=").split(operator, 1)
            requirements.append((key.strip(), operator, frozenset([value.strip()])))
        elif re.fullmatch(r"!?[\w./-]+", term):
            operator = "!" if term.startswith("!") else "exists"
            requirements.append((term.removeprefix("!"), operator, frozenset()))
        else:
            raise ValueError(f"unable to parse requirement: {term}")

    def test(obj: Object) -> bool:
        labels = obj["metadata"].get("labels") or {}
        return all(_meets(labels.get(key), op, values) for key, op, values in requirements)

    return test


def _field_selector(text: str | None) -> Callable[[Object], bool]:
    """``fieldSelector``: ``path=v``, ``path==v``, ``path!=v`` on dotted paths."""
    requirements: list[Requirement] = []
    for term in _split_terms(text or ""):
        if "=" not in term:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{term}'")
        operator = "!=" if "!=" in term else "="
        path, value = term.replace("==", "=").split(operator, 1)
        requirements.append((path.strip(), operator, frozenset([value.strip()])))

    def test(obj: Object) -> bool:
        return all(_meets(_field(obj, path), op, values) for path, op, values in requirements)

    return test


def _meets(value: str | None, operator: str, values: frozenset[str]) -> bool:
    if operator in ("=", "in"):
        return value in values
    if operator in ("!=", "notin"):
        return value not in values
    return (value is not None) == (operator == "exists")


def _field(obj: Object, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


# ---------- HTTP ----------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    replay: KubeReplay

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up (watch clients do); loud about the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        replay = self.server.replay
        with replay._changed:
            while replay._hanging and not replay._stopping:
                replay._changed.wait(0.5)
        if replay._stopping or replay._server is None:
            # stopped, or down(): kept-alive connections of the old listener answer nothing
            self.close_connection = True
            return
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        url = urlsplit(self.path)
        answer = replay.answer(self.command, url.path, parse_qs(url.query), self.headers)
        self.send_response(answer.status)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", answer.content_type)
        if answer.watch is None:
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

        def write(line: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        try:
            clean = replay.stream(answer.watch, write)
            if clean:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
        except OSError:
            pass  # the client went away
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``KubeReplay.requests`` instead."""
