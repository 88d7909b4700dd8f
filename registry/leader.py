"""Leader election through a ``coordination.k8s.io/v1`` Lease, following client-go's rules.

The rules, as in client-go's ``leaderelection`` package:

* a candidate acquires the Lease only when it is free (no holder), its own, or expired, where "expired" is
  judged by *locally observed* time: the moment this process last saw the Lease record change, plus the
  lease duration. Clocks of other machines are never compared with ours;
* the leader renews every retry period and stops acting as leader as soon as no renewal has succeeded
  within the renew deadline, which is shorter than the lease duration, so it steps down before any other
  candidate may take over;
* every write carries the ``resourceVersion`` it read, so of two concurrent writers the stale one loses
  (HTTP 409) instead of overwriting;
* ``leaseTransitions`` is incremented whenever the holder changes;
* on shutdown the leader releases the Lease (empty holder), so a rolling restart fails over in about one
  retry period instead of a whole lease duration.

``is_leader`` is derived from the time of the last successful renewal, so a renewal call that hangs (the API
unreachable, the process paused) cannot keep this replica acting as leader past the renew deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from registry.config import LeaderElectionSettings
from registry.config import Settings as RegistrySettings

log = logging.getLogger("registry.leader")


class LeaseConflict(Exception):
    """The Lease changed since it was read (HTTP 409), or was created concurrently."""


class LeaseAPI(Protocol):
    """The three Lease operations the elector needs; each returns the Lease as a JSON dict."""

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create the Lease; raise LeaseConflict when it already exists."""

    def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the Lease; raise LeaseConflict when body's resourceVersion is stale."""


def micro_time(moment: datetime) -> str:
    """Kubernetes MicroTime text for a moment: RFC 3339 with microseconds, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KubernetesLeaseAPI:
    """LeaseAPI over the official Kubernetes client, with a per-call timeout."""

    def __init__(self, api_client: Any, request_timeout: float) -> None:
        from kubernetes.client import CoordinationV1Api

        self._api = CoordinationV1Api(api_client)
        self._timeout = request_timeout

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            response = method(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status == 409:
                raise LeaseConflict(exc.reason) from exc
            raise
        data: dict[str, Any] = json.loads(response.data)
        return data

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._call(self._api.read_namespaced_lease, name, namespace)

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        created = self._call(self._api.create_namespaced_lease, namespace, body)
        if created is None:
            raise LeaseConflict(f"namespace {namespace} not found while creating the Lease")
        return created

    def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        replaced = self._call(self._api.replace_namespaced_lease, name, namespace, body)
        if replaced is None:
            raise LeaseConflict(f"Lease {namespace}/{name} disappeared while replacing it")
        return replaced


def describe_api_error(exc: BaseException) -> str:
    """One line for a failed Lease call: what the API answered (RBAC!), or why it could not be reached."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, ApiException):
        try:
            message = json.loads(exc.body or "{}").get("message") or exc.reason
        except (ValueError, AttributeError):
            message = exc.reason
        return f"the Kubernetes API answered {exc.status}: {message}"
    if isinstance(exc, Urllib3Error):
        return f"cannot reach the Kubernetes API: {getattr(exc, 'reason', None) or exc}"
    return f"{type(exc).__name__}: {exc}"


