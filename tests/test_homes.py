"""The manager's form, reached by a signed link: no-JS posts, errors kept, CSRF, rotated and tampered links."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tracker import links
from tracker.db import session
from tracker.models import CareHome, Update


def path_for(home) -> str:
    return "/h/" + links.link_token(home)


def history_count() -> int:
    return session.scalar(select(func.count()).select_from(Update))


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
    response = client.post(path_for(home), data={"action": "confirm"})
    assert response.status_code == 303
    assert "Confirmed: no change" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert history_count() == 2


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
