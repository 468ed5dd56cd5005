"""The Node side of one client: its process, and the JSON-lines protocol to it (PROTOCOL.md).

One thread reads the process's stdout and hands each answer to the call waiting for it; one keeps
the tail of its stderr for the error that reports its death; one runs the listeners of trackers. A
call waits for its answer as long as messages keep coming (the Node side sends a heartbeat every
``heartbeat_timeout / 10`` seconds); silence for ``heartbeat_timeout`` seconds ends the process and
fails the call. The process is never left behind: ``close`` ends its input, upon which it tears down
what it holds under auto-deprovision and exits, as it does when this process dies (its stdin ends
then too) or a forked child holds the pipe and the parent dies (it watches its parent).
"""

import contextlib
import itertools
import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from .errors import SkyplaneError, error_for

#: The protocol version this package speaks.
PROTOCOL_VERSION = 1
#: The largest message either side sends or accepts, newline excluded: 1 MiB.
MAX_MESSAGE_BYTES = 1 << 20
#: Seconds the Node side may take to start (load its modules) before its first word, at least.
STARTUP_SECONDS = 30.0

log = logging.getLogger("skyplane.node")

#: What a waiting call is handed: ("result" | "error" | "event" | "gone", payload).
_Item = tuple[str, Any]
EventListener = Callable[[Mapping[str, Any]], None]


def oversized_message(size: int) -> str:
    """The Node side's words for a message of ``size`` bytes, over the limit."""
    return (
        f"message refused: {size} bytes is over the limit of {MAX_MESSAGE_BYTES} bytes (1 MiB) "
        "a message may hold; name large inputs by URI or path instead of sending them inline"
    )


