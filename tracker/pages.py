"""Pages for everyone: the front page and the card for managers who update by text."""

from flask import Blueprint, current_app, render_template
from sqlalchemy import select

from .db import session
from .models import CareKind

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/sms-card")
def sms_card():
    kinds = session.scalars(select(CareKind).order_by(CareKind.position)).all()
    return render_template("sms_card.html", kinds=kinds, twilio_from=current_app.config["TWILIO_FROM"])
