"""In a real headless Chromium on a 360x740 phone: the families' search opens its results on the first
screen with and without JavaScript, keeps them true as homes change and after a lost connection, and
every page of the tracker passes axe-core's WCAG 2.2 AA rules, target size included."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tracker import bed_requests, create_app
from tracker.auth import hash_password
from tracker.db import session
from tracker.managers import links
from tracker.models import (
    AskedHome,
    BedRequest,
    CareHome,
    Channel,
    Hospital,
    Locality,
    Offer,
    Region,
    RequestState,
    Role,
    User,
    utcnow,
)
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD, SECRET
from .servers import free_port, wait_until_healthy
from .test_browser import CHROMIUM, CHROMIUM_FLAGS, CspWatched

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# What WCAG 2.2 AA asks (target-size is wcag22aa), plus axe's best practices (landmarks, headings, one main).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
PHONE = {"width": 360, "height": 740}


class Tracker:
    """The tracker as `make run` serves it, on a SQLite file with three Cornish homes; stop() and start()
    it again on the same port, as a restart or a lost connection does to an open page."""

    def __init__(self, migrated_sqlite: Path, workdir: Path):
        self.db_file = workdir / "tracker.db"
        shutil.copy(migrated_sqlite, self.db_file)
        self.log = workdir / "server.log"
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "TRACKER_ENV": "test", "SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite:///{self.db_file}",
                    "PORT": str(port), "MAP_TILE_URL": self.base + "/no-tiles-in-tests/{z}/{x}/{y}.png"}  # fmt: skip
        self.app = create_app(self.env)
        self.process: subprocess.Popen | None = None
        with self.app.app_context():
            place = Locality(name="West Cornwall", region=Region(name="Cornwall"))
            rows = [("Bosgwidden Care Centre", 50.1205, -5.5400, {"NUR": 2}, True),
                    ("Chy Vean Nursing Home", 50.1850, -5.4200, {"NUR": 1}, False),
                    ("Polwithen House", 50.1300, -5.5300, {"NUR": 0}, False)]  # fmt: skip
            self.homes, self.links = {}, {}
            for name, lat, lon, counts, public_counts in rows:
                home = CareHome(name=name, locality=place, latitude=lat, longitude=lon, phone="01632 960001",
                                address=f"1 Alverton Road, {name.split()[0]}", postcode="TR18 4TE",
                                public_counts=public_counts)  # fmt: skip
                home.offers = [Offer(kind_code="NUR", capacity=30, position=0)]
                session.add(home)
                session.commit()
                self.record(home.id, counts, now=utcnow() - timedelta(hours=3))
                self.homes[name], self.links[name] = home.id, "/h/" + links.link_token(home)
            self.ids = {"locality": place.id}
            session.remove()

    def record(self, home_id: int, counts: dict, now=None) -> int:
        """An update written straight to the database, as another process would: this one tells no page."""
        with self.app.app_context():
            return record_update(home_id, Change(counts=counts, admissions="open"), channel=Channel.WEB, actor="t",
                                 now=now).seq  # fmt: skip

    def start(self) -> None:
        self.app.extensions["engine"].dispose()
        with open(self.log, "a") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "tracker"], cwd=ROOT, env=self.env, stdout=out,
                                            stderr=out)  # fmt: skip
        wait_until_healthy(self.base, self.process, self.log)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def running(migrated_sqlite, workdir, prepare=None):
    tracker = Tracker(migrated_sqlite, workdir)
    if prepare:
        prepare(tracker)
    tracker.start()
    try:
        yield tracker
    finally:
        tracker.stop()


@pytest.fixture
def tracker(migrated_sqlite, tmp_path):
    with running(migrated_sqlite, tmp_path) as started:
        yield started


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the module; each test opens its own context."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield CspWatched(launched)
        launched.close()


@pytest.fixture(autouse=True)
def no_csp_violations(chromium):
    """Every test here fails on a Content-Security-Policy violation in any page it opened."""
    yield
    chromium.assert_none()


@pytest.fixture
def browser(chromium):
    context = chromium.new_context()
    yield context
    context.close()


def search(page, near="TR18 2PF", care="NUR"):
    page.fill("#near", near)
    page.check(f"input[name=care][value={care}]")
    page.click("button[type=submit]")


def save_beds(browser, tracker, name, beds):
    """The home's manager saves the form, in another page: the update is published as it commits."""
    manager = browser.new_page()
    manager.goto(tracker.base + tracker.links[name])
    manager.fill("#kind-NUR", str(beds))
    manager.click("#save")
    expect(manager.locator("h1")).to_have_text("Recorded")
    manager.close()


