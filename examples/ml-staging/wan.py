"""The example's emulated WAN (``main.py --profile``, as root): buckets in the regions' namespaces.

The local cloud emulates a network profile with a router namespace per region and shaped links
between them (components/local/network.ts), for the gateways of a route's stack while it is up. This
module puts the two storage emulators in namespaces of their own beside it, as bench:peers' WAN case
does, and places this process (the trainer) in the training region:

    this process ──(east→west rate: across the WAN)── spml<pid>s0: gofakes3, remote bucket (east)
         └──────(unshaped: near)────────────────────── spml<pid>s1: fake-gcs-server, staged (west)
    gateways ── router of east ──(profile link)── router of west ── gateways
                  └─(unshaped, wired once the route's routers exist)─ s0        s1 ─┘

So reading the remote bucket every epoch crosses the emulated WAN, reading the staged one does not,
and staging crosses it once, through the gateways. Each emulator has one address (10.217.0.2,
10.217.0.6), the same from this process and from the gateways, so one endpoint serves both.

Names carry this process's pid (``spml<pid>…``): a run removes what a killed run left behind (names
whose pid is gone), and never touches a name of a live process. Addresses are 10.217.0.0/28, used
nowhere else by the project (the local cloud's are 10.213-10.215, bench:peers' 10.216).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The namespaces and host interfaces of this module begin with it.
PREFIX = "spml"
#: A name of this module's: the prefix, the pid of the run that made it, what it is.
_OURS = re.compile(rf"^{PREFIX}(\d+)[a-z]\d[ab]?$")
#: The emulated regions of the two buckets (the local cloud puts S3's in east and GCS's in west).
REMOTE_REGION = "local:east"
TRAINING_REGION = "local:west"
S3_ADDRESS = "10.217.0.2"
GCS_ADDRESS = "10.217.0.6"
S3_PORT = 9000
GCS_PORT = 4443
#: What the emulators accept (any key does; these are the project's emulator credentials).
EMULATOR_KEYS = {
    "AWS_ACCESS_KEY_ID": "skyplane-emulator",
    "AWS_SECRET_ACCESS_KEY": "skyplane-emulator-secret",
    "AWS_REGION": "us-east-1",
}


class WanError(RuntimeError):
    """The emulated WAN could not be built (a command failed, an emulator did not start)."""


def default_profile(wan_mbps: float) -> dict[str, Any]:
    """Two regions `wan_mbps` apart both ways, gateways fast enough not to be the bottleneck."""
    return {
        "version": 1,
        "description": f"ml-staging: the data's and the training region, {wan_mbps} Mbit/s apart",
        "regions": [REMOTE_REGION, TRAINING_REGION],
        "links": {
            f"{REMOTE_REGION}>{TRAINING_REGION}": wan_mbps,
            f"{TRAINING_REGION}>{REMOTE_REGION}": wan_mbps,
        },
        "gateway": {"egressMbps": 4 * wan_mbps, "ingressMbps": 4 * wan_mbps},
    }


def wan_rates(profile: dict[str, Any]) -> tuple[float, float]:
    """The profile's east→west and west→east rates, Mbit/s; a profile without them is refused."""
    regions = profile.get("regions", [])
    links = profile.get("links", {})
    down = links.get(f"{REMOTE_REGION}>{TRAINING_REGION}")
    up = links.get(f"{TRAINING_REGION}>{REMOTE_REGION}")
    if REMOTE_REGION not in regions or TRAINING_REGION not in regions or not down or not up:
        raise ValueError(
            f"the profile needs the regions {REMOTE_REGION} (the remote bucket's, S3) and "
            f"{TRAINING_REGION} (the training region's, GCS) and a link each way between them"
        )
    return float(down), float(up)


def router_namespace(stack: str, profile: dict[str, Any], region: str) -> str:
    """The router namespace of `region` in the local route stack `stack` under `profile`.

    As components/local/network.ts names it: ``sk`` + the first five hex digits of the stack name's
    SHA-256 + ``r`` + the region's index in the profile.
    """
    tag = hashlib.sha256(stack.encode()).hexdigest()[:5]
    return f"sk{tag}r{list(profile['regions']).index(region)}"


