"""What transfers return and report: results, estimates, verification and progress events."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import SkyplaneError, error_for


@dataclass(frozen=True)
class CostPerGB:
    """USD per GB of source data: egress on every hop, and the gateways' time."""

    egress: float
    vm: float
    total: float


@dataclass(frozen=True)
class PlanEstimate:
    """What the plan expected: the route's throughput and price, and the job's time and cost."""

    objects: int
    bytes: int
    chunks: int
    throughput_gbps: float
    cost_per_gb: CostPerGB
    seconds: float
    cost_usd: float

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> "PlanEstimate":
        """From the protocol's ``estimate`` object."""
        c = d["costPerGB"]
        return cls(
            objects=d["objects"],
            bytes=d["bytes"],
            chunks=d["chunks"],
            throughput_gbps=d["throughputGbps"],
            cost_per_gb=CostPerGB(egress=c["egress"], vm=c["vm"], total=c["total"]),
            seconds=d["seconds"],
            cost_usd=d["costUSD"],
        )


@dataclass(frozen=True)
class VerificationReport:
    """What was verified: objects checked, by which store-computed hash, how many read back."""

    objects: int
    store_hash: Mapping[str, int]
    read_back: int


@dataclass(frozen=True)
class JobResult:
    """The result of one copy or sync: what moved, how it was verified, what it cost."""

    objects: int
    bytes: int
    seconds: float
    #: The Pulumi stack that held the route's gateways.
    stack: str
    #: USD this job cost: egress for the bytes moved, the gateways' time for the seconds it ran.
    cost_usd: float
    estimate: PlanEstimate
    #: Absent when verification is off or nothing was copied.
    verified: VerificationReport | None = None
    #: Destination objects a sync with ``delete`` removed.
    deleted: int | None = None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> "JobResult":
        """From the protocol's result object."""
        v = d.get("verified")
        return cls(
            objects=d["objects"],
            bytes=d["bytes"],
            seconds=d["seconds"],
            stack=d["stack"],
            cost_usd=d["costUSD"],
            estimate=PlanEstimate.from_wire(d["estimate"]),
            verified=VerificationReport(
                objects=v["objects"], store_hash=dict(v["storeHash"]), read_back=v["readBack"]
            )
            if v is not None
            else None,
            deleted=d.get("deleted"),
        )


@dataclass(frozen=True)
class ProgressEvent:
    """One event of a transfer: planned, dispatched, landed, chunk_done, object_done, …, done."""

    #: planned, dispatched, chunk_done, landed, chunk_failed, object_done, verified, done or failed.
    type: str
    #: The queued job it belongs to (0-based).
    job: int
    objects: int | None = None
    chunks: int | None = None
    bytes: int | None = None
    seconds: float | None = None
    key: str | None = None
    chunk_id: str | None = None
    #: Why a chunk failed (chunk_failed), as its gateway said.
    reason: str | None = None
    #: What ended the transfer (failed).
    error: SkyplaneError | None = None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> "ProgressEvent":
        """From a ``progress`` event of the protocol."""
        err = d.get("error")
        return cls(
            type=d["type"],
            job=d.get("job", 0),
            objects=d.get("objects"),
            chunks=d.get("chunks"),
            bytes=d.get("bytes"),
            seconds=d.get("seconds"),
            key=d.get("key"),
            chunk_id=d.get("chunkId"),
            reason=err if isinstance(err, str) else None,
            error=error_for(err.get("code"), err["message"], err.get("exit"))
            if isinstance(err, Mapping)
            else None,
        )
