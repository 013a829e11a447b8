"""The mod_json_cdr HTTP receiver: 2xx only once the CDR is committed, 400 (kept in
quarantine) for a body that can never be parsed, 503 when the database fails.

Most tests call the WSGI application directly; one goes over real HTTP under waitress.
"""
from __future__ import annotations

import base64
import io
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid as uuidlib
import wsgiref.util
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cdr_ingest.http import MAX_BODY, CdrReceiver
from cdr_ingest.pipeline import Ingester
from painel.db import create_engine
from painel.demo import ensure_operator
from painel.models import Cdr, Circuit, QuarantinedCdr

ROOT = Path(__file__).resolve().parents[2]
LAB_JSON = ROOT / "tests/data/third_party/freeswitch/lab_1.10.12/json_cdr"
S6A = LAB_JSON / "s6a_out_local_fixed_a_f68bceb4-3a5d-4631-9639-486d399b171a.cdr.json"
S6A_UUID = "f68bceb4-3a5d-4631-9639-486d399b171a"
BODY = S6A.read_bytes()


@pytest.fixture
def demo_engine(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        ensure_operator(session)
        session.commit()
    return engine


@pytest.fixture
def app(demo_engine, settings) -> CdrReceiver:  # type: ignore[no-untyped-def]
    return CdrReceiver(Ingester(demo_engine, settings))


class Reply:
    def __init__(self, status: str, headers: list[tuple[str, str]], chunks: list[bytes]) -> None:
        self.code = int(status.split()[0])
        self.status = status
        self.headers = dict(headers)
        self.body = b"".join(chunks)

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body.decode("utf-8"))


def wsgi(app: CdrReceiver, method: str = "POST", path: str = "/cdr", body: bytes = b"", *,
         content_type: str | None = "application/json", headers: dict[str, str] | None = None) -> Reply:
    """Call the WSGI application as a server would."""
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body),
                    "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "10.0.0.7"})
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    environ.update(headers or {})
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, response_headers
        return lambda data: None

    chunks = list(app(environ, start_response))
    reply = Reply(captured["status"], captured["headers"], chunks)
    if reply.body:
        assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    return reply


def cdr_rows(engine) -> list[Any]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return list(session.execute(
            select(Cdr.uuid, Cdr.amount, Cdr.billable_seconds, Cdr.category, Cdr.direction, Cdr.source,
                   Cdr.source_ref, Circuit.number).join(Circuit, Cdr.circuit_id == Circuit.id)))


def quarantine_rows(engine) -> list[QuarantinedCdr]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return list(session.scalars(select(QuarantinedCdr).order_by(QuarantinedCdr.id)))


def basic(user_password: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(user_password.encode("utf-8")).decode("ascii")}


# ------------------------------------------------------------------ the WSGI application

def test_post_json_is_rated_once(app: CdrReceiver, demo_engine) -> None:  # type: ignore[no-untyped-def]
    reply = wsgi(app, body=BODY)
    assert reply.code == 200
    assert reply.json == {"uuid": S6A_UUID, "resultado": "tarifado"}
    (row,) = cdr_rows(demo_engine)
    assert row.uuid == S6A_UUID and row.number == "8011441"
    # local fixed call, 31 s answered -> 36 s at 0.10/min = 0.06 (demo plan PADRAO)
    assert (row.amount, row.billable_seconds, row.category, row.direction) == (
        Decimal("0.06"), 36, "local_fixo", "outbound")
    assert isinstance(row.amount, Decimal)
    assert (row.source, row.source_ref) == ("json", "http:10.0.0.7")

    # mod_json_cdr retries after a lost answer: the second post is a known duplicate
    reply = wsgi(app, body=BODY)
    assert (reply.code, reply.json["resultado"]) == (200, "duplicado")
    assert len(cdr_rows(demo_engine)) == 1


@pytest.mark.parametrize(("body", "content_type"), [
    pytest.param(b"cdr=" + urllib.parse.quote_plus(BODY).encode("ascii"), "application/x-www-form-urlencoded",
                 id="form-urlencoded"),
    pytest.param(b"cdr=" + urllib.parse.quote(BODY).encode("ascii"), None, id="urlencoded-no-content-type"),
    pytest.param(b"cdr=" + base64.b64encode(BODY), "application/x-www-form-base64-encoded", id="form-base64"),
    pytest.param(b"\n  " + BODY + b"\n", "text/plain", id="raw-json-wrong-type"),
])
def test_post_encodings_of_the_same_cdr_are_duplicates(app: CdrReceiver, demo_engine, body: bytes,  # type: ignore[no-untyped-def]
                                                        content_type: str | None) -> None:
    assert wsgi(app, body=BODY).json["resultado"] == "tarifado"
    reply = wsgi(app, body=body, content_type=content_type)
    assert reply.code == 200, reply.body
    assert reply.json == {"uuid": S6A_UUID, "resultado": "duplicado"}
    assert len(cdr_rows(demo_engine)) == 1
    assert quarantine_rows(demo_engine) == []


