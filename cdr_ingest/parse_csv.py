"""mod_cdr_csv lines -> CdrRecord.

What FreeSWITCH 1.10.12 actually writes (mod_cdr_csv.c, switch_channel_expand_variables): the
template with each ``${var}`` replaced by the value *verbatim*. Nothing is escaped, so a ``"`` or a
``,`` inside a value (a caller-id name, say) goes out as is. The faithful reading of such a line is
therefore "strip the outer quotes, split on ``","``", which is also the fastest. Lines not in that
shape (templates with a space after the comma such as the stock ``snom``, unquoted columns, files
re-written by other tools with ``""`` or ``\\"`` escapes) fall back to the csv module.

Columns are found by variable name, from the template (see ``cdr_ingest.templates``), once per
parser; per row the work is index lookups, a few ``int()`` and cached timestamp conversions.
"""
from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdr_ingest.records import EARLIEST, LATEST, LATEST_EPOCH, MAX_LEG_SECONDS, MAX_UUID_LENGTH, CdrRecord
from cdr_ingest.templates import DEFAULT_CDR_CSV_CONF, detect_template, load_csv_templates
from painel.errors import CdrParseError, ConfigError, InputError

__all__ = ["CsvCdrParser", "detect_template", "split_line"]

UTC = timezone.utc
_MISSING = object()
#: CdrRecord is built positionally on the hot path (keyword construction costs more than the
#: rest of the row); refuse to run if these leading fields change. Fields appended after them
#: have defaults (dataclass rule), so they are simply left at their default.
_FIELD_ORDER = (
    "uuid", "leg", "source_format", "raw", "caller_id_number", "destination_number", "context",
    "start", "answer", "end", "duration", "billsec", "hangup_cause", "bleg_uuid",
    "originating_leg_uuid", "accountcode", "sip_from_user", "user_name", "painel", "sip_headers",
    "has_painel_fields",
)
_names = tuple(f.name for f in dataclasses.fields(CdrRecord))
if _names[: len(_FIELD_ORDER)] != _FIELD_ORDER:  # pragma: no cover
    raise ImportError(
        f"cdr_ingest.records.CdrRecord mudou os campos ({_names}); atualize cdr_ingest.parse_csv"
    )
del _names
#: bound on each timestamp cache; cleared when full (files are in hangup order, so hits are local)
_CACHE_LIMIT = 100_000
#: a b-leg names its a-leg in one of these (when the template has them)
_ORIGINATOR_COLUMNS = ("originating_leg_uuid", "originator")


