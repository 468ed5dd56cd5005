"""Stage a training set into the training region's bucket with skyplane, then train from it.

    npm run emulators && source ~/.skyplane/emulators.env
    .venv/bin/python examples/ml-staging/main.py            # a few hundred MB; --help for the sizes

1. A dataset of image-like records in WebDataset-style tar shards is generated into the "remote"
   bucket (--remote).
2. Skyplane stages it into the training region's bucket (--staged) with two lines.
3. A model (scikit-learn's SGDClassifier, partial_fit) trains on shards streamed straight from the
   staged bucket, then, for comparison, streamed every epoch from the remote one.
It prints the staging time and throughput and both training loops' throughput (--json: one object).

With --profile (as root) it runs on an emulated WAN instead of loopback (wan.py): the remote
bucket's emulator in the source region's network namespace, the staged bucket's in the training
region's, this process (the trainer) in the training region, and the link to the remote bucket
shaped as the profile's WAN link; staging crosses that WAN once, through skyplane's gateways.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import skyplane

from buckets import open_prefix
from dataset import DatasetSpec, generate
from train import EpochStats, train
from wan import Wan, WanError, default_profile, emulated_wan, load_profile, wan_rates

MB = 1e6
#: --profile without a file: the built-in two-region profile.
BUILT_IN = "built-in"


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
    p.add_argument(
        "--profile",
        nargs="?",
        const=BUILT_IN,
        metavar="FILE",
        help="run on an emulated WAN (needs root): the buckets' emulators in the regions' network "
        "namespaces, the remote one across the WAN; FILE is a network profile with local:east and "
        "local:west (default: two regions --wan-mbps apart)",
    )
    p.add_argument(
        "--wan-mbps",
        type=float,
        default=100.0,
        help="with --profile and no FILE: the WAN link's rate, Mbit/s (default 100)",
    )
    args = p.parse_args(argv)
    if args.wan_mbps <= 0:
        p.error("--wan-mbps must be positive")
    if args.profile is not None:
        if not (args.remote.startswith("s3://") and args.staged.startswith("gs://")):
            p.error(
                "--profile puts the remote bucket in S3's emulator (local:east) and the staged one "
                "in GCS's (local:west): give --remote s3://... and --staged gs://..."
            )
        try:
            args.network = (
                default_profile(args.wan_mbps)
                if args.profile == BUILT_IN
                else load_profile(args.profile)
            )
            wan_rates(args.network)
        except ValueError as err:
            p.error(str(err))
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
        "secondsPerEpoch": [round(s.seconds, 3) for s in stats],
        "recordsPerSecond": round(records / seconds, 1),
        "MBps": round(nbytes / MB / seconds, 2),
        "accuracy": round(stats[-1].accuracy, 3),
    }


def stage(remote: str, staged: str, wan: Wan | None) -> tuple[Any, float, float]:
    """Stages `remote` into `staged`: the result, the wall seconds, and the seconds spent wiring."""
    start = time.perf_counter()
    if wan is None:
        # These two lines.
        client = skyplane.SkyplaneClient(
            aws_config=skyplane.AWSConfig(), gcp_config=skyplane.GCPConfig()
        )
        result = client.copy(src=remote, dst=staged, recursive=True)
        client.close()
        return result, time.perf_counter() - start, 0.0
    # On the emulated WAN: the same copy, through a dataplane, because the emulators must be linked
    # to the route's regions once its gateways are up (a cloud's VMs reach its buckets as they are).
    with skyplane.SkyplaneClient(
        aws_config=skyplane.AWSConfig(),
        gcp_config=skyplane.GCPConfig(),
        network_profile=wan.profile,
    ) as client:
        if client.network != "shaped":
            raise RuntimeError(f"the Node side's network is {client.network}, not shaped")
        dp = client.dataplane("local", "east", "local", "west")
        with dp.auto_deprovision():
            dp.provision()
            wired = time.perf_counter()
            wan.wire(dp.stack_name)
            wiring = time.perf_counter() - wired
            dp.queue_copy(remote, staged, recursive=True)
            [result] = dp.run()
    return result, time.perf_counter() - start, wiring


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.profile is None:
        return run(args, None)
    if os.geteuid() != 0:
        print(
            "error: --profile needs root (network namespaces and tc shape the links): run it as "
            "root (sudo -E), or without --profile for loopback, where the comparison means nothing",
            file=sys.stderr,
        )
        return 2
    # SIGTERM is taken as Ctrl-C: the transfer stops, and the dataplane, the emulators and the
    # namespaces are removed on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="skyplane-ml-wan-") as logs,
            emulated_wan(args.network, Path(logs)) as wan,
        ):
            os.environ.update(wan.env)
            return run(args, wan)
    except KeyboardInterrupt:
        print("interrupted: the dataplane, emulators and namespaces are removed", file=sys.stderr)
        return 130
    except WanError as err:
        print(f"error: the emulated WAN: {err}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace, wan: Wan | None) -> int:
    """Makes the dataset, stages it, trains from both buckets and prints what it measured."""
    spec = DatasetSpec(args.shards, args.records_per_shard, args.size, args.classes)
    remote = open_prefix(args.remote)
    staged = open_prefix(args.staged)
    remote.ensure_bucket()
    staged.ensure_bucket()

    # 1. The dataset, into the remote bucket (on the emulated WAN, before its link is shaped).
    keys: list[str] = []
    dataset_bytes = 0
    for name, data, record_keys in generate(spec):
        remote.put(name, data)
        keys.extend(record_keys)
        dataset_bytes += len(data)
    network: dict[str, Any] = {"shaped": False}
    if wan is not None:
        down, up = wan.shape()
        network = {
            "shaped": True,
            "profile": wan.profile.get("description", ""),
            "wanMbps": down,
            "wanUpMbps": up,
        }

    # 2. Staged into the training region's bucket.
    result, staging_seconds, wiring_seconds = stage(remote.describe(), staged.describe(), wan)

    listed = staged.sizes()

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
        # What the staged bucket lists, as its own client sees it.
        "listedObjects": len(listed),
        "listedBytes": sum(listed.values()),
    }
    if wan is not None:
        staging["wiringSeconds"] = round(wiring_seconds, 3)
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
            "network": network,
        }
        print(json.dumps(summary))
        return 0
    print(
        f"dataset: {spec.records} records in {spec.shards} shards, "
        f"{dataset_bytes / MB:.1f} MB at {remote.describe()}"
    )
    if wan is not None:
        print(
            f"network: emulated WAN ({network['profile']}): the remote bucket "
            f"{network['wanMbps']} Mbit/s away, the staged one near"
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
