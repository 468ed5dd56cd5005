"""``SkyplaneClient``, ``Dataplane`` and ``Tracker``: the library's API, in Python naming.

Every call is carried out by the TypeScript library in a Node process that the client starts and
owns (``skyplane rpc --stdio``, see PROTOCOL.md): no transfer logic lives here.
"""

import contextlib
import os
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._node import node_command
from ._transport import NodeSide
from .config import AWSConfig, AzureConfig, GCPConfig
from .results import JobResult, ProgressEvent

#: A callback for transfer events.
ProgressListener = Callable[[ProgressEvent], None]

#: Seconds a call waits for a word (an answer, an event or a heartbeat) from the Node side.
DEFAULT_HEARTBEAT_TIMEOUT = 60.0


def _events(listener: ProgressListener | None) -> Callable[[Mapping[str, Any]], None] | None:
    if listener is None:
        return None
    return lambda msg: listener(ProgressEvent.from_wire(msg))


#: A network profile: a path to a profile file (JSON, as ``profiles/*.json``), or the profile.
NetworkProfileArg = str | os.PathLike[str] | Mapping[str, Any]


def _network_params(profile: NetworkProfileArg | None) -> dict[str, Any]:
    """``init``'s network fields: ``networkFile`` for a path (made absolute), ``network`` inline.

    The Node side checks the profile itself, as ``skyplane cp --profile`` does; only the kind of
    argument is checked here.
    """
    if profile is None:
        return {}
    if isinstance(profile, str | os.PathLike):
        return {"networkFile": os.path.abspath(os.fspath(profile))}
    if isinstance(profile, Mapping):
        return {"network": dict(profile)}
    raise TypeError(
        "network_profile takes a path to a network profile (JSON, as profiles/*.json) or the "
        f"profile as a dict, not {type(profile).__name__}"
    )


def _params(**fields: Any) -> dict[str, Any]:
    """Request params without the fields left as None (the Node side's defaults apply)."""
    return {k: v for k, v in fields.items() if v is not None}