class CsvCdrParser:
    """Parses lines written by one mod_cdr_csv template; build once, reuse for every line."""

    def __init__(
        self,
        template_fields: Sequence[str],
        switch_tz: str = "UTC",
        *,
        template_name: str = "",
    ) -> None:
        self.fields = list(template_fields)
        self.template_name = template_name
        self.field_count = len(self.fields)
        try:
            zone = ZoneInfo(switch_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"fuso horário do switch inválido: {switch_tz!r}") from exc
        # *_stamp columns are the switch's local time without an offset
        self._zone = None if switch_tz in ("UTC", "Etc/UTC", "UTC0", "Zulu") else zone

        first: dict[str, int] = {}
        dups: list[tuple[int, int, str]] = []
        for i, name in enumerate(self.fields):
            if name in first:
                dups.append((first[name], i, name))
            else:
                first[name] = i
        self._dups = tuple(dups)
        # one C call each to compare every duplicated column with its first occurrence
        self._dup_first = _getter([a for a, _, _ in dups])
        self._dup_other = _getter([b for _, b, _ in dups])
        get = first.get

        self._i_uuid = get("uuid")
        if self._i_uuid is None:
            raise ConfigError(f"o modelo {self._label()}não tem a coluna ${{uuid}}")
        self._i_start_epoch = get("start_epoch")
        self._i_start_stamp = get("start_stamp")
        if self._i_start_epoch is None and self._i_start_stamp is None:
            raise ConfigError(
                f"o modelo {self._label()}não tem ${{start_epoch}} nem ${{start_stamp}}"
            )
        self._i_answer_epoch = get("answer_epoch")
        self._i_answer_stamp = get("answer_stamp")
        self._i_end_epoch = get("end_epoch")
        self._i_end_stamp = get("end_stamp")
        self._i_caller = get("caller_id_number")
        self._i_dest = get("destination_number")
        self._i_context = get("context")
        self._i_duration = get("duration")
        self._i_billsec = get("billsec")
        self._i_cause = get("hangup_cause")
        self._i_bleg = get("bleg_uuid")
        self._i_account = get("accountcode")
        self._i_from_user = get("sip_from_user")
        self._i_user_name = get("user_name")
        self._i_originator = next(
            (first[n] for n in _ORIGINATOR_COLUMNS if n in first), None
        )
        self._painel = tuple((n, i) for n, i in first.items() if n.startswith("painel_"))
        #: a template without painel_* columns cannot say whose call a line is
        self.has_painel_fields = bool(self._painel)
        self._sip_h = tuple((n[6:], i) for n, i in first.items() if n.startswith("sip_h_"))
        # painel values fetched in one C call; most b-legs have none, and skip the dict
        self._painel_names = tuple(n for n, _ in self._painel)
        self._painel_get = _getter([i for _, i in self._painel]) if self._painel else None

        self._epoch_cache: dict[str, datetime | None] = {}
        self._stamp_cache: dict[str, datetime] = {}

    @classmethod
    def from_config(
        cls,
        template_name: str,
        conf_path: str | Path = DEFAULT_CDR_CSV_CONF,
        switch_tz: str = "UTC",
    ) -> CsvCdrParser:
        """A parser for a template named in a cdr_csv.conf.xml (Painel's own by default)."""
        templates = load_csv_templates(conf_path)
        if template_name not in templates:
            raise ConfigError(
                f"modelo {template_name!r} não existe em {str(conf_path)!r} "
                f"(há: {', '.join(sorted(templates))})"
            )
        return cls(templates[template_name], switch_tz, template_name=template_name)

    def _label(self) -> str:
        """The template name for messages (empty when the parser was built from a bare list)."""
        return f"'{self.template_name}' " if self.template_name else ""

    # -- lines ---------------------------------------------------------------------------------

    def split_line(self, line: str) -> list[str]:
        """Split one line (without its newline) into this template's fields."""
        return split_line(line, self.field_count)

    def parse_line(self, line: str) -> CdrRecord:
        """Split and parse one line (without its newline)."""
        return self.parse_row(self.split_line(line), line)

    def parse_lines(
        self, lines: Iterable[str], first_line_number: int = 1
    ) -> Iterator[tuple[int, str, CdrRecord | CdrParseError]]:
        """Parse text lines; a bad line yields its error instead of stopping the rest."""
        for number, line in enumerate(lines, first_line_number):
            line = _strip_newline(line)
            if not line:
                continue
            try:
                yield number, line, self.parse_row(self.split_line(line), line)
            except CdrParseError as exc:
                yield number, line, exc

    def parse_file(self, path: str | Path) -> Iterator[tuple[int, str, CdrRecord | CdrParseError]]:
        """Yield (line number, raw line, record or error) for every non-blank line of a CSV file.

        The file is opened here, so an unreadable file raises InputError at once; after that a
        malformed line never stops the file. Lines are UTF-8; a line that is not (an old phone's
        Latin-1 caller name) is read as Latin-1 rather than lost.
        """
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except OSError as exc:
            raise InputError(
                f"não foi possível ler o arquivo de CDR {str(path)!r}: {exc.strerror or exc}"
            ) from exc
        return self._iter_file(handle)

    def _iter_file(self, handle: BinaryIO) -> Iterator[tuple[int, str, CdrRecord | CdrParseError]]:
        with handle:
            for number, data in enumerate(handle, 1):
                try:
                    line = data.decode("utf-8")
                except UnicodeDecodeError:
                    line = data.decode("latin-1")
                line = _strip_newline(line)
                if not line:
                    continue
                try:
                    yield number, line, self.parse_row(self.split_line(line), line)
                except CdrParseError as exc:
                    yield number, line, exc

    # -- rows ----------------------------------------------------------------------------------

    def parse_row(self, fields: Sequence[str], raw: str) -> CdrRecord:
        """Turn one split line into a CdrRecord; raise CdrParseError (pt-BR) when it is malformed."""
        if len(fields) != self.field_count:
            raise CdrParseError(
                f"linha com {len(fields)} campos; o modelo {self._label()}tem {self.field_count}"
            )
        if "\x00" in raw:  # PostgreSQL stores no NUL in text; FreeSWITCH writes none (a damaged file)
            raise CdrParseError("linha com caractere NUL (arquivo danificado?)")
        if self._dups and self._dup_first(fields) != self._dup_other(fields):
            self._raise_duplicate_mismatch(fields)
        uuid = fields[self._i_uuid]
        if not uuid:
            raise CdrParseError("linha sem uuid")
        if len(uuid) > MAX_UUID_LENGTH:
            raise CdrParseError(f"uuid longo demais ({len(uuid)} caracteres): {uuid[:80]!r}")

        # epoch columns inline (the common case for the painel template), stamps via _time
        cache = self._epoch_cache
        i = self._i_start_epoch
        if i is not None and (value := fields[i]):
            start = cache.get(value, _MISSING)
            if start is _MISSING:
                start = self._convert_epoch(value, "início")
        else:
            start = self._time(fields, None, self._i_start_stamp, "início")
        if start is None:
            raise CdrParseError(f"linha sem horário de início (uuid {uuid})")
        i = self._i_answer_epoch
        if i is not None and (value := fields[i]):
            answer = cache.get(value, _MISSING)
            if answer is _MISSING:
                answer = self._convert_epoch(value, "atendimento")
        else:
            answer = self._time(fields, None, self._i_answer_stamp, "atendimento")
        i = self._i_end_epoch
        if i is not None and (value := fields[i]):
            end = cache.get(value, _MISSING)
            if end is _MISSING:
                end = self._convert_epoch(value, "término")
        else:
            end = self._time(fields, None, self._i_end_stamp, "término")

        i = self._i_duration
        if i is not None:
            try:
                duration = int(fields[i])
            except ValueError:
                raise CdrParseError(f"duration não numérico: {fields[i]!r} (uuid {uuid})") from None
        else:
            duration = int((end - start).total_seconds()) if end else 0
        i = self._i_billsec
        if i is not None:
            try:
                billsec = int(fields[i])
            except ValueError:
                raise CdrParseError(f"billsec não numérico: {fields[i]!r} (uuid {uuid})") from None
        else:
            billsec = int((end - answer).total_seconds()) if end and answer else 0
        if duration < 0 or billsec < 0:
            raise CdrParseError(f"duration/billsec negativo (uuid {uuid})")
        if duration > MAX_LEG_SECONDS or billsec > MAX_LEG_SECONDS:
            raise CdrParseError(f"duration/billsec fora do intervalo: {duration}/{billsec} (uuid {uuid})")

        i = self._i_originator
        if i is None:
            leg = ""
            originating = None
        else:
            originating = fields[i] or None
            leg = "b" if originating else "a"

        i = self._i_caller
        caller = fields[i] if i is not None else ""
        i = self._i_dest
        dest = fields[i] if i is not None else ""
        i = self._i_context
        context = fields[i] if i is not None else ""
        i = self._i_cause
        cause = fields[i] if i is not None else ""
        i = self._i_bleg
        bleg = (fields[i] or None) if i is not None else None
        if (bleg and len(bleg) > MAX_UUID_LENGTH) or (originating and len(originating) > MAX_UUID_LENGTH):
            raise CdrParseError(f"bleg_uuid/originator longo demais (uuid {uuid})")
        i = self._i_account
        account = (fields[i] or None) if i is not None else None
        i = self._i_from_user
        from_user = (fields[i] or None) if i is not None else None
        i = self._i_user_name
        user_name = (fields[i] or None) if i is not None else None

        get_painel = self._painel_get
        if get_painel is not None and any(values := get_painel(fields)):
            painel = {n: v for n, v in zip(self._painel_names, values) if v}
        else:
            painel = {}
        sip_headers = {n: v for n, i in self._sip_h if (v := fields[i])} if self._sip_h else {}

        # positional on purpose, see _FIELD_ORDER
        return CdrRecord(
            uuid, leg, "csv", raw, caller, dest, context, start, answer, end, duration, billsec,
            cause, bleg, originating, account, from_user, user_name, painel, sip_headers,
            self.has_painel_fields,
        )

    def _raise_duplicate_mismatch(self, fields: Sequence[str]) -> None:
        """Name the first duplicated column whose copies disagree (the error path only)."""
        for a, b, name in self._dups:
            if fields[a] != fields[b]:
                raise CdrParseError(
                    f"as colunas {a + 1} e {b + 1} (${{{name}}}) divergem: "
                    f"{fields[a]!r} != {fields[b]!r}"
                )

    def _time(
        self, fields: Sequence[str], epoch_i: int | None, stamp_i: int | None, what: str
    ) -> datetime | None:
        """Epoch column first (UTC, unambiguous); the local-time stamp only when there is none."""
        if epoch_i is not None:
            value = fields[epoch_i]
            if value:
                dt = self._epoch_cache.get(value, _MISSING)
                if dt is _MISSING:
                    dt = self._convert_epoch(value, what)
                return dt  # type: ignore[return-value]
        if stamp_i is not None:
            value = fields[stamp_i]
            if value:
                dt = self._stamp_cache.get(value)
                if dt is None:
                    dt = self._convert_stamp(value, what)
                return dt
        return None

    def _convert_epoch(self, value: str, what: str) -> datetime | None:
        """'1795829825' -> aware UTC datetime; '0' (never happened, e.g. unanswered) -> None."""
        if not (value.isascii() and value.isdigit()):
            raise CdrParseError(f"horário de {what} inválido (epoch): {value[:80]!r}")
        # int() refuses more than 4300 digits; any epoch past LATEST is out of range anyway
        if len(value) > 20 or int(value) > LATEST_EPOCH:
            raise CdrParseError(f"horário de {what} fora do intervalo: {value[:80]!r}")
        seconds = int(value)
        try:
            dt = datetime.fromtimestamp(seconds, UTC) if seconds else None
        except (OverflowError, OSError, ValueError):
            raise CdrParseError(f"horário de {what} fora do intervalo: {value!r}") from None
        cache = self._epoch_cache
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[value] = dt
        return dt

    def _convert_stamp(self, value: str, what: str) -> datetime:
        """'2026-11-28 01:37:23' in the switch's zone -> aware UTC datetime."""
        try:
            local = datetime.fromisoformat(value)
        except ValueError:
            raise CdrParseError(f"horário de {what} inválido: {value!r}") from None
        try:
            if local.tzinfo is not None:
                dt = local.astimezone(UTC)
            elif self._zone is None:
                dt = local.replace(tzinfo=UTC)
            else:
                # ambiguous wall times (a DST fall-back hour) resolve to the first occurrence
                dt = local.replace(tzinfo=self._zone).astimezone(UTC)
        except OverflowError:  # year 1 or 9999 moved across midnight by the offset
            dt = None
        if dt is None or not EARLIEST <= dt <= LATEST:
            raise CdrParseError(f"horário de {what} fora do intervalo: {value!r}")
        cache = self._stamp_cache
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[value] = dt
        return dt


