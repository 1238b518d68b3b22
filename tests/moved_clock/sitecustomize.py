"""Moves the clock of every Python process the tests start, for the `--clock-at` check only.

tests/conftest.py puts this folder on PYTHONPATH with TRACKER_TEST_CLOCK_SHIFT (seconds) when the suite
runs with --clock-at, so servers started by the tests (the tracker, gunicorn, the clock process) share
the moved clock of the test process instead of reading the real one.
"""

import os

_shift = os.environ.get("TRACKER_TEST_CLOCK_SHIFT")
if _shift:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_shift), tick=True).start()
