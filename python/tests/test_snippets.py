"""The docs' Python examples (tests/snippets/) run as written, but for bucket and region names."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from conftest import DST_REGION, SRC_REGION, Home

SNIPPETS = Path(__file__).parent / "snippets"


def tree(root: Path) -> dict[str, str]:
    """Every object under ``root`` (skyplane's own files aside): key → sha256."""
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file() and ".skyplane" not in f.relative_to(root).parts
    }


def seed(home: Home) -> dict[str, str]:
    """The source bucket with a small dataset."""
    src = home.make_bucket("py-snippet-src", SRC_REGION)
    home.make_bucket("py-snippet-dst", DST_REGION)
    data = src / "imagenet"
    (data / "train").mkdir(parents=True)
    (data / "synset_labels.txt").write_text("".join(f"n{i:08d} label {i}\n" for i in range(1000)))
    for i in range(8):
        (data / "train" / f"shard-{i:02d}.bin").write_bytes(os.urandom(256 * 1024 + i))
    return tree(data)


def run_snippet(home: Home, name: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, str(SNIPPETS / name)],
        env=home.env(),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )


def test_copy_snippet_copies_the_folder(home: Home) -> None:
    want = seed(home)
    assert len(want) == 9
    done = run_snippet(home, "docs_copy.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Log dir: {home.path}/logs/client.log\n"
    assert tree(home.bucket("py-snippet-dst") / "imagenet") == want
    assert home.live_stacks() == [], "copy() deprovisions"


def test_dataplane_snippet_follows_and_joins_the_tracker(home: Home) -> None:
    want = seed(home)
    done = run_snippet(home, "docs_dataplane.py")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Log dir: {home.path}/logs/client.log"
    assert lines[-1] == "Transfer complete!"
    # Whatever it printed between, it read the tracker: "not yet started" or "N.NNGB left".
    for line in lines[1:-1]:
        assert line.endswith(("Transfer not yet started", "GB left")), line
    assert tree(home.bucket("py-snippet-dst") / "imagenet-dp") == want
    assert home.live_stacks() == [], "auto_deprovision() tore the dataplane down"
