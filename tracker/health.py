"""Liveness for load balancers and monitoring."""

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .db import session
from .models import BoardCursor

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        seq = session.scalar(select(BoardCursor.seq).where(BoardCursor.id == 1))
        session.rollback()
    except SQLAlchemyError as exc:
        session.rollback()
        return jsonify(status="unavailable", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok", seq=seq)
