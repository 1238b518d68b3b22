"""For families, no sign-in: the search page, its JSON API, and the /public Socket.IO namespace.

Reads only: nothing here writes vacancies. Every home shown goes through search_index.view(), which picks
the public fields; the live channel sends the same shape.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from datetime import timedelta

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_limiter import RateLimitExceeded
from flask_socketio import ConnectionRefusedError, emit, join_room, leave_room, rooms
from sqlalchemy import func, select

from tracker.db import session
from tracker.extensions import limiter, socketio
from tracker.families import search_index
from tracker.families.geocoding import Location, NotFound, locate, point
from tracker.models import Update, utcnow
from tracker.observability import SEARCH_SECONDS

bp = Blueprint("public", __name__)

NAMESPACE = "/public"
WATCH_LIMIT = 100  # homes one page may follow live: more than a results page ever shows
RADII_KM = (5, 10, 20, 30, 50, 100)


def _rate():
    return current_app.config["PUBLIC_SEARCH_RATE_LIMIT"]


# The page and the API share one budget per client: a scraper gains nothing by switching.
rate_limited = limiter.shared_limit(_rate, scope="public-search")


class BadQuery(ValueError):
    def __init__(self, message: str, choices: list[str] | None = None):
        super().__init__(message)
        self.message, self.choices = message, choices or []


def parse_query(args) -> tuple[Location, str, int]:
    """(where, kind of care, radius) from the query string; BadQuery says in plain words what is wrong."""
    care = args.get("care", "").strip().upper()
    if care not in search_index.PUBLIC_KINDS and care != "":
        raise BadQuery(f"care must be one of {', '.join(search_index.PUBLIC_KINDS)}, or left out for any kind of care.")
    max_radius = current_app.config["PUBLIC_SEARCH_MAX_RADIUS_KM"]
    raw_radius = args.get("radius_km", "").strip() or str(current_app.config["PUBLIC_SEARCH_RADIUS_KM"])
    if not re.fullmatch(r"[0-9]{1,6}", raw_radius) or not 1 <= int(raw_radius) <= max_radius:
        raise BadQuery(f"radius_km must be a whole number of kilometres from 1 to {max_radius}.")
    try:
        if args.get("lat") or args.get("lon"):
            where = point(args.get("lat", ""), args.get("lon", ""))
        elif args.get("near", "").strip():
            where = locate(args["near"])
        else:
            raise BadQuery("Enter a postcode or the name of a town (near=TR18 2PF), or give lat and lon.")
    except NotFound as problem:
        raise BadQuery(problem.message, problem.choices) from None
    return where, care, int(raw_radius)


@bp.app_template_filter()
def radius(km: int) -> str:
    """'20 km (12 miles)', for a radius the family chose."""
    return f"{km} km ({round(search_index.miles(km))} miles)"


def _page_context(**more) -> dict:
    form = {"near": request.args.get("near", ""), "care": request.args.get("care", "").upper(),
            "radius_km": request.args.get("radius_km", "")}  # fmt: skip
    return {"form": form, "kinds": search_index.PUBLIC_KINDS, "radii": RADII_KM,
            "default_radius": current_app.config["PUBLIC_SEARCH_RADIUS_KM"], "results": None, "problem": None,
            "busy": None, "tile_url": current_app.config["MAP_TILE_URL"],
            "tile_attribution": current_app.config["MAP_TILE_ATTRIBUTION"], **more}  # fmt: skip


@bp.get("/find-a-care-home")
@rate_limited
def page():
    context = _page_context()
    status = 200
    if any(request.args.get(k) for k in ("near", "lat", "lon", "care", "radius_km")):
        try:
            where, care, radius = parse_query(request.args)
            with SEARCH_SECONDS.time():
                context["results"] = search_index.search(where, care, radius, utcnow())
        except BadQuery as problem:
            context["problem"], status = problem, 400
    return render_template("families/search.html", **context), status


@bp.get("/api/v1/public/search")
@rate_limited
def api_search():
    try:
        where, care, radius = parse_query(request.args)
    except BadQuery as problem:
        return jsonify(error=problem.message, choices=problem.choices), 400
    with SEARCH_SECONDS.time():
        found = search_index.search(where, care, radius, utcnow()).as_json()
    # Encoded here, compact and unsorted: the default provider sorts every key of every home listed.
    return current_app.response_class(json.dumps(found, separators=(",", ":")), mimetype="application/json")


@bp.errorhandler(RateLimitExceeded)
def too_many(exc: RateLimitExceeded):
    # The breached limit's window: the same moment Flask-Limiter's Retry-After header gives.
    limit = limiter.current_limit
    wait = max(1, int(limit.reset_at - time.time())) if limit else 60
    if request.path.startswith("/api/"):
        response = jsonify(error=f"Too many searches from your connection in a short time. Try again in {wait} "
                                 f"{'second' if wait == 1 else 'seconds'}.", retry_after=wait)  # fmt: skip
    else:  # the form stays, filled in, so trying again is one tap
        busy = {"wait": wait, "at": utcnow() + timedelta(seconds=wait)}
        response = current_app.make_response(render_template("families/search.html", **_page_context(busy=busy)))
    response.status_code = 429
    return response


# ---- live: the /public namespace -----------------------------------------------------------------


class LivePages:
    """The live pages each address holds open, in this process.

    Exact when each address always reaches the same process: one process, or several behind nginx's
    ip_hash as docs/deploy.md sets them up (Socket.IO needs that anyway). Counted by socket, so a
    connection that ends however it ends gives its place back exactly once.
    """

    def __init__(self):
        self._lock, self._address_of, self._open = threading.Lock(), {}, Counter()

    def admit(self, sid: str, address: str, limit: int) -> bool:
        with self._lock:
            if self._open[address] >= limit:
                return False
            self._open[address] += 1
            self._address_of[sid] = address
            return True

    def release(self, sid: str) -> None:
        with self._lock:
            address = self._address_of.pop(sid, None)
            if address is not None:
                self._open[address] -= 1
                if not self._open[address]:
                    del self._open[address]


bp.record_once(lambda state: state.app.extensions.setdefault("public_live", LivePages()))


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth_payload=None):
    """Anyone may listen; a page names the homes it shows (auth.homes) and hears only about those.

    With auth.seq (the cursor its results were made at) it is told `changed` if one of them has an
    update after it: one the page missed while it loaded or was disconnected, as Socket.IO does not replay.
    """
    # Behind TRUSTED_PROXIES, the family's address (ProxyFix wraps Socket.IO's middleware too).
    limit = current_app.config["PUBLIC_LIVE_CONNECTIONS_PER_ADDRESS"]
    if not current_app.extensions["public_live"].admit(request.sid, request.remote_addr or "unknown", limit):
        raise ConnectionRefusedError(
            f"Too many live pages are open from your connection (at most {limit}). Close some, then refresh this one."
        )
    if _watch(auth_payload):
        emit("changed")


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(reason=None):
    current_app.extensions["public_live"].release(request.sid)


@socketio.on("watch", namespace=NAMESPACE)
def on_watch(payload=None):
    """A page that re-rendered its results names the homes it shows now; answers whether it missed any update."""
    return _watch(payload)


def _watch(payload) -> bool:
    homes = payload.get("homes") if isinstance(payload, dict) else None
    if not isinstance(homes, list):
        return False
    wanted = {h for h in homes[:WATCH_LIMIT] if isinstance(h, int) and not isinstance(h, bool)}
    for room in rooms(namespace=NAMESPACE):
        if room.startswith("home:") and int(room[5:]) not in wanted:
            leave_room(room)
    for home_id in wanted:
        join_room(f"home:{home_id}")
    seq = payload.get("seq")
    if not wanted or not isinstance(seq, int) or isinstance(seq, bool):
        return False
    latest = session.scalar(select(func.max(Update.seq)).where(Update.home_id.in_(wanted)))
    return latest is not None and latest > seq


def publish(row: Update) -> None:
    """After an update commits: tell pages showing the home what families may see of it now."""
    if row.answer_id is not None:  # a home answering a hospital's request: nothing families see changed
        return
    home = row.home  # already in the session that recorded it: no query
    if not home.listed_publicly or home.latitude is None or home.longitude is None:
        return
    holds = row.state.get("holds", [])  # from the row, not a query: no transaction is opened here
    shown = search_index.view(search_index.public_home(home, holds), row.recorded_at)
    socketio.emit("home", shown, namespace=NAMESPACE, to=f"home:{home.id}")
