"""Where learners wrote, and how much memory and CPU their processes used: the load test's measurements.

`snapshot` records every file (size, modification time) under some folders, `changed` compares two of them:
a learner's processes must change nothing outside that learner's folder. `LearnerProcesses` follows the
hub's processes (/proc) and tells whose each one is, from the JUPYTERHUB_USER its learner's server was given.
"""

from __future__ import annotations

import os
from pathlib import Path

from processes import Proc, descendants, environ, rss_mb

__all__ = ["snapshot", "changed", "LearnerProcesses", "files_under"]


def snapshot(roots: list[Path], skip: list[Path]) -> dict[str, tuple[int, int]]:
    """{path: (size, mtime in ns)} of every file and folder under `roots`, except under `skip` and __pycache__."""
    skip_s = [str(s.resolve()) for s in skip]
    found: dict[str, tuple[int, int]] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__" and str(Path(folder, d).resolve()) not in skip_s]
            for name in files + dirs:
                path = os.path.join(folder, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue  # gone between the listing and now
                found[path] = (st.st_size, 0 if name in dirs else st.st_mtime_ns)  # a folder: its presence only
    return found


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], most: int = 20) -> list[str]:
    """What differs between two snapshots, at most `most` lines: "added PATH", "removed PATH", "changed PATH"."""
    lines = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return lines[:most] + ([f"... and {len(lines) - most} more"] if len(lines) > most else [])


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


class LearnerProcesses:
    """The processes below the hub, by learner; every process ever seen is kept, so that none is left running."""

    def __init__(self, hub_pid: int) -> None:
        self.hub_pid = hub_pid
        self.seen: set[Proc] = set()
        self.owner: dict[Proc, str | None] = {}  # learner name, None for the hub's own (proxy, culler)
        self.total_peak_mb = 0.0  # the most the learners' processes held together at one sampling

    def update(self) -> dict[str, list[int]]:
        """Look again; returns {learner: [pid, ...]} of the live processes."""
        live = descendants(self.hub_pid)
        self.seen |= live
        by_learner: dict[str, list[int]] = {}
        for proc in live:
            if proc not in self.owner:
                self.owner[proc] = environ(proc[0]).get("JUPYTERHUB_USER")
            if self.owner[proc]:
                by_learner.setdefault(self.owner[proc], []).append(proc[0])
        return by_learner

    def sample(self) -> float:
        """The learners' processes' resident memory now, MB, in all; keeps the largest seen."""
        total = sum(rss_mb(pid) for pids in self.update().values() for pid in pids)
        self.total_peak_mb = max(self.total_peak_mb, total)
        return total

    def hub_rss_mb(self) -> float:
        """The hub, its proxy and its culler: the processes no learner owns, MB."""
        self.update()
        own = [p for p, name in self.owner.items() if name is None]
        return rss_mb(self.hub_pid) + sum(rss_mb(p[0]) for p in own)

    def server_and_kernel(self, name: str, kernel_id: str) -> tuple[int | None, int | None]:
        """The pids of `name`'s Jupyter server and of the kernel `kernel_id` (None for one not found)."""
        server = kernel = None
        for pid in self.update().get(name, []):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if f"kernel-{kernel_id}.json" in cmd:
                kernel = pid
            elif "jupyterhub-singleuser" in cmd:
                server = pid
        return server, kernel
