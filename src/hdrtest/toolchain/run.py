"""The one way hdrtest runs another program.

Every child gets an argument list (never a shell), a closed stdin, its own process
group, a deadline and a cap on the output kept.  Each live child is registered, so
that Ctrl-C, SIGTERM or SIGHUP ends all of them (``terminate_all``), including the
grandchildren a compiler driver or wrapper script starts (``cc1``, ``as``).

Reading stops at the deadline even when a grandchild that left the group still holds
the pipe open: the caller's timeout is a promise, not a hope.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Bytes of each stream kept; the rest is read and dropped so the child never blocks.
#: A compiler that prints forever costs CPU until its deadline, not memory.
OUTPUT_LIMIT = 4 * 1024 * 1024
#: After the child exits, how long its pipes may stay open (a grandchild holding them).
_EXIT_GRACE = 1.0

_live: dict[int, subprocess.Popen[bytes]] = {}
#: Child pid -> the tag its thread ran under (``tagged``): a Dask worker ends the compiles of one cancelled run only.
_owner: dict[int, str | None] = {}
_tag = threading.local()
#: Re-entrant: ``terminate_all`` runs from a signal handler, which may interrupt the main thread holding it.
_live_lock = threading.RLock()
_stopping = threading.Event()


class Stopped(Exception):
    """A run was refused or cut short because hdrtest is shutting down."""


@dataclass(frozen=True)
class Completed:
    """What a child did.  ``returncode`` is None when it was killed at its deadline."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    truncated: bool = False

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(argv: Sequence[str], *, timeout: float, cwd: Path | str | None = None, input: bytes | None = None,
        env: Mapping[str, str] | None = None, merge_stderr: bool = False,
        limit: int = OUTPUT_LIMIT) -> Completed:
    """Run ``argv`` to completion or to its deadline; raises OSError when it cannot start.

    Once ``terminate_all`` has run, worker threads get ``Stopped`` instead of a new child;
    the main thread may still run the clean-up it needs (``git worktree remove``).
    """
    _refuse_when_stopping()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env is not None else None,
                            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                            start_new_session=True, close_fds=True)
    with _live_lock:
        _live[proc.pid] = proc
        _owner[proc.pid] = getattr(_tag, "value", None)
    try:
        # ``terminate_all`` sets the flag before it sweeps ``_live``: a child registered after the sweep sees it.
        _refuse_when_stopping()
        if input is not None and proc.stdin is not None:
            _feed(proc, input)
        out, err, timed_out, truncated = _collect(proc, time.monotonic() + timeout, limit)
    finally:
        _kill_group(proc)  # whatever the child left behind in its group goes with it
        proc.wait()
        with _live_lock:
            _live.pop(proc.pid, None)
            _owner.pop(proc.pid, None)
    _refuse_when_stopping()
    return Completed(None if timed_out else proc.returncode, out, err, timed_out, truncated)


