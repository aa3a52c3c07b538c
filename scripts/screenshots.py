"""Take the README's portal screenshots (docs/screenshots/) from the demo data set.

Run from the repository root with the project's venv: ``.venv/bin/python scripts/screenshots.py``.
It makes a throwaway data directory, loads the demo, serves it with ``creditgate serve``
on a free port and walks through the portal in headless Chromium as ``demo.subject1``
and ``demo.guardian``. Nothing outside the temporary directory and docs/screenshots/ is
touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from service.config import Settings  # noqa: E402
from tests.service.portal import browser  # noqa: E402
from tests.service.portal.conftest import free_port  # noqa: E402

PASSWORD = "creditgate-demo-password"  # noqa: S105 (the demo data set's published password)
OUT = ROOT / "docs" / "screenshots"


def _sign_in(driver: browser.WebDriver, url: str, username: str) -> None:
    driver.get(url + "/app")
    driver.find_element(By.CSS_SELECTOR, "main a.button.primary").click()
    browser.wait_for_path(driver, "/oauth/authorize")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[value=login]").click()
    browser.wait_for_path(driver, "/app/requests")


def main() -> None:
    """Load the demo, serve it, and save one screenshot per page."""
    work = Path(tempfile.mkdtemp(prefix="creditgate-shots-"))
    port = free_port()
    settings = Settings(data_dir=work, database_url=f"sqlite:///{work / 'creditgate.db'}",
                        key_file=work / "keys.json", issuer=f"http://127.0.0.1:{port}")
    env = {**os.environ, "CREDITGATE_DATA_DIR": str(work), "CREDITGATE_ISSUER": settings.issuer}
    cli = str(Path(sys.executable).with_name("creditgate"))
    for command in (["keys", "init"], ["db", "upgrade"], ["demo", "--subjects", "40"]):
        subprocess.run([cli, *command], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (our own CLI)
    server = browser.LiveServer(settings, work / "server.log")
    try:
        for width, pages in (("desktop", None), ("phone", {"request", "consents", "access-log"})):
            driver = browser.open_chromium(width, work / f"profile-{width}", pixel_ratio=1.0)

            def shot(name: str, width: str = width, pages: set[str] | None = pages,
                     driver: browser.WebDriver = driver) -> None:
                if pages is None or name in pages:
                    browser.screenshot(driver, f"{width}-{name}", OUT, max_height=1800)

            try:
                driver.get(server.url + "/app")
                shot("signin")
                _sign_in(driver, server.url, "demo.subject1")
                shot("requests")
                driver.find_element(By.CSS_SELECTOR, "main .card a.button.primary").click()
                WebDriverWait(driver, 20).until(lambda d: "/app/requests/" in d.current_url)
                shot("request")
                for path, name in (("/app/consents", "consents"), ("/app/report", "report"),
                                   ("/app/access-log", "access-log")):
                    driver.get(server.url + path)
                    shot(name)
                driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
                browser.wait_for_path(driver, "/app")
                _sign_in(driver, server.url, "demo.guardian")
                shot("guardian")
            finally:
                driver.quit()
    finally:
        server.stop()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
