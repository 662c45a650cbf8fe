"""Every course notebook run in JupyterLab in a real (headless) Chromium, and notebook 06's widgets used.

    .venv/bin/python browser_tests/run_notebooks.py                  # what `make test-browser` runs
    .venv/bin/python browser_tests/run_notebooks.py --break-slider   # proves the slider check can fail
    .venv/bin/python browser_tests/run_notebooks.py --only 06        # just the notebooks whose name has "06"

It copies notebooks/0*.ipynb, outputs and execution counts stripped, to artifacts/browser/nb/ (inside the
project, so `memelib.course.setup()` finds the project root; the committed notebooks are never opened or
saved), starts JupyterLab on that folder (its own port and token, settings in artifacts/browser/home/),
and for each notebook: opens it, clicks Run > Run All Cells, waits until the kernel is idle and every code
cell has an execution count, and checks that no cell has an error output, no widget failed to display and
the browser console logged no widget error. Then, in 06_error_analysis, it moves the threshold slider
with the keyboard (the confusion-matrix counts and the metrics must change), clicks a cell of the matrix
(the gallery must show that cell's memes, with images), clicks "why?" under the first of them (coloured
words and a heat map must appear), uploads a meme PNG into "try your own meme", types a caption, clicks
Predict (the result must show "P(hateful) =") and "why?" again. Screenshots go to
artifacts/browser/<notebook>.png (and <notebook>-*.png after the interactions). Exit status 0 when every
check passes, 1 otherwise. The JupyterLab server is always stopped, by its PID.

--break-slider adds a cell `explorer.slider.unobserve_all()` through the browser before using the
widgets, so moving the slider no longer updates anything: the slider check must then fail (exit 1).

Needs Playwright (pip install playwright) and Debian's Chromium (/usr/bin/chromium); it downloads no
browser. `make test-browser` installs both when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
WIDGET_ERROR = re.compile(r"widget|ipywidgets|jupyter-widgets", re.IGNORECASE)

# JavaScript: the state of the notebook in the current tab, read from JupyterLab's model and from the page.
NOTEBOOK_STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) return null;
  const cells = [...panel.content.model.cells].filter(c => c.type === 'code');
  const errors = [];
  cells.forEach((c, i) => {
    for (const o of c.outputs.toJSON())
      if (o.output_type === 'error') errors.push(`code cell ${i + 1}: ${o.ename}: ${o.evalue}`);
  });
  const prompts = [...panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  // error outputs render like stderr (data-mime-type application/vnd.jupyter.stderr): tell them by the traceback
  const tracebacks = [...panel.node.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .filter(e => /Traceback \\(most recent call last\\)/.test(e.textContent)).length;
  const widgetFailures = [...panel.node.querySelectorAll('.jp-OutputArea-output')]
      .filter(e => /Error displaying widget|Failed to load model class|Error rendering/.test(e.textContent))
      .map(e => e.textContent.trim().slice(0, 200));
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  return {
    total: cells.length,
    counted: cells.filter(c => c.executionCount !== null && c.executionCount !== undefined).length,
    running: prompts.filter(p => p.includes('*')).length,
    status: indicator ? indicator.getAttribute('data-status') : null,
    kernel: panel.sessionContext.session && panel.sessionContext.session.kernel
        ? panel.sessionContext.session.kernel.status : null,
    errors, tracebacks, widgetFailures,
  };
}"""


