"""`python -m tracker`: the embedded default behind `make run`.

One process: gunicorn's threaded worker (Flask-SocketIO's threading mode with simple-websocket)
and the scheduler inside it. SQLite wants exactly this; for PostgreSQL and several processes see
docs/deploy.md.
"""

from gunicorn.app.base import BaseApplication

from tracker import config, create_app, gunicorn_conf, scheduler


class EmbeddedServer(BaseApplication):
    def __init__(self, port: int, threads: int):
        self.port, self.threads = port, threads
        super().__init__()

    def load_config(self):
        self.cfg.set("bind", f"127.0.0.1:{self.port}")
        self.cfg.set("workers", 1)  # Socket.IO sessions live in the worker: never more than one
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", self.threads)  # each open board holds a thread
        self.cfg.set("accesslog", gunicorn_conf.accesslog)
        self.cfg.set("access_log_format", gunicorn_conf.access_log_format)
        # Open boards hold their connections for ever: waiting for them on a stop only delays it
        # (they reconnect to the next server by themselves).
        self.cfg.set("graceful_timeout", 3)
        # gunicorn's control socket lives in ~/.gunicorn: a second tracker (tests, another port) would clash.
        self.cfg.set("control_socket_disable", True)

    def load(self):
        app = create_app()
        scheduler.start_in_process(app)
        return app


if __name__ == "__main__":
    settings = config.from_environment()
    # Commands run in another terminal without PORT print links for this port (config._local_base_url).
    try:
        instance = config.instance_path()
        instance.mkdir(parents=True, exist_ok=True)
        (instance / config.EMBEDDED_PORT_FILE).write_text(f"{settings['PORT']}\n")
    except OSError:  # a read-only checkout loses only that convenience
        pass
    print(f"Care home bed tracker: http://127.0.0.1:{settings['PORT']}/  (Ctrl-C stops it)", flush=True)
    EmbeddedServer(settings["PORT"], settings["WEB_THREADS"]).run()
