"""Stage a training set into the training region's bucket with skyplane, then train from it.

    npm run emulators && source ~/.skyplane/emulators.env
    .venv/bin/python examples/ml-staging/main.py            # a few hundred MB; --help for the sizes

1. A dataset of image-like records in WebDataset-style tar shards is generated into the "remote"
   bucket (--remote).
2. Skyplane stages it into the training region's bucket (--staged) with two lines.
3. A model (scikit-learn's SGDClassifier, partial_fit) trains on shards streamed straight from the
   staged bucket, then, for comparison, streamed every epoch from the remote one.
It prints the staging time and throughput and both training loops' throughput (--json: one object).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import skyplane

from buckets import open_prefix
from dataset import DatasetSpec, generate
from train import EpochStats, train

MB = 1e6


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--remote", default="s3://skyplane-ml-remote/dataset/", help="where the dataset is made"
    )
    p.add_argument(
        "--staged", default="gs://skyplane-ml-staged/dataset/", help="the training region's bucket"
    )
    p.add_argument("--shards", type=int, default=32, help="shards (default 32)")
    p.add_argument(
        "--records-per-shard", type=int, default=768, help="records per shard (default 768)"
    )
    p.add_argument(
        "--size", type=int, default=64, help="image height and width (default 64: 12 KiB each)"
    )
    p.add_argument("--classes", type=int, default=10, help="classes (default 10)")
    p.add_argument(
        "--epochs", type=int, default=2, help="passes over the data per training run (default 2)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = p.parse_args(argv)
    for name in ("shards", "records_per_shard", "size", "classes", "epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.classes < 2:
        p.error("--classes must be at least 2")
    return args


def epoch_summary(stats: list[EpochStats]) -> dict[str, Any]:
    seconds = sum(s.seconds for s in stats)
    records = sum(s.records for s in stats)
    nbytes = sum(s.bytes for s in stats)
    return {
        "epochs": len(stats),
        "recordsPerEpoch": [s.records for s in stats],
        "distinctRecordsPerEpoch": [len(s.keys) for s in stats],
        "seconds": round(seconds, 3),
        "recordsPerSecond": round(records / seconds, 1),
        "MBps": round(nbytes / MB / seconds, 2),
        "accuracy": round(stats[-1].accuracy, 3),
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    spec = DatasetSpec(args.shards, args.records_per_shard, args.size, args.classes)
    remote = open_prefix(args.remote)
    staged = open_prefix(args.staged)
    remote.ensure_bucket()
    staged.ensure_bucket()

    # 1. The dataset, into the remote bucket.
    keys: list[str] = []
    dataset_bytes = 0
    for name, data, record_keys in generate(spec):
        remote.put(name, data)
        keys.extend(record_keys)
        dataset_bytes += len(data)

    # 2. Staged into the training region's bucket: these two lines.
    start = time.perf_counter()
    client = skyplane.SkyplaneClient(
        aws_config=skyplane.AWSConfig(), gcp_config=skyplane.GCPConfig()
    )
    result = client.copy(src=remote.describe(), dst=staged.describe(), recursive=True)
    staging_seconds = time.perf_counter() - start
    client.close()

    # 3. Training streamed from the staged bucket, then from the remote one; every shard each epoch.
    _, from_staged = train(staged, args.epochs, args.classes)
    _, from_remote = train(remote, args.epochs, args.classes)

    expected = set(keys)
    staging = {
        "src": remote.describe(),
        "dst": staged.describe(),
        "objects": result.objects,
        "bytes": result.bytes,
        "seconds": round(staging_seconds, 3),
        "transferSeconds": round(result.seconds, 3),
        "MBps": round(result.bytes / MB / staging_seconds, 2),
    }
    a, b = epoch_summary(from_staged), epoch_summary(from_remote)
    every = all(
        set(s.keys) == expected and max(s.keys.values()) == 1 for s in from_staged + from_remote
    )
    if args.json:
        dataset = {"shards": spec.shards, "records": spec.records, "bytes": dataset_bytes}
        summary = {
            "dataset": dataset,
            "staging": staging,
            "staged": a,
            "remote": b,
            "everyRecordEveryEpoch": every,
        }
        print(json.dumps(summary))
        return 0
    print(
        f"dataset: {spec.records} records in {spec.shards} shards, "
        f"{dataset_bytes / MB:.1f} MB at {remote.describe()}"
    )
    print(
        f"staging: {result.objects} objects, {result.bytes / MB:.1f} MB to {staged.describe()} "
        f"in {staging['seconds']} s ({staging['MBps']} MB/s; the transfer alone "
        f"{staging['transferSeconds']} s)"
    )
    for label, s in (("staged bucket", a), ("remote bucket", b)):
        print(
            f"training from the {label}: {s['recordsPerSecond']} records/s "
            f"({s['MBps']} MB/s of images) over {s['epochs']} epoch(s), accuracy {s['accuracy']}"
        )
    ratio = a["recordsPerSecond"] / b["recordsPerSecond"]
    print(f"staged vs remote: {ratio:.2f} times the records per second")
    print(f"every record read once per epoch: {every}")
    return 0 if every else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
