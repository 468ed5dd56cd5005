"""Example DAG: a day's partition copied from S3 to GCS with skyplane, then read where it landed.

Where a DAG had ``S3ToGCSOperator``, ``SkyplaneOperator`` takes its place: same connections, same
templated paths, the data moving through skyplane's gateways instead of through the worker.
Run it once with ``airflow dags test skyplane_s3_to_gcs`` (the buckets are params).
"""

from __future__ import annotations

import hashlib
from typing import Any

from airflow.sdk import DAG, BaseHook, Param, get_current_context, task
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from skyplane_provider.operators.skyplane import SkyplaneOperator

AWS_CONN_ID = "skyplane_aws"
GCP_CONN_ID = "skyplane_gcp"


def gcs_client(conn_id: str) -> storage.Client:
    """A GCS client for a ``google_cloud_platform`` connection (an emulator's with api_endpoint)."""
    extra = BaseHook.get_connection(conn_id).extra_dejson
    endpoint = extra.get("api_endpoint")
    if endpoint:
        return storage.Client(
            project=extra.get("project"),
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    if extra.get("key_path"):
        return storage.Client.from_service_account_json(
            extra["key_path"], project=extra.get("project")
        )
    return storage.Client(project=extra.get("project"))


with DAG(
    dag_id="skyplane_s3_to_gcs",
    schedule=None,
    catchup=False,
    params={
        "src_bucket": Param("example-src", type="string"),
        "dst_bucket": Param("example-dst", type="string"),
        "prefix": Param("events", type="string"),
    },
    tags=["skyplane", "example"],
) as dag:
    copy = SkyplaneOperator(
        task_id="copy_s3_to_gcs",
        src="s3://{{ params.src_bucket }}/{{ params.prefix }}/{{ ds }}/",
        dst="gs://{{ params.dst_bucket }}/{{ params.prefix }}/{{ ds }}/",
        recursive=True,
        aws_conn_id=AWS_CONN_ID,
        gcp_conn_id=GCP_CONN_ID,
    )

    @task
    def read_copied(copied: dict[str, Any]) -> dict[str, Any]:
        """Reads every object the copy landed, as the next step of a pipeline would."""
        context = get_current_context()
        params, ds = context["params"], context["ds"]
        client = gcs_client(GCP_CONN_ID)
        prefix = f"{params['prefix']}/{ds}/"
        digests: dict[str, str] = {}
        total = 0
        for blob in client.list_blobs(params["dst_bucket"], prefix=prefix):
            data = blob.download_as_bytes()
            total += len(data)
            digests[blob.name[len(prefix) :]] = hashlib.sha256(data).hexdigest()
        if len(digests) != copied["objects"] or total != copied["bytes"]:
            raise ValueError(
                f"the copy reported {copied['objects']} object(s), {copied['bytes']} bytes; "
                f"gs://{params['dst_bucket']}/{prefix} holds {len(digests)}, {total} bytes"
            )
        return {"objects": len(digests), "bytes": total, "sha256": digests}

    # At run time the operator's XCom value stands for `copied` (the stubs type it as an XComArg).
    read_copied(copy.output)  # type: ignore[arg-type]
