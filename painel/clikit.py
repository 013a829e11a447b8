"""Building blocks shared by every component's CLI commands (no commands here)."""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from painel.db import create_engine, session_factory
from painel.errors import DatabaseError, PainelError

if TYPE_CHECKING:
    from painel.settings import Settings


@dataclass
class AppContext:
    """What every command receives: settings, and the engine made on first use."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.settings.database_url)
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)


pass_app = click.make_pass_decorator(AppContext)


class PainelGroup(click.Group):
    """A click group that turns ``PainelError`` into a message and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PainelError as exc:
            click.echo(f"erro: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except OperationalError as exc:  # unreachable/failed database: exit 3, as documented
            error = DatabaseError(f"falha no banco de dados: {exc.orig}")
            click.echo(f"erro: {error.message}", err=True)
            ctx.exit(error.exit_code)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # migrations and the WSGI server are chatty at INFO; operators grep painel.* lines
    logging.getLogger("alembic").setLevel(logging.WARNING)
