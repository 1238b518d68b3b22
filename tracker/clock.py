"""`python -m tracker.clock`: the production clock process. It runs the scheduled jobs and reaches
every board through the same Socket.IO message queue as the web processes."""

import logging

from tracker import create_app, scheduler

if __name__ == "__main__":
    app = create_app()  # which sets up the JSON log lines
    if not app.config["SOCKETIO_MESSAGE_QUEUE"]:
        logging.warning("SOCKETIO_MESSAGE_QUEUE is not set: this clock cannot reach boards in other processes")
    scheduler.run_clock(app)
