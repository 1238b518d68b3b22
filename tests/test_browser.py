"""In a real headless Chromium: a manager saves the form on a phone-sized page, and the board open
in another page changes without a reload."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from tracker import chasing, create_app, links
from tracker.auth import hash_password
from tracker.db import session
from tracker.models import CareHome, Channel, Hospital, Locality, Offer, Region, Role, User
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD, SECRET
from .servers import free_port, wait_until_healthy

pytestmark = pytest.mark.browser
HOUR = timedelta(hours=1)
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def serve(migrated_sqlite, tmp_path, more_homes=None):
    """The tracker in its own process, as `make run` serves it, on a prepared database."""
    db_file = tmp_path / "tracker.db"
    shutil.copy(migrated_sqlite, db_file)
    env = {**os.environ, "TRACKER_ENV": "test", "SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite:///{db_file}"}
    env["PORT"] = str(free_port())

    app = create_app(env)
    with app.app_context():
        region = Region(name="Cornwall")
        west = Locality(name="West Cornwall", region=region)
        home = CareHome(name="Polwithen Nursing Home", locality=west, chase_due_at=datetime.now(UTC))
        home.latitude, home.longitude, home.phone = 50.12, -5.53, "01736 000000"
        home.offers = [Offer(kind_code="NUR", capacity=30, position=0), Offer(kind_code="RES", capacity=10, position=1)]
        hospital = Hospital(name="West Cornwall Hospital", latitude=50.1221, longitude=-5.5430, region=region)
        session.add_all([home, hospital])
        session.add(
            User(
                email="pz@example.nhs.uk",
                name="Pat",
                password_hash=hash_password(PASSWORD),
                role=Role.COORDINATOR,
                hospital=hospital,
            )
        )
        session.commit()
        link = "/h/" + links.link_token(home)
        if more_homes:
            more_homes(west)
        session.remove()
    app.extensions["engine"].dispose()

    log = tmp_path / "server.log"
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-m", "tracker"], cwd=ROOT, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_until_healthy(base, process, log)
        yield base, link
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def server(migrated_sqlite, tmp_path):
    with serve(migrated_sqlite, tmp_path) as running:
        yield running


@pytest.fixture
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def signed_in_board(browser, base):
    board = browser.new_page()
    board.goto(base + "/login")
    board.fill("#email", "pz@example.nhs.uk")
    board.fill("#password", PASSWORD)
    board.click("button[type=submit]")
    board.wait_for_url(base + "/board")
    return board


def test_a_manager_update_appears_on_an_open_board_without_reload(server, browser):
    base, link = server
    board = signed_in_board(browser, base)
    expect(board.locator("#live-status")).to_have_text("Live")
    row = board.locator("tr[data-home-id]", has_text="Polwithen Nursing Home")
    expect(row.locator(".age")).to_have_text("never")
    board.evaluate("window.__notReloaded = true")

    phone = browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    phone.goto(base + link)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    phone.fill("#kind-NUR", "2")
    phone.click("button[value='RES:+1']")  # the +/- controls change the number in place
    expect(phone.locator("#kind-RES")).to_have_value("1")
    phone.click("button.button-wide[value=save]")
    expect(phone.locator("h1")).to_have_text("Recorded")
    expect(phone.locator(".summary")).to_contain_text("Nursing2 free")

    expect(row.locator("[data-kind=NUR]")).to_have_text("NUR 2/30", timeout=5000)
    expect(row.locator("[data-kind=RES]")).to_have_text("RES 1/10")
    expect(row.locator(".age")).to_have_text("just now")
    expect(board.locator("#totals")).to_have_text("1 home shown. Beds free (open, verified): Residential 1 · Nursing 2")
    assert board.evaluate("window.__notReloaded") is True


def test_the_form_works_with_javascript_off(server, browser):
    base, link = server
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
    phone = context.new_page()
    phone.goto(base + link)
    phone.fill("#kind-NUR", "4")
    phone.fill("#kind-RES", "0")
    phone.click("button[value='NUR:-1']")  # posts, and the page comes back with 3, nothing recorded
    expect(phone.locator("#kind-NUR")).to_have_value("3")
    phone.click("button.button-wide[value=save]")
    expect(phone.locator("h1")).to_have_text("Recorded")
    expect(phone.locator(".summary")).to_contain_text("Nursing3 free")
    context.close()


def test_numbers_nobody_confirmed_for_three_days_are_shown_unverified_and_never_counted(
    migrated_sqlite, tmp_path, browser
):
    now = datetime.now(UTC)

    def old_and_silent(west):
        for name, age in (("Trevose House", 80), ("Carn Brea Lodge", 2)):
            home = CareHome(name=name, locality=west, latitude=50.2, longitude=-5.4, chase_due_at=now)
            home.offers = [Offer(kind_code="NUR", capacity=20, position=0)]
            session.add(home)
            session.commit()
            record_update(home.id, Change(counts={"NUR": 3}), channel=Channel.SMS, actor="t", now=now - age * HOUR)
        silent = session.scalars(select(CareHome).where(CareHome.name == "Trevose House")).one()
        chasing.set_overrides(silent, {"hours": "00:00-24:00", "max_reminders": "0"}, now)
        session.commit()
        chasing.run_pass(now)  # escalated: nobody can be texted

    with serve(migrated_sqlite, tmp_path, old_and_silent) as (base, _link):
        board = signed_in_board(browser, base)
        old = board.locator("tr[data-home-id]", has_text="Trevose House")
        recent = board.locator("tr[data-home-id]", has_text="Carn Brea Lodge")
        expect(old.locator(".unverified")).to_have_text("Unverified: not counted")
        expect(old).to_have_class(re.compile(r"\bfresh-stale\b"))
        assert old.locator(".chip.has-beds").count() == 0  # never presented as available
        expect(old.locator(".not-answering")).to_contain_text("Not answering since")
        expect(recent.locator(".chip.has-beds")).to_have_text("NUR 3/20")
        expect(board.locator("#totals")).to_contain_text("Beds free (open, verified): Nursing 3")

        board.check("input[name=vacancies]")
        expect(old).to_have_count(0)  # left out of "only with vacancies"
        expect(recent).to_have_count(1)


def test_the_locality_filter_offers_only_the_watched_regions_localities(migrated_sqlite, tmp_path, browser):
    def another_region(_west):
        session.add(Locality(name="Plymouth", region=Region(name="Devon")))
        session.commit()

    with serve(migrated_sqlite, tmp_path, another_region) as (base, _link):
        board = signed_in_board(browser, base)  # Pat's hospital is in Cornwall: the board watches it
        plymouth = board.locator("select[name=locality] option", has_text="Plymouth")
        expect(plymouth).to_be_disabled()
        board.select_option("select[name=region]", "all")
        expect(plymouth).to_be_enabled()
        board.select_option("select[name=locality]", "Plymouth")
        cornwall = board.locator("select[name=region] option", has_text="Cornwall").get_attribute("value")
        board.select_option("select[name=region]", cornwall)
        expect(board.locator("select[name=locality]")).to_have_value("")  # Plymouth is not in Cornwall
        assert "locality=" not in board.url
