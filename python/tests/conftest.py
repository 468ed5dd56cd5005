"""Fixtures of the Python side's tests: a private skyplane home, the CLI, local buckets.

The tests run against the checkout's compiled Node side (``npm run build`` first; ``npm test``
does), on the local cloud: buckets are folders under the home, gateways are processes.
"""

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
CLI_MAIN = CHECKOUT / "dist" / "cli" / "main.js"
#: The route of the local cloud the tests copy over, and its stack.
SRC_REGION, DST_REGION = "local:east", "local:west"
STACK = "local-east--local-west"


def node() -> str:
    """The node that runs the CLI (the one on PATH, as the package finds it)."""
    found = shutil.which("node")
    assert found is not None, "node is not on PATH"
    return found


@dataclass(frozen=True)
class Home:
    """A private SKYPLANE_HOME, set in this process's environment (the Node side inherits it)."""

    path: Path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This process's environment with this home, and ``extra`` over it."""
        return {**os.environ, "SKYPLANE_HOME": str(self.path), **(extra or {})}

    def cli(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> "subprocess.CompletedProcess[str]":
        """Runs ``skyplane ARGS`` with this home and waits for it."""
        return subprocess.run(
            [node(), str(CLI_MAIN), *args],
            env=dict(env) if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def bucket(self, name: str) -> Path:
        """The folder of local bucket ``name``."""
        return self.path / "buckets" / name

    def make_bucket(self, name: str, region: str) -> Path:
        """Makes local bucket ``name`` in ``region`` with ``skyplane mb``."""
        made = self.cli("mb", f"local://{name}", "--region", region)
        assert made.returncode == 0, made.stderr
        return self.bucket(name)

    def live_stacks(self) -> list[str]:
        """Stacks that still hold resources, as ``skyplane stacks --json`` lists them."""
        out = self.cli("stacks", "--json")
        assert out.returncode == 0, out.stderr
        stacks = json.loads(out.stdout)
        assert isinstance(stacks, list)
        return [s["name"] for s in stacks if s["resources"] > 0 or s.get("lock")]

    def gateway_pids(self, stack: str = STACK) -> list[int]:
        """Pids of the gateways of ``stack``, from the files they write once they listen."""
        run = self.path / "run" / stack
        if not run.is_dir():
            return []
        return sorted(
            json.loads(f.read_text())["pid"] for f in run.iterdir() if f.suffix == ".json"
        )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """A private SKYPLANE_HOME for one test; gateways it leaves up are ended after it."""
    h = Home(tmp_path / "home")
    h.path.mkdir()
    monkeypatch.setenv("SKYPLANE_HOME", str(h.path))
    monkeypatch.delenv("SKYPLANE_NODE_CLI", raising=False)
    yield h
    # A test that failed half-way may leave gateways or an engine lock: end them.
    left = [*(h.path / "run").glob("*/*.json"), *(h.path / "state").glob(".pulumi/locks/**/*.json")]
    if left:
        h.cli("deprovision", "-y")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before or while it was read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_exit(pid: int, timeout: float) -> bool:
    """Waits for ``pid`` to end (its pidfd becomes readable); False if it runs after ``timeout``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return not alive(pid)


def python_script(home: Home, code: str) -> "subprocess.Popen[str]":
    """Runs ``code`` in a Python process of this venv, with ``home``; stdout piped, line by line."""
    return subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        env=home.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
