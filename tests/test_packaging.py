"""`pip install .` gives a working tracker: templates, static files, data and migrations travel in the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_alone_and_serves_pages_and_migrates_a_database(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "run"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("tracker-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tracker/templates/families/search.html" in names and "tracker/static/coordinators/board.js" in names
    assert "tracker/data/places.csv" in names and "tracker/migrations/env.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "scripts/", "alembic/"))]

    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'installed.db'}",
        "TRACKER_ENV": "test",
        "SECRET_KEY": "k" * 40,
    }
    flask = [sys.executable, "-m", "flask", "--app", "tracker"]
    upgraded = subprocess.run([*flask, "db", "upgrade"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert upgraded.returncode == 0, upgraded.stderr
    probe = (
        "import tracker; from tracker import create_app\n"
        f"assert tracker.__file__.startswith({str(target)!r}), tracker.__file__\n"
        "client = create_app().test_client()\n"
        "page = client.get('/find-a-care-home')\n"
        "assert page.status_code == 200 and b'Find a care home' in page.data, page.status_code\n"
        "assert client.get('/static/coordinators/board.js').status_code == 200\n"
        "assert client.get('/healthz').get_json()['database'] == 'ok'\n"
        "print('ok')\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert ran.stdout.strip() == "ok", ran.stderr
