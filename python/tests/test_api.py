"""The API beyond the docs' examples: sync, run, trackers, progress events, configs, secrets."""

import os
import threading
from pathlib import Path

import pytest

import skyplane

from conftest import DST_REGION, SRC_REGION, STACK, Home


def test_a_dataplane_runs_queued_copies_and_syncs_with_progress_and_trackers(home: Home) -> None:
    src = home.make_bucket("py-api-src", SRC_REGION)
    dst = home.make_bucket("py-api-dst", DST_REGION)
    (src / "d").mkdir()
    for i in range(3):
        (src / "d" / f"{i}.bin").write_bytes(os.urandom(100_000 + i))
    (dst / "d").mkdir()
    (dst / "d" / "extra.bin").write_bytes(b"not in the source")

    with skyplane.SkyplaneClient() as client:
        dp = client.dataplane("local", "east", "local", "west", n_vms=1)
        assert dp.stack_name == STACK
        with dp.auto_deprovision():
            dp.provision()
            dp.queue_copy("local://py-api-src/d/0.bin", "local://py-api-dst/copied/0.bin")
            dp.queue_sync("local://py-api-src/d/", "local://py-api-dst/d/", delete=True)
            events: list[skyplane.ProgressEvent] = []
            copied, synced = dp.run(on_progress=events.append)
            assert (copied.objects, copied.bytes, copied.stack) == (1, 100_000, STACK)
            assert (synced.objects, synced.deleted) == (3, 1)
            assert synced.verified is not None
            assert synced.verified.objects == 3
            assert synced.estimate.objects == 3
            for job in (0, 1):
                kinds = [e.type for e in events if e.job == job]
                assert (kinds[0], kinds[-1]) == ("planned", "done"), kinds
            assert sorted(p.name for p in (dst / "d").iterdir()) == ["0.bin", "1.bin", "2.bin"]

            # In the background, with a listener on a thread of its own.
            (src / "d" / "3.bin").write_bytes(os.urandom(50_000))
            dp.queue_copy("local://py-api-src/d/", "local://py-api-dst/again/", recursive=True)
            seen: list[skyplane.ProgressEvent] = []
            finished = threading.Event()

            def listen(e: skyplane.ProgressEvent) -> None:
                seen.append(e)
                if e.type == "done":
                    finished.set()

            tracker = dp.run_async(on_progress=listen)
            [again] = tracker.join()
            assert again.bytes == 350_003
            assert tracker.is_complete()
            assert tracker.query_bytes_remaining() == 0
            assert tracker.query_bytes_dispatched() == 350_003
            assert tracker.query_bytes_landed() == 350_003
            assert finished.wait(30), "the listener saw the end"
            assert seen[0].type == "planned"
            assert seen[0].bytes == 350_003
        assert home.live_stacks() == []

        # A client's sync, on a stack of its own making.
        (dst / "d" / "0.bin").unlink()
        synced_again = client.sync("local://py-api-src/d/", "local://py-api-dst/d/")
        assert (synced_again.objects, synced_again.deleted) == (2, 0)
        assert dp.deprovision() is True, "an empty stack is destroyed again without complaint"


def test_a_dataplane_refuses_a_run_before_provision_and_a_bad_uri_at_once(home: Home) -> None:
    home.make_bucket("py-route-src", SRC_REGION)
    home.make_bucket("py-route-north", "local:north")
    (home.bucket("py-route-src") / "x").write_bytes(b"x")
    with skyplane.SkyplaneClient() as client:
        dp = client.dataplane("local", "east", "local", "west")
        dp.queue_copy("local://py-route-src/x", "local://py-route-north/x")
        with pytest.raises(
            skyplane.NotProvisionedError, match=r"^call provision\(\) before run\(\)$"
        ):
            dp.run()
        with pytest.raises(skyplane.InvalidUriError):
            dp.queue_copy("local://py-route-src/x", "nowhere://b/x")


def test_credentials_reach_the_node_side_on_its_stdin_never_its_command_line(home: Home) -> None:
    secret = "py-secret-" + os.urandom(8).hex()
    aws = skyplane.AWSConfig(access_key_id="AKIDEXAMPLE", secret_access_key=secret)
    azure = skyplane.AzureConfig(connection_string=f"AccountKey={secret}")
    assert secret not in repr(aws)
    assert secret not in repr(azure)
    assert "AKIDEXAMPLE" in repr(aws)
    with skyplane.SkyplaneClient(aws_config=aws, azure_config=azure) as client:
        proc = Path(f"/proc/{client._node.pid}")
        assert (proc / "cmdline").read_bytes().split(b"\0")[-4:-1] == [
            b"--stdio",
            b"--heartbeat-ms",
            b"2000",
        ]
        assert secret.encode() not in (proc / "cmdline").read_bytes()
        assert secret.encode() not in (proc / "environ").read_bytes()
