"""Browser fixtures: the system chromium driven by Playwright, a live server, a small study.

The tests never download a browser (no ``playwright install``): they launch Debian's
``/usr/bin/chromium`` (installed by ``scripts/install-browser.sh``). Where it is absent
they skip with the reason, and fail instead when RADSCORE_REQUIRE_BROWSER=1 (set by
``.ci/run``), so CI cannot pass by skipping them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("RADSCORE_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> Path:
    reason = None
    if not CHROMIUM.is_file():
        reason = f"system chromium not found at {CHROMIUM} (run scripts/install-browser.sh)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright Python package is not installed (pip install -e '.[test]')"
    if reason:
        if os.environ.get("RADSCORE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; RADSCORE_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless system chromium with a fresh user-data dir."""
    exe = require_browser()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(profile), executable_path=str(exe), headless=True,
                                                       args=ARGS, viewport={"width": 1280, "height": 900})
        yield context
        context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on loopback in a background thread."""

    def __init__(self, app, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live(small_study, tmp_path_factory):
    """The page for the study's COMB model, served on a free loopback port."""
    from radscore.web import ServerSettings, create_app

    app = create_app(small_study / "models" / "comb", ServerSettings(keep_dir=tmp_path_factory.mktemp("kept")))
    with LiveServer(app) as server:
        yield server
