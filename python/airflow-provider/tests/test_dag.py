"""The example DAG on real Airflow (``dag.test()``), on the storage emulators and the local cloud.

S3 is gofakes3 and GCS fake-gcs-server; their buckets sit in the local cloud's regions, so the
operator's copy runs through real gateway processes. The DAG's process gets no store variable:
endpoints and keys reach skyplane only through the Airflow connections, as in a deployment.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from skyplane_testing import (
    S3_TO_GCS_STACK,
    Emulators,
    alive,
    clean_env,
    gateway_pids,
    processes_of,
    stacks,
    wait_for,
)
from throttle import ThrottledProxy

DAG_FILE = Path(__file__).resolve().parents[1] / "example_dags" / "skyplane_s3_to_gcs.py"
RUN_DAG = Path(__file__).with_name("run_dag.py")
LOGICAL_DATE = "2026-01-15T00:00:00+00:00"
PREFIX = "events/2026-01-15/"  # the DAG's "{{ params.prefix }}/{{ ds }}/" for that date


def s3(emu: Emulators) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=emu.s3,
        aws_access_key_id=emu.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=emu.env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


def gcs(emu: Emulators) -> storage.Client:
    return storage.Client(
        project="test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=emu.gcs),
    )


def seed(emu: Emulators, src: str, dst: str, objects: dict[str, bytes]) -> None:
    """The source bucket with `objects` under PREFIX, and an empty destination bucket."""
    client = s3(emu)
    client.create_bucket(Bucket=src)
    for name, data in objects.items():
        client.put_object(Bucket=src, Key=PREFIX + name, Body=data)
    gcs(emu).create_bucket(dst)


def landed(emu: Emulators, bucket: str) -> dict[str, bytes]:
    """What the destination holds under PREFIX."""
    return {
        b.name[len(PREFIX) :]: b.download_as_bytes()
        for b in gcs(emu).list_blobs(bucket, prefix=PREFIX)
    }


def dag_env(home: Path, emu: Emulators, s3_endpoint: str) -> dict[str, str]:
    """The DAG process's environment: its connections, and no store variable."""
    aws = {
        "conn_type": "aws",
        "login": emu.env["AWS_ACCESS_KEY_ID"],
        "password": emu.env["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    gcp = {
        "conn_type": "google_cloud_platform",
        "extra": {"project": "test", "api_endpoint": emu.gcs},
    }
    return clean_env(
        home,
        AIRFLOW_CONN_SKYPLANE_AWS=json.dumps(aws),
        AIRFLOW_CONN_SKYPLANE_GCP=json.dumps(gcp),
    )


def dag_command(out: Path, src: str, dst: str) -> list[str]:
    conf = {"src_bucket": src, "dst_bucket": dst, "prefix": "events"}
    return [sys.executable, str(RUN_DAG), str(DAG_FILE), str(out), LOGICAL_DATE, json.dumps(conf)]


def assert_nothing_left(home: Path, pids: list[int]) -> None:
    for pid in pids:
        assert not alive(pid), f"gateway {pid} still runs"
    found, scanned = processes_of(home)
    assert scanned > 0
    assert found == [], "no process of this skyplane home runs"
    listed = stacks(home)
    assert [s["name"] for s in listed] == [S3_TO_GCS_STACK]
    assert [s for s in listed if int(str(s["resources"])) > 0] == [], "every stack is empty"


@pytest.mark.usefixtures("airflow_db")
def test_the_example_dag_copies_s3_to_gcs_and_reads_what_landed(
    emu: Emulators, home: Path, tmp_path: Path
) -> None:
    objects = {f"part-{i:03d}.json": os.urandom(1000 + 37 * i) for i in range(20)}
    objects["big/day.parquet"] = os.urandom(3 << 20)
    seed(emu, "dag-src", "dag-dst", objects)
    out = tmp_path / "run.json"
    run = subprocess.run(
        dag_command(out, "dag-src", "dag-dst"),
        env=dag_env(home, emu, emu.s3),
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, log
    record = json.loads(out.read_text())
    assert record["state"] == "success", log
    assert record["tasks"] == {"copy_s3_to_gcs": "success", "read_copied": "success"}

    copied = record["xcom"]["copy_s3_to_gcs"]
    assert set(copied) == {"objects", "bytes", "seconds"}
    assert copied["objects"] == len(objects)
    assert copied["bytes"] == sum(len(d) for d in objects.values())
    assert 0 < copied["seconds"] < 600

    # The next task read every object where the copy put it.
    read = record["xcom"]["read_copied"]
    assert read["sha256"] == {k: hashlib.sha256(v).hexdigest() for k, v in objects.items()}
    assert (read["objects"], read["bytes"]) == (copied["objects"], copied["bytes"])
    assert landed(emu, "dag-dst") == objects
    assert_nothing_left(home, [])


@pytest.mark.usefixtures("airflow_db")
def test_killing_the_task_mid_copy_tears_its_gateways_down(
    emu: Emulators, home: Path, tmp_path: Path
) -> None:
    # Small objects land at once; the big one crawls through a proxy at 1 MiB/s for ~16 s.
    objects = {f"small-{i:02d}.txt": os.urandom(2048) for i in range(8)}
    objects["slow.bin"] = os.urandom(16 << 20)
    seed(emu, "kill-src", "kill-dst", objects)
    upstream = urlsplit(emu.s3)
    proxy = ThrottledProxy(str(upstream.hostname), int(upstream.port or 80), 1 << 20)
    out = tmp_path / "run.json"
    log_file = tmp_path / "dag.log"
    try:
        with log_file.open("w") as log_out:
            child = subprocess.Popen(
                dag_command(out, "kill-src", "kill-dst"),
                env=dag_env(home, emu, f"http://127.0.0.1:{proxy.port}"),
                stdout=log_out,
                stderr=subprocess.STDOUT,
            )
        try:

            def mid_copy() -> bool:
                assert child.poll() is None, f"the DAG ended early:\n{log_file.read_text()[-4000:]}"
                return (
                    len(landed(emu, "kill-dst")) > 0
                    and len(gateway_pids(home, S3_TO_GCS_STACK)) == 2
                )

            wait_for("the first objects to land", mid_copy, 300)
            pids = gateway_pids(home, S3_TO_GCS_STACK)
            assert all(alive(p) for p in pids)
            # What a worker's supervisor does to a task it kills: SIGTERM; Airflow calls on_kill.
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=300)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    finally:
        proxy.close()
    log = log_file.read_text()
    record = json.loads(out.read_text())
    assert record["tasks"] == {"copy_s3_to_gcs": "failed", "read_copied": "upstream_failed"}, log[
        -4000:
    ]
    assert "the task was killed: its copy stopped and its gateways were torn down" in log
    after = landed(emu, "kill-dst")
    assert 0 < len(after) < len(objects), "stopped in the middle: some objects landed, not all"
    assert "slow.bin" not in after
    assert_nothing_left(home, pids)