def first_screen_shows_the_first_result(page) -> None:
    """The results heading has the focus, and the first home is whole on the 740 px screen."""
    expect(page.locator("#results")).to_be_focused()
    box = page.locator(".home-list .home-card").first.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_after_search_the_first_result_is_on_the_first_screen_without_javascript(tracker, chromium):
    context = chromium.new_context(java_script_enabled=False, viewport=PHONE)
    page = context.new_page()
    page.goto(tracker.base + "/find-a-care-home")
    expect(page.locator("#use-location")).to_be_hidden()  # needs JavaScript, so not offered
    search(page)
    assert page.url.endswith("#results")
    expect(page.locator("#vacancies .home-card")).to_have_count(2)
    expect(page.locator("#vacancies .home-card").first).to_contain_text("Bosgwidden Care Centre")
    expect(page.locator("#vacancies .home-card").first).to_contain_text("0.3 km (0.2 miles)")
    first_screen_shows_the_first_result(page)
    expect(page.locator("#map")).to_be_hidden()
    expect(page.locator("#live-note")).to_contain_text("Refresh")
    context.close()


def test_on_a_phone_the_results_stay_true_as_homes_change(tracker, chromium, browser):
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    phone.goto(tracker.base + "/find-a-care-home")
    search(phone)
    first_screen_shows_the_first_result(phone)
    heading, vacancies = phone.locator("#results"), phone.locator("#vacancies .home-card")
    expect(heading).to_contain_text("2 homes have vacancies for nursing care within 20 km (12 miles)")
    expect(vacancies.first.locator(".home-name")).to_have_text("Bosgwidden Care Centre")
    expect(vacancies.first).to_contain_text("Nursing care: 2 beds")
    expect(vacancies.first).to_contain_text("The home last confirmed this 3 hours ago")
    expect(phone.locator("#map .leaflet-marker-icon")).to_have_count(3)
    expect(phone.locator("#live-note")).to_contain_text("These results update by themselves")
    expect(phone.locator("#others .home-card", has_text="Polwithen House").locator(".tag")).to_have_text(
        "No vacancies for nursing care"
    )
    phone.evaluate("window.__notReloaded = true")

    save_beds(browser, tracker, "Polwithen House", 1)  # a full home gets a bed: it joins the list
    expect(heading).to_contain_text("3 homes have vacancies", timeout=5000)
    polwithen = phone.locator("#vacancies .home-card", has_text="Polwithen House")
    expect(polwithen.locator(".tag")).to_have_text("Has vacancies")
    expect(polwithen).to_contain_text("The home last confirmed this just now")
    expect(polwithen).not_to_contain_text("1 bed")  # this home shows no exact counts
    expect(phone.locator("#others")).to_have_count(0)
    expect(phone.locator("#live-announce")).to_contain_text("Polwithen House: has vacancies. 3 homes have vacancies")

    for name in ("Bosgwidden Care Centre", "Chy Vean Nursing Home", "Polwithen House"):  # every last bed taken
        save_beds(browser, tracker, name, 0)
    expect(heading).to_contain_text("No vacancies for nursing care within 20 km", timeout=5000)
    expect(phone.locator("#vacancies")).to_have_count(0)
    expect(phone.locator("#others .home-card")).to_have_count(3)
    expect(phone.locator(".home-card .tag", has_text="Has vacancies")).to_have_count(0)
    assert phone.evaluate("window.__notReloaded") is True


