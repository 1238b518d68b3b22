"""Extensions, created unbound and bound in create_app."""

from flask import request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf import CSRFProtect

from tracker.observability import RATE_LIMITED

socketio = SocketIO()
login_manager = LoginManager()
csrf = CSRFProtect()


def _count_refusal(limit: RequestLimit) -> None:
    RATE_LIMITED.labels(request.endpoint or "unknown").inc()


# No default limits: the families' search, the API and sign-in set their own. Storage: RATELIMIT_STORAGE_URI.
limiter = Limiter(get_remote_address, default_limits=[], on_breach=_count_refusal)
