"""What the browser tests share: the app server on a free loopback port, and waits for states the page shows.

Every wait is for something observable (an answer of the server, an attribute of the app, a text), never for a
time: the machine running the tests may be busy.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(workspace: Path, env: dict[str, str] | None = None):
    """``streamlit run app.py`` on a free loopback port with its own workspace; yields the URL once it is up.

    Readiness is the health endpoint answering "ok": it creates no browser session, so the first page a test
    opens is the first session of this server. The server's output goes to ``<workspace>/server.log``.
    """
    port = free_port()
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "GENMIX_WORKSPACE": str(workspace), "PYTHONPATH": pythonpath, **(env or {})}
    log_path = workspace / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=5).read() == b"ok":
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("streamlit did not start:\n" + log_path.read_text())
                time.sleep(0.2)  # polling interval of the health check (the wait itself is for "ok")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_idle(page, timeout=60_000):
    """Wait until the app is connected, no script run is going on and no grey skeleton is left.

    Call it after waiting for something the awaited run draws (a heading, a message), or through
    :func:`rerun_after`: the script state alone is "notRunning" also for a moment after a click, before the run
    the click asks for starts.
    """
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", state="attached",
                           timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", state="attached",
                           timeout=timeout)
    page.wait_for_function("!document.querySelector('[data-testid=stSkeleton]')", timeout=timeout)


# Counts the script runs that end from now on: each change of the app's script state away from "running".
_COUNT_RUNS = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  if (window.__genmixRunObserver) window.__genmixRunObserver.disconnect();
  window.__genmixRunsEnded = 0;
  window.__genmixRunObserver = new MutationObserver(records => {
    for (const r of records) if (r.oldValue === "running") window.__genmixRunsEnded++;
  });
  window.__genmixRunObserver.observe(app, {attributes: true, attributeOldValue: true,
                                           attributeFilter: ["data-test-script-state"]});
}"""


def rerun_after(page, action, timeout=120_000):
    """Do ``action()`` (a click, a choice) and wait until a script run it caused has ended and the app is idle.

    For actions whose answer shows nothing new to wait for (a row added to a table, a project chosen): the
    run's end itself is observed, as a change of the app's script state away from "running".
    """
    page.evaluate(_COUNT_RUNS)
    action()
    page.wait_for_function("window.__genmixRunsEnded > 0", timeout=timeout)
    wait_idle(page, timeout=timeout)
