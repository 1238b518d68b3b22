"""The manager's form, reached by a signed link: no-JS posts, errors kept, CSRF, rotated and tampered links."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from sqlalchemy import func, select

from tracker import vacancies
from tracker.db import session
from tracker.managers import links
from tracker.models import CareHome, Channel, Update
from tracker.vacancies import Change, record_update

SMS = Channel.SMS


def path_for(home) -> str:
    return "/h/" + links.link_token(home)


def history_count() -> int:
    return session.scalar(select(func.count()).select_from(Update))


class _Fields(HTMLParser):
    """What a browser would post from the beds form: its inputs, checked radios and textarea."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") != "radio":
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "radio" and "checked" in a:
            self.values[a["name"]] = a["value"]
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[self._textarea] = ""

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None


def shown(page: str) -> dict[str, str]:
    parser = _Fields()
    parser.feed(page.split('id="beds-form"', 1)[1])
    return parser.values


def visible(page: str) -> str:
    """The page without elements marked hidden (enough for this form's flat hidden blocks)."""
    return re.sub(r"<(\w+)[^>]*\shidden[\s>][\s\S]*?</\1>", "", page)


def test_the_form_is_prefilled_with_the_recorded_numbers(client, make_home):
    home = make_home()
    client.post(path_for(home), data={"kind-NUR": "4", "kind-RES": "1", "admissions": "open", "action": "save"})
    page = client.get(path_for(home)).get_data(as_text=True)
    assert 'name="kind-NUR" type="text" inputmode="numeric" pattern="[0-9]*"\n                 value="4"' in page
    assert "Last confirmed <strong>just now</strong> by web form" in page
    assert 'content="width=device-width, initial-scale=1"' in page