class SkyplaneClient:
    """The entry point: copies, syncs and dataplanes.

    ``SkyplaneClient(aws_config=AWSConfig())`` starts the Node side and hands it the credentials
    (on its stdin). Close it with ``close()`` or ``with SkyplaneClient() as client:``; garbage
    collection and the end of the interpreter close it too. Closing ends the Node side, after it
    tore down every dataplane under ``auto_deprovision()``.

    ``network_profile`` (a path to a profile file, or the profile as a dict) runs the local
    cloud's transfers on that emulated WAN, as ``skyplane cp --profile`` does: shaped when the
    process runs as root, on loopback otherwise (``client.network`` says which). A profile the Node
    side cannot read or refuses raises ``UnreadableError`` or ``BadProfileError``.

    The Node side is ``SKYPLANE_NODE_CLI`` (``node_cli`` here), a path to the checkout's
    ``dist/cli/main.js`` or an installed ``skyplane`` command, or else the checkout this package was
    installed from (``pip install -e ./python``).
    """

    def __init__(
        self,
        aws_config: AWSConfig | None = None,
        gcp_config: GCPConfig | None = None,
        azure_config: AzureConfig | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        node_cli: str | None = None,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
        network_profile: NetworkProfileArg | None = None,
    ) -> None:
        network = _network_params(network_profile)
        node = NodeSide(node_command(node_cli), heartbeat_timeout=heartbeat_timeout)
        self._node = node
        self._finalizer = weakref.finalize(self, node.close)
        try:
            info = node.call(
                "init",
                _params(
                    aws=aws_config.to_wire() if aws_config else None,
                    gcp=gcp_config.to_wire() if gcp_config else None,
                    azure=azure_config.to_wire() if azure_config else None,
                    logDir=os.fspath(log_dir) if log_dir is not None else None,
                    **network,
                ),
            )
        except BaseException:
            self._finalizer()
            raise
        self._log_dir: str = info["logDir"]
        self._home: str = info["home"]
        # A Node side from before network profiles sends none: it runs every transfer on loopback.
        self._network: str = info.get("network", "loopback")

    @property
    def log_dir(self) -> str:
        """Where logs go (gateway logs under ``<log_dir>/<stack>``)."""
        return self._log_dir

    @property
    def home(self) -> str:
        """The skyplane home the Node side uses (``SKYPLANE_HOME``, default ``~/.skyplane``)."""
        return self._home

    @property
    def network(self) -> str:
        """How the local cloud's network behaves for this client's transfers.

        ``"shaped"``: the ``network_profile`` is emulated (network namespaces, shaped links; the
        process runs as root); ``"unshaped"``: a profile was given but emulating it needs root, so
        the local cloud runs on loopback; ``"loopback"``: no profile.
        """
        return self._network

    def close(self) -> None:
        """Ends the Node side once it tore down what is under ``auto_deprovision()``. Idempotent."""
        self._finalizer()

    def __enter__(self) -> "SkyplaneClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def copy(
        self,
        src: str,
        dst: str,
        recursive: bool = False,
        *,
        n_vms: int | None = None,
        follow_symlinks: bool | None = None,
        lease_seconds: float | None = None,
        on_progress: ProgressListener | None = None,
    ) -> JobResult:
        """Copies ``src`` to ``dst``: provisions gateways, copies, verifies, deprovisions."""
        return self._transfer(
            "copy",
            _params(
                src=src,
                dst=dst,
                recursive=recursive,
                nVms=n_vms,
                followSymlinks=follow_symlinks,
                leaseSeconds=lease_seconds,
            ),
            on_progress,
        )

    def sync(
        self,
        src: str,
        dst: str,
        *,
        delete: bool = False,
        n_vms: int | None = None,
        follow_symlinks: bool | None = None,
        lease_seconds: float | None = None,
        on_progress: ProgressListener | None = None,
    ) -> JobResult:
        """Makes ``dst`` match ``src``; with ``delete``, removes what ``src`` lacks afterwards."""
        return self._transfer(
            "sync",
            _params(
                src=src,
                dst=dst,
                delete=delete,
                nVms=n_vms,
                followSymlinks=follow_symlinks,
                leaseSeconds=lease_seconds,
            ),
            on_progress,
        )

    def _transfer(
        self, method: str, params: dict[str, Any], on_progress: ProgressListener | None
    ) -> JobResult:
        if on_progress is not None:
            params["progress"] = True
        result = self._node.call(method, params, on_event=_events(on_progress), cancellable=True)
        return JobResult.from_wire(result)

    def dataplane(
        self,
        src_cloud: str,
        src_region: str,
        dst_cloud: str,
        dst_region: str,
        n_vms: int = 1,
        *,
        n_connections: int | None = None,
        keep_warm_seconds: float | None = None,
        ttl_minutes: float | None = None,
        lease_seconds: float | None = None,
    ) -> "Dataplane":
        """A dataplane between two regions: ``dataplane("aws", "us-east-1", "aws", "us-east-2")``.

        Nothing is provisioned until ``provision()``.
        """
        out = self._node.call(
            "dataplane.create",
            _params(
                srcCloud=src_cloud,
                srcRegion=src_region,
                dstCloud=dst_cloud,
                dstRegion=dst_region,
                nVms=n_vms,
                nConnections=n_connections,
                keepWarmSeconds=keep_warm_seconds,
                ttlMinutes=ttl_minutes,
                leaseSeconds=lease_seconds,
            ),
        )
        return Dataplane(self, out["dataplane"], out["stack"])


