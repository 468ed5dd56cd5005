"""The ML staging example on a small dataset: staged bytes, training on every record every epoch."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from skyplane_testing import S3_TO_GCS_STACK, Emulators, clean_env, processes_of, stacks

from dataset import DatasetSpec, generate
from shards import Record, read_shard, write_shard

MAIN = Path(__file__).resolve().parents[1] / "main.py"


class OneWay(io.RawIOBase):
    """A stream that can only be read forward, as an HTTP body: seeking fails."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._data.readinto(buffer)

    def seekable(self) -> bool:
        return False


def test_a_shard_reads_back_from_a_stream_that_cannot_seek() -> None:
    _, data, keys = next(generate(DatasetSpec(shards=1, records_per_shard=5, size=8, classes=3)))
    records = list(read_shard(OneWay(data)))  # type: ignore[arg-type]
    assert [r.key for r in records] == keys
    assert all(r.image.shape == (8, 8, 3) and r.image.dtype == np.uint8 for r in records)
    assert all(0 <= r.label < 3 for r in records)
    again = write_shard(records)
    assert again == data, "the same records make the same bytes"


def test_a_shard_with_half_a_record_is_refused() -> None:
    data = write_shard([Record("k1", np.zeros((2, 2, 3), np.uint8), 1)])
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        member = src.getmember("k1.npy")
        dst.addfile(member, src.extractfile(member))
    with pytest.raises(ValueError, match="missing half"):
        list(read_shard(io.BytesIO(out.getvalue())))


def test_stages_the_dataset_and_trains_on_every_record(emu: Emulators, home: Path) -> None:
    shards, per_shard, epochs = 4, 48, 2
    records = shards * per_shard
    run = subprocess.run(
        [
            sys.executable,
            str(MAIN),
            "--remote=s3://mlt-remote/ds/",
            "--staged=gs://mlt-staged/ds/",
            f"--shards={shards}",
            f"--records-per-shard={per_shard}",
            "--size=16",
            f"--epochs={epochs}",
            "--json",
        ],
        # The example finds the emulators as users point it at them: through the environment.
        env=clean_env(home, **emu.env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])

    # Staged: every shard, byte for byte, and the copy's report says as much.
    s3 = boto3.client(
        "s3",
        endpoint_url=emu.s3,
        region_name="us-east-1",
        aws_access_key_id=emu.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=emu.env["AWS_SECRET_ACCESS_KEY"],
    )
    gcs = storage.Client(
        project="test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=emu.gcs),
    )
    remote = {
        o["Key"]: s3.get_object(Bucket="mlt-remote", Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket="mlt-remote", Prefix="ds/")["Contents"]
    }
    staged = {b.name: b.download_as_bytes() for b in gcs.list_blobs("mlt-staged", prefix="ds/")}
    assert len(remote) == shards
    assert {k: hashlib.sha256(v).hexdigest() for k, v in staged.items()} == {
        k: hashlib.sha256(v).hexdigest() for k, v in remote.items()
    }
    total = sum(len(v) for v in remote.values())
    assert summary["dataset"] == {"shards": shards, "records": records, "bytes": total}
    assert (summary["staging"]["objects"], summary["staging"]["bytes"]) == (shards, total)
    assert summary["staging"]["seconds"] > 0
    assert summary["staging"]["MBps"] > 0

    # Trained: every record once per epoch, from the staged bucket and from the remote one.
    for side in ("staged", "remote"):
        assert summary[side]["recordsPerEpoch"] == [records] * epochs, side
        assert summary[side]["distinctRecordsPerEpoch"] == [records] * epochs, side
        assert summary[side]["recordsPerSecond"] > 0
    assert summary["everyRecordEveryEpoch"] is True
    # The model learnt something: the classes are patterns under noise, ten of them.
    assert summary["staged"]["accuracy"] > 0.5

    found, scanned = processes_of(home)
    assert scanned > 0
    assert found == []
    assert [s["resources"] for s in stacks(home) if s["name"] == S3_TO_GCS_STACK] == [0]