def _getter(indexes: list[int]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """itemgetter that always returns a tuple (itemgetter of one index returns the bare item)."""
    if not indexes:
        return lambda fields: ()
    if len(indexes) == 1:
        i = indexes[0]
        return lambda fields: (fields[i],)
    return itemgetter(*indexes)


def split_line(line: str, expected: int | None = None) -> list[str]:
    """Split one mod_cdr_csv line (without its newline); see the module docstring for why.

    ``expected`` is the template's field count: when the verbatim split does not give it, the
    csv module's reading (``""`` / ``\\"`` escapes, spaces after commas) is tried. Without it the
    verbatim split is used for fully quoted lines (what FreeSWITCH writes), e.g. to pick the
    template with ``detect_template(len(split_line(first_line)), templates)``.
    """
    fields: list[str] = []
    if len(line) >= 2 and line[0] == '"' and line[-1] == '"':
        fields = line[1:-1].split('","')
        if expected is None or len(fields) == expected:
            return fields
    try:
        alt = next(csv.reader([line], skipinitialspace=True, escapechar="\\", strict=False), [])
    except csv.Error:
        alt = []
    if not fields or len(alt) == expected:
        return alt
    return fields


def _strip_newline(line: str) -> str:
    """Drop the line terminator only (\\n or \\r\\n); the rest of the line is kept exactly."""
    if line.endswith("\n"):
        line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
    return line
