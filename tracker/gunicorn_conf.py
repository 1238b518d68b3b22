"""gunicorn settings for the web processes: `gunicorn -c tracker/gunicorn_conf.py ...` (Procfile).

Given as a file, not as `python:tracker.gunicorn_conf`, and importing nothing of the tracker: the
master process must not import ssl and the rest before gevent patches each worker. The embedded
server (`python -m tracker`) uses the same access log.

The access line carries no path, query string or address (a form link's path is its secret, an
address is a person's data): its request_id joins it to the app's own JSON line, which has the
path with tokens masked.
"""

import os

accesslog = "-"
access_log_format = '"%(m)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def child_exit(server, worker) -> None:
    """A dead worker's live gauges (boards connected) must not be added up any more."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
