"""The portal in a real browser against a real server: Chromium drives ``creditgate serve``
on SQLite and on PostgreSQL, at phone (390 px) and desktop width, and saves a screenshot
of every page it visits (``test-artifacts/screenshots/``).

- A subject signs in, grants a request narrowed, sees it, downloads the receipt,
  revokes it, and finds the institution's refused query in "who looked at my data".
- A guardian switches to a ward and grants for them.
- A person does the same with the keyboard alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from policies import Role
from policies.access import CHINA_STANDARD_TIME
from service.db.types import utcnow
from service.identity.jose import StrictJWSRegistry
from service.runtime import Services
from tests.service.identity.tokens import (
    TestAccount,
    make_account,
    make_guardianship,
    make_institution,
    make_provider,
    new_resident_id,
)
from tests.service.portal.browser import (
    WIDTHS,
    LiveServer,
    console_problems,
    fits_the_width,
    open_chromium,
    screenshot,
    unlabelled_controls,
    wait_for_path,
    wait_for_text,
)
from tests.service.query.conftest import add_record


@pytest.fixture
def server(services: Services, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(services.settings, tmp_path / "server.log")
    yield live
    live.stop()


class Bank:
    """A bank acting over HTTP against the live server."""

    def __init__(self, services: Services, server: LiveServer) -> None:
        inst = make_institution(services, name="示范商业银行股份有限公司")
        token = services.tokens.issue(subject=inst.client_id, client_id=inst.client_id, role="institution",
                                      scope="consent:request consent:read query").access_token
        self.http = server.client(Authorization=f"Bearer {token}")

    def ask(self, id_number: str, **terms: Any) -> str:
        body = {"id_number": id_number, "purpose": "loan_approval", "valid_days": 30, "max_queries": 3,
                "categories": ["identity", "judicial_enforcement", "tax"], "reason": "个人住房贷款审批", **terms}
        resp = self.http.post("/v1/consent-requests", json=body)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def query(self, consent_id: str) -> Any:
        return self.http.post("/v1/queries", json={"consent_id": consent_id, "purpose": "loan_approval"})


class Person:
    """One browser, one person, one width; numbered screenshots."""

    def __init__(self, driver: WebDriver, server: LiveServer, shots: str, width: str) -> None:
        self.driver, self.server, self.shots, self.width, self.n = driver, server, shots, width, 0

    def shot(self, page: str) -> None:
        self.n += 1
        screenshot(self.driver, f"{self.shots}-{self.n:02d}-{page}")
        assert fits_the_width(self.driver), f"{page} scrolls sideways at {self.width} width"
        assert unlabelled_controls(self.driver) == [], page
        assert console_problems(self.driver) == [], page

    def go(self, path: str) -> None:
        self.driver.get(self.server.url + path)

    def click(self, css: str) -> None:
        element = self.driver.find_element(By.CSS_SELECTOR, css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def link(self, text: str) -> None:
        element = self.driver.find_element(By.PARTIAL_LINK_TEXT, text)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def sign_in(self, account: TestAccount) -> None:
        self.go("/app")
        self.shot("signin")
        self.click("main a.button.primary")
        wait_for_path(self.driver, "/oauth/authorize")
        self.driver.find_element(By.ID, "username").send_keys(account.username)
        self.driver.find_element(By.ID, "password").send_keys(account.password)
        self.click("button[value=login]")
        wait_for_path(self.driver, "/app/requests")

    def read_report(self) -> None:
        """Read the report through the portal's own session (one audited read)."""
        with self.server.client() as http:
            http.cookies.set("cg_session", self.cookie(), path="/app")
            assert http.get("/app/report").status_code == 200

    def main_text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "main").text)

    def cookie(self) -> str:
        found = self.driver.get_cookie("cg_session")
        assert found and found["httpOnly"] and found["sameSite"] == "Lax"
        return str(found["value"])


@contextmanager
def browsing(server: LiveServer, tmp_path: Path, shots: str, width: str) -> Iterator[Person]:
    """A fresh Chromium at ``width`` for one person; closed afterwards."""
    driver = open_chromium(width, tmp_path / f"profile-{width}")
    try:
        yield Person(driver, server, f"{shots}-{width}", width)
    finally:
        driver.quit()


def _db(db_url: str) -> str:
    return db_url.split(":")[0].split("+")[0]


