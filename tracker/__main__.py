"""`python -m tracker`: serve the tracker in one process (the embedded default behind `make run`)."""

from . import create_app
from .extensions import socketio

app = create_app()

if __name__ == "__main__":
    port = app.config["PORT"]
    print(f"Care home bed tracker: http://127.0.0.1:{port}/  (Ctrl-C stops it)", flush=True)
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)
