"""The parsed form of one CDR leg, independent of the format it came in."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

#: cdrs.uuid / call_uuid / bleg_uuid and cdr_quarantine.uuid hold 64 characters (FreeSWITCH's have 36)
MAX_UUID_LENGTH = 64
#: no leg lasts ten years: a longer duration or billsec is corrupt (and would overflow the columns)
MAX_LEG_SECONDS = 10 * 366 * 86_400
#: the latest time a CDR may carry: a year short of datetime's end, so converting it to any
#: circuit's time zone (bill month, time bands) stays in range; the earliest is the Unix epoch
LATEST = datetime(9998, 12, 31, tzinfo=timezone.utc)
LATEST_EPOCH = int(LATEST.timestamp())
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: the channel variables of the router/dialplan contract (DESIGN.md)
PAINEL_VARIABLES = (
    "painel_circuit",
    "painel_did",
    "painel_direction",
    "painel_action",
    "painel_bridge",
    "painel_hangup_cause",
    "painel_rule",
)


@dataclass(slots=True)
class CdrRecord:
    """One leg as FreeSWITCH reported it (mod_json_cdr or mod_cdr_csv).

    Only what the ingester needs is lifted out; ``raw`` keeps the record exactly as
    received so nothing the switch sent is thrown away.
    """

    uuid: str
    #: "a", "b", or "" when the format cannot tell
    leg: str
    #: "json", "xml" or "csv"
    source_format: str
    raw: str
    caller_id_number: str
    destination_number: str
    context: str
    start: datetime  # timezone-aware, UTC
    answer: datetime | None  # None when never answered
    end: datetime | None
    duration: int
    billsec: int
    hangup_cause: str
    #: the other leg's uuid, as the a-leg reports it after a successful bridge
    bleg_uuid: str | None = None
    #: on a b-leg: the uuid of the a-leg that originated it
    originating_leg_uuid: str | None = None
    accountcode: str | None = None
    sip_from_user: str | None = None
    #: the directory user that authenticated the leg (a circuit's outbound a-leg)
    user_name: str | None = None
    #: painel_* variables present with a non-empty value, URL-decoded
    painel: dict[str, str] = field(default_factory=dict)
    #: SIP headers carried as sip_h_* variables (collect-call detection, audit)
    sip_headers: dict[str, str] = field(default_factory=dict)
    #: whether the format could carry painel_* at all (JSON: yes; CSV: if its template has them)
    has_painel_fields: bool = True
