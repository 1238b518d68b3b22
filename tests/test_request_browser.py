"""In a real headless Chromium, phone-sized: a coordinator asks homes for a bed from the board, the home
answers YES by a signed text, the YES arrives live on the request page, and holding it shows on every board."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from tracker.db import session
from tracker.models import CareHome, Channel, Contact
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD
from .signed import OUR_NUMBER, TOKEN, signature
from .test_browser import browser, serve  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


def textable_home_with_two_nursing_beds(_locality) -> None:
    home = session.scalars(select(CareHome).where(CareHome.name == "Polwithen Nursing Home")).one()
    session.add(Contact(home_id=home.id, phone="+447700900123"))
    session.commit()
    record_update(home.id, Change(counts={"NUR": 2, "RES": 0}), channel=Channel.SMS, actor="t")


def test_a_yes_arrives_live_and_holding_it_shows_on_the_board(migrated_sqlite, tmp_path, redis_server, browser):  # noqa: F811
    # Two boards and a request page, in one web process with the Redis queue scale-out uses.
    settings = {"SOCKETIO_MESSAGE_QUEUE": redis_server.url, "TWILIO_AUTH_TOKEN": TOKEN}
    with serve(migrated_sqlite, tmp_path, textable_home_with_two_nursing_beds, **settings) as server:
        wall = browser.new_page()  # a board on the ward's wall, in another browser
        wall.goto(server.base + "/login")
        wall.fill("#email", "pz@example.nhs.uk")
        wall.fill("#password", PASSWORD)
        wall.click("button[type=submit]")
        row = wall.locator("tr[data-home-id]", has_text="Polwithen Nursing Home")
        expect(row.locator("[data-kind=NUR]")).to_have_text("NUR 2/30")

        phone = browser.new_page(**PHONE)
        phone.goto(server.base + "/login")
        phone.fill("#email", "pz@example.nhs.uk")
        phone.fill("#password", PASSWORD)
        phone.click("button[type=submit]")
        phone.wait_for_url(server.base + "/board")
        phone.get_by_role("main").get_by_role("link", name="Ask homes for a bed").click()
        expect(
            phone.get_by_text("Do not enter names, dates of birth or NHS numbers: describe needs only.")
        ).to_be_visible()
        phone.get_by_label("Kind of care").select_option(label="Nursing")
        phone.get_by_label("Needs").fill("hoist, two carers")
        phone.get_by_role("button", name="Find homes").click()
        expect(phone.get_by_role("checkbox", name=re.compile("Polwithen Nursing Home"))).to_be_checked()
        phone.get_by_role("button", name="Send to the homes ticked").click()
        expect(phone.locator("h1")).to_have_text(re.compile(r"^Request \d{4}: 1 nursing bed$"))
        expect(phone.locator("#live-status")).to_have_text("Live")
        card = phone.locator(".home-card", has_text="Polwithen Nursing Home")
        expect(card.locator(".verdict")).to_have_text("Waiting")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        phone.evaluate("window.__notReloaded = true")

        # The home's manager texts back, as Twilio delivers it: signed for the server's own address.
        code = phone.locator("h1").inner_text().split()[1].rstrip(":")
        params = {"MessageSid": "SM" + "7" * 32, "From": "+447700900123", "To": OUR_NUMBER, "Body": f"Yes {code}"}
        url = server.base + "/twilio/sms"
        answered = requests.post(url, data=params, headers={"X-Twilio-Signature": signature("", params, url=url)})
        assert answered.status_code == 200 and f"has your YES for request {code}" in answered.text

        expect(card.locator(".verdict")).to_have_text("YES")
        expect(phone.locator("#request-announce")).to_have_text("Polwithen Nursing Home answered YES.")
        assert phone.evaluate("window.__notReloaded") is True
        phone.get_by_role("button", name="Hold this bed at Polwithen Nursing Home").click()

        expect(phone.locator(".held-banner")).to_contain_text(
            re.compile(r"Held at Polwithen Nursing Home until \d\d:\d\d\.")
        )
        expect(phone.locator(".request-state")).to_contain_text("Bed chosen")
        # The wall's board, live: the bed is held for the hospital and no longer counted as free.
        expect(row.locator("[data-kind=NUR]")).to_have_text("NUR 1/30")
        expect(row.locator(".held")).to_have_text(
            re.compile(r"^1 NUR held for West Cornwall Hospital until \d\d:\d\d$")
        )

        # The server goes away: the page stops claiming to be live, and says since when.
        server.tracker.crash()
        expect(phone.locator("#live-status")).to_have_text("Not live")
        expect(phone.locator("#live-banner")).to_contain_text(re.compile(r"^Not live since \d\d:\d\d — answers may"))
