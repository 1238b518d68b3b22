"""The house's rules: the write path and the core depend on nothing above them; the write path announces."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracker import vacancies
from tracker.db import session
from tracker.models import Channel, Update
from tracker.vacancies import Change, record_update

TRACKER = Path(__file__).resolve().parent.parent / "tracker"
AUDIENCES = ("managers", "coordinators", "families", "chasing", "admin", "api")
CORE = (
    "vacancies.py",
    "models.py",
    "db.py",
    "config.py",
    "extensions.py",
    "timefmt.py",
    "plaintext.py",
    "audit.py",
    "identifiers.py",
)


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


@pytest.mark.parametrize("core", CORE)
def test_the_write_path_and_the_core_import_no_audiences_folder(core):
    above = {
        m for m in imported_modules(TRACKER / core) if m.split(".")[:2][-1] in AUDIENCES and m.startswith("tracker.")
    }
    assert above == set()


def test_every_module_says_what_it_holds_in_its_first_line():
    for path in TRACKER.rglob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and doc.strip(), f"{path.relative_to(TRACKER.parent)} has no docstring"


def test_a_hook_inside_the_transaction_that_fails_undoes_the_whole_update(app, make_home):
    home = make_home()

    def refuse(home, now):
        raise RuntimeError("the ladder could not be reset")

    vacancies.recording.connect(refuse)
    try:
        with pytest.raises(RuntimeError):
            record_update(home.id, Change(counts={"NUR": 1, "RES": 0}), channel=Channel.WEB, actor="t")
    finally:
        vacancies.recording.disconnect(refuse)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Update)) == 0