def test_a_page_that_lost_its_connection_says_so_and_catches_up(tracker, chromium):
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    phone.goto(tracker.base + "/find-a-care-home?near=TR18+2PF&care=NUR#results")
    note = phone.locator("#live-note")
    expect(note).to_contain_text("These results update by themselves")

    tracker.stop()
    expect(note).to_contain_text("This page is not updating at the moment", timeout=10000)
    expect(note.locator("a", has_text="Refresh")).to_be_visible()
    tracker.record(tracker.homes["Bosgwidden Care Centre"], {"NUR": 0})  # while the page cannot hear
    tracker.start()

    expect(note).to_contain_text("These results update by themselves", timeout=15000)
    expect(phone.locator("#results")).to_contain_text("1 home has vacancies", timeout=5000)
    expect(phone.locator("#others .home-card", has_text="Bosgwidden Care Centre")).to_have_count(1)


# ---- accessibility: every page at 360 px, with axe-core's WCAG 2.2 AA rules ----------------------


@pytest.fixture(scope="module")
def site(migrated_sqlite, tmp_path_factory):
    """One tracker for every page axe checks: a coordinator, an admin, a home with an update."""

    def people(tracker):
        with tracker.app.app_context():
            hospital = Hospital(name="West Cornwall Hospital", latitude=50.1221, longitude=-5.5430,
                                region=session.get(Locality, tracker.ids["locality"]).region)  # fmt: skip
            coordinator = User(email="pz@example.nhs.uk", name="Pat", password_hash=hash_password(PASSWORD),
                               role=Role.COORDINATOR, hospital=hospital)  # fmt: skip
            admin = User(email="admin@example.org", name="Alex", password_hash=hash_password(PASSWORD), role=Role.ADMIN)
            session.add_all([coordinator, admin])
            session.commit()
            tracker.ids.update(hospital=hospital.id, user=coordinator.id)
            session.remove()
        tracker.seq = tracker.record(tracker.homes["Polwithen House"], {"NUR": 1})
        with tracker.app.app_context():  # a bed request asking the home, with a question and the hospital's reply
            now = utcnow()
            request = BedRequest(code="4821", hospital_id=tracker.ids["hospital"], kind_code="NUR",
                                 from_date=now.date() + timedelta(days=1), needs="hoist, two carers", created_at=now,
                                 expires_at=now + timedelta(days=1), state=RequestState.OPEN, max_km=20)  # fmt: skip
            request.asked = [AskedHome(home_id=tracker.homes["Polwithen House"], km=1.2)]
            session.add(request)
            session.commit()
            asked = request.asked[0]
            question = bed_requests.answer(asked.id, "question", "Is a hoist needed at night?", channel=Channel.WEB,
                                           actor="manager (web form)")  # fmt: skip
            bed_requests.reply(asked.id, "Yes, at night too.", user_id=tracker.ids["user"])
            tracker.ids.update(answer="/r/" + bed_requests.answer_url(asked).rsplit("/r/", 1)[1], asked=question.seq)
            session.remove()

    with running(migrated_sqlite, tmp_path_factory.mktemp("site"), people) as started:
        yield started


@pytest.fixture(scope="module")
def signed_in(site, chromium):
    """A phone-sized context per kind of visitor, signed in once."""
    contexts = {}
    for who, email in (("public", None), ("coordinator", "pz@example.nhs.uk"), ("admin", "admin@example.org")):
        contexts[who] = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        if email:
            page = contexts[who].new_page()
            page.goto(site.base + "/login")
            page.fill("#email", email)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/login" not in url)
            page.close()
    yield contexts
    for context in contexts.values():
        context.close()


# axe passes a small target that has 24 px of room around it (WCAG 2.5.8's spacing exception); the
# tracker asks more, as the issue did: every control 24x24 px or larger, bar links inside a sentence.
SMALL_TARGETS = """() => Array.from(document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])'))
  .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
  .filter(el => !el.closest('.leaflet-container, .skip-link, .visually-hidden'))
  .filter(el => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return true;
    const block = el.parentElement.closest('p, li, td, dd, dt, div');
    return block.textContent.trim() === el.textContent.trim();  // alone on its line: a target, not text
  })
  .map(el => [el, el.getBoundingClientRect()])
  .filter(([, box]) => box.width < 24 || box.height < 24)
  .map(([el, box]) => el.outerHTML.slice(0, 80) + ` ${Math.round(box.width)}x${Math.round(box.height)}`)"""