class Dataplane:
    """The gateways of one route, provisioned as the route's Pulumi stack."""

    def __init__(self, client: SkyplaneClient, handle: int, stack_name: str) -> None:
        self._client = client
        self._handle = handle
        #: The Pulumi stack that holds the route's gateways.
        self.stack_name = stack_name

    def _call(self, method: str, cancellable: bool = False, **fields: Any) -> Any:
        return self._client._node.call(
            method, _params(dataplane=self._handle, **fields), cancellable=cancellable
        )

    def provision(self) -> None:
        """Brings the route's stack up (an up-to-date stack is reused as it is)."""
        self._call("dataplane.provision")

    def deprovision(self) -> bool:
        """Destroys the route's stack unless other jobs still use it; True when it destroyed it."""
        return bool(self._call("dataplane.deprovision")["destroyed"])

    @contextlib.contextmanager
    def auto_deprovision(self) -> Iterator["Dataplane"]:
        """Deprovisions at the end of the ``with`` block, even on error, Ctrl-C or process death.

        The Node side holds the dataplane under auto-deprovision from the start of the block: should
        this process die inside it, the Node side tears the dataplane down before it exits.
        """
        self._call("dataplane.autoDeprovision")
        try:
            yield self
        finally:
            if self._client._node.alive:
                self._call("dataplane.endAutoDeprovision")

    def queue_copy(
        self, src: str, dst: str, recursive: bool = False, *, follow_symlinks: bool | None = None
    ) -> None:
        """Queues a copy of ``src`` to ``dst`` (a prefix with ``recursive``)."""
        self._call(
            "dataplane.queueCopy",
            src=src,
            dst=dst,
            recursive=recursive,
            followSymlinks=follow_symlinks,
        )

    def queue_sync(
        self, src: str, dst: str, *, delete: bool = False, follow_symlinks: bool | None = None
    ) -> None:
        """Queues a sync: copies what is missing or different; ``delete`` removes extras after."""
        self._call(
            "dataplane.queueSync", src=src, dst=dst, delete=delete, followSymlinks=follow_symlinks
        )

    def run(self, *, on_progress: ProgressListener | None = None) -> list[JobResult]:
        """Runs the queued jobs and returns one result per job."""
        out = self._client._node.call(
            "dataplane.run",
            _params(dataplane=self._handle, progress=True if on_progress else None),
            on_event=_events(on_progress),
            cancellable=True,
        )
        return [JobResult.from_wire(r) for r in out["results"]]

    def run_async(self, *, on_progress: ProgressListener | None = None) -> "Tracker":
        """Runs the queued jobs in the background; ``on_progress`` runs on a thread of its own."""
        out = self._call("dataplane.runAsync", progress=True if on_progress else None)
        handle: int = out["tracker"]
        listener = _events(on_progress)
        if listener is not None:
            self._client._node.listen(handle, listener)
        return Tracker(self._client, handle)


class Tracker:
    """Follows a dataplane's run: byte counters, completion, and the results."""

    def __init__(self, client: SkyplaneClient, handle: int) -> None:
        self._client = client
        self._handle = handle

    def _query(self) -> Mapping[str, Any]:
        out: Mapping[str, Any] = self._client._node.call("tracker.query", {"tracker": self._handle})
        return out

    def query_bytes_remaining(self) -> int | None:
        """Bytes still to move; None until every job has been listed and planned."""
        remaining = self._query()["bytesRemaining"]
        return None if remaining is None else int(remaining)

    def query_bytes_dispatched(self) -> int:
        """Bytes handed to the source gateways so far."""
        return int(self._query()["bytesDispatched"])

    def query_bytes_landed(self) -> int:
        """Bytes written at the destinations so far, as their gateways report them."""
        return int(self._query()["bytesLanded"])

    def is_complete(self) -> bool:
        """True once every job has finished, successfully or not."""
        return bool(self._query()["complete"])

    def join(self) -> list[JobResult]:
        """Waits for every job and returns their results; raises the first job's error.

        A Ctrl-C while it waits stops the transfer (its uploads are aborted), then is raised again.
        """
        out = self._client._node.call("tracker.join", {"tracker": self._handle}, cancellable=True)
        return [JobResult.from_wire(r) for r in out["results"]]
