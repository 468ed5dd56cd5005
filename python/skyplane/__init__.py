"""Skyplane on Pulumi, from Python: bulk copies between object stores through short-lived gateways.

::

    import skyplane

    client = skyplane.SkyplaneClient(aws_config=skyplane.AWSConfig())
    client.copy(src="s3://src/data/", dst="gs://dst/data/", recursive=True)

    dp = client.dataplane("aws", "us-east-1", "gcp", "us-central1-a", n_vms=1)
    with dp.auto_deprovision():
        dp.provision()
        dp.queue_copy("s3://src/data/", "gs://dst/data/", recursive=True)
        tracker = dp.run_async()
        print(tracker.query_bytes_remaining())
        tracker.join()

The library itself runs in a Node process that the client starts and owns (PROTOCOL.md).
"""

from ._codes import *  # noqa: F403
from ._codes import __all__ as _code_names
from .client import Dataplane, ProgressListener, SkyplaneClient, Tracker
from .config import AWSConfig, AzureConfig, GCPConfig
from .errors import InternalError, SkyplaneError, UserError
from .results import CostPerGB, JobResult, PlanEstimate, ProgressEvent, VerificationReport

__version__ = "0.1.0"

__all__ = [
    "AWSConfig",
    "AzureConfig",
    "CostPerGB",
    "Dataplane",
    "GCPConfig",
    "InternalError",
    "JobResult",
    "PlanEstimate",
    "ProgressEvent",
    "ProgressListener",
    "SkyplaneClient",
    "SkyplaneError",
    "Tracker",
    "UserError",
    "VerificationReport",
    *_code_names,
]
