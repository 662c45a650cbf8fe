"""Run a notebook top to bottom in a learner's Jupyter server, through the server's REST and kernel APIs, as a
browser would: a session for the notebook (its kernel starts in the notebook's folder), then every code cell
sent as an `execute_request` over the kernel's websocket, in order, each waited for, while the kernel's state
is asked for every 10 s as JupyterLab's open page does. Used by load_test.py.

Only the outcome is kept: per cell, error outputs (`error` messages, an `execute_reply` that is not "ok", or
a traceback printed to stderr) and how many stderr outputs there were (warnings are not errors). Stops at the
first failing cell, as Run All does.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

__all__ = ["Server", "NotebookRun", "run_notebook", "api"]


@dataclass
class Server:
    base: str  # the server's URL through the hub's proxy, e.g. http://127.0.0.1:8000/user/ana
    token: str  # the learner's API token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


@dataclass
class NotebookRun:
    path: str  # the notebook, relative to the server's root
    session_id: str = ""
    kernel_id: str = ""
    cells: int = 0  # code cells in the notebook
    ran: int = 0  # code cells that ran
    seconds: float = 0.0  # from asking for the kernel to the last cell's reply
    errors: list[str] = field(default_factory=list)  # "cell 7: ValueError: ..."
    stderr_outputs: int = 0  # warnings and the like, not errors

    @property
    def ok(self) -> bool:
        return not self.errors and self.ran == self.cells > 0


async def api(server: Server, method: str, path: str, body: Any = None, timeout: float = 120) -> Any:
    """A request to the server's REST API; the decoded JSON answer (None when empty)."""
    request = HTTPRequest(f"{server.base}{path}", method=method, headers=server.headers, request_timeout=timeout,
                          body=None if body is None and method != "POST" else json.dumps(body or {}))
    answer = await AsyncHTTPClient().fetch(request)
    return json.loads(answer.body) if answer.body else None


def _message(code: str, session: str) -> dict[str, Any]:
    header = {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request", "username": "load-test", "session": session,
              "date": datetime.now(timezone.utc).isoformat(), "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}


async def execute(ws: WebSocketClientConnection, code: str, session: str, deadline: float) -> tuple[list[str], int]:
    """Run one cell; its error outputs and the number of its stderr outputs, once its reply and idle status came."""
    msg = _message(code, session)
    await ws.write_message(json.dumps(msg))
    errors, stderr, replied, idle = [], 0, False, False
    while not (replied and idle):
        raw = await asyncio.wait_for(ws.read_message(), max(1.0, deadline - time.monotonic()))
        if raw is None:
            raise ConnectionError("the kernel's websocket closed")
        if isinstance(raw, bytes):  # a message with binary buffers (widgets): not ours to read
            continue
        reply = json.loads(raw)
        kind, content = reply["msg_type"], reply["content"]
        if kind == "status" and content["execution_state"] in ("dead", "restarting"):
            raise RuntimeError(f"the kernel is {content['execution_state']} (out of memory?)")
        if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        if kind == "error":
            errors.append(f"{content['ename']}: {content['evalue']}"[:300])
        elif kind == "stream" and content["name"] == "stderr":
            stderr += 1
            if "Traceback (most recent call last)" in content["text"]:
                errors.append("traceback on stderr: " + content["text"][-300:])
        elif kind == "execute_reply":
            replied = True
            if content["status"] != "ok" and not errors:
                errors.append(f"execute_reply status {content['status']}")
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    return errors, stderr


async def poll_kernel(server: Server, kernel_id: str, every_s: float = 10) -> None:
    """Ask for the kernel's state every `every_s` seconds, as JupyterLab's page does while it is open: the server
    counts such requests as activity, so the idle culler leaves it alone while a cell computes without output."""
    while True:
        await asyncio.sleep(every_s)
        await api(server, "GET", f"/api/kernels/{kernel_id}")


async def run_notebook(server: Server, path: str, timeout: float = 600) -> NotebookRun:
    """Run the notebook at `path` (relative to the server's root) in a new kernel; the session is left open, so
    its kernel's memory can still be read: end it with `api(server, "DELETE", f"/api/sessions/{run.session_id}")`."""
    run, t0 = NotebookRun(path), time.monotonic()
    deadline = t0 + timeout
    notebook = await api(server, "GET", f"/api/contents/{path}?content=1")
    cells = [c["source"] for c in notebook["content"]["cells"] if c["cell_type"] == "code"]
    run.cells = len(cells)
    body = {"path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook", "kernel": {"name": "python3"}}
    session = await api(server, "POST", "/api/sessions", body)
    run.session_id, run.kernel_id = session["id"], session["kernel"]["id"]
    ws_url = server.base.replace("http", "ws", 1) + f"/api/kernels/{run.kernel_id}/channels"
    ws = await websocket_connect(HTTPRequest(ws_url, headers=server.headers, request_timeout=60))
    page = asyncio.ensure_future(poll_kernel(server, run.kernel_id))
    try:
        for n, code in enumerate(cells, 1):
            errors, stderr = await execute(ws, "".join(code) if isinstance(code, list) else code, run.session_id,
                                           deadline)
            run.ran, run.stderr_outputs = n, run.stderr_outputs + stderr
            if errors:
                run.errors += [f"code cell {n}: {e}" for e in errors]
                break
    except (asyncio.TimeoutError, ConnectionError, RuntimeError) as problem:
        run.errors.append(f"code cell {run.ran + 1}: {type(problem).__name__}: {problem or 'timed out'}")
    finally:
        page.cancel()
        ws.close()
    run.seconds = time.monotonic() - t0
    return run