def axe_violations(page) -> list[str]:
    page.evaluate(AXE.read_text())  # run by the test, not a <script> the page's policy would refuse
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']]})" for v in result["violations"]]


# (who, path): {link}, {seq}, {home}, {hospital}, {locality}, {user} are filled in from the site.
PAGES = [
    ("public", "/"),
    ("public", "/find-a-care-home"),
    ("public", "/find-a-care-home?near=TR18+2PF&care=NUR#results"),
    ("public", "/find-a-care-home?near=St+Ives"),  # the problem, with its choices
    ("public", "/find-a-care-home?near=BS1+4DJ#results"),  # outside every region
    ("public", "/sms-card"),
    ("public", "/login"),
    ("public", "{link}"),  # the manager's form
    ("public", "{link}/recorded/{seq}"),  # and its confirmation
    ("public", "{answer}"),  # a home's one-tap answer to a bed request
    ("public", "{answer}?answered={asked}"),  # and its confirmation, with the conversation
    ("coordinator", "/board"),
    ("coordinator", "/board/history"),
    ("admin", "/admin/"),
    ("admin", "/admin/homes"),
    ("admin", "/admin/homes/{home}"),
    ("admin", "/admin/users"),
    ("admin", "/admin/users/{user}"),
    ("admin", "/admin/places"),
    ("admin", "/admin/hospitals/{hospital}"),
    ("admin", "/admin/localities/{locality}"),
    ("admin", "/admin/import"),
    ("admin", "/admin/reports"),
    ("admin", "/admin/chasing"),
    ("admin", "/admin/contacts"),
    ("admin", "/admin/messages"),
    ("admin", "/admin/outbox"),
    ("admin", "/admin/audit"),
    ("admin", "/admin/homes/{home}/rotate-link"),
    ("admin", "/admin/homes/{home}/link"),
    ("admin", "/admin/homes/{home}/chase-policy"),
]


@pytest.mark.parametrize(("who", "path"), PAGES, ids=[path for _, path in PAGES])
def test_every_page_passes_wcag_2_2_aa_at_phone_width(site, signed_in, who, path):
    """axe's wcag22aa target-size rule included: every tap target is 24x24 px or has the room of one."""
    home = site.homes["Polwithen House"]
    url = site.base + path.format(link=site.links["Polwithen House"], seq=site.seq, home=home, **site.ids)
    page = signed_in[who].new_page()
    try:
        response = page.goto(url)
        assert response.status in (200, 400), f"{url}: {response.status}"
        assert axe_violations(page) + page.evaluate(SMALL_TARGETS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        page.close()


def test_the_managers_form_showing_its_errors_passes_wcag_2_2_aa_at_phone_width(site, signed_in):
    page = signed_in["public"].new_page()
    try:
        page.goto(site.base + site.links["Polwithen House"])
        page.fill("#kind-NUR", "99")
        page.check("input[name=admissions][value=closed]")
        page.fill("#reopens_day", "31")
        page.click("#save")
        expect(page.locator("#error-summary")).to_be_focused()
        assert axe_violations(page) + page.evaluate(SMALL_TARGETS) == []
    finally:
        page.close()


# A cell's column label, as a phone shows it: the ::before that the stylesheet writes from data-label.
CELL_LABELS = """selector => Array.from(document.querySelectorAll(selector)).map(cell => {
  const before = getComputedStyle(cell, '::before');
  return [cell.dataset.label, before.content, getComputedStyle(cell).display];
})"""


@pytest.mark.parametrize("path", ["/admin/reports", "/admin/chasing"])
def test_at_phone_width_the_reports_and_chasing_tables_label_every_figure(site, signed_in, path):
    page = signed_in["admin"].new_page()
    try:
        page.goto(site.base + path)
        assert page.locator(".compliance thead").first.is_hidden()  # the column headings are off screen
        cells = page.evaluate(CELL_LABELS, ".compliance tbody td")
        assert cells and all(label for label, _, _ in cells)  # every figure has its column's name
        for label, content, display in cells:
            assert display == "block" and content == f'"{label}: "', (label, content)
        share = page.locator(".compliance tbody tr", has_text="West Cornwall").first.locator("td[data-label=Share]")
        box = share.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    finally:
        page.close()
