"""In a real headless Chromium: the families' search has no axe-core violations (WCAG 2.2 AA), fits a
360 px phone, works with JavaScript off, and changes in place when a home's vacancies change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tracker import create_app, links
from tracker.db import session
from tracker.models import CareHome, Channel, Locality, Offer, Region, utcnow
from tracker.vacancies import Change, record_update

from .conftest import SECRET
from .servers import free_port, wait_until_healthy
from .test_browser import browser  # noqa: F401  (the fixture: one headless Chromium per test)

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# What WCAG 2.2 AA asks, plus axe's best practices (landmarks, headings, one main).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@pytest.fixture
def server(migrated_sqlite, tmp_path):
    """The tracker as `make run` serves it, with three Cornish homes, the map's tiles on a local path."""
    db_file = tmp_path / "tracker.db"
    shutil.copy(migrated_sqlite, db_file)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TRACKER_ENV": "test", "SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite:///{db_file}",
           "PORT": str(port), "MAP_TILE_URL": base + "/no-tiles-in-tests/{z}/{x}/{y}.png"}  # fmt: skip

    app = create_app(env)
    with app.app_context():
        place = Locality(name="West Cornwall", region=Region(name="Cornwall"))
        rows = [("Bosgwidden Care Centre", 50.1205, -5.5400, {"NUR": 2}, True),
                ("Chy Vean Nursing Home", 50.1850, -5.4200, {"NUR": 1}, False),
                ("Polwithen House", 50.1300, -5.5300, {"NUR": 0}, False)]  # fmt: skip
        for name, lat, lon, counts, public_counts in rows:
            home = CareHome(name=name, locality=place, latitude=lat, longitude=lon, phone="01632 960001",
                            address=f"1 Alverton Road, {name.split()[0]}", postcode="TR18 4TE",
                            public_counts=public_counts, chase_due_at=utcnow())  # fmt: skip
            home.offers = [Offer(kind_code="NUR", capacity=30, position=0)]
            session.add(home)
            session.commit()
            record_update(home.id, Change(counts=counts, admissions="open"), channel=Channel.WEB, actor="t",
                          now=utcnow() - timedelta(hours=3))  # fmt: skip
        full_home = session.query(CareHome).filter_by(name="Polwithen House").one()
        link = "/h/" + links.link_token(full_home)
        session.remove()
    app.extensions["engine"].dispose()

    log = tmp_path / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "tracker"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        wait_until_healthy(base, process, log)
        yield base, link
    finally:
        process.terminate()
        process.wait(timeout=10)


def axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']]})" for v in result["violations"]]


def search(page, near="TR18 2PF", care="NUR"):
    page.fill("#near", near)
    page.check(f"input[name=care][value={care}]")
    page.click("button[type=submit]")


def test_the_search_and_results_pages_have_no_accessibility_violations(server, browser):  # noqa: F811
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/find-a-care-home")
    expect(page.locator("#use-location")).to_be_visible()  # offered once JavaScript runs
    assert axe_violations(page) == []

    search(page)
    expect(page.locator("#results-heading")).to_contain_text("2 homes have vacancies for nursing care")
    expect(page.locator("#map .leaflet-marker-icon")).to_have_count(3)
    expect(page.locator("#live-note")).to_contain_text("These results update by themselves")
    assert axe_violations(page) == []

    page.goto(base + "/find-a-care-home?near=St+Ives")  # the problem page, with its choices
    expect(page.locator(".error-summary")).to_contain_text("There is more than one St Ives")
    assert axe_violations(page) == []


def test_on_a_phone_the_nearest_come_first_and_change_in_place(server, browser):  # noqa: F811
    base, link = server
    phone = browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    phone.goto(base + "/find-a-care-home")
    search(phone)
    cards = phone.locator("#vacancies .home-card")
    expect(cards.first.locator(".home-name")).to_have_text("Bosgwidden Care Centre")
    expect(cards.first).to_contain_text("Nursing care: 2 beds")
    expect(cards.first).to_contain_text("The home last confirmed this 3 hours ago")
    expect(cards.nth(1)).to_contain_text("Chy Vean Nursing Home")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    expect(phone.locator("#live-note")).to_contain_text("update by themselves")
    full = phone.locator("#others .home-card", has_text="Polwithen House")
    expect(full.locator(".tag")).to_have_text("No vacancies for nursing care")
    phone.evaluate("window.__notReloaded = true")

    manager = browser.new_page()
    manager.goto(base + link)
    manager.fill("#kind-NUR", "1")
    manager.click("button.button-wide[value=save]")
    expect(manager.locator("h1")).to_have_text("Recorded")

    expect(full.locator(".tag")).to_have_text("Has vacancies", timeout=5000)
    expect(full).to_contain_text("The home last confirmed this just now")
    expect(full).not_to_contain_text("1 bed")  # this home shows no exact counts
    expect(phone.locator("#live-announce")).to_have_text("Polwithen House: has vacancies, confirmed just now.")
    assert phone.evaluate("window.__notReloaded") is True


def test_the_list_works_with_javascript_off(server, browser):  # noqa: F811
    base, _ = server
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(base + "/find-a-care-home")
    expect(page.locator("#use-location")).to_be_hidden()  # needs JavaScript, so not offered
    search(page)
    expect(page.locator("#vacancies .home-card")).to_have_count(2)
    expect(page.locator("#vacancies .home-card").first).to_contain_text("Bosgwidden Care Centre")
    expect(page.locator("#map")).to_be_hidden()
    expect(page.locator("#live-note")).to_contain_text("Refresh")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()
