"""SkyplaneOperator on its own: its arguments, its templates, and a copy that cannot start."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import pytest
import skyplane
from skyplane_testing import CLI, Emulators, clean_env, node, processes_of

from skyplane_provider.operators.skyplane import SkyplaneOperator


def test_src_and_dst_are_the_templated_fields() -> None:
    assert tuple(SkyplaneOperator.template_fields) == ("src", "dst")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delete": True}, "delete=True needs sync=True"),
        ({"n_vms": 0}, "n_vms must be a whole number ≥ 1, not 0"),
        ({"n_vms": 1.5}, "n_vms must be a whole number ≥ 1, not 1.5"),
    ],
)
def test_arguments_that_cannot_work_are_refused_when_the_dag_is_built(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^t: {message}"):
        SkyplaneOperator(task_id="t", src="s3://a/", dst="gs://b/", **kwargs)  # type: ignore[arg-type]


def test_a_missing_destination_bucket_fails_the_task_with_the_cli_s_error(
    emu: Emulators, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = {
        "conn_type": "aws",
        "login": emu.env["AWS_ACCESS_KEY_ID"],
        "password": emu.env["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": emu.s3},
    }
    gcp = {"conn_type": "google_cloud_platform", "extra": {"api_endpoint": emu.gcs}}
    monkeypatch.setenv("AIRFLOW_CONN_OP_AWS", json.dumps(aws))
    monkeypatch.setenv("AIRFLOW_CONN_OP_GCP", json.dumps(gcp))
    monkeypatch.setenv("SKYPLANE_HOME", str(home))
    # Only the destination is missing, so that one error is the first for the library and the CLI.
    s3 = boto3.client(
        "s3",
        endpoint_url=emu.s3,
        region_name="us-east-1",
        aws_access_key_id=emu.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=emu.env["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket="op-source")
    s3.put_object(Bucket="op-source", Key="data/a.txt", Body=b"a")
    op = SkyplaneOperator(
        task_id="copy",
        src="s3://op-source/data/",
        dst="gs://no-such-destination/data/",
        aws_conn_id="op_aws",
        gcp_conn_id="op_gcp",
    )
    with pytest.raises(skyplane.NoSuchBucketError) as raised:
        op.execute({})
    assert str(raised.value).startswith(
        "bucket gs://no-such-destination does not exist: create it with 'skyplane mb "
    )
    # The same words as the command line's for the same copy.
    cli = subprocess.run(
        [node(), str(CLI), "cp", op.src, op.dst, "-r", "-y"],
        env=clean_env(home, **emu.env),
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 1
    assert str(raised.value) in cli.stderr
    found, scanned = processes_of(home)
    assert scanned > 0
    assert found == [], "the client's Node side ended with the task"
