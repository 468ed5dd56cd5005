"""Errors: classes mirroring ERRORS (errors.ts) with the CLI's messages; a dead Node side, told."""

import json
import os
import re
import signal
import stat
import subprocess
import threading
from pathlib import Path

import pytest

import skyplane
from skyplane import _codes
from skyplane.errors import InternalError, SkyplaneError, UserError, error_for

from conftest import CHECKOUT, CLI_MAIN, DST_REGION, SRC_REGION, Home, node, wait_exit


def node_errors() -> dict[str, dict[str, object]]:
    """ERRORS as the compiled errors.ts has it."""
    out = subprocess.run(
        [
            node(),
            "-e",
            "process.stdout.write(JSON.stringify(require(process.argv[1]).ERRORS))",
            str(CHECKOUT / "dist" / "errors.js"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    table = json.loads(out.stdout)
    assert isinstance(table, dict)
    return table


def test_the_classes_are_generated_from_errors_ts_and_have_not_drifted() -> None:
    generated = subprocess.run(
        [node(), str(CHECKOUT / "dist" / "scripts" / "python-errors.js")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = Path(_codes.__file__).read_text()
    assert committed == generated, (
        "python/skyplane/_codes.py differs from errors.ts: run "
        "'npm run build && node dist/scripts/python-errors.js > python/skyplane/_codes.py'"
    )


def test_every_code_of_errors_ts_is_a_class_with_its_exit_status_and_kind() -> None:
    table = node_errors()
    assert len(table) >= 75
    assert {c: (s["exit"], s["kind"]) for c, s in table.items()} == _codes.ERRORS
    for code, spec in table.items():
        cls = _codes.CLASSES[code]
        name = "".join(w.capitalize() for w in code.split("_")) + "Error"
        assert cls.__name__ == name
        assert getattr(skyplane, name) is cls, f"skyplane.{name} is exported"
        assert issubclass(cls, UserError if spec["kind"] == "user" else InternalError), code
        err = cls("x")
        assert (err.code, err.exit_status, err.user_fixable) == (
            code,
            spec["exit"],
            spec["kind"] == "user",
        )


def test_an_error_is_raised_as_its_code_class_or_by_exit_status_without_one() -> None:
    err = error_for("NO_SUCH_BUCKET", "make it first", 1)
    assert type(err) is skyplane.NoSuchBucketError
    assert (str(err), err.message, err.code, err.exit_status) == (
        "make it first",
        "make it first",
        "NO_SUCH_BUCKET",
        1,
    )
    # An error of Node or the OS has no code: its exit status says whose it is.
    machine = error_for(None, "EACCES: permission denied", 1)
    assert (type(machine), machine.code, machine.user_fixable) == (UserError, None, True)
    assert type(error_for(None, "boom", 2)) is InternalError
    # A code this package does not know yet (a newer Node side) still raises, with its code.
    newer = error_for("SOMETHING_NEW", "new", 2)
    assert (type(newer), newer.code) == (InternalError, "SOMETHING_NEW")
    failed = error_for("TRANSFER_FAILED", "2 chunks failed", 3, ["a: reset", "b: reset"])
    assert isinstance(failed, skyplane.TransferFailedError)
    assert failed.failures == ("a: reset", "b: reset")
    assert isinstance(failed, SkyplaneError)


def cli_error(home: Home, env: dict[str, str], *args: str) -> tuple[int, str]:
    """The exit status and message (its ``error: `` line) of ``skyplane ARGS``."""
    done = home.cli(*args, env=env)
    lines = done.stderr.splitlines()
    messages = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    assert len(messages) == 1, done.stderr
    return done.returncode, messages[0]


def no_cloud_credentials(home: Home) -> dict[str, str]:
    """This process's environment with no AWS credentials to find, nor an instance to ask."""
    env = {k: v for k, v in home.env().items() if not k.startswith("AWS_")}
    missing = str(home.path / "no-such-file")
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=missing,
        AWS_SHARED_CREDENTIALS_FILE=missing,
    )
    return env


@pytest.mark.parametrize(
    ("case", "cls"),
    [
        ("wrong URI", skyplane.InvalidUriError),
        ("missing bucket", skyplane.NoSuchBucketError),
        ("missing credentials", skyplane.NoCredentialsError),
    ],
)
def test_bad_input_raises_the_class_of_its_code_with_the_cli_message(
    home: Home, monkeypatch: pytest.MonkeyPatch, case: str, cls: type[SkyplaneError]
) -> None:
    home.make_bucket("py-err-src", SRC_REGION)
    (home.bucket("py-err-src") / "x.bin").write_bytes(b"x" * 1000)
    env = no_cloud_credentials(home)
    src, dst = {
        "wrong URI": ("local://py-err-src/x.bin", "s4://bucket/x.bin"),
        "missing bucket": ("local://py-err-src/x.bin", "local://py-err-nowhere/x.bin"),
        "missing credentials": ("local://py-err-src/x.bin", "s3://py-err-dst/x.bin"),
    }[case]
    status, message = cli_error(home, env, "cp", src, dst, "-y")
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with skyplane.SkyplaneClient() as client, pytest.raises(SkyplaneError) as raised:
        client.copy(src, dst)
    assert type(raised.value) is cls
    assert (str(raised.value), raised.value.exit_status) == (message, status)
    assert status == 1
    assert home.live_stacks() == [], "nothing was provisioned"


def test_a_node_side_killed_mid_call_fails_that_call_and_every_later_one(home: Home) -> None:
    home.make_bucket("py-dead-src", SRC_REGION)
    home.make_bucket("py-dead-dst", DST_REGION)
    client = skyplane.SkyplaneClient()
    pid = client._node.pid
    dp = client.dataplane("local", "east", "local", "west")
    raised: list[BaseException] = []
    call = threading.Thread(target=lambda: _catch(dp.provision, raised))
    call.start()
    # The call is under way when the Node side dies, with the engine it started (its process group:
    # the gateways run in sessions of their own and stop when their lease runs out).
    while not client._node._pending:
        assert call.is_alive()
    os.killpg(pid, signal.SIGKILL)
    call.join(timeout=60)
    assert not call.is_alive()
    assert len(raised) == 1
    assert type(raised[0]) is skyplane.NodeSideGoneError
    assert str(raised[0]).startswith(
        f"the Node side (pid {pid}) was killed by SIGKILL; make a new SkyplaneClient to go on"
    )
    with pytest.raises(skyplane.NodeSideGoneError, match="killed by SIGKILL"):
        client.dataplane("local", "east", "local", "west")
    client.close()


def _catch(fn: object, into: list[BaseException]) -> None:
    try:
        fn()  # type: ignore[operator]
    except BaseException as err:
        into.append(err)


def test_a_silent_node_side_is_ended_after_the_heartbeat_timeout(home: Home) -> None:
    client = skyplane.SkyplaneClient(heartbeat_timeout=1.5)
    pid = client._node.pid
    assert client.dataplane("local", "east", "local", "west").stack_name == "local-east--local-west"
    os.kill(pid, signal.SIGSTOP)  # alive, but says nothing: no answer, no heartbeat
    with pytest.raises(skyplane.NodeSideGoneError) as raised:
        client.dataplane("local", "east", "local", "west")
    assert re.match(
        rf"the Node side \(pid {pid}\) sent nothing for [12] s, not even a heartbeat, and was "
        "ended",
        str(raised.value),
    )
    assert wait_exit(pid, 10), "the silent Node side was killed"
    client.close()


def test_a_node_side_that_cannot_start_or_dies_at_once_says_so(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SKYPLANE_NODE_CLI", str(tmp_path / "no-such-main.js"))
    with pytest.raises(skyplane.NodeSideNotFoundError) as missing:
        skyplane.SkyplaneClient()
    assert str(missing.value).startswith(
        f"the Node side {tmp_path}/no-such-main.js (SKYPLANE_NODE_CLI) is not a file: "
        "set SKYPLANE_NODE_CLI to the checkout's dist/cli/main.js"
    )
    assert missing.value.exit_status == 1
    broken = tmp_path / "broken-skyplane"
    broken.write_text("#!/bin/sh\necho 'cannot find module yargs' >&2\nexit 7\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("SKYPLANE_NODE_CLI", str(broken))
    with pytest.raises(skyplane.NodeSideGoneError) as died:
        skyplane.SkyplaneClient()
    assert re.match(
        r"the Node side \(pid \d+\) exited with status 7; make a new SkyplaneClient to go on; "
        r"its last words: cannot find module yargs$",
        str(died.value),
    )
    # The checkout's own main.js, named explicitly, works like the default.
    monkeypatch.setenv("SKYPLANE_NODE_CLI", str(CLI_MAIN))
    with skyplane.SkyplaneClient() as client:
        assert client.home == str(home.path)
