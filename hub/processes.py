"""The processes a hub starts, seen through /proc (Linux): who descends from whom, how much memory and CPU time
each used, and stopping them all by PID, even those that left the hub's process group.

A process is named by (pid, start time) rather than its pid alone, so that a pid the system reused for another
program is never signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["Proc", "descendants", "alive", "stop_tree", "peak_rss_mb", "rss_mb", "cpu_seconds", "environ", "free_port",
           "port_is_free"]

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot): one process, never a reused pid
TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (field 3 onwards), None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # the name may hold spaces and ")": cut after its last ")"


def _start(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None  # field 22, starttime


def descendants(pid: int) -> set[Proc]:
    """Every live process below `pid` (children, grandchildren, ...), whatever their session or group."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))  # field 4, ppid
    found, todo = set(), list(children.get(pid, []))
    while todo:
        child = todo.pop()
        if (start := _start(child)) is not None:
            found.add((child, start))
            todo += children.get(child, [])
    return found


def alive(proc: Proc) -> bool:
    """The process still runs (a zombie, dead but not yet reaped, counts as gone)."""
    fields = _stat(proc[0])
    return fields is not None and int(fields[19]) == proc[1] and fields[0] != "Z"


def _signal_all(procs: set[Proc], sig: int, wait_s: float) -> set[Proc]:
    """Send `sig` to each live process of `procs`, wait up to `wait_s` for them to end; returns those still alive."""
    for proc in procs:
        if alive(proc):
            try:
                os.kill(proc[0], sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + wait_s
    while (left := {p for p in procs if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def stop_tree(popen: subprocess.Popen, known: set[Proc] = frozenset(), grace_s: float = 45) -> set[Proc]:
    """Stop the process we started and everything below it: SIGTERM to it (a hub then stops its learners' servers
    and its proxy), up to `grace_s` to finish, then SIGTERM and SIGKILL, by PID, to any descendant left, including
    those in `known` (seen earlier, perhaps re-parented since). Returns the processes that had to be killed."""
    procs = set(known) | descendants(popen.pid)
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10)
    left = {p for p in procs if alive(p)}
    if _signal_all(left, signal.SIGTERM, 10):
        _signal_all(left, signal.SIGKILL, 5)
    return left


def _status_mb(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):  # "VmHWM:   123456 kB"
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory so far of a live process, MB (VmHWM); None when it is gone."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """Resident memory now, MB (VmRSS); 0 when the process is gone."""
    return _status_mb(pid, "VmRSS") or 0.0


def cpu_seconds(pid: int) -> float | None:
    """CPU time the process has used so far, user + system, in core-seconds; None when it is gone."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS if fields else None  # fields 14 and 15, utime and stime


def environ(pid: int) -> dict[str, str]:
    """The environment a process started with ({} when it is gone or not ours to read)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(ip: str, port: int) -> bool:
    """Nothing listens on `ip`:`port` (so a server can: like servers, ignoring connections that are closing)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True
