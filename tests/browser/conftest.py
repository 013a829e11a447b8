"""The portal in a real browser: Debian's chromium driven by Playwright, against `painel web`.

Per test database (SQLite and PostgreSQL, from ``tests/conftest.py``): the demo operator
with its traffic and billing, as ``painel demo`` leaves it, plus a few months of the year
before (so the history has another year to open); then the real server, started as
``python -m painel web`` on a free port, stopped when the test ends. One chromium per
module. Every page a test visits is saved as a full-page screenshot under
``$PAINEL_TEST_ARTIFACTS`` (default ``var/test-artifacts/browser``), one folder per engine
and test.

Playwright's own browser download is never used: chromium comes from Debian
(``/usr/bin/chromium``, overridable with ``PAINEL_CHROMIUM``).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from painel.demo import bill_demo, run_demo

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PAINEL_TEST_ARTIFACTS") or ROOT / "var" / "test-artifacts" / "browser")
CHROMIUM = os.environ.get("PAINEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

#: the demo's "now": traffic from August to 20 November 2026 (August to October closed and billed)
NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
#: a second, earlier demo run: September to 20 December 2025, so the history has 2025 too
EARLIER_NOW = datetime(2025, 12, 20, 15, tzinfo=timezone.utc)

#: when this run began: the summary lists the screenshots written since (by this process or,
#: under pytest-xdist, by its workers)
_STARTED = time.time()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortalServer:
    """``python -m painel web`` as a subprocess on a free port; its output goes to ``log``."""

    def __init__(self, db_url: str, var_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAINEL_")}
        env.update({
            "PAINEL_DATABASE_URL": db_url,
            "PAINEL_VAR_DIR": str(var_dir),
            "PAINEL_SECRET_KEY": "browser-test-key",
            # the tests sign in many times from one address; the limits are tested elsewhere
            "PAINEL_WEB_LOGIN_LIMIT_ADDRESS": "1000/minute",
            "PAINEL_WEB_LOGIN_LIMIT_ACCOUNT": "1000/minute",
            "PAINEL_LOG_LEVEL": "WARNING",
        })
        self._out = open(log, "wb")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "painel", "web", "--listen", f"127.0.0.1:{self.port}", "--threads", "4"],
            env=env, cwd=var_dir, stdout=self._out, stderr=subprocess.STDOUT)
        self._wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"painel web saiu com {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/entrar", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"painel web não respondeu em {timeout:.0f} s:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium não encontrado em {CHROMIUM} (apt-get install chromium; ou PAINEL_CHROMIUM)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _build_portal(settings, engine) -> None:  # type: ignore[no-untyped-def]
    run_demo(settings, engine, now=EARLIER_NOW, calls_per_day=1.0)
    run_demo(settings, engine, now=NOW, calls_per_day=1.0)
    bill_demo(settings.replace(pdf_workers=1), engine, now=NOW)


@pytest.fixture
def portal_db(request, engine, settings, db_templates):  # type: ignore[no-untyped-def]
    """The demo operator with traffic of two years, months closed, mostly paid, PDFs rendered.

    Built once per session and engine, then copied (database and var directory, PDFs
    included): see ``DbTemplates`` in tests/conftest.py.
    """
    return db_templates.seed(request, engine, [("browser-portal", _build_portal)], settings)


@pytest.fixture
def portal(portal_db, db_url, settings, tmp_path) -> Iterator[PortalServer]:  # type: ignore[no-untyped-def]
    var_dir = Path(settings.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    server = PortalServer(db_url, var_dir, tmp_path / "painel-web.log")
    yield server
    server.stop()


@dataclass
class Shots:
    """Full-page screenshots of every page visited, numbered in visiting order."""

    folder: Path
    count: int = 0
    names: list[str] = field(default_factory=list)

    def take(self, page, name: str) -> Path:  # type: ignore[no-untyped-def]
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        self.names.append(path.name)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest, db_url: str) -> Shots:
    engine_name = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    folder = ARTIFACTS / engine_name / request.node.originalname
    shutil.rmtree(folder, ignore_errors=True)  # the folder holds this run's screenshots only
    folder.mkdir(parents=True)
    return Shots(folder)


class PageWatch:
    """What went wrong inside the browser: script errors, console errors (CSP violations among
    them) and sub-resources (CSS, images) that failed to load."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, page) -> None:  # type: ignore[no-untyped-def]
        page.on("pageerror", lambda exc: self.problems.append(f"erro de script em {page.url}: {exc}"))
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, msg) -> None:  # type: ignore[no-untyped-def]
        # a document answered 4xx is logged as "Failed to load resource"; those are checked
        # by status where the test expects them, sub-resources by _response
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.problems.append(f"console em {msg.location.get('url')}: {msg.text}")

    def _response(self, response) -> None:  # type: ignore[no-untyped-def]
        request = response.request
        if request.resource_type != "document" and response.status >= 400 and not request.url.endswith(
                "/favicon.ico"):
            self.problems.append(f"{request.resource_type} {request.url} respondeu {response.status}")


@pytest.fixture
def new_page(browser, portal) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """``new_page(viewport=None)``: a page in a fresh browser context (own cookies) on the portal.

    At the end of the test no page may have logged a script error, a console error or a
    failed sub-resource.
    """
    contexts = []
    watch = PageWatch()

    def make(viewport: dict | None = None):  # type: ignore[no-untyped-def]
        context = browser.new_context(base_url=portal.url, accept_downloads=True, locale="pt-BR",
                                      timezone_id="America/Fortaleza",
                                      viewport=viewport or {"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watch.attach(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    written = [p for p in ARTIFACTS.glob("*/*/*.png") if p.stat().st_mtime >= _STARTED - 1]
    if written:
        folders = sorted({str(p.parent) for p in written})
        terminalreporter.write_line(f"capturas de tela do navegador ({len(written)}): {ARTIFACTS}")
        for folder in folders:
            terminalreporter.write_line(f"  {folder}")
