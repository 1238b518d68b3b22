"""Migrations run against the URL the tracker itself would use (DATABASE_URL, else instance/tracker.db)."""

from logging.config import fileConfig

from alembic import context
from tracker import config as tracker_config
from tracker.db import make_engine
from tracker.models import Base

alembic_config = context.config
if alembic_config.config_file_name and not alembic_config.attributes.get("skip_logging"):
    fileConfig(alembic_config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    # Tests pass the URL in; otherwise read it exactly as the app does.
    url = alembic_config.get_main_option("sqlalchemy.url")
    if url:
        return url
    tracker_config.instance_path().mkdir(parents=True, exist_ok=True)
    return tracker_config.from_environment()["DATABASE_URL"]


def run_migrations_online() -> None:
    engine = make_engine(database_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,  # SQLite can only ALTER by copying the table
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