def finished(argv: Sequence[str], *, timeout: float, error: Callable[[str], Exception] = ChildProcessError,
             what: str = "", cwd: Path | str | None = None, input: bytes | None = None,
             env: Mapping[str, str] | None = None, limit: int = OUTPUT_LIMIT) -> Completed:
    """``run`` for a step its caller needs: a child that cannot start or does not finish in time raises ``error``
    (``ChildProcessError`` unless given) saying which; ``what`` names the step (else ``argv[0]``)."""
    try:
        done = run(argv, timeout=timeout, cwd=cwd, input=input, env=env, limit=limit)
    except OSError as exc:
        raise error(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    if done.timed_out:
        raise error(f"{what or argv[0]} took over {timeout:g} s")
    return done


def _refuse_when_stopping() -> None:
    if _stopping.is_set() and threading.current_thread() is not threading.main_thread():
        raise Stopped("hdrtest is stopping")


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    # Inputs are small (a line or two for bc); a child that does not read them gets EPIPE.
    assert proc.stdin is not None
    try:
        with contextlib.suppress(OSError):
            proc.stdin.write(data)
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _collect(proc: subprocess.Popen[bytes], deadline: float, limit: int) -> tuple[bytes, bytes, bool, bool]:
    streams = {s: bytearray() for s in (proc.stdout, proc.stderr) if s is not None}
    truncated = False
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            selector.register(stream, selectors.EVENT_READ)
        exited_at: float | None = None
        while selector.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _EXIT_GRACE:
                break  # a grandchild holds the pipe: the child's answer is complete
            if now >= deadline:
                timed_out = proc.poll() is None
                break
            if _stopping.is_set() and threading.current_thread() is not threading.main_thread():
                break
            wait = min(deadline - now, 0.2)
            for key, _ in selector.select(wait):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                kept = streams[key.fileobj]  # type: ignore[index]
                room = limit - len(kept)
                if room > 0:
                    kept += chunk[:room]
                if len(chunk) > room:
                    truncated = True
    if not timed_out and proc.poll() is None:
        # Pipes closed but the child lives on: wait for it, within the deadline.
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    for stream in streams:
        stream.close()
    return (bytes(streams[proc.stdout]) if proc.stdout in streams else b"",
            bytes(streams[proc.stderr]) if proc.stderr in streams else b"",
            timed_out, truncated)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def terminate_all() -> int:
    """End every child (and its process group) and refuse new ones; returns how many were live."""
    _stopping.set()
    with _live_lock:
        procs = list(_live.values())
    for proc in procs:
        _kill_group(proc)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    return len(procs)


@contextlib.contextmanager
def tagged(tag: str) -> Iterator[None]:
    """Tag the children this thread starts meanwhile, for ``kill_tagged``."""
    _tag.value = tag
    try:
        yield
    finally:
        _tag.value = None


def kill_tagged(tag: str) -> int:
    """End the children (and their groups) started under ``tag``, without refusing new ones; returns how many."""
    with _live_lock:
        procs = [proc for pid, proc in _live.items() if _owner.get(pid) == tag]
    for proc in procs:
        _kill_group(proc)
    return len(procs)


def reset() -> None:
    """Accept new children again (a library caller that handled an interrupt and goes on)."""
    _stopping.clear()


class Child:
    """A long-lived child spoken to over pipes (a request/answer server such as kconfig-eval).

    Same rules as ``run``: argument list, own process group, registered so that
    ``terminate_all`` ends it; every read has a deadline.  stdin is the request pipe.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._buffer = bytearray()
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def send(self, data: bytes) -> None:
        """Write a request; raises OSError when the child is gone."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        self._proc.stdin.flush()

    def readline(self, timeout: float) -> bytes | None:
        """The next line without its newline; None at end of output, TimeoutError past the deadline."""
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                return line
            _refuse_when_stopping()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self._proc.args!r} did not answer within {timeout:g} s")
            with selectors.DefaultSelector() as selector:
                selector.register(fd, selectors.EVENT_READ)
                if not selector.select(min(left, 0.2)):
                    continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            if len(self._buffer) + len(chunk) > OUTPUT_LIMIT:
                raise OSError(f"{self._proc.args!r} sent a line longer than {OUTPUT_LIMIT} bytes")
            self._buffer += chunk

    def close(self) -> int | None:
        """End the child and its group; returns its exit status (None if it had to be killed)."""
        with self._lock:
            status = self._proc.poll()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            _kill_group(self._proc)
            self._proc.wait()
            with _live_lock:
                _live.pop(self._proc.pid, None)
            return status


def spawn(argv: Sequence[str], *, cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
          stderr_path: Path | None = None) -> Child:
    """Start a long-lived child with request/answer pipes; raises OSError when it cannot start.

    Its stderr goes to ``stderr_path`` (or is dropped): nobody reads it while the child
    lives, and a pipe left unread would block the child once full.
    """
    _refuse_when_stopping()
    err = open(stderr_path, "ab") if stderr_path is not None else None
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env is not None else None,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err if err is not None else subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
    finally:
        if err is not None:
            err.close()
    with _live_lock:
        _live[proc.pid] = proc
    return Child(proc)