def test_form_encoded_first_is_rated(app: CdrReceiver, demo_engine) -> None:  # type: ignore[no-untyped-def]
    body = b"cdr=" + urllib.parse.quote_plus(BODY).encode("ascii")
    reply = wsgi(app, body=body, content_type="application/x-www-form-urlencoded")
    assert (reply.code, reply.json["resultado"]) == (200, "tarifado")
    assert cdr_rows(demo_engine)[0].amount == Decimal("0.06")


@pytest.mark.parametrize(("body", "raw"), [
    pytest.param(b'{"broken', '{"broken', id="truncated-json"),
    pytest.param(b"isto nao e um cdr", "isto nao e um cdr", id="not-json"),
    pytest.param(b'{"variables": {}}', '{"variables": {}}', id="json-without-cdr-fields"),
    pytest.param(b"cdr=%7B%22broken", None, id="form-encoded-broken"),
])
def test_malformed_body_is_400_and_kept_in_quarantine(app: CdrReceiver, demo_engine, body: bytes,  # type: ignore[no-untyped-def]
                                                      raw: str | None) -> None:
    reply = wsgi(app, body=body)
    assert reply.code == 400
    assert reply.json["resultado"] == "quarentena" and reply.json["erro"]
    (entry,) = quarantine_rows(demo_engine)
    assert entry.reason == "malformed"
    assert entry.source_ref == "http:10.0.0.7"
    if raw is not None:
        assert entry.raw == raw  # the body is kept, nothing is lost
    assert entry.resolved_at is None
    assert cdr_rows(demo_engine) == []
    # the same garbage again is still 400, quarantined once
    assert wsgi(app, body=body).code == 400
    assert len(quarantine_rows(demo_engine)) == 1


def test_unknown_circuit_is_accepted_into_quarantine(app: CdrReceiver, demo_engine) -> None:  # type: ignore[no-untyped-def]
    other_uuid = str(uuidlib.uuid4())
    body = BODY.decode("utf-8").replace("8011441", "8099999").replace(S6A_UUID, other_uuid).encode("utf-8")
    reply = wsgi(app, body=body)
    assert reply.code == 202  # committed to quarantine: the switch must not retry
    assert reply.json == {"uuid": other_uuid, "resultado": "quarentena", "motivo": "unknown_circuit"}
    (entry,) = quarantine_rows(demo_engine)
    assert (entry.reason, entry.uuid) == ("unknown_circuit", other_uuid)


@pytest.mark.parametrize(("method", "path", "code", "key"), [
    pytest.param("GET", "/health", 200, "status", id="get-health"),
    pytest.param("HEAD", "/health", 200, "status", id="head-health"),
    pytest.param("GET", "/cdr", 405, "erro", id="get-cdr"),
    pytest.param("PUT", "/cdr", 405, "erro", id="put-cdr"),
    pytest.param("DELETE", "/", 405, "erro", id="delete-root"),
])
def test_methods_and_paths(app: CdrReceiver, demo_engine, method: str, path: str, code: int, key: str) -> None:  # type: ignore[no-untyped-def]
    reply = wsgi(app, method, path, content_type=None)
    assert reply.code == code
    assert key in reply.json
    if code == 405:
        assert "POST" in reply.json["erro"]
    assert cdr_rows(demo_engine) == [] and quarantine_rows(demo_engine) == []


def test_body_too_large_is_413(app: CdrReceiver, demo_engine) -> None:  # type: ignore[no-untyped-def]
    environ_headers = {"CONTENT_LENGTH": str(MAX_BODY + 1)}
    reply = wsgi(app, body=b"", headers=environ_headers)
    assert reply.code == 413 and "grande" in reply.json["erro"]
    assert quarantine_rows(demo_engine) == []


