"""The dashboard in a real browser (Debian's chromium, headless, via selenium and
/usr/bin/chromedriver): sign in, issue a shift, dock a virtual board, and see the lock's
tamper alert appear after the board reports it. Skips when chromium is not installed."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from armlock.registry import db
from armlock.registry.dock import connect, counter_store, dock_one
from armlock.registry.web.app import create_app
from armlock.registry.web.auth import add_user
from tests.registry.armoury import ACTOR, stock
from tests.registry.boards import virtual_board

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not Path(DRIVER).exists(),
    reason="chromium/chromedriver not installed (apt-get install -y chromium chromium-driver)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path, key_path) -> Iterator[tuple[str, object]]:
    import uvicorn

    engine = db.connect(f"sqlite:///{tmp_path / 'r.db'}")
    db.init(engine)
    factory = db.sessions(engine)
    with db.transaction(factory) as s:
        stock(s, 1, at=int(time.time()) - 60)
        add_user(s, ACTOR, "anna", "armourer", "correct horse")
    port = _free_port()
    app = create_app(factory, key_path, counters=tmp_path / "counters")
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", factory
    srv.should_exit = True
    th.join(10)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM or ""
    for f in FLAGS:
        opts.add_argument(f)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.implicitly_wait(0)
    yield drv
    drv.quit()


def _wait_text(drv, css: str, text: str, timeout: float = 15.0) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d):
        els = d.find_elements(By.CSS_SELECTOR, css)
        return next((e.text for e in els if text in e.text), False)
    return WebDriverWait(drv, timeout, poll_frequency=0.2).until(found)


def test_sign_in_issue_shift_and_see_a_tamper_alert(server, browser, signer, tmp_path):
    from selenium.webdriver.common.by import By

    url, factory = server
    b = browser
    b.get(url + "/")
    b.find_element(By.ID, "username").send_keys("anna")
    b.find_element(By.ID, "password").send_keys("correct horse")
    b.find_element(By.ID, "signin").click()
    assert "anna (armourer)" in _wait_text(b, "header", "anna")
    b.get(url + "/shift")
    b.find_element(By.ID, "roster").send_keys("S-0001,SN-0001\n")
    b.find_element(By.ID, "issue").click()
    assert "1 permit(s)" in _wait_text(b, "#message", "permit")
    key = signer.device_key("AL-0001")
    with virtual_board(tmp_path / "board", "AL-0001", signer) as board:
        b.get(url + "/dock")
        b.find_element(By.ID, "ports").send_keys(board.port)
        b.find_element(By.ID, "dock").click()
        assert "permit serial 1 delivered" in _wait_text(b, "#dock-results", "delivered")
        b.get(url + "/alerts")
        _wait_text(b, "#no-alerts", "no open alerts")
        counters = tmp_path / "counters"
        with connect(board.port, key,
                          counter_store(counters, "AL-0001")) as c:
            c.stimulate("tamper", source="enclosure")
        r = dock_one(factory, signer, board.port, "dock-station", counters=counters)
        assert r.ok
        # the open alerts page refreshes itself: the alert appears without a click
        text = _wait_text(b, "#alerts tr.alert-tamper", "AL-0001")
    assert "tamper" in text and "enclosure" in text