class NodeSide:
    """A ``skyplane rpc --stdio`` process and the calls to it."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        heartbeat_timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._timeout = heartbeat_timeout
        heartbeat_ms = max(10, min(2000, int(heartbeat_timeout * 100)))
        try:
            self._proc = subprocess.Popen(
                [*argv, "--heartbeat-ms", str(heartbeat_ms)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env) if env is not None else None,
                # Its own session: a Ctrl-C on the terminal reaches Python, which stops the call
                # under way; the Node side then finishes it (and its teardown) in order.
                start_new_session=True,
            )
        except OSError as err:
            raise error_for(
                "NODE_SIDE_NOT_FOUND", f"cannot start the Node side {argv[0]}: {err}"
            ) from err
        self._stdin: IO[bytes] = self._proc.stdin  # type: ignore[assignment]
        self._owner = os.getpid()
        self._ids = itertools.count(1)
        self._pending: dict[int, queue.SimpleQueue[_Item]] = {}
        # Both re-entrant: a signal handler (Airflow's on_kill calls close()) runs on the main
        # thread, which may hold either lock at that moment; a plain Lock would deadlock there.
        self._lock = threading.RLock()
        self._write_lock = threading.RLock()
        self._listeners: dict[int, EventListener] = {}
        self._events: queue.SimpleQueue[tuple[EventListener, Mapping[str, Any]] | None] = (
            queue.SimpleQueue()
        )
        self._stderr: deque[str] = deque(maxlen=40)
        self._heard = time.monotonic()
        self._started = False
        self._gone: str | None = None
        self._closed = False
        self._stdout_done = threading.Event()
        # Set once the reader has recorded why the Node side ended, last words included.
        self._ended = threading.Event()
        # stderr's reader first: the stdout reader waits for it when the process ends.
        self._stderr_reader = threading.Thread(
            target=self._read_stderr, name="skyplane-node-stderr", daemon=True
        )
        self._stderr_reader.start()
        for target, name in ((self._read, "stdout"), (self._dispatch, "events")):
            threading.Thread(target=target, name=f"skyplane-node-{name}", daemon=True).start()

    @property
    def pid(self) -> int:
        """The Node side's process id."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """True until the Node side ended, fell silent or was closed."""
        return self._gone is None

    # -- calls ------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        on_event: EventListener | None = None,
        cancellable: bool = False,
    ) -> Any:
        """Sends a request and waits for its answer; ``on_event`` gets its progress events.

        A Ctrl-C (KeyboardInterrupt) while it waits cancels a ``cancellable`` request (its transfer
        stops, its gateways are released), waits for the Node side to finish it, and is raised
        again; a second Ctrl-C stops the waiting.
        """
        self._check_alive()
        rid = next(self._ids)
        inbox: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        with self._lock:
            if self._gone is not None:
                raise error_for("NODE_SIDE_GONE", self._gone)
            self._pending[rid] = inbox
        try:
            self._send({"v": PROTOCOL_VERSION, "id": rid, "method": method, "params": params or {}})
        except BaseException:
            with self._lock:
                self._pending.pop(rid, None)
            raise
        try:
            return self._wait(inbox, on_event)
        except KeyboardInterrupt:
            if cancellable and self.alive:
                with contextlib.suppress(SkyplaneError):
                    self._send(
                        {"v": 1, "id": next(self._ids), "method": "cancel", "params": {"id": rid}}
                    )
            with contextlib.suppress(SkyplaneError, KeyboardInterrupt):
                self._wait(inbox, None)
            raise
        finally:
            with self._lock:
                self._pending.pop(rid, None)

    def listen(self, handle: int, listener: EventListener) -> None:
        """Runs ``listener`` for the progress events of tracker ``handle``."""
        self._listeners[handle] = listener

    def send_raw(self, line: bytes) -> None:
        """Writes ``line`` as it is (tests of the protocol's refusals)."""
        with self._write_lock:
            self._stdin.write(line)
            self._stdin.flush()

    def _check_alive(self) -> None:
        if self._gone is not None:
            raise error_for("NODE_SIDE_GONE", self._gone)

    def _send(self, message: Mapping[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
        if len(data) > MAX_MESSAGE_BYTES:
            raise error_for("BAD_MESSAGE", oversized_message(len(data)), 1)
        try:
            with self._write_lock:
                self._stdin.write(data + b"\n")
                self._stdin.flush()
        except (OSError, ValueError) as err:
            # A broken pipe comes before the reader has seen the end: its report, with the last
            # words on stderr, is the one to give (bounded, as the reader's own wait is).
            if not self._ended.wait(timeout=10):
                self._proc.poll()
                self._went(self._ended_text())
            raise error_for("NODE_SIDE_GONE", self._gone or str(err)) from err

    def _silence_limit(self) -> float:
        """Seconds of silence after which the Node side is hung (longer before its first word)."""
        return self._timeout if self._started else max(self._timeout, STARTUP_SECONDS)

    def _wait(self, inbox: "queue.SimpleQueue[_Item]", on_event: EventListener | None) -> Any:
        while True:
            left = self._silence_limit() - (time.monotonic() - self._heard)
            try:
                kind, payload = inbox.get(timeout=max(left, 0.05))
            except queue.Empty:
                if time.monotonic() - self._heard >= self._silence_limit():
                    self._silenced()
                continue
            if kind == "result":
                return payload
            if kind == "event":
                if on_event is not None:
                    on_event(payload)
                continue
            if kind == "error":
                raise error_for(
                    payload.get("code"),
                    payload.get("message", ""),
                    payload.get("exit"),
                    payload.get("failures") or (),
                )
            raise error_for("NODE_SIDE_GONE", self._gone or "the Node side is gone")

    # -- the process --------------------------------------------------------------------------

    def close(self) -> None:
        """Ends the Node side: its input ends, it tears down what it holds and exits; waits for it.

        It is waited for as long as its heartbeats say it is at work, and killed if it falls
        silent. A forked child never ends its parent's Node side.
        """
        if os.getpid() != self._owner:
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._went("this SkyplaneClient was closed: make a new one")
        with contextlib.suppress(OSError, ValueError), self._write_lock:
            self._stdin.close()
        while not self._stdout_done.wait(0.2):
            if time.monotonic() - self._heard > self._silence_limit():
                self._proc.kill()
                break
        try:
            self._proc.wait(timeout=self._timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._events.put(None)

    def _silenced(self) -> None:
        """No message for ``heartbeat_timeout`` seconds: the Node side hangs. It is ended."""
        quiet = time.monotonic() - self._heard
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGKILL)
        self._went(
            f"the Node side (pid {self._proc.pid}) sent nothing for {quiet:.0f} s, not even a "
            "heartbeat, and was ended; gateways it held stop on their own when their lease runs "
            "out ('skyplane deprovision -y' ends them now); make a new SkyplaneClient to go on"
        )

    def _ended_text(self) -> str:
        code = self._proc.returncode
        if code is None:
            how = "closed its output"
        elif code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        tail = "".join(self._stderr).strip()
        return f"the Node side (pid {self._proc.pid}) {how}; make a new SkyplaneClient to go on" + (
            f"; its last words: {tail[-2000:]}" if tail else ""
        )

    def _went(self, why: str) -> None:
        """Records why the Node side is gone (first reason wins) and fails every waiting call."""
        with self._lock:
            if self._gone is None:
                self._gone = why
            waiting = list(self._pending.values())
        for inbox in waiting:
            inbox.put(("gone", None))

    # -- threads ----------------------------------------------------------------------------

    def _read(self) -> None:
        out: IO[bytes] = self._proc.stdout  # type: ignore[assignment]
        try:
            while True:
                line = out.readline(MAX_MESSAGE_BYTES + 2)
                if not line:
                    break
                self._heard = time.monotonic()
                self._started = True
                if not line.endswith(b"\n") and len(line) > MAX_MESSAGE_BYTES:
                    size = len(line)
                    while line and not line.endswith(b"\n"):
                        line = out.readline(MAX_MESSAGE_BYTES + 2)
                        size += len(line)
                    size -= line.endswith(b"\n")
                    log.warning(
                        "ignored %d bytes over 1 MiB in one message from the Node side", size
                    )
                    continue
                self._handle(line)
        except (OSError, ValueError):
            pass
        finally:
            self._stdout_done.set()
            # Its stdout ended: it exits, or has. Waiting is bounded: a process that closed its
            # stdout and lingers is reported as gone all the same.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            # Its last words on stderr belong in the report of its end.
            self._stderr_reader.join(timeout=2)
            self._went(self._ended_text())
            self._ended.set()

    def _handle(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            log.warning("ignored a line from the Node side that is not JSON: %r", line[:200])
            return
        if not isinstance(msg, dict) or msg.get("v") != PROTOCOL_VERSION:
            log.warning("ignored a message from the Node side in another protocol: %r", line[:200])
            return
        event = msg.get("event")
        if event is not None:
            if event == "progress":
                self._progress(msg)
            return
        rid = msg.get("id")
        if rid is None:
            err = msg.get("error") or {}
            log.warning("the Node side refused a message: %s", err.get("message"))
            return
        with self._lock:
            inbox = self._pending.get(rid) if isinstance(rid, int) else None
        if inbox is None:
            return  # the answer to a cancel, or to a call that gave up waiting
        if "error" in msg:
            inbox.put(("error", msg["error"]))
        else:
            inbox.put(("result", msg.get("result")))

    def _progress(self, msg: Mapping[str, Any]) -> None:
        rid = msg.get("id")
        if isinstance(rid, int):
            with self._lock:
                inbox = self._pending.get(rid)
            if inbox is not None:
                inbox.put(("event", msg))
            return
        tracker = msg.get("tracker")
        listener = self._listeners.get(tracker) if isinstance(tracker, int) else None
        if listener is not None:
            self._events.put((listener, msg))

    def _read_stderr(self) -> None:
        err: IO[bytes] = self._proc.stderr  # type: ignore[assignment]
        with contextlib.suppress(OSError, ValueError):
            for raw in err:
                text = raw.decode("utf-8", "replace")
                self._stderr.append(text)
                log.debug("%s", text.rstrip("\n"))

    def _dispatch(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            listener, msg = item
            try:
                listener(msg)
            except Exception:
                # A listener's bug must not stop the events of the others.
                log.exception("a progress listener failed")