def _clean_log(server: LiveServer, secrets: list[str]) -> None:
    text = server.log_text()
    assert '"level": "error"' not in text
    for value in secrets:
        assert value not in text


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_a_subject_grants_narrowed_revokes_and_sees_the_refusal(services: Services, server: LiveServer,
                                                                tmp_path: Path, db_url: str, width: str) -> None:
    bank = Bank(services, server)
    person = make_account(services, Role.SUBJECT, name="李四")
    court = make_provider(services, name="示范市人民法院")
    today = utcnow().astimezone(CHINA_STANDARD_TIME).date()
    add_record(services, person.subject_id or "", court.id, "court_dishonest_judgment_debtor",
               today - timedelta(days=40), facts="被执行人未按生效判决履行给付义务", number="（2026）示0105执88号")
    assert person.id_number
    request_id = bank.ask(person.id_number)
    with browsing(server, tmp_path, f"subject-{_db(db_url)}", width) as me:
        driver = me.driver
        me.sign_in(person)
        wait_for_text(driver, "示范商业银行股份有限公司")
        me.shot("requests")
        me.link("查看并决定")
        wait_for_path(driver, f"/app/requests/{request_id}")
        me.shot("request")
        # Narrow it: no tax records, ten days, two queries.
        me.click("label[for=cat-tax]")
        for field, value in (("valid_days", "10"), ("max_queries", "2")):
            box = driver.find_element(By.ID, field)
            box.clear()
            box.send_keys(value)
        me.click("#grant")
        wait_for_path(driver, "/app/consents")
        wait_for_text(driver, "已同意授权")
        text = me.main_text()
        assert "剩余 2 次" in text and "基本信息、失信被执行人/法院判决" in text and "税务" not in text
        me.shot("consents-granted")
        receipt_href = driver.find_element(By.CSS_SELECTOR, "a[download]").get_attribute("href") or ""
        consent_id = receipt_href.split("/app/consents/")[1].split("/")[0]
        # The receipt, downloaded with the browser's session, is signed and says what was granted.
        with server.client() as http:
            http.cookies.set("cg_session", me.cookie(), path="/app")
            receipt = http.get(f"/app/consents/{consent_id}/receipt")
            keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
        claims = json.loads(jws.deserialize_compact(receipt.text, keys, algorithms=["EdDSA"],
                                                    registry=StrictJWSRegistry(["EdDSA"])).payload)
        assert claims["categories"] == ["identity", "judicial_enforcement"] and claims["max_queries"] == 2
        held = bank.http.get(f"/v1/consents/{consent_id}").json()
        assert held["state"] == "active" and held["categories"] == ["identity", "judicial_enforcement"]
        assert bank.query(consent_id).status_code == 200

        # Revoke, with the confirmation.
        driver.refresh()
        me.click("details.revoke summary")
        me.shot("consents-revoke-confirm")
        me.click("details.revoke button.danger")
        wait_for_text(driver, "授权已撤回")
        assert "已撤回" in me.main_text()
        me.shot("consents-revoked")
        refused = bank.query(consent_id)
        assert refused.status_code == 403 and refused.json()["code"] == "consent_revoked"

        me.link("谁查看了我的信息")
        wait_for_path(driver, "/app/access-log")
        text = me.main_text()
        assert "已拒绝：授权已被撤回" in text and "已允许：依据您的授权" in text
        assert driver.find_elements(By.CSS_SELECTOR, "svg.bars rect.refused")
        assert driver.find_elements(By.CSS_SELECTOR, "svg.bars rect.allowed")
        me.shot("access-log")
        me.link("我的报告")
        wait_for_path(driver, "/app/report")
        text = me.main_text()
        assert "李四" in text and "被执行人未按生效判决履行给付义务" in text and "（2026）示0105执88号" in text
        me.shot("report")
        me.link("English")
        wait_for_text(driver, "Credit report")
        me.shot("report-en")
        me.link("中文")
        wait_for_text(driver, "信用报告")
        secret = me.cookie()
        me.click("form.signout button")
        wait_for_path(driver, "/app")
        wait_for_text(driver, "您已退出登录")
        me.go("/app/consents")
        wait_for_path(driver, "/app")
        assert driver.find_elements(By.CSS_SELECTOR, "main a.button.primary")
    _clean_log(server, [person.id_number, "李四", "被执行人未按生效判决履行给付义务", "（2026）示0105执88号", secret])


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_a_guardian_acts_for_a_ward(services: Services, server: LiveServer, tmp_path: Path, db_url: str,
                                    width: str) -> None:
    bank = Bank(services, server)
    guardian = make_account(services, Role.GUARDIAN)
    numbers = [new_resident_id(age=11), new_resident_id(age=7)]
    names = ["王小明", "王小红"]
    wards = [make_guardianship(services, guardian.id, n, ward_name=m) for n, m in zip(numbers, names, strict=True)]
    # The pages open on the first ward (by id); the request is for the other one.
    other = 0 if wards[0] > wards[1] else 1
    request_id = bank.ask(numbers[other], categories=["identity", "education"], max_queries=1)
    with browsing(server, tmp_path, f"guardian-{_db(db_url)}", width) as me:
        driver = me.driver
        me.sign_in(guardian)
        wait_for_text(driver, "目前没有等待您答复的授权请求")
        me.shot("requests-first-ward")
        Select(driver.find_element(By.ID, "ward-choice")).select_by_value(wards[other])
        me.click("form.ward-switch button")
        wait_for_text(driver, "已切换到另一位被监护人")
        assert "被监护人" in me.main_text()
        me.shot("requests-ward")
        me.link("查看并决定")
        wait_for_path(driver, f"/app/requests/{request_id}")
        me.shot("request-ward")
        me.click("#grant")
        wait_for_path(driver, "/app/consents")
        wait_for_text(driver, "已同意授权")
        assert "剩余 1 次" in me.main_text()
        me.shot("consents-ward")
        me.link("我的报告")
        wait_for_path(driver, "/app/report")
        assert names[other] in me.main_text() and names[1 - other] not in me.main_text()
        me.shot("report-ward")
    _clean_log(server, [*numbers, *names])


