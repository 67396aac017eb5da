"""alembic environment: runs migrations online against the configured URL."""

from alembic import context

from octolb.db.models import Base
from octolb.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connectable = make_engine(config.get_main_option("sqlalchemy.url"))
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


run()
