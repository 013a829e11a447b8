"""The one exception tree of Painel.

Every error the system raises on purpose is a ``PainelError``. Edges translate it:
the CLI prints ``message`` and exits with ``exit_code``; the web and HTTP receivers
answer ``http_status`` with the pt-BR ``message``; the router logs it with the call
UUID and falls back. Messages are Brazilian Portuguese because operators and
subscribers read them.
"""
from __future__ import annotations

# Exit codes shared by every CLI command (documented in the README).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # bad argument, unknown circuit / number / invoice
EXIT_DATABASE = 3  # the database could not be reached or failed
EXIT_INPUT = 4  # an input file could not be read
EXIT_LOCKED = 75  # another run holds the lock (EX_TEMPFAIL: cron may retry)


class PainelError(Exception):
    """Root of every deliberate error in Painel."""

    exit_code: int = EXIT_FAILURE
    http_status: int = 500

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: short machine-readable code (quarantine reasons, logs)
        self.reason = reason or type(self).__name__

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class ConfigError(PainelError):
    """Settings are missing or invalid."""

    exit_code = EXIT_USAGE


class ValidationError(PainelError):
    """Input given by a person or a file is not acceptable."""

    exit_code = EXIT_USAGE
    http_status = 400


class InvalidNumber(ValidationError):
    """A telephone number cannot be normalized or classified."""

    def __init__(self, raw: str, why: str) -> None:
        super().__init__(f"número inválido {raw!r}: {why}", reason="bad_number")
        self.raw = raw
        self.why = why


class NotFound(PainelError):
    """Something named by the caller does not exist."""

    exit_code = EXIT_USAGE
    http_status = 404


class UnknownCircuit(NotFound):
    def __init__(self, circuit: str) -> None:
        super().__init__(f"circuito desconhecido: {circuit}", reason="unknown_circuit")
        self.circuit = circuit


class UnknownDid(NotFound):
    def __init__(self, did: str) -> None:
        super().__init__(f"número (DID) desconhecido: {did}", reason="unknown_did")
        self.did = did


class RatingError(PainelError):
    """A call cannot be priced."""

    exit_code = EXIT_USAGE


class NoPlan(RatingError):
    def __init__(self, message: str) -> None:
        super().__init__(message, reason="no_plan")


class CdrParseError(PainelError):
    """A CDR record is malformed."""

    exit_code = EXIT_INPUT
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="malformed")


class InputError(PainelError):
    """An input file or stream cannot be read at all."""

    exit_code = EXIT_INPUT


class DatabaseError(PainelError):
    """The database failed or cannot be reached."""

    exit_code = EXIT_DATABASE
    http_status = 503


class ConflictError(PainelError):
    """The operation conflicts with the state (e.g. a month already invoiced)."""

    exit_code = EXIT_USAGE
    http_status = 409


class LockedError(PainelError):
    """Another run holds the lock for this job."""

    exit_code = EXIT_LOCKED
    http_status = 409
