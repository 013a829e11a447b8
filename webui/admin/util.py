"""Small helpers the admin sections share: messages, the clock, uploads, where to go back to."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, request

from painel.errors import PainelError
from webui.auth import is_local_path
from webui.db import settings

#: the largest CSV accepted by the upload forms (the app refuses bodies above MAX_CONTENT_LENGTH too)
UPLOAD_MAX = 2 * 1024 * 1024


def sentence(message: str) -> str:
    """A service message ("o circuito 8011441 está desativado") as the page shows it."""
    text = message.strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def error_text(exc: PainelError) -> str:
    return sentence(exc.message)


def now_utc() -> datetime:
    """The current time (aware, UTC); ``PAINEL_CLOCK`` in the app config overrides it (tests pin it)."""
    clock: Callable[[], datetime] | None = current_app.config.get("PAINEL_CLOCK")
    return clock().astimezone(timezone.utc) if clock is not None else datetime.now(timezone.utc)


def operator_zone() -> ZoneInfo:
    return ZoneInfo(settings().default_timezone)


def back_to(default: str) -> str:
    """The admin page named in the form's ``voltar`` field, else ``default`` (never elsewhere)."""
    target = (request.form.get("voltar") or request.args.get("voltar") or "").strip()
    if is_local_path(target) and target.startswith("/admin/"):
        return target
    return default


class UploadError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def uploaded_text(field: str = "arquivo", pasted: str | None = "texto") -> tuple[str, str]:
    """(file name, text) of the CSV sent in ``field``, or pasted into ``pasted``; UploadError if none.

    UTF-8 (with or without BOM), else Latin-1, as spreadsheets save it.
    """
    upload = request.files.get(field)
    if upload is not None and upload.filename:
        data = upload.read(UPLOAD_MAX + 1)
        if len(data) > UPLOAD_MAX:
            raise UploadError(f"Arquivo grande demais: o máximo é {UPLOAD_MAX // (1024 * 1024)} MB.")
        if b"\x00" in data:
            raise UploadError("O arquivo não é um CSV de texto (tem bytes nulos; salve como CSV UTF-8).")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        if not text.strip():
            raise UploadError("O arquivo está vazio.")
        return upload.filename[:100], text
    typed = (request.form.get(pasted) or "") if pasted else ""
    if typed.strip():
        return "texto colado", typed
    raise UploadError("Escolha o arquivo CSV" + (" ou cole as linhas." if pasted else "."))
