"""The protocol of ``skyplane rpc --stdio`` (PROTOCOL.md): its refusals; the session goes on."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import skyplane
from skyplane._transport import MAX_MESSAGE_BYTES, oversized_message

from conftest import CLI_MAIN, Home, node


class Server:
    """A ``skyplane rpc --stdio`` process spoken to line by line, as raw bytes."""

    def __init__(self, heartbeat_ms: int = 2000) -> None:
        self.proc = subprocess.Popen(
            [node(), str(CLI_MAIN), "rpc", "--stdio", "--heartbeat-ms", str(heartbeat_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def request(self, rid: int, method: str, **params: Any) -> None:
        self.send(
            json.dumps({"v": 1, "id": rid, "method": method, "params": params}).encode() + b"\n"
        )

    def next(self, skip_heartbeats: bool = True) -> dict[str, Any]:
        """The next message (a bounded wait: the server sends a heartbeat at least every 2 s)."""
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, "the server ended"
            msg = json.loads(line)
            assert isinstance(msg, dict)
            if not (skip_heartbeats and msg.get("event") == "heartbeat"):
                return msg

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)


@pytest.fixture
def server(home: Home) -> Iterator[Server]:
    s = Server()
    s.request(1, "init")
    assert s.next()["result"]["home"] == str(home.path)
    yield s
    if s.proc.poll() is None:
        s.close()


def test_a_line_that_is_not_json_is_refused_and_the_session_goes_on(
    home: Home, server: Server
) -> None:
    server.send(b"copy local://a/x local://b/x\n")
    refused = server.next()
    assert refused["id"] is None
    assert refused["error"]["code"] == "BAD_MESSAGE"
    assert refused["error"]["message"].startswith("message refused: not JSON (")
    assert refused["error"]["exit"] == 1
    server.request(2, "logDir")
    assert server.next() == {"v": 1, "id": 2, "result": {"logDir": f"{home.path}/logs"}}


def test_a_message_over_1_mib_is_refused_unread_and_one_of_1_mib_is_taken(server: Server) -> None:
    def padded(rid: int, size: int) -> bytes:
        head = json.dumps({"v": 1, "id": rid, "method": "logDir", "params": {"pad": ""}})
        pad = size - len(head)
        return head.replace('"pad": ""', '"pad": "' + "a" * pad + '"').encode()

    exact = padded(3, MAX_MESSAGE_BYTES)
    assert len(exact) == MAX_MESSAGE_BYTES
    over = padded(4, MAX_MESSAGE_BYTES + 1)
    server.send(over + b"\n")
    refused = server.next()
    assert refused == {
        "v": 1,
        "id": None,
        "error": {
            "code": "BAD_MESSAGE",
            "message": oversized_message(MAX_MESSAGE_BYTES + 1),
            "exit": 1,
        },
    }
    # Many times the limit, in one go: dropped as it streams, and the session goes on.
    server.send(b"x" * (5 * MAX_MESSAGE_BYTES) + b"\n")
    assert server.next()["error"]["message"] == oversized_message(5 * MAX_MESSAGE_BYTES)
    server.send(exact + b"\n")
    assert server.next()["id"] == 3


def test_requests_it_does_not_know_are_refused_with_their_id(server: Server) -> None:
    server.send(b'{"v":2,"id":5,"method":"logDir"}\n')
    assert server.next()["error"]["message"] == (
        "message refused: protocol version 2 is not spoken here (this Node side speaks 1): "
        "install the Python package and the Node side from the same checkout"
    )
    server.request(6, "format_disk")
    msg = server.next()
    assert (msg["id"], msg["error"]["code"]) == (6, "BAD_MESSAGE")
    assert msg["error"]["message"].startswith('message refused: unknown method "format_disk"; the')
    server.request(7, "copy", src=["local://a/x"], dst="local://b/x")
    assert server.next()["error"]["message"] == (
        'message refused: "copy" takes "src" as a string, not an array'
    )
    server.request(8, "init", aws={"secretAccessKey": 42})
    assert "42" not in server.next()["error"]["message"]
    server.request(9, "init")
    assert server.next()["error"]["message"].startswith(
        'message refused: "init" was sent already: a session has one client'
    )
    server.send(b"[1,2]\n")
    assert server.next()["error"]["message"] == "message refused: a request is an object, not [1,2]"


def test_heartbeats_come_at_the_interval_asked(home: Home) -> None:
    s = Server(heartbeat_ms=50)
    started = time.monotonic()
    beats = [s.next(skip_heartbeats=False) for _ in range(5)]
    assert beats == [{"v": 1, "event": "heartbeat"}] * 5
    assert 0.2 <= time.monotonic() - started < 5
    assert s.close() == 0


def test_the_client_refuses_an_oversized_request_itself_and_stays_usable(home: Home) -> None:
    with skyplane.SkyplaneClient() as client:
        huge = "local://py-proto/" + "k" * (MAX_MESSAGE_BYTES + 10)
        with pytest.raises(skyplane.BadMessageError) as raised:
            client.copy(huge, "local://py-proto-dst/x")
        assert str(raised.value).startswith("message refused: ")
        assert str(raised.value).endswith(
            "bytes is over the limit of 1048576 bytes (1 MiB) a message may hold; "
            "name large inputs by URI or path instead of sending them inline"
        )
        # Garbage on the wire: the Node side refuses it, and the client goes on.
        client._node.send_raw(b"\x00\xffnot json\n")
        assert client.dataplane("local", "east", "local", "west").stack_name


FAKE_NODE_SIDE = """
import json, sys
sys.stdout.write("Debugger listening on ws://127.0.0.1:9229\\n")  # what a stray print looks like
sys.stdout.write("x" * (2 * 1048576) + "\\n")                     # a line over the limit
sys.stdout.write(json.dumps({"v": 7, "event": "from-the-future"}) + "\\n")
sys.stdout.flush()
for line in sys.stdin:
    req = json.loads(line)
    result = {"protocol": 1, "pid": 0, "home": "/h", "logDir": "/h/logs"}
    if req["method"] != "init":
        result = {"dataplane": 1, "stack": "fake"}
    sys.stdout.write(json.dumps({"v": 1, "id": req["id"], "result": result}) + "\\n")
    sys.stdout.flush()
"""


def test_the_client_ignores_what_is_not_the_protocol_on_the_node_sides_stdout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = tmp_path / "fake-node-side"
    fake.write_text(f"#!{sys.executable}\n{FAKE_NODE_SIDE}")
    fake.chmod(0o755)
    with caplog.at_level("WARNING", logger="skyplane.node"):
        client = skyplane.SkyplaneClient(node_cli=str(fake))
        assert client.log_dir == "/h/logs"
        assert client.dataplane("local", "east", "local", "west").stack_name == "fake"
        client.close()
    warnings = [r.getMessage() for r in caplog.records]
    assert any(w.startswith("ignored a line from the Node side that is not JSON") for w in warnings)
    assert any(
        w == "ignored 2097152 bytes over 1 MiB in one message from the Node side" for w in warnings
    )
    assert any("in another protocol" in w for w in warnings)
