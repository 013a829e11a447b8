"""The HTTP receiver mod_json_cdr posts to.

FreeSWITCH retries a post that did not get a 2xx and, after its retries, writes the
CDR to its err-log-dir; so the receiver answers 2xx only after the CDR is committed
(stored, a known duplicate, or safely quarantined), 400 for a body that can never be
parsed (it is quarantined first, so nothing is lost), and 503 when the database
fails, so the switch keeps the CDR and tries again.
"""
from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from cdr_ingest.parse_json import decode_post_body
from cdr_ingest.pipeline import Ingester, Item
from painel.errors import CdrParseError, DatabaseError, PainelError

log = logging.getLogger("painel.cdr.http")

MAX_BODY = 4 * 1024 * 1024  # a CDR is a few tens of KB; refuse anything absurd

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _reply(start_response: StartResponse, status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    start_response(status, [("Content-Type", "application/json; charset=utf-8"),
                            ("Content-Length", str(len(data)))])
    return [data]


class CdrReceiver:
    """WSGI application: ``POST /cdr`` (any path but /health) with one mod_json_cdr document."""

    def __init__(self, ingester: Ingester, credentials: str = "") -> None:
        self.ingester = ingester
        self.credentials = credentials

    def _authorized(self, environ: dict[str, Any]) -> bool:
        if not self.credentials:
            return True
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True)
        except ValueError:  # binascii.Error, or a non-ASCII header (WSGI headers are latin-1 str)
            return False
        # bytes: compare_digest refuses str with non-ASCII characters (TypeError -> 500)
        return hmac.compare_digest(given, self.credentials.encode("utf-8"))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path == "/health":
            return _reply(start_response, "200 OK", {"status": "ok"})
        if method != "POST":
            return _reply(start_response, "405 Method Not Allowed", {"erro": "use POST com o CDR em JSON"})
        if not self._authorized(environ):
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="painel-cdr"'),
                                                ("Content-Length", "0")])
            return [b""]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return _reply(start_response, "413 Payload Too Large", {"erro": "CDR grande demais"})
        body = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read(MAX_BODY)
        source_ref = f"http:{environ.get('REMOTE_ADDR', '?')}"
        try:
            text = decode_post_body(body, environ.get("CONTENT_TYPE"))
        except CdrParseError as exc:
            text = body.decode("utf-8", "replace")
            item = Item(text, exc, "json", source_ref)
        else:
            item = self.ingester.json_item(text, source_ref)
        try:
            stats = self.ingester.ingest_items([item])
        except DatabaseError as exc:
            log.error("cdr não gravado (o FreeSWITCH vai reenviar): %s", exc.message)
            return _reply(start_response, "503 Service Unavailable", {"erro": exc.message})
        except PainelError as exc:  # pragma: no cover - defensive
            log.error("cdr não gravado: %s", exc.message)
            return _reply(start_response, "500 Internal Server Error", {"erro": exc.message})
        if isinstance(item.parsed, CdrParseError):
            log.warning("cdr malformado em quarentena (%s): %s", source_ref, item.parsed.message)
            return _reply(start_response, "400 Bad Request",
                          {"erro": item.parsed.message, "resultado": "quarentena"})
        uuid = item.parsed.uuid
        if stats.quarantined:
            reason = next(iter(stats.reasons), "")
            log.warning("cdr %s em quarentena: %s", uuid, reason)
            return _reply(start_response, "202 Accepted", {"uuid": uuid, "resultado": "quarentena", "motivo": reason})
        result = "duplicado" if stats.duplicate else "tarifado"
        log.info("cdr %s %s", uuid, result)
        return _reply(start_response, "200 OK", {"uuid": uuid, "resultado": result})


def serve(app: CdrReceiver, listen: str, threads: int = 4) -> None:
    """Run the receiver under waitress (a production WSGI server)."""
    from waitress import serve as waitress_serve

    host, _, port = listen.rpartition(":")
    waitress_serve(app, host=host.strip("[]") or "127.0.0.1", port=int(port), threads=threads,
                   ident="painel-cdr", clear_untrusted_proxy_headers=True)
