"""`make test-hub`: the course's hub under load. Starts `make hub`'s script on 127.0.0.1 (free ports, its own
hub folder, artifacts/hub-test), with N learners (default 3) on its class list, and:

1. checks that a second start on the same folder is refused, and that a wrong password is;
2. logs every learner in through the hub's API (the first with the workshop password, the others with their
   personal tokens: POST /hub/api/users/<name>/tokens with their name and password) and starts their servers;
3. runs the student copy of notebook 04 top to bottom in the first learner's server alone, then in every
   learner's server at once (through the Jupyter server's kernel API: kernel_run.py); each run must end with
   no error output (the exercises' "Not yet" is expected output, not an error);
4. checks where they wrote: nothing outside their own folders (the shared data, cache and notebooks, the
   project's data/, notebooks/, student/ and artifacts/, the home folder's Jupyter settings and caches unchanged;
   during the first learner's run alone, nothing outside that learner's folder, the other learners' included),
   each kernel's folder and write locations inside its learner's folder, each learner's runs in their own
   folder, the features read from the shared cache (the learners' own caches empty);
5. waits for the idle culler to stop the idle servers (HUB_CULL_IDLE_S=60 here);
6. stops everything it started, by PID, even on failure, and checks that no process and no port is left.

Writes artifacts/hub_load.json: seconds alone and concurrent, the target (the slowest concurrent run within
2 x alone x max(1, learners / cores)), peak memory per learner and in all, core-seconds per run, learners per
core for a given wait, disk per learner. Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from footprint import LearnerProcesses, changed, files_under, snapshot  # noqa: E402
from kernel_run import Server, api, run_notebook  # noqa: E402
from processes import alive, cpu_seconds, environ, free_port, peak_rss_mb, port_is_free, stop_tree  # noqa: E402
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest  # noqa: E402
from workshop import ROOT, Learner, Settings  # noqa: E402

NOTEBOOK = "04_fusion.ipynb"
RUNS = [f"04-{name}" for name in ("text", "image", "late", "concat", "cross")]  # what notebook 04 trains
WAITS_S = (60, 120, 300)  # waits a learner might accept for the notebook's Run All, for the sizing table


def hub_environment(hub_dir: Path, learners: int, cull_idle_s: int) -> tuple[dict[str, str], list[Learner]]:
    """The environment `hub/start.py` runs with (free ports, a made-up password) and the class list it reads:
    learner-1 logs in with the workshop password, the others with personal tokens."""
    class_list = [Learner(f"learner-{i}", None if i == 1 else secrets.token_urlsafe(12))
                  for i in range(1, learners + 1)]
    (hub_dir / "learners.txt").write_text("".join(f"{l.name} {l.token or ''}\n" for l in class_list))
    env = dict(os.environ, HUB_DIR=str(hub_dir), HUB_LEARNERS=str(hub_dir / "learners.txt"), HUB_IP="127.0.0.1",
               HUB_PASSWORD=secrets.token_urlsafe(12), HUB_PORT=str(free_port()), HUB_API_PORT=str(free_port()),
               HUB_PROXY_API_PORT=str(free_port()), HUB_THREADS="1", HUB_CULL_IDLE_S=str(cull_idle_s),
               HUB_ACTIVITY_S="10")
    return env, class_list


def start_hub(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, str(ROOT / "hub" / "start.py")], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_until_up(hub: subprocess.Popen, url: str, log: Path, timeout: float = 600) -> None:
    """Until the hub answers (the first start prepares the shared folders: up to a few minutes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise RuntimeError(f"hub/start.py ended with status {hub.returncode}:\n{log.read_text()[-3000:]}")
        if "ready: " in log.read_text():
            return
        time.sleep(0.5)
    raise RuntimeError(f"the hub did not answer within {timeout:.0f} s; see {log}")


def second_start(env: dict[str, str]) -> str | None:
    """A problem, or None when a second start on the same hub folder says one runs and exits non-zero."""
    out = subprocess.run([sys.executable, str(ROOT / "hub" / "start.py")], env=env, capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0 and "already runs" in out.stderr:
        return None
    return f"a second start was not refused (status {out.returncode}): {(out.stdout + out.stderr)[-500:]}"


async def login(url: str, name: str, password: str) -> str | None:
    """The learner's API token, got through the hub's API with their name and password; None when refused."""
    body = {"auth": {"username": name, "password": password}, "note": "make test-hub", "expires_in": 3600}
    try:
        answer = await AsyncHTTPClient().fetch(HTTPRequest(f"{url}/hub/api/users/{name}/tokens", method="POST",
                                                           body=json.dumps(body), request_timeout=60))
    except HTTPClientError as refused:
        if refused.code == 403:
            return None
        raise
    return json.loads(answer.body)["token"]


async def start_server(url: str, name: str, token: str, timeout: float = 180) -> Server:
    """Ask the hub for the learner's server (with the learner's own token) and wait until it is ready."""
    hub = Server(f"{url}/hub", token)
    if not (await api(hub, "GET", f"/api/users/{name}"))["servers"]:  # not started yet
        await api(hub, "POST", f"/api/users/{name}/server")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = (await api(hub, "GET", f"/api/users/{name}"))["servers"].get("")
        if server and server["ready"]:
            return Server(f"{url}/user/{name}", token)
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{name}'s server was not ready within {timeout:.0f} s")


async def measured_run(server: Server, name: str, procs: LearnerProcesses, home: Path) -> dict[str, Any]:
    """Notebook 04 in the learner's server; then, before its kernel ends, what the kernel and server used and
    where the kernel was told to write. A failure is reported in the row, so the other learners' runs go on."""
    try:
        run = await run_notebook(server, NOTEBOOK)
    except Exception as error:  # the server refused or vanished: no kernel to measure
        return {"learner": name, "ok": False, "seconds": None, "errors": [f"{type(error).__name__}: {error}"],
                "kernel_writes_outside_own_folder": [], "kernel_core_seconds": None, "kernel_peak_rss_mb": None,
                "server_peak_rss_mb": None}
    server_pid, kernel_pid = procs.server_and_kernel(name, run.kernel_id)
    row = {"learner": name, "ok": run.ok, "seconds": round(run.seconds, 1), "cells": f"{run.ran}/{run.cells}",
           "errors": run.errors, "stderr_outputs": run.stderr_outputs,
           "kernel_peak_rss_mb": round(peak_rss_mb(kernel_pid) or 0, 1) if kernel_pid else None,
           "server_peak_rss_mb": round(peak_rss_mb(server_pid) or 0, 1) if server_pid else None,
           "kernel_core_seconds": round(cpu_seconds(kernel_pid) or 0, 1) if kernel_pid else None,
           "kernel_writes_outside_own_folder": where_kernel_writes(kernel_pid, home) if kernel_pid else ["no kernel"]}
    if run.session_id:
        await api(server, "DELETE", f"/api/sessions/{run.session_id}")
    return row


def where_kernel_writes(pid: int, home: Path) -> list[str]:
    """The kernel's folder and write locations that lie outside the learner's folder `home` (none expected)."""
    env, inside = environ(pid), lambda p: Path(p).resolve().is_relative_to(home.resolve())
    places = {"cwd": os.readlink(f"/proc/{pid}/cwd")}
    places |= {k: env.get(k, "unset") for k in ("HOME", "TMPDIR", "MEMELIB_ARTIFACTS_DIR", "MEMELIB_CACHE_DIR")}
    return [f"{k}={v}" for k, v in places.items() if not inside(v)]


async def sampled(procs: LearnerProcesses, work: Any) -> Any:
    """Await `work` while sampling the learners' memory every half second."""
    task = asyncio.ensure_future(work)
    while not task.done():
        procs.sample()
        await asyncio.wait([task], timeout=0.5)
    return task.result()


async def wait_culled(url: str, learners: list[Learner], tokens: dict[str, str], timeout: float) -> float | None:
    """Seconds until the idle culler has stopped every learner's server; None if not within `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        states = [await api(Server(f"{url}/hub", tokens[l.name]), "GET", f"/api/users/{l.name}") for l in learners]
        if not any(s["servers"] for s in states):
            return round(time.monotonic() - t0, 1)
        await asyncio.sleep(2)
    return None


async def scenario(settings: Settings, env: dict[str, str], learners: list[Learner], procs: LearnerProcesses,
                   report: dict[str, Any], roots: list[Path], skip: list[Path]) -> None:
    """Steps 1 to 5 of the docstring; fills `report`, appends to report["problems"]."""
    url, problems, home = settings.url, report["problems"], lambda name: settings.learners / name
    if problem := second_start(env):
        problems.append(problem)
    if await login(url, learners[0].name, "not-the-password") is not None:
        problems.append("a wrong password was accepted")
    if len(learners) > 1 and await login(url, learners[1].name, env["HUB_PASSWORD"]) is not None:
        problems.append(f"{learners[1].name} has a personal token, yet the workshop password let them in")
    tokens = {l.name: await login(url, l.name, l.token or env["HUB_PASSWORD"]) for l in learners}
    if not all(tokens.values()):
        raise RuntimeError(f"login refused for {[n for n, t in tokens.items() if not t]}")
    first = learners[0].name
    before = snapshot(roots, skip + [home(first)])  # the other learners' folders included
    solo = await sampled(procs, measured_run(await start_server(url, first, tokens[first]), first, procs, home(first)))
    report["alone"] = solo
    if moved := changed(before, snapshot(roots, skip + [home(first)])):
        problems.append(f"while {first} ran alone, files outside their folder changed: {moved}")
    servers = [await start_server(url, l.name, tokens[l.name]) for l in learners]
    procs.total_peak_mb = 0.0  # the concurrent run's peak, not the lone one's
    rows = await sampled(procs, asyncio.gather(*(measured_run(s, l.name, procs, home(l.name))
                                                 for s, l in zip(servers, learners))))
    report.update(concurrent=rows, total_peak_rss_mb=round(procs.total_peak_mb, 1),
                  hub_rss_mb=round(procs.hub_rss_mb(), 1))
    report["culled_after_idle_s"] = await wait_culled(url, learners, tokens, 4 * settings.cull_idle_s)
    if report["culled_after_idle_s"] is None:
        problems.append(f"the idle culler did not stop the servers within {4 * settings.cull_idle_s} s")


def folder_problems(settings: Settings, learners: list[Learner]) -> tuple[list[str], dict[str, float]]:
    """Each learner's runs in their own folder and no feature in their own cache (all read from the shared one);
    returns the problems and each learner's folder size in MB."""
    problems, sizes = [], {}
    for learner in learners:
        home = settings.learners / learner.name
        missing = [r for r in RUNS if not (home / "artifacts" / "runs" / r / "config.json").is_file()]
        if missing:
            problems.append(f"{learner.name}: no run folder {missing} in {home / 'artifacts' / 'runs'}")
        if own := files_under(home / "artifacts" / "cache"):
            problems.append(f"{learner.name} extracted features the shared cache holds: {[p.name for p in own]}")
        sizes[learner.name] = round(sum(p.stat().st_size for p in files_under(home)) / 2**20, 1)
    return problems, sizes


def summary(report: dict[str, Any], cores: int) -> dict[str, Any]:
    """The figures hub_load.json leads with, from the runs' rows."""
    rows, solo = report["concurrent"], report["alone"]
    n, alone = len(rows), solo["seconds"]
    limit = 2 * alone * max(1.0, n / cores)
    slowest = max(r["seconds"] for r in rows)
    core_s = sum(r["kernel_core_seconds"] or 0 for r in rows) / n
    return {"learners": n, "cores": cores, "all_ok": False, "seconds_alone": alone,
            "seconds_concurrent_max": slowest, "seconds_concurrent": [r["seconds"] for r in rows],
            "target_seconds": round(limit, 1), "target_met": slowest <= limit,
            "per_learner_peak_rss_mb": round(max((r["kernel_peak_rss_mb"] or 0) + (r["server_peak_rss_mb"] or 0)
                                                 for r in rows), 1),
            "total_peak_rss_mb": report["total_peak_rss_mb"], "hub_rss_mb": report["hub_rss_mb"],
            "core_seconds_per_run": round(core_s, 1), "core_seconds_alone": solo["kernel_core_seconds"],
            "learners_per_core_for_wait_s": {str(w): round(w / core_s, 1) if w >= alone else None for w in WAITS_S}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=3)
    ap.add_argument("--hub-dir", default=str(ROOT / "artifacts" / "hub-test"))
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "hub_load.json"))
    ap.add_argument("--cull-idle", type=int, default=60, help="HUB_CULL_IDLE_S for this hub")
    args = ap.parse_args(argv)
    hub_dir = Path(args.hub_dir).resolve()
    for old in ("state", "learners"):  # shared/ stays: prepared once
        shutil.rmtree(hub_dir / old, ignore_errors=True)
    (hub_dir / "state").mkdir(parents=True)
    env, learners = hub_environment(hub_dir, args.learners, args.cull_idle)
    settings = Settings.from_env(env)
    # where a learner's kernel would write if the hub's settings did not reach it: the project's data, notebooks
    # and artifacts, the home folder's settings and caches (the project's source is left out: people edit it)
    roots = ([ROOT / d for d in ("data", "notebooks", "student", "artifacts")] + [hub_dir]
             + [Path.home() / d for d in (".cache/memelib", ".jupyter", ".ipython", ".config/matplotlib")])
    skip = [settings.state]  # the hub's own writes: its database, logs, pid files
    report: dict[str, Any] = {"problems": [], "notebook": f"{NOTEBOOK} (student copy)", "threads_per_learner": 1,
                              "cull_idle_s": args.cull_idle}
    cores = len(os.sched_getaffinity(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a CI timeout still runs the clean-up below
    log = settings.state / "start.log"
    hub = start_hub(env, log)
    procs = LearnerProcesses(hub.pid)
    print(f"hub/start.py pid {hub.pid} on {settings.url}, {len(learners)} learners, log {log}", flush=True)
    try:
        wait_until_up(hub, settings.url, log)
        before = snapshot(roots, skip + [settings.learners])  # after the first start prepared shared/
        asyncio.run(scenario(settings, env, learners, procs, report, roots, skip))
        if moved := changed(before, snapshot(roots, skip + [settings.learners])):
            report["problems"].append(f"files outside the learners' folders changed: {moved} (another program "
                                      "writing in the project during the test, e.g. a notebook test, shows here too)")
    except Exception as error:  # reported in the JSON, then the clean-up
        report["problems"].append(f"{type(error).__name__}: {error}")
    finally:
        procs.update()
        killed = stop_tree(hub, procs.seen)
        left = [p for p in procs.seen if alive(p)] + ([hub.pid] if hub.poll() is None else [])
        ports = [p for p in (settings.port, settings.api_port, settings.proxy_api_port)
                 if not port_is_free("127.0.0.1", p)]
        report["stopped"] = {"processes_seen": len(procs.seen), "killed_by_pid_after_the_hub_stopped": len(killed),
                             "left_running": len(left), "ports_still_bound": ports}
        if left or ports:
            report["problems"].append(f"left behind: processes {left}, ports {ports}")
    return finish(report, settings, learners, cores, Path(args.out))


def finish(report: dict[str, Any], settings: Settings, learners: list[Learner], cores: int, out: Path) -> int:
    """Checks on the folders, the summary, the JSON file and the verdict."""
    problems, sizes = folder_problems(settings, learners)
    report["problems"] += problems
    rows = ([report["alone"]] if "alone" in report else []) + report.get("concurrent", [])
    for row in rows:
        report["problems"] += [f"{row['learner']}: {e}" for e in row["errors"]]
        if row["kernel_writes_outside_own_folder"]:
            report["problems"].append(f"{row['learner']}'s kernel: {row['kernel_writes_outside_own_folder']}")
    done = "concurrent" in report and all(r["seconds"] is not None for r in rows)  # every run timed
    head = summary(report, cores) if done else {"learners": len(learners), "cores": cores}
    if done and not head["target_met"]:
        report["problems"].append(f"the slowest concurrent run took {head['seconds_concurrent_max']} s, over the "
                                  f"target {head['target_seconds']} s")
    head["all_ok"] = not report["problems"] and all(r["ok"] for r in rows) and done
    result = {**head, "disk_per_learner_mb": sizes, **report}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in head.items()}, indent=1))
    for problem in report["problems"]:
        print(f"FAIL: {problem}")
    print(f"hub load test: {'PASS' if head['all_ok'] else 'FAIL'}; {out}", flush=True)
    return 0 if head["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
