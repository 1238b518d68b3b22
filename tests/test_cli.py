"""Operators' commands: form links, token creation."""

from __future__ import annotations

from tracker import auth
from tracker.db import session
from tracker.models import ApiToken, CareHome


def test_homes_link_prints_a_working_link_by_id_or_cqc_id(runner, client, make_home):
    home = make_home(cqc_location_id="1-123456789")
    by_id = runner.invoke(args=["homes", "link", str(home.id)])
    by_cqc = runner.invoke(args=["homes", "link", "1-123456789"])
    assert by_id.exit_code == 0 and by_id.output == by_cqc.output
    url = by_id.output.strip()
    assert url.startswith("http://127.0.0.1:5000/h/")
    assert client.get(url.removeprefix("http://127.0.0.1:5000")).status_code == 200


def test_homes_link_uses_the_public_base_url(runner, make_home, app):
    app.config["PUBLIC_BASE_URL"] = "https://beds.example.nhs.uk"
    home = make_home()
    assert runner.invoke(args=["homes", "link", str(home.id)]).output.startswith("https://beds.example.nhs.uk/h/")


def test_an_unknown_home_is_a_clear_error(runner):
    result = runner.invoke(args=["homes", "link", "nope"])
    assert result.exit_code != 0
    assert "No care home has id or CQC location id 'nope'" in result.output


def test_rotating_a_link_kills_the_old_one(runner, client, make_home):
    home = make_home()
    old = runner.invoke(args=["homes", "link", str(home.id)]).output.strip().removeprefix("http://127.0.0.1:5000")
    result = runner.invoke(args=["homes", "rotate-link", str(home.id)])
    assert result.exit_code == 0
    new = result.output.strip().splitlines()[-1].removeprefix("http://127.0.0.1:5000")
    assert client.get(old).status_code == 410
    assert client.get(new).status_code == 200
    session.expire_all()
    assert session.get(CareHome, home.id).link_version == 2


def test_homes_list_shows_ids_and_names(runner, make_home):
    make_home(name="Chy Lowen", cqc_location_id="1-555")
    output = runner.invoke(args=["homes", "list"]).output
    assert "1-555" in output and "Chy Lowen (West Cornwall)" in output


def test_tokens_create_prints_the_token_once_on_its_last_line_and_keeps_only_a_hash(runner):
    result = runner.invoke(args=["tokens", "create", "--role", "coordinator", "--name", "Treliske hub"])
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    stored = session.query(ApiToken).one()
    assert stored.name == "Treliske hub" and token not in stored.token_hash
    assert auth.token_from(token).id == stored.id


def test_tokens_create_refuses_an_unknown_role(runner):
    result = runner.invoke(args=["tokens", "create", "--role", "king", "--name", "x"])
    assert result.exit_code == 2 and "Invalid value for '--role'" in result.output
