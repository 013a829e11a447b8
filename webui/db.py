"""A database session per request, closed when the request ends."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from painel.settings import Settings


def init_db(app: Flask, engine: Engine) -> None:
    app.extensions["painel_engine"] = engine
    app.extensions["painel_sessions"] = sessionmaker(engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("painel_db", None)
        if session is not None:
            session.close()


def db() -> Session:
    """This request's session (the caller commits what it changes)."""
    if "painel_db" not in g:
        g.painel_db = current_app.extensions["painel_sessions"]()
    return g.painel_db


def engine() -> Engine:
    return current_app.extensions["painel_engine"]


def settings() -> Settings:
    return current_app.config["PAINEL_SETTINGS"]