class LeaderElector:
    """Competes for a Lease and keeps ``is_leader`` true only while leadership is safely held.

    ``on_change(is_leader)`` is called (in the event loop) whenever this replica starts or stops leading.
    Time comes from ``clock`` (monotonic seconds) so tests can drive it.
    """

    def __init__(
        self,
        settings: LeaderElectionSettings,
        api: LeaseAPI,
        *,
        namespace: str,
        identity: str,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self.settings = settings
        self.namespace = namespace
        self.identity = identity
        self._api = api
        self._on_change = on_change
        self._clock = clock
        self._leading = False
        self._last_renew: float | None = None
        self._last_renew_wall: datetime | None = None
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.acquisitions = 0  # times this replica started leading
        self.lease_transitions = 0
        self.last_error: str | None = None
        self.holder: str | None = None
        self._stopping = asyncio.Event()

    # -- state -----------------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while this replica holds the Lease and renewed it within the renew deadline."""
        return self._leading and self._renewed_in_time()

    def _renewed_in_time(self) -> bool:
        """True when the last successful renewal started less than a renew deadline ago."""
        if self._last_renew is None:
            return False
        return self._clock() - self._last_renew < self.settings.renew_deadline

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        if leading:
            self.acquisitions += 1
        # The interval this replica may act as leader, in wall time, for checks that no two replicas
        # ever lead at once: from the attempt that acquired, to the last renewal plus the renew deadline.
        boundary = self._last_renew_wall
        if not leading and boundary is not None:
            until = boundary.timestamp() + self.settings.renew_deadline
            boundary = datetime.fromtimestamp(min(until, time.time()), tz=UTC)
        log.info(
            "leader election: %s leading lease %s/%s",
            "started" if leading else "stopped",
            self.namespace,
            self.settings.lease_name,
            extra={
                "identity": self.identity,
                "leading": leading,
                "leading_since" if leading else "leading_until": micro_time(boundary) if boundary else None,
            },
        )
        if self._on_change is not None:
            self._on_change(leading)

    # -- one attempt ------------------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One client-go style attempt: create, renew or take over the Lease. True when we hold it."""
        s = self.settings
        now_wall = datetime.now(UTC)
        now = self._clock()
        current = self._api.get(self.namespace, s.lease_name)
        spec_new = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(s.lease_duration)),
            "acquireTime": micro_time(now_wall),
            "renewTime": micro_time(now_wall),
            "leaseTransitions": 0,
        }
        if current is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": s.lease_name, "namespace": self.namespace},
                "spec": spec_new,
            }
            try:
                self._api.create(self.namespace, body)
            except LeaseConflict:
                return False
            self._record_observed(spec_new, now)
            self.holder = self.identity
            self._last_renew, self._last_renew_wall = now, now_wall
            return True

        spec = current.get("spec") or {}
        self._record_observed(spec, now)
        holder = spec.get("holderIdentity") or ""
        self.holder = holder or None
        if holder and holder != self.identity and self._observed_at + s.lease_duration > now:
            return False  # someone else holds an unexpired lease

        if holder == self.identity:
            spec_new["acquireTime"] = spec.get("acquireTime") or spec_new["acquireTime"]
            spec_new["leaseTransitions"] = spec.get("leaseTransitions") or 0
        else:
            spec_new["leaseTransitions"] = (spec.get("leaseTransitions") or 0) + 1
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {**current["metadata"]},  # carries resourceVersion: a stale write gets 409
            "spec": spec_new,
        }
        try:
            self._api.replace(self.namespace, s.lease_name, body)
        except LeaseConflict:
            return False
        self._record_observed(spec_new, now)
        self.holder = self.identity
        self._last_renew, self._last_renew_wall = now, now_wall
        return True

    def _record_observed(self, spec: dict[str, Any], now: float) -> None:
        record = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("acquireTime"),
            spec.get("leaseTransitions"),
        )
        self.lease_transitions = int(spec.get("leaseTransitions") or 0)
        if record != self._observed_record:
            self._observed_record = record
            self._observed_at = now

    # -- loops -----------------------------------------------------------------------------------------

    async def _attempt(self) -> bool:
        """One attempt in a worker thread, bounded by the renew deadline; errors count as failures."""
        previous = self.last_error
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self.try_acquire_or_renew), timeout=self.settings.renew_deadline
            )
        except TimeoutError:
            self.last_error = "the Kubernetes API did not answer in time"
        except Exception as exc:
            self.last_error = describe_api_error(exc)
        if self.last_error != previous:  # once per distinct error, not every retry period
            log.warning("leader election: attempt failed: %s", self.last_error)
        return False

    async def run(self) -> None:
        """Acquire, renew and step down, until ``stop()``; then release the Lease if we hold it."""
        s = self.settings
        while not self._stopping.is_set():
            self._step_down_if_lapsed()
            acquired = await self._attempt()
            if acquired and self._renewed_in_time():  # an attempt slower than the deadline does not count
                self.last_error = None
                self._set_leading(True)
            elif self.holder not in (None, self.identity) or not self.is_leader:
                self._set_leading(False)  # someone else holds it, or the renew deadline has passed
            await self._sleep(s.retry_period)
        await self.release()

    def _step_down_if_lapsed(self) -> None:
        """Log the end of leadership as soon as the renew deadline has passed (a pause, a slow API).

        ``is_leader`` already turned false by itself; this makes the log say so before any later renewal
        starts a new interval, so the logged intervals never cover a time this replica did not lead.
        """
        if self._leading and not self.is_leader:
            self._set_leading(False)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def stop(self) -> None:
        """Ask ``run()`` to finish: it releases the Lease and returns."""
        self._stopping.set()

    async def release(self) -> None:
        """Give the Lease up (empty holder) so another replica can take it at once."""
        was_leading = self.is_leader
        self._set_leading(False)
        if not was_leading:
            return
        s = self.settings
        try:
            await asyncio.wait_for(asyncio.to_thread(self._release_now), timeout=s.retry_period)
        except Exception as exc:  # releasing is a courtesy: the lease expires anyway
            log.warning("leader election: could not release the lease: %s", exc)

    def _release_now(self) -> None:
        s = self.settings
        current = self._api.get(self.namespace, s.lease_name)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        now_wall = micro_time(datetime.now(UTC))
        spec = {**current["spec"], "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now_wall}
        body = {**current, "spec": spec}
        self._api.replace(self.namespace, s.lease_name, body)
        log.info("leader election: released lease %s/%s", self.namespace, s.lease_name)


# -- reading the leadership intervals back from the logs ---------------------------------------------------


@dataclass(frozen=True)
class LeadingInterval:
    """One stretch of time (wall clock) in which a replica acted as leader, as its log states it.

    ``until`` is None when the log ends while leading (still leading, or the process was killed).
    """

    identity: str
    since: datetime
    until: datetime | None

    def overlaps(self, other: LeadingInterval, open_end: datetime) -> bool:
        """True when both intervals share a moment; an open end counts as ``open_end``."""
        return self.since < (other.until or open_end) and other.since < (self.until or open_end)


def parse_micro_time(text: str) -> datetime:
    """The inverse of ``micro_time``."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def leading_intervals(log_text: str) -> list[LeadingInterval]:
    """The leadership intervals in one process's JSON log (lines from logger ``registry.leader``)."""
    intervals: list[LeadingInterval] = []
    open_since: datetime | None = None
    identity = ""
    for line in log_text.splitlines():
        if '"registry.leader"' not in line or '"leading"' not in line:
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("leading") is True and entry.get("leading_since"):
            identity, open_since = entry["identity"], parse_micro_time(entry["leading_since"])
        elif entry.get("leading") is False and open_since is not None:
            until = parse_micro_time(entry["leading_until"]) if entry.get("leading_until") else open_since
            intervals.append(LeadingInterval(identity, open_since, max(until, open_since)))
            open_since = None
    if open_since is not None:
        intervals.append(LeadingInterval(identity, open_since, None))
    return intervals


def overlapping_pairs(
    intervals: list[LeadingInterval], open_end: datetime
) -> list[tuple[LeadingInterval, LeadingInterval]]:
    """Every pair of intervals that share a moment (two leaders at once); empty when leadership was safe."""
    ordered = sorted(intervals, key=lambda interval: interval.since)
    return [
        (first, second)
        for i, first in enumerate(ordered)
        for second in ordered[i + 1 :]
        if first.overlaps(second, open_end)
    ]


# -- the registry's Leadership, backed by the elector ------------------------------------------------------

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubernetesUnavailable(Exception):
    """No Kubernetes API to elect through: not in a pod and no kubeconfig, or no namespace."""


def kubernetes_api_client(env: Mapping[str, str] | None = None) -> Any:
    """An API client for this process: in-cluster (service-account token) when in a pod, else KUBECONFIG.

    The token directory is ``KUBERNETES_SERVICE_ACCOUNT_DIR`` when set (labkit's local cluster runs pods as
    processes and says where their token is), else the standard in-pod path.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    env = os.environ if env is None else env
    configuration = client.Configuration()
    if env.get("KUBERNETES_SERVICE_HOST"):
        sa_dir = env.get("KUBERNETES_SERVICE_ACCOUNT_DIR") or SERVICE_ACCOUNT_DIR
        try:
            InClusterConfigLoader(
                token_filename=f"{sa_dir}/token", cert_filename=f"{sa_dir}/ca.crt", environ=env
            ).load_and_set(configuration)
        except ConfigException as exc:
            raise KubernetesUnavailable(f"in-cluster configuration failed ({sa_dir}): {exc}") from exc
    else:
        try:
            config.load_kube_config(client_configuration=configuration)
        except (ConfigException, OSError) as exc:
            raise KubernetesUnavailable(
                "no Kubernetes API: KUBERNETES_SERVICE_HOST is unset (not in a pod) and no kubeconfig "
                f"could be loaded ({exc})"
            ) from exc
    return client.ApiClient(configuration)


class LeaseLeadership:
    """The registry's ``Leadership`` (see registry/leadership.py) driven by a LeaderElector.

    When the Kubernetes API cannot be set up, this replica never leads and ``describe()`` says why, so
    ``/ready`` and ``/health`` can show the reason instead of the process crashing.
    """

    enabled = True

    def __init__(self, elector: LeaderElector | None, setup_error: str | None = None) -> None:
        self._elector = elector
        self._setup_error = setup_error
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._elector is not None and self._elector.is_leader

    @property
    def transitions(self) -> int:
        """The Lease's leaseTransitions as last seen (cluster-wide, not only this replica's)."""
        return self._elector.lease_transitions if self._elector is not None else 0

    @property
    def acquisitions(self) -> int:
        """How often this replica started leading since it started."""
        return self._elector.acquisitions if self._elector is not None else 0

    async def start(self) -> None:
        if self._elector is None:
            log.error("leader election is on but cannot run: %s", self._setup_error)
            return
        self._task = asyncio.create_task(self._elector.run(), name="leader-election")

    async def stop(self) -> None:
        if self._elector is None or self._task is None:
            return
        self._elector.stop()
        try:
            await asyncio.wait_for(self._task, timeout=self._elector.settings.renew_deadline)
        except TimeoutError:
            self._task.cancel()

    def describe(self) -> dict[str, Any]:
        if self._elector is None:
            return {"enabled": True, "is_leader": False, "error": self._setup_error}
        e = self._elector
        return {
            "enabled": True,
            "is_leader": e.is_leader,
            "identity": e.identity,
            "lease": f"{e.namespace}/{e.settings.lease_name}",
            "holder": e.holder,
            "lease_transitions": e.lease_transitions,
            "error": e.last_error,
        }


def create_leadership(settings: RegistrySettings) -> LeaseLeadership:
    """Build the Lease-based Leadership from the registry's settings (called when election is on)."""
    le = settings.leader_election
    if not settings.pod_namespace:
        return LeaseLeadership(None, "no namespace for the Lease: set POD_NAMESPACE (downward API)")
    try:
        api_client = kubernetes_api_client()
    except KubernetesUnavailable as exc:
        return LeaseLeadership(None, str(exc))
    request_timeout = min(le.renew_deadline / 2, max(le.retry_period, 1.0))
    api = KubernetesLeaseAPI(api_client, request_timeout)
    elector = LeaderElector(le, api, namespace=settings.pod_namespace, identity=settings.instance_id)
    return LeaseLeadership(elector)
