"""``SkyplaneClient(network_profile=...)``: the local cloud's emulated WAN, from Python.

As root the copy below runs on the emulated WAN: the local cloud makes network namespaces of its own
(``sk<tag>…``) for the route's stack and removes them with it.
"""

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import skyplane

from conftest import DST_REGION, SRC_REGION, STACK, Home

#: Two regions 40 Mbit/s apart one way, 80 the other.
PROFILE = {
    "version": 1,
    "description": "python test: east and west",
    "regions": ["local:east", "local:west"],
    "links": {"local:east>local:west": 40, "local:west>local:east": 80},
    "gateway": {"egressMbps": 400, "ingressMbps": 400},
}


def router_namespace(region_index: int) -> Path:
    """Where the test route's router namespace would be (components/local/network.ts)."""
    tag = hashlib.sha256(STACK.encode()).hexdigest()[:5]
    return Path("/var/run/netns", f"sk{tag}r{region_index}")


def look_for_the_router(seen: list[bool]) -> Callable[[skyplane.ProgressEvent], None]:
    """A listener noting, at each dispatch, whether the route's east router namespace exists."""

    def look(e: skyplane.ProgressEvent) -> None:
        if e.type == "dispatched":
            seen.append(router_namespace(0).exists())

    return look


def test_a_network_profile_reaches_the_node_side_shaped_as_root_unshaped_otherwise(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = home.make_bucket("py-net-src", SRC_REGION)
    home.make_bucket("py-net-dst", DST_REGION)
    (src / "a.bin").write_bytes(os.urandom(200_000))
    profile_file = tmp_path / "profile.json"
    profile_file.write_text(json.dumps(PROFILE))
    root = os.geteuid() == 0

    with skyplane.SkyplaneClient() as plain:
        assert plain.network == "loopback"
        result = plain.copy("local://py-net-src/a.bin", "local://py-net-dst/plain.bin")
        # Without a profile the planner's grid is its default model, far faster than 40 Mbit/s.
        assert result.estimate.throughput_gbps > 1

    # A file, as a Path or as a str relative to the caller's directory (sent made absolute):
    # "loopback" would say the Node side was given no profile.
    monkeypatch.chdir(tmp_path)
    for file in (profile_file, "profile.json"):
        with skyplane.SkyplaneClient(network_profile=file) as client:
            assert client.network == ("shaped" if root else "unshaped"), file
    with skyplane.SkyplaneClient(network_profile=PROFILE) as client:
        assert client.network == ("shaped" if root else "unshaped")
        router_seen: list[bool] = []
        result = client.copy(
            "local://py-net-src/a.bin",
            "local://py-net-dst/shaped.bin",
            on_progress=look_for_the_router(router_seen),
        )
        assert result.bytes == 200_000
        # The profile is the planner's grid: the route runs at its east→west link.
        assert result.estimate.throughput_gbps == pytest.approx(0.04)
        # As root the gateways ran in the route's namespaces, which went with the stack.
        assert router_seen, "a dispatched event came"
        assert set(router_seen) == {root}
        assert not router_namespace(0).exists()
        assert not router_namespace(1).exists()
    assert (home.bucket("py-net-dst") / "shaped.bin").read_bytes() == (src / "a.bin").read_bytes()
    assert home.live_stacks() == []


def test_a_bad_network_profile_is_refused_with_the_cli_message(home: Home, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"^network_profile takes a path .* not int$"):
        skyplane.SkyplaneClient(network_profile=42)  # type: ignore[arg-type]
    with pytest.raises(
        skyplane.BadProfileError, match=r"^network profile: profile version 2 is not 1$"
    ):
        skyplane.SkyplaneClient(network_profile={**PROFILE, "version": 2})
    with pytest.raises(
        skyplane.BadProfileError,
        match=r"^network profile: links: local:east>local:west must be 0 < Mbit/s ≤ 100000$",
    ):
        skyplane.SkyplaneClient(network_profile={**PROFILE, "links": {"local:east>local:west": -1}})
    missing = tmp_path / "missing.json"
    with pytest.raises(
        skyplane.UnreadableError, match=rf"^cannot read the network profile {missing}: ENOENT"
    ):
        skyplane.SkyplaneClient(network_profile=missing)
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    with pytest.raises(skyplane.BadProfileError, match=rf"^{garbled}: "):
        skyplane.SkyplaneClient(network_profile=str(garbled))
    # The same file, given to the CLI, says the same.
    cli = home.cli("cp", "local://a/x", "local://b/x", "-y", "--profile", str(garbled))
    assert cli.returncode == 1
    assert cli.stderr.strip().startswith(f"error: {garbled}: ")
