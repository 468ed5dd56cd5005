"""The Node side is never left behind: close, garbage collection, fork, Ctrl-C, Python's death."""

import gc
import os
import signal
import time
from pathlib import Path

import skyplane

from conftest import DST_REGION, SRC_REGION, STACK, Home, alive, python_script, wait_exit


def test_close_ends_the_node_side_and_is_idempotent(home: Home) -> None:
    client = skyplane.SkyplaneClient()
    pid = client._node.pid
    assert alive(pid)
    client.close()
    assert not alive(pid)
    client.close()
    assert client.log_dir == f"{home.path}/logs"
    with skyplane.SkyplaneClient(log_dir=home.path / "my-logs") as other:
        inner = other._node.pid
        assert other.log_dir == f"{home.path}/my-logs"
    assert not alive(inner), "the with block closed it"


def test_garbage_collection_ends_the_node_side(home: Home) -> None:
    client = skyplane.SkyplaneClient()
    pid = client._node.pid
    dp = client.dataplane("local", "east", "local", "west")
    del client
    gc.collect()
    assert alive(pid), "a dataplane keeps its client"
    del dp
    gc.collect()
    assert not alive(pid)


def test_a_forked_child_never_ends_its_parents_node_side(home: Home) -> None:
    client = skyplane.SkyplaneClient()
    child = os.fork()
    if child == 0:
        # What a child's exit does (its finalizers run close()), then no more.
        client.close()
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.dataplane("local", "east", "local", "west").stack_name == STACK
    client.close()


def test_after_sigkill_of_python_its_auto_deprovisioned_dataplane_is_torn_down(home: Home) -> None:
    home.make_bucket("py-kill-src", SRC_REGION)
    home.make_bucket("py-kill-dst", DST_REGION)
    script = python_script(
        home,
        """
import time, skyplane
client = skyplane.SkyplaneClient()
dp = client.dataplane("local", "east", "local", "west", n_vms=1)
with dp.auto_deprovision():
    dp.provision()
    print("provisioned", client._node.pid, flush=True)
    time.sleep(3600)
""",
    )
    assert script.stdout is not None
    line = script.stdout.readline()
    assert line.startswith("provisioned "), script.stderr.read() if script.stderr else line
    node_pid = int(line.split()[1])
    gateways = home.gateway_pids()
    assert len(gateways) == 2
    assert all(alive(p) for p in gateways)
    assert home.live_stacks() == [STACK]

    script.send_signal(signal.SIGKILL)
    assert script.wait(timeout=30) == -signal.SIGKILL
    # Its stdin ended with Python: the Node side tears the dataplane down, then exits.
    assert wait_exit(node_pid, 180), "the Node side outlived its Python process"
    assert [p for p in gateways if alive(p)] == []
    assert home.live_stacks() == []


def test_ctrl_c_in_copy_stops_it_tears_down_and_raises_keyboard_interrupt(home: Home) -> None:
    src = home.make_bucket("py-int-src", SRC_REGION)
    dst = home.make_bucket("py-int-dst", DST_REGION)
    (src / "x.bin").write_bytes(os.urandom(1 << 20))
    script = python_script(
        home,
        """
import skyplane
client = skyplane.SkyplaneClient()
print("node", client._node.pid, flush=True)
try:
    client.copy("local://py-int-src/x.bin", "local://py-int-dst/x.bin")
    print("copied", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    client.dataplane("local", "east", "local", "west")  # the client is still usable
    print("usable", flush=True)
""",
    )
    assert script.stdout is not None
    node_pid = int(script.stdout.readline().split()[1])
    # Ctrl-C once the copy is provisioning: its first gateway has started.
    run = home.path / "run" / STACK
    while not (run.is_dir() and any(run.iterdir())):
        assert script.poll() is None, "the copy ended before it provisioned"
        time.sleep(0.02)
    gateways = home.gateway_pids()
    script.send_signal(signal.SIGINT)
    out, err = script.communicate(timeout=240)
    assert script.returncode == 0, err
    assert out.splitlines() == ["interrupted", "usable"]
    assert wait_exit(node_pid, 60), "the Node side ended with its client"
    assert [p for p in gateways if alive(p)] == []
    assert home.live_stacks() == []
    assert not (dst / "x.bin").exists(), "no object at the destination"


def test_the_interpreters_exit_closes_a_client_left_open(home: Home) -> None:
    script = python_script(
        home,
        """
import skyplane
client = skyplane.SkyplaneClient()
print(client._node.pid, flush=True)
""",
    )
    out, err = script.communicate(timeout=60)
    assert script.returncode == 0, err
    assert not alive(int(out.strip())), "the Node side ended before the interpreter"


def test_a_client_on_a_pipe_the_node_side_shares_with_a_child_still_ends_with_its_parent(
    home: Home,
) -> None:
    # A child process holds the parent's end of the pipe (a fork without exec): the Node side sees
    # no end of input when the parent dies, and watches its parent instead.
    script = python_script(
        home,
        """
import os, time, skyplane
client = skyplane.SkyplaneClient()
if os.fork() == 0:
    time.sleep(3600)
print(client._node.pid, flush=True)
time.sleep(3600)
""",
    )
    assert script.stdout is not None
    node_pid = int(script.stdout.readline())
    holder = [p for p in _children(script.pid) if p != node_pid]
    assert len(holder) == 1
    try:
        script.send_signal(signal.SIGKILL)
        script.wait(timeout=30)
        assert wait_exit(node_pid, 60), "the Node side outlived its parent"
    finally:
        os.kill(holder[0], signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (field 4 of /proc/<pid>/stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found