class CheckFailed(AssertionError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_notebooks(names: list[Path], dest: Path) -> None:
    """The notebooks, outputs and execution counts removed, into dest (emptied first)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for src in names:
        nb = json.loads(src.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        (dest / src.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")


def write_lab_settings(config_dir: Path) -> None:
    """Every cell attached to the page (no windowing), no news or update pop-up."""
    settings = config_dir / "lab" / "user-settings" / "@jupyterlab"
    files = {"notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
             "apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False}}
    for name, value in files.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value), encoding="utf-8")


def start_lab(nb_dir: Path, home: Path, port: int, token: str, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               JUPYTER_CONFIG_DIR=str(home / "jupyter"), JUPYTER_DATA_DIR=str(home / "jupyter-data"),
               IPYTHONDIR=str(home / "ipython"), MPLCONFIGDIR=str(home / "matplotlib"))
    env.pop("JUPYTERLAB_SETTINGS_DIR", None)
    env.pop("JUPYTERLAB_WORKSPACES_DIR", None)
    write_lab_settings(home / "jupyter")
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [str(jupyter), "lab", "--no-browser", "--allow-root", "--ip", "127.0.0.1", "--port", str(port),
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nb_dir}",
           "--ServerApp.port_retries=0", "--LabApp.expose_app_in_browser=True"]
    log = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_server(proc: subprocess.Popen, base: str, token: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s")


def stop_lab(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)  # by PID: the server we started, nothing else
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def shutdown_kernels(base: str, token: str) -> None:
    """Shut down every session of our server, so the next notebook starts with free memory."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as r:
        sessions = json.load(r)
    for s in sessions:
        req = urllib.request.Request(f"{base}/api/sessions/{s['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def screenshot_notebook(page, path: Path) -> None:
    """The whole notebook in one image: the viewport grown to the notebook's height, then put back."""
    size = page.viewport_size
    height = page.evaluate("""() => {
      const content = window.jupyterapp.shell.currentWidget.content;
      const scroller = content.node.querySelector('.jp-WindowedPanel-outer') || content.node;  // what scrolls
      const below = window.innerHeight - scroller.getBoundingClientRect().bottom;  // status bar and margins
      return Math.ceil(scroller.getBoundingClientRect().top + scroller.scrollHeight + below + 20);
    }""")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 16000))})
    page.wait_for_timeout(800)
    page.evaluate("""() => {  // from the first cell, wherever Run All or the widgets left the scroll
      const node = window.jupyterapp.shell.currentWidget.content.node;
      (node.querySelector('.jp-WindowedPanel-outer') || node).scrollTop = 0;
    }""")
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    page.wait_for_timeout(300)


def wait_until_run(page, timeout: float, started: float) -> dict:
    """Poll until the kernel is idle, no cell is queued or running, and every code cell has an execution
    count (or an error stopped Run All). Returns the last state."""
    deadline, calm, state = time.time() + timeout, 0, None
    while time.time() < deadline:
        state = page.evaluate(NOTEBOOK_STATE_JS)
        done = (state and state["status"] == "idle" and state["kernel"] == "idle" and state["running"] == 0
                and (state["counted"] == state["total"] or state["errors"]) and time.time() - started > 1.5)
        calm = calm + 1 if done else 0
        if state and state["counted"] == 0 and state["running"] == 0 and time.time() - started > 30:
            raise CheckFailed(f"no cell started within 30 s of Run All Cells: {state}")
        if calm >= 3:  # stable for three polls in a row
            return state
        page.wait_for_timeout(500)
    raise CheckFailed(f"not finished after {timeout:.0f} s: {state}")


def run_all(page) -> float:
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    return time.time()


def texts(page, selectors: list[str]) -> dict[str, str]:
    return {s: page.inner_text(s).strip() for s in selectors}


def add_and_run_cell(page, code: str, timeout: float) -> None:
    """Through the keyboard, as a learner would: select the last cell, insert a cell below, type, Ctrl+Enter."""
    last = page.locator(".jp-Notebook .jp-Cell").last
    last.scroll_into_view_if_needed()
    last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type(code)
    page.wait_for_timeout(200)
    typed = page.locator(".jp-Notebook .jp-Cell").last.locator(".cm-content").inner_text().strip()
    if typed != code:
        raise CheckFailed(f"the added cell reads {typed!r}, not {code!r}")
    started = time.time()
    page.keyboard.press("Control+Enter")  # run it and stay (Shift+Enter would add an empty cell)
    state = wait_until_run(page, timeout, started)
    if state["errors"]:
        raise CheckFailed(f"the added cell failed: {state['errors']}")


