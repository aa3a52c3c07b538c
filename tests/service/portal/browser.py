"""A real service and a real browser for the portal's end-to-end tests.

- :class:`LiveServer` runs ``creditgate serve`` (granian) on a free loopback port
  against the test's database and key file, and stops it afterwards.
- :func:`open_chromium` starts Debian's Chromium through Debian's chromedriver
  (Selenium; no browser or driver is ever downloaded), headless, with a fresh
  profile, at phone (390 px) or desktop width.
- :func:`screenshot` saves a full-page PNG under ``test-artifacts/screenshots/``
  (or ``$CREDITGATE_SCREENSHOTS``).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from service.config import Settings

CHROMIUM = os.environ.get("CREDITGATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CREDITGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get("CREDITGATE_SCREENSHOTS", "test-artifacts/screenshots"))
#: (width, height) in CSS pixels.
WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}
_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--disable-extensions", "--no-default-browser-check", "--lang=zh-CN")


class LiveServer:
    """``creditgate serve`` on the test's database, at ``settings.issuer``."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.url = settings.issuer
        self.log_path = log_path
        port = self.url.rsplit(":", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITGATE_")}
        env.update({
            "CREDITGATE_DATA_DIR": str(settings.data_dir), "CREDITGATE_DATABASE_URL": settings.database_url,
            "CREDITGATE_KEY_FILE": str(settings.key_file), "CREDITGATE_ISSUER": settings.issuer,
            "CREDITGATE_LOG_LEVEL": "INFO", "CREDITGATE_HANDLER_THREADS": "4",
        })
        command = [str(Path(sys.executable).with_name("creditgate")), "serve", "--host", "127.0.0.1", "--port", port]
        self._log = log_path.open("wb")
        # A session of its own, so that stopping it stops granian's worker processes too.
        self._proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True)
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the service exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(self.url + "/health/live", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the service did not come up")

    def client(self, **headers: str) -> httpx.Client:
        """An HTTP client on the service."""
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def log_text(self) -> str:
        """What the service has logged so far."""
        self._log.flush()
        return self.log_path.read_text("utf-8", errors="replace")

    def stop(self) -> None:
        """Stop the server and its workers."""
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
        self._log.close()


def open_chromium(width: str, profile: Path, pixel_ratio: float = 2.0) -> WebDriver:
    """Headless Chromium at ``width`` (``phone`` or ``desktop``) with a fresh profile; a
    phone has ``pixel_ratio`` device pixels per CSS pixel."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        raise RuntimeError(f"Chromium ({CHROMIUM}) and chromedriver ({CHROMEDRIVER}) are needed: "
                           "apt-get install chromium chromium-driver (scripts/test.sh does this)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # The console, to catch Content-Security-Policy violations and script errors.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    w, h = WIDTHS[width]
    if width == "phone":
        metrics = {"width": w, "height": h, "pixelRatio": pixel_ratio, "touch": True}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    else:
        options.add_argument(f"--window-size={w},{h}")
    driver = webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def screenshot(driver: WebDriver, name: str, folder: Path | None = None, max_height: int | None = None) -> Path:
    """A PNG of the whole page (not just the viewport), at most ``max_height`` CSS pixels tall."""
    folder = folder or SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})  # type: ignore[attr-defined]
    size = metrics["cssContentSize"]
    height = size["height"] if max_height is None else min(size["height"], max_height)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {  # type: ignore[attr-defined]
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": height, "scale": 1},
    })
    path = folder / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def wait_for_path(driver: WebDriver, path: str, timeout: float = 30.0) -> None:
    """Wait until the browser is on ``path`` (ignoring the query) and the page has loaded."""
    WebDriverWait(driver, timeout).until(lambda d: d.current_url.split("?")[0].endswith(path))
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")


def wait_for_text(driver: WebDriver, text: str, timeout: float = 30.0) -> None:
    """Wait until ``text`` is in the page's main content."""

    def shown(d: WebDriver) -> bool:
        try:
            return text in d.find_element(By.TAG_NAME, "main").text
        except WebDriverException:
            # The page was replaced between finding the element and reading it (a form
            # submission in flight): look again.
            return False

    WebDriverWait(driver, timeout).until(shown)


def fits_the_width(driver: WebDriver) -> bool:
    """No horizontal scrolling: the page is readable at the window's width."""
    return bool(driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"))


def console_problems(driver: WebDriver) -> list[str]:
    """Console messages about blocked content or script errors since the last call."""
    entries: Any = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [str(e["message"]) for e in entries
            if e["level"] in ("SEVERE", "WARNING") and "favicon.ico" not in e["message"]]


def unlabelled_controls(driver: WebDriver) -> list[str]:
    """Form controls a screen reader could not name (no label, no aria-label)."""
    found: Any = driver.execute_script("""
        return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
          .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
          .map(e => e.outerHTML.slice(0, 80));
    """)
    return list(found)