def _press(driver: WebDriver, *keys: str) -> None:
    ActionChains(driver).send_keys(*keys).perform()


def _tab_to(driver: WebDriver, css: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``css`` has the focus."""
    target = driver.find_element(By.CSS_SELECTOR, css)
    for _ in range(limit):
        _press(driver, Keys.TAB)
        if driver.switch_to.active_element == target:
            return
    raise AssertionError(f"Tab never reached {css}")


def test_keyboard_only(services: Services, server: LiveServer, tmp_path: Path, db_url: str) -> None:
    bank = Bank(services, server)
    person = make_account(services, Role.SUBJECT)
    assert person.id_number
    request_id = bank.ask(person.id_number)
    with browsing(server, tmp_path, f"keyboard-{_db(db_url)}", "desktop") as me:
        driver = me.driver
        me.go("/app")
        # The first stop is the skip link, then the way in.
        _press(driver, Keys.TAB)
        assert driver.switch_to.active_element.get_attribute("class") == "skip"
        _tab_to(driver, "main a.button.primary")
        _press(driver, Keys.ENTER)
        wait_for_path(driver, "/oauth/authorize")
        _tab_to(driver, "#username")
        _press(driver, person.username, Keys.TAB, person.password, Keys.ENTER)
        wait_for_path(driver, "/app/requests")
        _tab_to(driver, f'main a[href="/app/requests/{request_id}"].button')
        _press(driver, Keys.ENTER)
        wait_for_path(driver, f"/app/requests/{request_id}")
        # Untick a category with the space bar, then grant.
        _tab_to(driver, "#cat-tax")
        _press(driver, Keys.SPACE)
        assert not driver.find_element(By.ID, "cat-tax").is_selected()
        _tab_to(driver, "#grant")
        me.shot("grant-focused")
        _press(driver, Keys.ENTER)
        wait_for_path(driver, "/app/consents")
        wait_for_text(driver, "已同意授权")
        # Revoke: open the confirmation and confirm, keys only.
        _tab_to(driver, "details.revoke summary")
        _press(driver, Keys.ENTER)
        _tab_to(driver, "details.revoke button.danger")
        me.shot("revoke-focused")
        _press(driver, Keys.ENTER)
        wait_for_text(driver, "授权已撤回")
        # Older log entries load in place (htmx), from the keyboard too.
        for _ in range(60):
            me.read_report()
        me.go("/app/access-log")
        wait_for_path(driver, "/app/access-log")
        assert len(driver.find_elements(By.CSS_SELECTOR, "li.entry")) == 50
        _tab_to(driver, "#more a")
        _press(driver, Keys.ENTER)
        WebDriverWait(driver, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "li.entry")) > 50)
        assert driver.current_url.endswith("/app/access-log")
        assert console_problems(driver) == []
        me.shot("access-log-older")
    consent = bank.http.get(f"/v1/consent-requests/{request_id}").json()["consent_id"]
    assert bank.http.get(f"/v1/consents/{consent}").json()["state"] == "revoked"
