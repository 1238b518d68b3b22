"""Security headers on every response: pages, the API, static files, error pages, Socket.IO's polling."""

from __future__ import annotations

import json

import pytest

from .conftest import SECRET

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
}


def policy(response) -> dict[str, str]:
    """The Content-Security-Policy header as {directive: sources}."""
    parts = (part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    return {name: sources for name, sources in parts}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/find-a-care-home?near=TR18+2PF", 200),
        ("/api/v1/public/search?lat=50.12&lon=-5.54", 200),
        ("/static/style.css", 200),
        ("/static/families/search.js", 200),
        ("/login", 200),
        ("/board", 302),
        ("/no-such-page", 404),
        ("/api/v1/no-such-thing", 404),
        ("/find-a-care-home?radius_km=nonsense&near=TR18+2PF", 400),
        ("/healthz", 200),
    ],
)
def test_every_response_carries_the_security_headers(client, path, status):
    with client.get(path) as response:  # a static file is streamed: closed when read
        assert response.status_code == status
        assert {name: response.headers.get(name) for name in HEADERS} == HEADERS
        assert policy(response)["frame-ancestors"] == "'none'"
        assert "Strict-Transport-Security" not in response.headers  # not in development or tests


def test_socket_io_s_own_answers_carry_them_too(client):
    """Socket.IO's middleware answers /socket.io/ before Flask sees the request."""
    handshake = client.get("/socket.io/?EIO=4&transport=polling")
    assert handshake.status_code == 200
    assert {name: handshake.headers.get(name) for name in HEADERS} == HEADERS
    assert "frame-ancestors 'none'" in handshake.headers["Content-Security-Policy"]
    sid = json.loads(handshake.get_data(as_text=True)[1:])["sid"]
    client.post(f"/socket.io/?EIO=4&transport=polling&sid={sid}", data="1")  # closed: no session outlives the test


def test_scripts_and_styles_come_from_this_site_only_and_pictures_from_it_and_the_map_tiles(client):
    assert policy(client.get("/")) == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data: https://tile.openstreetmap.org",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


@pytest.mark.parametrize(
    ("tiles", "img_src"),
    [
        ("https://{s}.tiles.example.org/{z}/{x}/{y}.png?key=k", "'self' data: https://*.tiles.example.org"),
        ("http://127.0.0.1:8080/osm/{z}/{x}/{y}.png", "'self' data: http://127.0.0.1:8080"),
        ("/tiles/{z}/{x}/{y}.png", "'self' data:"),  # served by this site
        ("", "'self' data:"),  # no map
    ],
)
def test_the_map_tile_host_allowed_is_the_one_configured(make_app, environ, tiles, img_src):
    app = make_app({**environ, "MAP_TILE_URL": tiles})
    assert policy(app.test_client().get("/"))["img-src"] == img_src


def test_https_is_insisted_on_in_production_only(make_app, environ):
    production = {**environ, "TRACKER_ENV": "production", "SECRET_KEY": SECRET,
                  "PUBLIC_BASE_URL": "https://beds.example.nhs.uk"}  # fmt: skip
    with make_app(production).test_client().get("/static/style.css") as response:
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in make_app(environ).test_client().get("/").headers
