"""What the Python integration tests share: the storage emulators, a home, what is left running.

The emulators are the project's own (scripts/emulators.ts, built by scripts/setup-emulators.sh),
started detached in a home of the test's and stopped by exactly their pids (`emulators stop`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The checkout: python/testing/ is two levels below it.
REPO = Path(__file__).resolve().parents[2]
#: The compiled CLI (npm run build).
CLI = REPO / "dist" / "cli" / "main.js"
#: The stack of a route between the emulators' regions (S3 in local:east, GCS in local:west).
S3_TO_GCS_STACK = "local-east--local-west"

#: Variables that would point a process at storage or credentials other than the test's own.
STORE_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "AZURE_STORAGE_CONNECTION_STRING",
)


def node() -> str:
    """The Node that runs this checkout (the one on PATH, as npm test uses)."""
    return os.environ.get("SKYPLANE_TEST_NODE", "node")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any store variable, with SKYPLANE_HOME=`home` and `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARS}
    env["SKYPLANE_HOME"] = str(home)
    env["SKYPLANE_NODE_CLI"] = os.environ.get("SKYPLANE_NODE_CLI", str(CLI))
    env.update(extra)
    return env


@dataclass(frozen=True)
class Emulators:
    """Running emulators: the environment that points the stores at them."""

    env: dict[str, str]

    @property
    def s3(self) -> str:
        """gofakes3's endpoint."""
        return self.env["AWS_ENDPOINT_URL_S3"]

    @property
    def gcs(self) -> str:
        """fake-gcs-server's endpoint."""
        return self.env["STORAGE_EMULATOR_HOST"]


@contextmanager
def emulators(home: Path) -> Iterator[Emulators]:
    """Starts gofakes3, fake-gcs-server and Azurite for the duration of the block."""
    script = REPO / "dist" / "scripts" / "emulators.js"
    env = clean_env(home)
    run = subprocess.run([node(), str(script)], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"the emulators did not start: {run.stderr or run.stdout}")
    try:
        state = json.loads((home / "emulators.json").read_text())
        yield Emulators(env=dict(state["env"]))
    finally:
        subprocess.run([node(), str(script), "stop"], env=env, capture_output=True, check=True)


def gateway_pids(home: Path, stack: str) -> list[int]:
    """The pids of `stack`'s gateways, from the files they write once they listen."""
    folder = home / "run" / stack
    if not folder.is_dir():
        return []
    return sorted(int(json.loads(f.read_text())["pid"]) for f in folder.glob("*.json"))


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_of(home: Path) -> tuple[list[int], int]:
    """Processes whose command line names a path under `home` (gateways do), and how many ran."""
    found: list[int] = []
    scanned = 0
    needle = f"{home}/".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        scanned += 1
        if needle in cmdline and alive(int(entry.name)):
            found.append(int(entry.name))
    return found, scanned


def stacks(home: Path) -> list[dict[str, object]]:
    """`skyplane stacks --json` of `home`."""
    run = subprocess.run(
        [node(), str(CLI), "stacks", "--json"], env=clean_env(home), capture_output=True, text=True
    )
    if run.returncode != 0:
        raise RuntimeError(f"skyplane stacks failed: {run.stderr}")
    out: list[dict[str, object]] = json.loads(run.stdout)
    return out


def wait_for(what: str, ok: Callable[[], bool], seconds: float) -> None:
    """Polls `ok` every 50 ms until it holds; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not ok():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)


def python() -> str:
    """The interpreter of this venv."""
    return sys.executable
