"""Pages for everyone: the front page, the card for managers who update by text, and the error pages."""

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from tracker.api.rest import problem_response
from tracker.db import session
from tracker.models import CareKind

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/sms-card")
def sms_card():
    kinds = session.scalars(select(CareKind).order_by(CareKind.position)).all()
    return render_template("managers/sms_card.html", kinds=kinds, twilio_from=current_app.config["TWILIO_FROM"])


_ERRORS = {
    404: ("Page not found", "There is no page at this address. Check it, or start again from the front page."),
    500: (
        "Sorry, something went wrong",
        "Nothing you sent was lost if you were told it was recorded. Try again in a minute; if it happens "
        "again, tell your hospital discharge hub.",
    ),
}


@bp.app_errorhandler(404)
@bp.app_errorhandler(500)
def error_page(exc: HTTPException):
    """The site's own page for a missing page or a failure (problem+json under /api/)."""
    # A failed request's transaction must not be handed on to the next request on this thread.
    session.rollback()
    title, message = _ERRORS[exc.code]
    if request.path.startswith("/api/"):
        return problem_response(exc.code, exc.name, exc.description if exc.code == 404 else message)
    return render_template("error.html", title=title, message=message), exc.code