def wait_for_why(page, scope: str) -> str:
    """After a click on "why?" inside `scope`: the panel shows each word coloured and the heat map drawn
    (a loaded image); returns what it shows."""
    panel = f"{scope} .memelib-why-panel"
    try:
        page.wait_for_function("""(panel) => {
            const p = document.querySelector(panel);
            const img = p && p.querySelector('.memelib-why-heat img, img.memelib-why-heat');
            return p && p.textContent.includes('P(hateful) =') && p.querySelectorAll('.memelib-why-word').length > 0
                && img && img.complete && img.naturalWidth > 0;
          }""", arg=panel, timeout=60000)
    except PlaywrightTimeout:
        shown = page.inner_text(panel).strip() if page.locator(panel).count() else "no panel"
        raise CheckFailed(f"why? in {scope}: no coloured words and heat map after 60 s; the panel shows {shown!r}") from None
    words = page.evaluate("(panel) => [...document.querySelectorAll(panel + ' .memelib-why-word')]"
                          ".map(w => w.textContent + ' ' + w.title + ' ' + getComputedStyle(w).backgroundColor)", panel)
    if not all("rgba(" in w for w in words):
        raise CheckFailed(f"why? in {scope}: words without a colour: {words}")
    title = page.inner_text(f"{panel} .widget-html-content >> nth=0").strip()
    return f"{title!r}; {len(words)} coloured words ({'; '.join(words)}); heat map shown"


def use_widgets(page, out: Path, stem: str) -> list[str]:
    """Notebook 06: slider, matrix buttons, gallery, try-your-own-meme. Returns what was checked."""
    done = []
    cells = [f".memelib-cell-{t}-{p}" for t in (0, 1) for p in (0, 1)]
    watched = cells + [".memelib-metrics"]
    explorer = page.locator(".memelib-explorer")
    explorer.scroll_into_view_if_needed()
    readout = ".memelib-threshold .widget-readout"

    # (a) the slider: keyboard moves must change the counts and the metrics
    for keys, label in ((["ArrowRight"] * 10, "right"), (["ArrowLeft"] * 20, "left")):
        before = texts(page, watched)
        value_before = page.inner_text(readout).strip()
        handle = page.locator(".memelib-threshold .noUi-handle")
        handle.focus()
        for key in keys:
            page.keyboard.press(key)
            page.wait_for_timeout(60)
        deadline = time.time() + 15
        while time.time() < deadline:
            after = texts(page, watched)
            if after[".memelib-metrics"] != before[".memelib-metrics"] and any(after[c] != before[c] for c in cells):
                break
            page.wait_for_timeout(250)
        value_after = page.inner_text(readout).strip()
        if value_after == value_before:
            raise CheckFailed(f"slider: {len(keys)} x {keys[0]} did not move the slider (readout {value_before})")
        unchanged = [s for s in watched if after[s] == before[s]]
        if after[".memelib-metrics"] == before[".memelib-metrics"] or all(after[c] == before[c] for c in cells):
            flat = lambda d: {k.replace(".memelib-", ""): v.replace("\n", " ") for k, v in d.items()}
            raise CheckFailed(f"slider moved {label} from {value_before} to {value_after} but the confusion matrix "
                              f"and metrics did not follow; unchanged: {unchanged}; before {flat(before)}; "
                              f"after {flat(after)}")
        counts = " | ".join(after[c].replace("\n", " ") for c in cells)
        done.append(f"slider {label} {value_before} -> {value_after}: cells now {counts}")
    explorer.screenshot(path=str(out / f"{stem}-slider.png"))

    # (b) a click on a cell of the matrix fills the gallery with that cell's memes
    counts = {c: int(re.findall(r"\d+", page.inner_text(c))[-1]) for c in cells}
    target = next(c for c in (".memelib-cell-1-1", ".memelib-cell-0-0", ".memelib-cell-0-1", ".memelib-cell-1-0")
                  if counts[c] > 0)
    name = page.inner_text(target).split("\n")[0].strip()
    expected = min(counts[target], 12)  # the notebook's explorer shows at most 12 memes
    page.click(target)
    try:  # the cards' views are created one by one: wait for all of them and their images
        page.wait_for_function("""([name, n]) => {
            const note = document.querySelector('.memelib-gallery-note');
            const imgs = [...document.querySelectorAll('.memelib-gallery .memelib-meme img')];
            return note && note.textContent.includes(name) && imgs.length === n
                && imgs.every(i => i.complete && i.naturalWidth > 0);
          }""", arg=[name, expected], timeout=15000)
    except PlaywrightTimeout:
        pass  # reported below with what is shown
    n_cards = page.locator(".memelib-gallery .memelib-meme").count()
    if n_cards != expected:
        raise CheckFailed(f"gallery: {n_cards} memes shown for {name} ({counts[target]} in the cell, at most 12 shown)")
    loaded = page.evaluate("() => [...document.querySelectorAll('.memelib-gallery .memelib-meme img')]"
                           ".filter(i => i.complete && i.naturalWidth > 0).length")
    if loaded != n_cards:
        raise CheckFailed(f"gallery: only {loaded} of the {n_cards} memes shown have a visible image")
    if "memelib-selected" not in (page.get_attribute(target, "class") or ""):
        raise CheckFailed(f"gallery: the clicked button {target} is not highlighted")
    done.append(f"clicked {target} ({name}, {counts[target]}): gallery shows {n_cards} memes with images; "
                f"note: {page.inner_text('.memelib-gallery-note').strip()}")
    page.locator(".memelib-gallery").scroll_into_view_if_needed()
    explorer.screenshot(path=str(out / f"{stem}-gallery.png"))

    # (b2) "why?" under the first meme of the gallery: coloured words and a heat map appear below it
    page.click(".memelib-gallery .memelib-meme .memelib-why >> nth=0")
    done.append("gallery why?: " + wait_for_why(page, ".memelib-explorer"))
    page.locator(".memelib-explorer .memelib-why-panel").scroll_into_view_if_needed()
    explorer.screenshot(path=str(out / f"{stem}-gallery-why.png"))

    # (c) try your own meme: upload a PNG, type a caption, click Predict
    record = json.loads((ROOT / "data" / "synthmemes" / "dev.jsonl").read_text().splitlines()[0])
    image = ROOT / "data" / "synthmemes" / record["img"]
    tester = page.locator(".memelib-tester")
    tester.scroll_into_view_if_needed()
    # ipywidgets 8's FileUpload keeps its <input type=file> out of the page: click the button, as a user
    # would, and answer the file chooser that opens
    with page.expect_file_chooser(timeout=15000) as chooser:
        page.click(".memelib-upload")
    chooser.value.set_files(str(image))
    page.wait_for_function("""() => {
        const img = document.querySelector('.memelib-preview img, img.memelib-preview');
        return img && img.complete && img.naturalWidth > 0;
      }""", timeout=15000)
    page.wait_for_function("() => document.querySelector('.memelib-result').textContent.includes('Now type the caption')",
                           timeout=15000)
    page.fill(".memelib-caption input", record["text"])
    page.wait_for_timeout(300)
    page.click(".memelib-predict")
    page.wait_for_function("() => document.querySelector('.memelib-result').textContent.includes('P(hateful) =')",
                           timeout=30000)
    result = page.inner_text(".memelib-result").strip()
    if not re.search(r"P\(hateful\) = \d\.\d\d -> (hateful|not hateful)", result):
        raise CheckFailed(f"try your own meme: unexpected result {result!r}")
    done.append(f"uploaded {image.relative_to(ROOT)} with caption {record['text']!r}: {result!r}")
    tester.screenshot(path=str(out / f"{stem}-tester.png"))
    page.click(".memelib-tester .memelib-why")
    done.append("tester why?: " + wait_for_why(page, ".memelib-tester"))
    tester.screenshot(path=str(out / f"{stem}-tester-why.png"))
    return done