def namespace_exists(ns: str) -> bool:
    """True when the named network namespace exists."""
    return Path("/var/run/netns", ns).exists()


def _run(cmd: list[str], tolerant: bool = False) -> None:
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0 and not tolerant:
        raise WanError(f"{' '.join(cmd)}: {done.stderr.strip() or f'exit {done.returncode}'}")


def _tbf(dev: str, ns: str | None, mbps: float) -> list[str]:
    """tbf at `mbps` on `dev`: a burst of ~10 ms of traffic, a 400 ms queue, as the local cloud's"""
    burst = max(16 * 1024, round(mbps * 1e6 * 0.01 / 8))
    tc = ["tc", "-n", ns] if ns else ["tc"]
    shaping = ["rate", f"{mbps}mbit", "burst", str(burst), "latency", "400ms"]
    return [*tc, "qdisc", "replace", "dev", dev, "root", "tbf", *shaping]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> list[str]:
    """Removes the namespaces and host links of runs whose process is gone; returns their names."""
    removed: list[str] = []
    netns = Path("/var/run/netns")
    names = [n.name for n in netns.iterdir()] if netns.is_dir() else []
    listed = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names += [line.split(":")[1].strip().split("@")[0] for line in listed.splitlines()]
    for name in names:
        m = _OURS.match(name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        if namespace_exists(name):
            _run(["ip", "netns", "del", name], tolerant=True)
        else:
            _run(["ip", "link", "del", name], tolerant=True)
        removed.append(name)
    return removed


def emulator_root() -> Path:
    """Where scripts/setup-emulators.sh put the emulators (scripts/emulators.ts' emulatorRoot)."""
    cache = os.environ.get("SKYPLANE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "skyplane"
    )
    return Path(cache, "emulators")


def _wait_for_port(host: str, port: int, what: str, log: Path, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError as err:
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-1000:] if log.exists() else ""
                raise WanError(
                    f"{what} did not listen on {host}:{port} in {seconds} s:\n{tail}"
                ) from err
            time.sleep(0.05)


@dataclass
class Wan:
    """The storage namespaces, their emulators and links; `down()` removes all of it."""

    profile: dict[str, Any]
    log_dir: Path
    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    namespaces: list[str] = field(default_factory=list)
    host_links: list[str] = field(default_factory=list)
    emulators: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """What points boto3, google-cloud-storage and skyplane at the emulators."""
        return {
            **EMULATOR_KEYS,
            "AWS_ENDPOINT_URL_S3": f"http://{S3_ADDRESS}:{S3_PORT}",
            "STORAGE_EMULATOR_HOST": f"http://{GCS_ADDRESS}:{GCS_PORT}",
        }

    def _link(self, i: int, ns: str, host_cidr: str, ns_cidr: str) -> None:
        host_if = f"{self.tag}h{i}"
        # Noted before it is made: an interrupt between the two must not leave it unnoted.
        self.host_links.append(host_if)
        _run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", f"{self.tag}p{i}"])
        _run(["ip", "link", "set", f"{self.tag}p{i}", "netns", ns, "name", "host"])
        _run(["ip", "addr", "add", host_cidr, "dev", host_if])
        _run(["ip", "link", "set", host_if, "up"])
        _run(["ip", "-n", ns, "addr", "add", ns_cidr, "dev", "host"])
        _run(["ip", "-n", ns, "link", "set", "host", "up"])

    def up(self) -> None:
        """The namespaces, their host links (unshaped) and the emulators in them, listening."""
        root = emulator_root()
        missing = [b for b in ("gofakes3", "fake-gcs-server") if not (root / "bin" / b).exists()]
        if missing:
            raise WanError(
                f"emulators missing in {root} ({', '.join(missing)}): "
                "run 'bash scripts/setup-emulators.sh'"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for i, (host_cidr, addr) in enumerate(
            (("10.217.0.1/30", S3_ADDRESS), ("10.217.0.5/30", GCS_ADDRESS))
        ):
            ns = f"{self.tag}s{i}"
            self.namespaces.append(ns)
            _run(["ip", "netns", "add", ns])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            self._link(i, ns, host_cidr, f"{addr}/30")
        s3, gcs = self.namespaces
        self._start(
            s3,
            [
                *(str(root / "bin" / "gofakes3"), "-backend", "memory"),
                *("-host", f"{S3_ADDRESS}:{S3_PORT}"),
            ],
            S3_ADDRESS,
            S3_PORT,
            "gofakes3",
        )
        self._start(
            gcs,
            [
                *(str(root / "bin" / "fake-gcs-server"), "-scheme", "http", "-backend", "memory"),
                *("-host", GCS_ADDRESS, "-port", str(GCS_PORT)),
                *("-public-host", f"{GCS_ADDRESS}:{GCS_PORT}"),
            ],
            GCS_ADDRESS,
            GCS_PORT,
            "fake-gcs-server",
        )

    def _start(self, ns: str, cmd: list[str], host: str, port: int, name: str) -> None:
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            # `ip netns exec` execs the command: the pid is the emulator's own.
            child = subprocess.Popen(
                ["ip", "netns", "exec", ns, *cmd],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.emulators.append(child)
        _wait_for_port(host, port, name, log)

    def shape(self) -> tuple[float, float]:
        """Shapes the remote bucket's link as the profile's WAN: east→west down, west→east up."""
        down, up = wan_rates(self.profile)
        _run(_tbf("host", self.namespaces[0], down))  # what the remote bucket sends here
        _run(_tbf(self.host_links[0], None, up))  # what this process sends it
        return down, up

    def wire(self, stack: str) -> None:
        """Links each emulator to its region's router of the route stack `stack` (which is up).

        The links go with the routers when the stack is destroyed.
        """
        for i, (region, addr, subnet) in enumerate(
            (
                (REMOTE_REGION, S3_ADDRESS, "10.217.0.8/30"),
                (TRAINING_REGION, GCS_ADDRESS, "10.217.0.12/30"),
            )
        ):
            router = router_namespace(stack, self.profile, region)
            if not namespace_exists(router):
                raise WanError(
                    f"no router namespace {router} of {region} in the stack {stack}: is the "
                    "dataplane provisioned on a shaped network (root, network_profile given)?"
                )
            base = subnet.split("/")[0].rsplit(".", 1)
            router_ip, storage_ip = f"{base[0]}.{int(base[1]) + 1}", f"{base[0]}.{int(base[1]) + 2}"
            ns = self.namespaces[i]
            a, b = f"{self.tag}w{i}a", f"{self.tag}w{i}b"
            # Removed by down() should it fail before both ends moved into their namespaces.
            self.host_links.append(a)
            _run(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
            _run(["ip", "link", "set", a, "netns", router, "name", PREFIX])
            _run(["ip", "link", "set", b, "netns", ns, "name", "gw"])
            _run(["ip", "-n", router, "addr", "add", f"{router_ip}/30", "dev", PREFIX])
            _run(["ip", "-n", router, "link", "set", PREFIX, "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{storage_ip}/30", "dev", "gw"])
            _run(["ip", "-n", ns, "link", "set", "gw", "up"])
            _run(["ip", "-n", router, "route", "replace", f"{addr}/32", "via", storage_ip])
            # The region's gateways: 10.213.<index + 1>.0/24 (components/local/network.ts).
            index = list(self.profile["regions"]).index(region)
            _run(["ip", "-n", ns, "route", "replace", f"10.213.{index + 1}.0/24", "via", router_ip])

    def down(self) -> None:
        """Stops the emulators (by their pids) and removes the namespaces and host links."""
        for child in self.emulators:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        self.emulators.clear()
        for ns in reversed(self.namespaces):
            _run(["ip", "netns", "del", ns], tolerant=True)
        for link in self.host_links:
            _run(["ip", "link", "del", link], tolerant=True)
        self.namespaces.clear()
        self.host_links.clear()


@contextmanager
def emulated_wan(profile: dict[str, Any], log_dir: Path) -> Iterator[Wan]:
    """The storage namespaces and emulators for the block; removed at its end, even on error."""
    remove_leftovers()
    wan = Wan(profile, log_dir)
    try:
        wan.up()
        yield wan
    finally:
        wan.down()


def load_profile(path: str) -> dict[str, Any]:
    """A profile file's JSON (the Node side checks the rest when the client starts)."""
    try:
        loaded = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the network profile {path}: {err}") from err
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: a network profile is a JSON object")
    return loaded