@pytest.mark.parametrize(("credentials", "headers", "code"), [
    pytest.param("fs:segredo", {}, 401, id="no-auth"),
    pytest.param("fs:segredo", basic("fs:errado"), 401, id="wrong-password"),
    pytest.param("fs:segredo", basic("outro:segredo"), 401, id="wrong-user"),
    pytest.param("fs:segredo", basic("fs:segredo "), 401, id="trailing-space"),
    pytest.param("fs:segredo", basic("fs:señha"), 401, id="non-ascii-password"),
    pytest.param("fs:segredo", {"HTTP_AUTHORIZATION": "Basic !!!não-é-base64"}, 401, id="bad-base64"),
    pytest.param("fs:segredo", {"HTTP_AUTHORIZATION": "Bearer abc"}, 401, id="other-scheme"),
    pytest.param("fs:segredo", basic("fs:segredo"), 200, id="correct"),
    pytest.param("fs:señha", basic("fs:señha"), 200, id="correct-non-ascii"),
    pytest.param("", {}, 200, id="no-credentials-configured"),
])
def test_basic_auth(demo_engine, settings, credentials: str, headers: dict[str, str], code: int) -> None:  # type: ignore[no-untyped-def]
    app = CdrReceiver(Ingester(demo_engine, settings), credentials)
    reply = wsgi(app, body=BODY, headers=headers)
    assert reply.code == code
    if code == 401:
        assert reply.headers["WWW-Authenticate"].startswith("Basic ")
        assert cdr_rows(demo_engine) == [] and quarantine_rows(demo_engine) == []  # nothing stored
    else:
        assert reply.json["resultado"] == "tarifado"
    # /health needs no credentials (monitoring)
    assert wsgi(app, "GET", "/health", content_type=None).code == 200


def test_database_failure_is_503(demo_engine, settings, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """The table the CDR goes to is gone: 503 so mod_json_cdr keeps the CDR and retries."""
    app = CdrReceiver(Ingester(demo_engine, settings))
    app.ingester.refresh_catalog()  # the catalog loads fine; the write fails
    with demo_engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE cdrs RENAME TO cdrs_fora"))
    try:
        reply = wsgi(app, body=BODY)
        assert reply.code == 503
        assert "banco de dados" in reply.json["erro"]
        assert "resultado" not in reply.json
    finally:
        demo_engine.dispose()  # start again on fresh connections, as after a real outage
        with demo_engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE cdrs_fora RENAME TO cdrs"))
    assert cdr_rows(demo_engine) == [] and quarantine_rows(demo_engine) == []
    # the retry of mod_json_cdr once the database is back
    reply = wsgi(app, body=BODY)
    assert (reply.code, reply.json["resultado"]) == (200, "tarifado")


def test_unreachable_database_is_503(settings, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        bad = f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    else:
        bad = url.set(database=f"painel_nao_existe_{uuidlib.uuid4().hex[:8]}").render_as_string(hide_password=False)
    engine = create_engine(bad)
    try:
        app = CdrReceiver(Ingester(engine, settings.replace(database_url=bad)))
        for body in (BODY, b'{"broken'):  # not even quarantine can be written: 503, never 400
            reply = wsgi(app, body=body)
            assert reply.code == 503
            assert "falha no banco de dados" in reply.json["erro"]
    finally:
        engine.dispose()


# ------------------------------------------------------------------ over real HTTP (waitress)

@pytest.fixture
def server(app: CdrReceiver):  # type: ignore[no-untyped-def]
    from waitress import create_server

    srv = create_server(app, host="127.0.0.1", port=0, threads=2, asyncore_loop_timeout=0.05,
                        clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=srv.run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.effective_port}"
    finally:
        # close inside the server's own loop thread (closing its sockets from here races its select)
        srv.trigger.pull_trigger(srv.close)
        thread.join(timeout=2)
        srv.task_dispatcher.shutdown()
        assert not thread.is_alive()


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read() or b"{}")


def test_over_http_with_waitress(server: str, demo_engine) -> None:  # type: ignore[no-untyped-def]
    assert http(f"{server}/health") == (200, {"status": "ok"})
    assert http(f"{server}/cdr")[0] == 405

    json_headers = {"Content-Type": "application/json"}
    assert http(f"{server}/cdr", BODY, json_headers) == (200, {"uuid": S6A_UUID, "resultado": "tarifado"})
    (row,) = cdr_rows(demo_engine)
    assert (row.uuid, row.number, row.amount) == (S6A_UUID, "8011441", Decimal("0.06"))
    assert row.source_ref == "http:127.0.0.1"

    assert http(f"{server}/cdr", BODY, json_headers) == (200, {"uuid": S6A_UUID, "resultado": "duplicado"})
    form = urllib.parse.urlencode({"cdr": BODY.decode("utf-8")}).encode("ascii")
    assert http(f"{server}/cdr", form, {"Content-Type": "application/x-www-form-urlencoded"}) == (
        200, {"uuid": S6A_UUID, "resultado": "duplicado"})
    assert len(cdr_rows(demo_engine)) == 1

    code, reply = http(f"{server}/cdr", b'{"broken', json_headers)
    assert code == 400 and reply["resultado"] == "quarentena"
    (entry,) = quarantine_rows(demo_engine)
    assert (entry.reason, entry.raw) == ("malformed", '{"broken')
    with Session(demo_engine) as session:
        assert session.scalar(select(func.count()).select_from(Cdr)) == 1