def check_notebook(page, base: str, token: str, nb: Path, out: Path, args, console: list[str]) -> list[str]:
    notes = []
    # a workspace of its own, so JupyterLab does not reopen the previous notebooks' tabs
    page.goto(f"{base}/lab/workspaces/browser-test-{nb.stem}/tree/{nb.name}?reset&token={token}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.content "
                           "&& window.jupyterapp.shell.currentWidget.content.model", timeout=60000)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60000)
    page.wait_for_function("() => { const s = window.jupyterapp.shell.currentWidget.sessionContext;"
                           " return s.session && s.session.kernel && s.session.kernel.status === 'idle'; }",
                           timeout=60000)
    current = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
    tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").count()
    if current != nb.name or tabs != 1:
        raise CheckFailed(f"expected one tab, {nb.name}; the current tab is {current}, {tabs} tab(s) open")
    started = run_all(page)
    state = wait_until_run(page, args.timeout, started)
    seconds = time.time() - started
    notes.append(f"ran {state['counted']}/{state['total']} code cells in {seconds:.1f} s")
    screenshot_notebook(page, out / f"{nb.stem}.png")
    problems = []
    if state["errors"]:
        problems.append(f"error outputs: {state['errors']}")
    if state["tracebacks"]:
        problems.append(f"{state['tracebacks']} output(s) show a traceback")
    if state["counted"] != state["total"]:
        problems.append(f"only {state['counted']} of {state['total']} code cells ran")
    if state["widgetFailures"]:
        problems.append(f"widgets failed to display: {state['widgetFailures']}")
    if problems:
        raise CheckFailed("; ".join(problems))
    if nb.stem.startswith("06"):
        if page.locator(".memelib-explorer").count() != 1 or page.locator(".memelib-tester").count() != 1:
            raise CheckFailed("the ThresholdExplorer or the MemeTester widget is not displayed")
        if args.break_slider:
            add_and_run_cell(page, "explorer.slider.unobserve_all()", 60)
            notes.append("--break-slider: ran `explorer.slider.unobserve_all()` in a cell added in the browser")
        notes += use_widgets(page, out, nb.stem)
        screenshot_notebook(page, out / f"{nb.stem}-after.png")
    widget_errors = [m for m in console if WIDGET_ERROR.search(m)]
    if widget_errors:
        raise CheckFailed(f"widget errors in the browser console: {widget_errors}")
    return notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "browser"), help="screenshots and scratch files")
    ap.add_argument("--only", default="", help="run only the notebooks whose file name contains this")
    ap.add_argument("--notebook", action="append", default=[],
                    help="run this notebook instead of notebooks/0*.ipynb (repeatable; e.g. to see a failing one)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds one notebook may take to run")
    ap.add_argument("--break-slider", action="store_true",
                    help="unobserve the slider before using it: the slider check must fail")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    out = Path(args.out).resolve()
    if ROOT not in out.parents:
        ap.error("--out must be inside the project (the notebooks find the project root from their folder)")
    names = [Path(p).resolve() for p in args.notebook] or sorted((ROOT / "notebooks").glob("0*.ipynb"))
    names = [p for p in names if args.only in p.name]
    if not names:
        ap.error(f"no notebook matches {args.only!r}")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    nb_dir, home = out / "nb", out / "home"
    copy_notebooks(names, nb_dir)
    shutil.rmtree(home, ignore_errors=True)

    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    t0 = time.time()
    proc = start_lab(nb_dir, home, port, token, out / "jupyterlab.log")
    print(f"JupyterLab pid {proc.pid} on {base} (root {nb_dir.relative_to(ROOT)}), log {out / 'jupyterlab.log'}",
          flush=True)
    results: list[tuple[str, bool, list[str]]] = []
    try:
        wait_for_server(proc, base, token)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            try:
                for nb in names:
                    t1 = time.time()
                    context = browser.new_context(viewport={"width": 1280, "height": 1000})
                    page = context.new_page()
                    page.set_default_timeout(30000)
                    console: list[str] = []
                    page.on("console", lambda m, c=console: c.append(m.text) if m.type == "error" else None)
                    page.on("pageerror", lambda e, c=console: c.append(f"uncaught: {e}"))
                    try:
                        notes = check_notebook(page, base, token, nb, out, args, console)
                        ok = True
                    except (CheckFailed, PlaywrightError) as error:
                        notes, ok = [f"FAIL: {type(error).__name__}: {error}"], False
                        try:
                            page.screenshot(path=str(out / f"{nb.stem}-failure.png"))
                        except PlaywrightError:
                            pass
                    other = [m for m in console if not WIDGET_ERROR.search(m)]
                    if other:
                        notes.append(f"(other console errors, not failing: {other[:5]})")
                    context.close()
                    shutdown_kernels(base, token)
                    results.append((nb.name, ok, notes))
                    print(f"{'PASS' if ok else 'FAIL'} {nb.name} ({time.time() - t1:.1f} s)", flush=True)
                    for note in notes:
                        print(f"    {note}", flush=True)
            finally:
                browser.close()
    finally:
        stop_lab(proc)
        print(f"JupyterLab pid {proc.pid} stopped (exit status {proc.returncode})", flush=True)

    failed = [name for name, ok, _ in results if not ok]
    print(f"{len(results) - len(failed)} of {len(results)} notebooks passed in {time.time() - t0:.0f} s; "
          f"screenshots in {out.relative_to(ROOT)}/")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    print(f"browser: {len(results) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