def test_a_plain_post_records_and_redirects_to_a_confirmation(client, make_home):
    home = make_home()
    response = client.post(
        path_for(home),
        data={"kind-NUR": "2", "kind-RES": "0", "admissions": "open", "note": "Can take bariatric", "action": "save"},
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<h1>Recorded</h1>" in page
    assert re.search(r"Nursing</dt><dd>2 free", page) and re.search(r"Residential</dt><dd>0 free", page)
    assert "Can take bariatric" in page
    assert re.search(r"at \d\d:\d\d on \w+day \d+ \w+ \d{4}", page)
    session.expire_all()
    assert session.get(CareHome, home.id).offer("NUR").available == 2


def test_no_change_confirms_in_one_tap(client, make_home):
    home = make_home()
    client.post(path_for(home), data={"kind-NUR": "2", "kind-RES": "0", "admissions": "open", "action": "save"})
    page = client.get(path_for(home)).get_data(as_text=True)
    assert "No change — confirm these numbers" in page and "Not saved yet" not in visible(page)
    response = client.post(path_for(home), data={**shown(page), "action": "confirm"})
    assert response.status_code == 303
    assert "Confirmed: no change" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert history_count() == 2


def test_a_confirm_of_numbers_other_than_the_recorded_ones_is_refused(client, make_home):
    home = make_home()
    client.post(path_for(home), data={"kind-NUR": "0", "kind-RES": "0", "admissions": "open", "action": "save"})
    page = client.get(path_for(home)).get_data(as_text=True)
    # JavaScript pressed + twice, then the manager pressed "No change" (or the page was out of date)
    response = client.post(path_for(home), data={**shown(page), "kind-NUR": "2", "action": "confirm"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert history_count() == 1
    assert "Nothing was confirmed: the numbers on the page are not the ones recorded" in page
    assert 'value="confirm"' not in page  # not offered again for numbers that are not recorded
    assert "Not saved yet — press Save" in visible(page)
    assert re.search(r'name="kind-NUR"[^>]*\n\s*value="2"', page)  # what the manager had on screen


def test_a_confirm_that_names_no_numbers_confirms_nothing(client, make_home):
    home = make_home()
    client.post(path_for(home), data={"kind-NUR": "3", "kind-RES": "0", "admissions": "open", "action": "save"})
    response = client.post(path_for(home), data={"action": "confirm"})
    assert response.status_code == 422 and history_count() == 1


def test_a_plus_minus_post_back_says_it_is_not_saved_and_offers_no_confirm(client, make_home):
    home = make_home()
    client.post(path_for(home), data={"kind-NUR": "0", "kind-RES": "0", "admissions": "open", "action": "save"})
    page = client.get(path_for(home)).get_data(as_text=True)
    for _ in range(2):
        page = client.post(path_for(home), data={**shown(page), "step": "NUR:+1"}).get_data(as_text=True)
    assert shown(page)["kind-NUR"] == "2"
    assert "Not saved yet — press Save" in visible(page)
    assert 'value="confirm"' not in page
    assert history_count() == 1
    minus_twice = {**shown(page), "kind-NUR": "0"}  # back to what is recorded: "no change" again
    page = client.post(path_for(home), data={**minus_twice, "step": "RES:-1"}).get_data(as_text=True)
    assert 'value="confirm"' in page and "Not saved yet" not in visible(page)


def test_errors_appear_beside_the_field_and_keep_what_was_typed(client, make_home):
    home = make_home()
    response = client.post(
        path_for(home), data={"kind-NUR": "45", "kind-RES": "lots", "admissions": "open", "action": "save"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing was saved yet" in page
    assert 'id="NUR-error"' in page and "no more than 40 can be free" in page
    assert 'id="RES-error"' in page and "enter a whole number of beds" in page
    assert 'value="45"' in page and 'value="lots"' in page
    assert history_count() == 0


def test_plus_and_minus_work_without_javascript_and_record_nothing(client, make_home):
    home = make_home()
    page = client.post(path_for(home), data={"kind-NUR": "3", "kind-RES": "0", "step": "NUR:+1"}).get_data(as_text=True)
    assert 'value="4"' in page
    page = client.post(path_for(home), data={"kind-NUR": "0", "kind-RES": "0", "step": "NUR:-1"}).get_data(as_text=True)
    assert re.search(r'name="kind-NUR"[^>]*\n\s*value="0"', page)
    odd = client.post(path_for(home), data={"kind-NUR": "²", "kind-RES": "0", "step": "NUR:+1"})
    assert odd.status_code == 200  # a character that looks like a digit is not one: start from the recorded number
    huge = client.post(path_for(home), data={"kind-NUR": "9" * 5000, "kind-RES": "0", "step": "NUR:+1"})
    assert huge.status_code == 200  # past what int() takes: start from the recorded number too
    assert history_count() == 0


def test_a_double_submit_records_once(client, make_home):
    home = make_home()
    data = {"kind-NUR": "2", "kind-RES": "0", "admissions": "open", "action": "save", "submission": "a" * 32}
    first, second = client.post(path_for(home), data=data), client.post(path_for(home), data=data)
    assert first.headers["Location"] == second.headers["Location"]
    assert history_count() == 1


def test_a_form_sent_again_with_other_numbers_is_not_passed_off_as_the_first(client, make_home):
    home = make_home()
    data = {"kind-NUR": "2", "kind-RES": "0", "admissions": "open", "action": "save", "submission": "b" * 32}
    assert client.post(path_for(home), data=data).status_code == 303
    again = client.post(path_for(home), data={**data, "kind-NUR": "5"})  # the back button, then a new number
    assert again.status_code == 422 and "already sent once with other details" in again.get_data(as_text=True)
    assert 'value="5"' in again.get_data(as_text=True) and history_count() == 1


def test_closing_admissions_needs_a_reason(client, make_home):
    home = make_home()
    data = {"kind-NUR": "0", "kind-RES": "0", "admissions": "closed", "closed_reason": "", "action": "save"}
    page = client.post(path_for(home), data=data).get_data(as_text=True)
    assert "Say why admissions are closed" in page
    data["closed_reason"] = "Covid-19 outbreak"
    response = client.post(path_for(home), data=data)
    assert "Closed: Covid-19 outbreak" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_rotated_link_is_refused_and_records_nothing(client, make_home):
    home = make_home()
    old = path_for(home)
    links.rotate_link(home)
    session.commit()
    response = client.post(old, data={"kind-NUR": "2", "kind-RES": "0", "action": "save"})
    assert response.status_code == 410
    assert "This link has been replaced" in response.get_data(as_text=True)
    assert client.get(path_for(home)).status_code == 200
    assert history_count() == 0


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: "WzEsMV0.forged", lambda t: "nonsense"])
def test_a_tampered_link_gets_a_page_saying_what_to_do(client, make_home, mangle):
    home = make_home()
    response = client.post("/h/" + mangle(links.link_token(home)), data={"kind-NUR": "2", "action": "save"})
    assert response.status_code == 404
    assert "ask the hub to send a new one" in response.get_data(as_text=True)
    assert history_count() == 0


def test_a_post_without_the_csrf_token_keeps_the_numbers_and_saves_nothing(make_app, environ, make_home):
    app = make_app(environ, {"TESTING": True})  # CSRF on, as in production
    with app.app_context():
        home = make_home()
        client = app.test_client()
        response = client.post(path_for(home), data={"kind-NUR": "7", "kind-RES": "1", "action": "save"})
        page = response.get_data(as_text=True)
        assert response.status_code == 400
        assert "This page had expired, so nothing was saved" in page and 'value="7"' in page
        assert history_count() == 0

        form = client.get(path_for(home)).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        response = client.post(
            path_for(home), data={"csrf_token": token, "kind-NUR": "7", "kind-RES": "1", "action": "save"}
        )
        assert response.status_code == 303 and history_count() == 1


NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_the_note_shows_its_age_and_clears_in_one_tap(client, make_home):
    home = make_home()
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        data = {"kind-NUR": "1", "kind-RES": "0", "admissions": "open", "note": "Hoist available", "action": "save"}
        client.post(path_for(home), data=data)
    with time_machine.travel(NOW, tick=False):
        client.post(path_for(home), data={**data, "kind-NUR": "2"})  # the same note: it keeps its age
        page = client.get(path_for(home)).get_data(as_text=True)
        assert "Note from 2 days ago." in page and "Old note" not in page
        response = client.post(path_for(home), data={**shown(page), "action": "clear_note"})
    assert response.status_code == 303
    session.expire_all()
    cleared = session.get(CareHome, home.id)
    assert cleared.note == "" and cleared.note_at is None
    assert cleared.offer("NUR").available == 2  # the numbers shown were saved with it
    page = client.get(path_for(home)).get_data(as_text=True)
    assert "Clear the note" not in page and "Note from" not in page


def test_a_note_older_than_expire_after_is_shown_as_old(client, make_home, app):
    home = make_home()
    written = NOW - app.config["UNVERIFIED_AFTER"]
    record_update(
        home.id, Change(counts={"NUR": 1, "RES": 0}, note="Bariatric bed"), channel=SMS, actor="t", now=written
    )
    record_update(home.id, Change(), channel=SMS, actor="t", now=NOW)  # the numbers are fresh; the note is not
    with time_machine.travel(NOW, tick=False):
        page = client.get(path_for(home)).get_data(as_text=True)
    assert "<strong>Old note</strong>, written 3 days ago" in page and "Note from" not in page
    session.expire_all()
    sent = vacancies.home_state(session.get(CareHome, home.id))
    assert sent["note"] == "Bariatric bed" and sent["note_at"] == written.isoformat()  # boards judge its age


def test_errors_follow_the_gov_uk_pattern(client, make_home):
    home = make_home()
    data = {"kind-NUR": "99", "kind-RES": "0", "admissions": "closed", "closed_reason": "", "action": "save"}
    page = client.post(path_for(home), data=data).get_data(as_text=True)
    assert re.search(r"<title>Error: Beds at Trelawney House", page)
    assert re.search(r'<div class="error-summary"[^>]*autofocus', page)
    # label, then the message, then the field, which is marked invalid and described by the message
    label, error, field = (
        page.index(s) for s in ('for="closed_reason"', 'id="closed_reason-error"', 'id="closed_reason"')
    )
    assert label < error < field
    assert re.search(r'id="closed_reason"[^>]*aria-invalid="true" aria-describedby="closed_reason-error"', page)
    assert re.search(r'id="kind-NUR"[^>]*\n[^>]*aria-invalid="true" aria-describedby="NUR-error"', page)
    assert '<div class="bed-row has-error">' in page and '<a href="#kind-NUR">' in page


CLOSED = {"kind-NUR": "0", "kind-RES": "0", "admissions": "closed", "closed_reason": "Flu outbreak", "action": "save"}


def test_the_reopening_date_is_day_month_and_year_boxes(client, make_home):
    home = make_home()
    page = client.get(path_for(home)).get_data(as_text=True)
    assert 'type="date"' not in page
    assert all(f'id="reopens_{part}"' in page for part in ("day", "month", "year"))
    with time_machine.travel(NOW, tick=False):
        date_boxes = {"reopens_day": "5", "reopens_month": "1", "reopens_year": "2027"}
        response = client.post(path_for(home), data={**CLOSED, **date_boxes})
    assert response.status_code == 303
    session.expire_all()
    assert session.get(CareHome, home.id).reopens_on == date(2027, 1, 5)
    page = client.get(path_for(home)).get_data(as_text=True)
    assert shown(page)["reopens_day"] == "5" and shown(page)["reopens_year"] == "2027"


@pytest.mark.parametrize(
    ("day", "month", "year", "message"),
    [
        ("31", "2", "2027", "The expected reopening date must be a real date"),
        ("", "3", "2027", "The expected reopening date must include a day."),
        ("1", "", "", "must include a month and a year."),
        ("1", "3", "27", "Enter the year of the expected reopening date in full"),
        ("1st", "3", "2027", "must be in numbers"),
        ("22", "11", "2026", "The expected reopening date has passed"),
    ],
)
def test_a_reopening_date_that_cannot_be_right_is_refused(client, make_home, day, month, year, message):
    home = make_home()
    with time_machine.travel(NOW, tick=False):
        data = {**CLOSED, "reopens_day": day, "reopens_month": month, "reopens_year": year}
        response = client.post(path_for(home), data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and history_count() == 0
    assert message in page and '<a href="#reopens_day">' in page
    assert re.search(r'id="reopens_month"[^>]*\n[^>]*\n\s*aria-invalid="true"', page)
    assert shown(page)["reopens_day"] == day  # what was typed is kept


def test_a_reopening_date_today_is_accepted_and_blank_boxes_mean_no_date(client, make_home):
    home = make_home()
    with time_machine.travel(NOW, tick=False):
        today = {"reopens_day": "23", "reopens_month": "11", "reopens_year": "2026"}
        assert client.post(path_for(home), data={**CLOSED, **today}).status_code == 303
        blank = {"reopens_day": "", "reopens_month": "", "reopens_year": ""}
        assert client.post(path_for(home), data={**CLOSED, **blank}).status_code == 303
    session.expire_all()
    assert session.get(CareHome, home.id).reopens_on is None
