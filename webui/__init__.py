"""webui: the subscriber portal ("painel do assinante") and the operator's admin pages (/admin).

``create_app`` is the factory: it receives the ``Settings`` (and optionally an engine)
and wires Flask-Login, CSRF protection (Flask-WTF), rate limiting (Flask-Limiter), the
security headers and the blueprints. Views get a database session per request from
``webui.db.db()``; everything they show is Brazilian Portuguese.
"""
from __future__ import annotations

import logging
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import Engine

from painel.settings import Settings

log = logging.getLogger("painel.web")


#: SQLite's page cache per connection of the portal (painel.db.SQLITE_CACHE_MIB is for bulk
#: writers): each request reads a few pages, and every thread of every worker has its own
#: connection; at 64 MiB each, a 2 x 8 portal grew by ~90 MiB a minute towards 1 GiB of caches
#: holding the same pages the operating system already caches once
WEB_SQLITE_CACHE_MIB = 4


def ensure_secret_key(settings: Settings) -> str:
    """The configured key, or one generated once and kept (0600) under var_dir.

    Safe when several processes start at once: the key is written to a private temporary
    file and linked into place, so a reader never sees a half-written key and the first
    process to link wins; the others read its key.
    """
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.var_dir) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        os.link(tmp, path)
        log.info("chave de sessão criada em %s", path)
    except FileExistsError:
        pass  # another process created it first: use that one
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


def _limit_only_decorated_views(app: Flask, limiter) -> None:  # type: ignore[no-untyped-def]
    """Drop Flask-Limiter's check before every request when nothing is limited app-wide.

    Every limit here is declared on its view (the logins' POST, the password change), and
    such a limit is checked by the view's own decorator; the before-request check only
    applies default, application and meta limits, and there are none, so on every other
    page it would resolve limits only to find nothing. With any of them configured the
    check stays.
    """
    manager = limiter.limit_manager
    if manager.application_limits or manager.default_limits or getattr(limiter, "_meta_limits", None):
        return
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)


def create_app(settings: Settings, engine: Engine | None = None, *, testing: bool = False) -> Flask:
    from billing.chart import FinishedMonthCounts
    from painel.db import create_engine
    from webui import auth, errors, security
    from webui.admin import admin
    from webui.db import init_db
    from webui.extensions import csrf, limiter, login_manager
    from webui.portal import portal

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=ensure_secret_key(settings),
        TESTING=testing,
        SESSION_COOKIE_NAME="painel_sessao",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web_secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.web_session_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_STORAGE_URI=settings.web_limiter_storage,
        RATELIMIT_HEADERS_ENABLED=False,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        PAINEL_SETTINGS=settings,
    )
    init_db(app, engine or create_engine(settings.database_url, sqlite_cache_mib=WEB_SQLITE_CACHE_MIB))
    if settings.web_chart_cache_seconds > 0:
        app.extensions["painel_chart_cache"] = FinishedMonthCounts(ttl=settings.web_chart_cache_seconds)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    _limit_only_decorated_views(app, limiter)
    security.init_app(app)
    errors.init_app(app)
    if settings.web_proxy_count > 0:
        # the client's address (login limits per address, audit) and scheme as the proxy saw them
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.web_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.register_blueprint(auth.bp)
    app.register_blueprint(portal)
    app.register_blueprint(admin)
    return app
