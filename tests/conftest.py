"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from PAINEL_TEST_PG_URL (default: the local server, user postgres).
Each test session creates its own database and drops it at the end. When the server
is missing, the PostgreSQL half of the tests is skipped with a loud summary line —
except when PAINEL_REQUIRE_PG=1 (set by .ci/run), where it fails instead.

Data that many tests start from (the demo operator, the demo with its traffic and
billing) is built once per session and engine by ``db_templates`` and copied into each
test's own database; see ``DbTemplates``.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import jinja2.bccache
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine, make_url
from werkzeug.security import generate_password_hash

from painel.db import create_engine, upgrade
from painel.demo import DEMO_PASSWORD
from painel.models import AdminUser, Base, Circuit
from painel.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
THIRD_PARTY = DATA / "third_party" / "freeswitch"
LAB = THIRD_PARTY / "lab_1.10.12"

PG_ADMIN_URL = os.environ.get("PAINEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("PAINEL_REQUIRE_PG") == "1"

_pg_state: dict[str, object] = {}


class _SharedBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept for the whole session, shared by every Flask app the tests create.

    Each test builds its own app, and each app's Jinja environment compiled every template
    it rendered again (about 0.1 s a test). Jinja checks each entry against its template's
    source checksum, so an edited template is compiled anew.
    """

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _SharedBytecodeCache()}


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    if "error" not in _pg_state:
        try:
            eng = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
            with eng.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            eng.dispose()
            _pg_state["error"] = None
        except Exception as exc:  # any failure to connect means "not available"
            _pg_state["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return _pg_state["error"]  # type: ignore[return-value]


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    error = _pg_state.get("error")
    if not error:  # under pytest-xdist the workers saw it: their skips say why
        for report in terminalreporter.stats.get("skipped", []):
            reason = str(getattr(report, "longrepr", ""))
            if "PostgreSQL not available: " in reason:
                error = reason.split("PostgreSQL not available: ", 1)[1].rstrip("')")
                break
    if error:
        terminalreporter.write_line(
            f"PostgreSQL tests were NOT run ({error}); only SQLite was tested.",
            red=True, bold=True,
        )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    reason = _pg_available()
    if reason is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required here (PAINEL_REQUIRE_PG=1) but unavailable: {reason}")
        pytest.skip(f"PostgreSQL not available: {reason}")
    name = f"painel_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ), {"n": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def _table_names() -> list[str]:
    """The models' tables, parents before children."""
    return [t.name for t in Base.metadata.sorted_tables]


#: the tables of a PostgreSQL database that differ from freshly truncated ones: rows were
#: written to them (the heap has pages: even a rolled-back insert leaves one) or a sequence
#: they own has handed out a value (TRUNCATE ... RESTART IDENTITY resets it)
_PG_DIRTY_TABLES = sa.text("""
    SELECT t.relname FROM pg_class t
    WHERE t.relnamespace = 'public'::regnamespace AND t.relkind = 'r' AND t.relname = ANY(:names)
      AND (pg_relation_size(t.oid) > 0 OR EXISTS (
            SELECT 1 FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
            WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
              AND d.refobjid = t.oid AND d.deptype IN ('a', 'i')
              AND CASE WHEN s.relkind = 'S' THEN pg_sequence_last_value(s.oid) IS NOT NULL ELSE false END))
""")


def _pg_dirty_tables(conn: sa.Connection) -> list[str]:
    return list(conn.execute(_PG_DIRTY_TABLES, {"names": _table_names()}).scalars())


def _truncate_pg(engine: Engine) -> None:
    """Empty every table and restart their sequences, as ``TRUNCATE <all> RESTART IDENTITY CASCADE``.

    Only the tables that are not already in that state are truncated (truncating a table
    costs a new file for it and each of its indexes, whether it holds rows or not); the
    result is the same.
    """
    with engine.begin() as conn:
        dirty = _pg_dirty_tables(conn)
        if dirty:
            names = ", ".join(f'"{name}"' for name in dirty)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database; the test runs once per engine."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "painel.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        eng = create_engine(url)
        _truncate_pg(eng)
        eng.dispose()
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(environ={}, overrides={"database_url": db_url, "var_dir": str(tmp_path / "var")})


# ------------------------------------------------------------------ database templates

#: one step of building a template: a name, and a function of (settings, engine) that
#: writes the data (settings is None for steps that need none: no files, no options)
Step = tuple[str, Callable[[Settings | None, Engine], object]]


def _build_demo_operator(settings: Settings | None, engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from painel.demo import ensure_operator

    with Session(engine) as session:
        ensure_operator(session)
        session.commit()
    with engine.begin() as conn:
        conn.execute(sa.update(Circuit).values(web_password_hash=TEST_PASSWORD_HASH))
        conn.execute(sa.update(AdminUser).values(password_hash=TEST_PASSWORD_HASH))


#: the demo's password (``painel-demo``) hashed as every stored password is, but with
#: PBKDF2 at 1,000 rounds instead of scrypt's default cost: hundreds of tests sign in
#: through the real forms, and at ~0.15 s a verification the default cost was a fifth of
#: their time. Only the demo data of the tests carries it; what the application hashes
#: (new passwords, "gerar nova senha", the CLI) is hashed at the default cost.
TEST_PASSWORD_HASH = generate_password_hash(DEMO_PASSWORD, method="pbkdf2:sha256:1000")


#: the demo operator (circuit 8011441 and friends, plan PADRAO, staff accounts): ``demo_db``
DEMO_OPERATOR: Step = ("demo-operator", _build_demo_operator)


@dataclass
class _Template:
    """A database state built once, and what copying it into a test's database takes."""

    #: the var directory the build wrote into (CDR files, PDFs), copied to each test's
    var_dir: Path
    #: SQLite: the built file
    sqlite_path: Path | None = None
    #: PostgreSQL: the schema of the session database holding a copy of each table, the
    #: columns to insert back, and (sequence, last_value) of the sequences that were called
    schema: str | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)
    sequences: list[tuple[str, int]] = field(default_factory=list)
    #: (table, column, length) of text columns that hold the build's var directory (the CDR
    #: files' paths), rewritten to each test's own
    path_columns: list[tuple[str, str, int | None]] = field(default_factory=list)


class DbTemplates:
    """Database states built once per session and engine, copied into each test's database.

    ``seed(request, engine, steps, settings)`` leaves the test's database as running
    ``steps`` on it would, but runs them only once per session (per engine and settings):

    * SQLite: the test gets a copy of the built file;
    * PostgreSQL: the built tables are kept in a schema of the session database and
      inserted back into its (empty) tables, sequences included. (Recreating the session
      database with ``CREATE DATABASE ... TEMPLATE`` was measured too: it takes 0.3 to 1.5 s
      a test on this machine, copying the rows 0.05 s. Neither keeps rows in the order
      the build left them on disk; the build itself does not either, from one run to
      the next.)

    Files the steps wrote under the settings' var directory are copied into the test's
    own, and the build's var directory stored in the data (CDR file paths) is rewritten
    to the test's. A copy is only made into a database that is still exactly as
    ``db_url`` left it; a test whose fixtures wrote something first gets the steps run on
    its database, as they always were. Steps that a test's database already went through
    (``demo_db`` after ``portal_db``) are not run again, as with fixtures.
    """

    DEMO_OPERATOR = DEMO_OPERATOR

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._built: dict[tuple, _Template] = {}
        self._applied: dict[tuple[str, str], list[str]] = {}
        self._digests: dict[str, str] = {}
        self._counter = itertools.count(1)

    def seed(self, request: pytest.FixtureRequest, engine: Engine, steps: Sequence[Step],
             settings: Settings | None = None) -> Engine:
        url = engine.url.render_as_string(hide_password=False)
        names = [name for name, _ in steps]
        done = self._applied.setdefault((request.node.nodeid, url), [])
        if done[:len(names)] == names:
            return engine
        if not done and self._pristine(request, engine):
            sqlite = engine.dialect.name == "sqlite"
            key = (tuple(names), engine.dialect.name, None if sqlite else url,
                   settings.replace(database_url="", var_dir="") if settings is not None else None)
            template = self._built.get(key)
            if template is None:
                template = self._built[key] = self._build(engine, steps, settings)
            self._restore(template, engine, settings)
            done.extend(names)
            return engine
        for name, build in steps:
            if name not in done:
                build(settings, engine)
                done.append(name)
        return engine

    # ------------------------------------------------------------ is it untouched?
    def _pristine(self, request: pytest.FixtureRequest, engine: Engine) -> bool:
        if engine.dialect.name == "sqlite":
            path = Path(engine.url.database or "")
            if any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm", "-journal")):
                return False  # a connection is open, or a write is pending
            template = request.getfixturevalue("sqlite_template")
            return path.is_file() and _digest(path) == self._digest(template)
        with engine.connect() as conn:
            return not _pg_dirty_tables(conn)

    def _digest(self, path: Path) -> str:
        key = str(path)
        if key not in self._digests:
            self._digests[key] = _digest(path)
        return self._digests[key]

    # ------------------------------------------------------------ building
    def _build(self, engine: Engine, steps: Sequence[Step], settings: Settings | None) -> _Template:
        folder = self._tmp.mktemp("db-template")
        template = _Template(var_dir=folder / "var")
        if engine.dialect.name == "sqlite":
            template.sqlite_path = folder / "painel.db"
            # the test's file is still a copy of the migrated template
            shutil.copyfile(engine.url.database or "", template.sqlite_path)
            url = f"sqlite:///{template.sqlite_path}"
        else:
            url = engine.url.render_as_string(hide_password=False)  # the session database, still empty
        build_settings = (settings.replace(database_url=url, var_dir=str(template.var_dir))
                          if settings is not None else None)
        build_engine = create_engine(url)
        try:
            for _, build in steps:
                build(build_settings, build_engine)
            with build_engine.connect() as conn:
                template.path_columns = _path_columns(conn, str(template.var_dir))
        finally:
            build_engine.dispose()
        if template.sqlite_path is not None:
            # fold any write-ahead log left into the file (closing the last connection removes it)
            con = sqlite3.connect(template.sqlite_path)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.close()
        else:
            self._keep_pg(template, engine)
        return template

    def _keep_pg(self, template: _Template, engine: Engine) -> None:
        """Copy the tables the build filled into a schema of their own, then empty them again."""
        schema = template.schema = f"painel_template_{next(self._counter)}"
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            for table in _table_names():
                conn.execute(sa.text(f'CREATE TABLE "{schema}"."{table}" AS TABLE public."{table}"'))
                template.columns[table] = list(conn.execute(sa.text(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = :t AND is_generated = 'NEVER' ORDER BY ordinal_position"),
                    {"t": table}).scalars())
            sequences = conn.execute(sa.text("""
                SELECT DISTINCT s.relname FROM pg_class s
                JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
                     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                JOIN pg_class t ON t.oid = d.refobjid
                WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace AND t.relname = ANY(:names)
                ORDER BY s.relname"""), {"names": _table_names()}).scalars().all()
            for name in sequences:
                last_value, is_called = conn.execute(
                    sa.text(f'SELECT last_value, is_called FROM public."{name}"')).one()
                if is_called:
                    template.sequences.append((f'public."{name}"', last_value))
        _truncate_pg(engine)

    # ------------------------------------------------------------ copying
    def _restore(self, template: _Template, engine: Engine, settings: Settings | None) -> None:
        if template.sqlite_path is not None:
            engine.dispose()  # no connection is open (the file was checked), none may be kept
            shutil.copyfile(template.sqlite_path, engine.url.database or "")
        if template.schema is not None or template.path_columns:
            with engine.begin() as conn:
                if template.schema is not None:
                    for table in _table_names():
                        cols = ", ".join(f'"{c}"' for c in template.columns[table])
                        conn.execute(sa.text(f'INSERT INTO public."{table}" ({cols}) OVERRIDING SYSTEM VALUE '
                                             f'SELECT {cols} FROM "{template.schema}"."{table}"'))
                    for name, last_value in template.sequences:
                        conn.execute(sa.text("SELECT setval(:s, :v)"), {"s": name, "v": last_value})
                if template.path_columns:
                    assert settings is not None
                    _rewrite_paths(conn, template.path_columns, str(template.var_dir), settings.var_dir)
        if settings is not None and template.var_dir.is_dir():
            shutil.copytree(template.var_dir, settings.var_dir, dirs_exist_ok=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _path_columns(conn: sa.Connection, var_dir: str) -> list[tuple[str, str, int | None]]:
    """The text columns where some row holds ``var_dir``."""
    find = "instr" if conn.dialect.name == "sqlite" else "strpos"
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.String) and conn.execute(sa.text(
                    f'SELECT 1 FROM "{table.name}" WHERE {find}("{column.name}", :p) > 0 LIMIT 1'),
                    {"p": var_dir}).first():
                found.append((table.name, column.name, column.type.length))
    return found


def _rewrite_paths(conn: sa.Connection, columns: list[tuple[str, str, int | None]], old: str, new: str) -> None:
    find = "instr" if conn.dialect.name == "sqlite" else "strpos"
    for table, column, length in columns:
        value = f'replace("{column}", :old, :new)'
        if length:  # as the application cuts it: str(path)[:length]
            value = f"substr({value}, 1, {length})"
        conn.execute(sa.text(f'UPDATE "{table}" SET "{column}" = {value} WHERE {find}("{column}", :old) > 0'),
                     {"old": old, "new": new})


@pytest.fixture(scope="session")
def db_templates(tmp_path_factory: pytest.TempPathFactory) -> DbTemplates:
    return DbTemplates(tmp_path_factory)


@pytest.fixture
def demo_db(request: pytest.FixtureRequest, engine: Engine, db_templates: DbTemplates) -> Engine:
    """The engine with the demo operator (circuit 8011441 and friends, plan PADRAO) loaded."""
    return db_templates.seed(request, engine, [DEMO_OPERATOR])
