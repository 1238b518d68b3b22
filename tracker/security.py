"""Security headers on every response: pages, the API, static files, error pages and Socket.IO's polling."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping


def headers(config: Mapping) -> list[tuple[str, str]]:
    """The headers every response carries, from the app's config (docs/deploy.md, "Security headers")."""
    policy = {
        "default-src": "'self'",
        # No inline script, style attribute or eval anywhere: page data travels as JSON in
        # <script type="application/json">, which is data and not run, and scripts are files.
        "script-src": "'self'",
        "style-src": "'self'",
        # Leaflet blanks a tile it unloads with a data: image; the families' map draws tiles from its host.
        "img-src": " ".join(filter(None, ["'self'", "data:", config["MAP_TILE_ORIGIN"]])),
        # Socket.IO's polling and websocket: CSP3's 'self' matches ws: and wss: on the page's own host.
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    found = [
        ("Content-Security-Policy", "; ".join(f"{name} {value}" for name, value in policy.items())),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),  # frame-ancestors for browsers that predate it
        # A manager's form link carries its secret in the path, and a family's search its postcode in the
        # query: other sites are told nothing, not even the origin (the map's tiles are asked with the
        # origin alone, as OpenStreetMap's tile policy wants: public.js sets that on the tile layer).
        ("Referrer-Policy", "same-origin"),
        # "Use my location" on the families' search; nothing here needs a camera or a microphone.
        ("Permissions-Policy", "geolocation=(self), camera=(), microphone=()"),
    ]
    if config["TRACKER_ENV"] == "production":
        # Only over HTTPS does a browser heed it; a year, as the HSTS preload list asks.
        found.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return found


class SecurityHeaders:
    """WSGI middleware adding `headers` to every response that did not set them itself.

    Outside the app rather than an after_request, so Socket.IO's own responses carry them too.
    """

    def __init__(self, app: Callable, headers: Iterable[tuple[str, str]]):
        self.app, self.headers = app, list(headers)

    def __call__(self, environ, start_response):
        def start(status, response_headers, exc_info=None):
            present = {name.lower() for name, _ in response_headers}
            missing = [h for h in self.headers if h[0].lower() not in present]
            return start_response(status, [*response_headers, *missing], exc_info)

        return self.app(environ, start)
