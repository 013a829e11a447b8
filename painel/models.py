"""The schema of DESIGN.md's domain model (SQLAlchemy 2).

Only the core package touches these models; components call query functions in
``painel`` and own their transaction. Money columns are ``Money`` (integer centavos),
times are ``UtcDateTime`` (UTC), numbers are stored in E.164 next to their raw form.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    BigInteger,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import TextClause

from painel.types import ExactDecimal, Money, UtcDateTime

# One naming convention so Alembic produces identical constraint names on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --------------------------------------------------------------------------- customers


class Customer(Base):
    """Cliente: owns circuits; its invoices summary is the sum over them."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    document: Mapped[str | None] = mapped_column(String(20))  # CPF/CNPJ digits
    email: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    circuits: Mapped[list[Circuit]] = relationship(back_populates="customer")


GESTAO_WEB_FLAGS = (
    "web",
    "faturas",
    "grafico",
    "blacklist",
    "sigame",
    "acb",
    "perfil",
    "tabela",
    "mensagem",
    "resposta",
)


class Circuit(Base):
    """Circuito: one SIP account (the portal login), billed monthly."""

    __tablename__ = "circuits"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    home_ddd: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64), default="America/Sao_Paulo")
    rate_plan_id: Mapped[int | None] = mapped_column(ForeignKey("rate_plans.id"))
    #: JSON list of named allowances (local, ldn, movel, ldi, especial, gratuita, patterns)
    outbound_rules: Mapped[str] = mapped_column(Text, default='["local","ldn","movel","especial","gratuita"]')
    #: outbound caller ID presented on forwarded legs (E.164); None = first DID
    outbound_caller_id: Mapped[str | None] = mapped_column(String(32))
    web_password_hash: Mapped[str | None] = mapped_column(String(255))
    flag_web: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_faturas: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_grafico: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_blacklist: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_sigame: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_acb: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_perfil: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_tabela: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_mensagem: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_resposta: Mapped[bool] = mapped_column(Boolean, default=False)
    block_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_email: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="circuits")
    rate_plan: Mapped[RatePlan | None] = relationship()
    dids: Mapped[list[Did]] = relationship(back_populates="circuit")


class Did(Base):
    """Número: a public number routed to one circuit, with its siga-me and ACB settings."""

    __tablename__ = "dids"

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str] = mapped_column(String(32), unique=True)
    raw: Mapped[str] = mapped_column(String(64))
    circuit_id: Mapped[int | None] = mapped_column(ForeignKey("circuits.id"), index=True)
    followme_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    followme_destination: Mapped[str | None] = mapped_column(String(32))  # E.164
    followme_destination_raw: Mapped[str | None] = mapped_column(String(64))
    #: always | no_answer | unavailable
    followme_mode: Mapped[str] = mapped_column(String(16), default="always")
    followme_timeout: Mapped[int] = mapped_column(Integer, default=20)
    acb_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    circuit: Mapped[Circuit | None] = relationship(back_populates="dids")


class BlacklistEntry(Base):
    """A caller (exact number or prefix, normalized) a circuit refuses."""

    __tablename__ = "blacklist_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id"), index=True)
    #: E.164 digits without '+' (exact) or a dialed prefix as digits (prefix)
    number: Mapped[str] = mapped_column(String(32))
    raw: Mapped[str] = mapped_column(String(64))
    is_prefix: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(200))
    did_id: Mapped[int | None] = mapped_column(ForeignKey("dids.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_hit_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --------------------------------------------------------------------------- tariffs


class RatePlan(Base):
    """Plano: a named tariff, versioned by validity date."""

    __tablename__ = "rate_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    versions: Mapped[list[RatePlanVersion]] = relationship(
        back_populates="plan", order_by="RatePlanVersion.valid_from"
    )


class RatePlanVersion(Base):
    """One version of a plan; a call is rated by the version valid at its start."""

    __tablename__ = "rate_plan_versions"
    __table_args__ = (
        UniqueConstraint("plan_id", "version"),
        UniqueConstraint("plan_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("rate_plans.id"))
    version: Mapped[int] = mapped_column(Integer)
    #: first day (in the circuit's local time) this version applies to
    valid_from: Mapped[date] = mapped_column(Date)
    monthly_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    #: reduced-rate band enabled (normal hours on the listed weekdays, reduced otherwise and on holidays)
    reduced_band: Mapped[bool] = mapped_column(Boolean, default=False)
    normal_start_hour: Mapped[int] = mapped_column(Integer, default=7)
    normal_end_hour: Mapped[int] = mapped_column(Integer, default=21)
    #: weekdays with normal rates, Monday=0, comma separated
    normal_weekdays: Mapped[str] = mapped_column(String(20), default="0,1,2,3,4,5")
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    plan: Mapped[RatePlan] = relationship(back_populates="versions")
    tariffs: Mapped[list[Tariff]] = relationship(back_populates="version", cascade="all, delete-orphan")


class Tariff(Base):
    """Price and charging rule of one call category in one plan version."""

    __tablename__ = "tariffs"
    __table_args__ = (UniqueConstraint("version_id", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("rate_plan_versions.id"))
    category: Mapped[str] = mapped_column(String(16))
    price_per_minute: Mapped[Decimal] = mapped_column(ExactDecimal)
    reduced_price_per_minute: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    connection_fee: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal("0"))
    grace_seconds: Mapped[int] = mapped_column(Integer, default=0)
    minimum_seconds: Mapped[int] = mapped_column(Integer, default=30)
    increment_seconds: Mapped[int] = mapped_column(Integer, default=6)

    version: Mapped[RatePlanVersion] = relationship(back_populates="tariffs")


class Holiday(Base):
    """National holiday: the reduced band applies all day."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(100))


# --------------------------------------------------------------------------- CDRs


#: business directions the circuit pays for; received calls cost zero
BILLED_DIRECTIONS = ("outbound", "forwarded", "collect")
#: ix_cdrs_billed, a partial index of the billed calls. A query can use it only when its WHERE
#: holds the index's condition as literals (``billed_calls()``): neither SQLite nor a generic
#: PostgreSQL plan can prove a condition on bound parameters implies the index's.
#: The columns after billsec are there so the open invoice's sums and the chart's counts never
#: read the table: a CDR row holds its raw document (kilobytes), so summing a busy circuit's
#: month from the table costs about a page read per call, and the portal's Fatura em Aberto
#: grew with the month's calls. role and direction are constant under the index's condition,
#: but SQLite counts an index as covering only when it holds every column the query names,
#: the condition's own included.
BILLED_INDEX_COLUMNS = ("circuit_id", "bill_month", "invoice_id", "category", "billsec", "billable_seconds", "amount",
                        "role", "direction")
#: ix_cdrs_circuit_start: the call lists' seek and order (circuit, newest first, then the id),
#: followed by what their totals add up (count, answered, blocked, seconds, cost), so a list's
#: totals are read from the index alone (the same reason as above). Plain key columns, not
#: PostgreSQL's INCLUDE, so both engines have one definition.
CIRCUIT_START_INDEX_COLUMNS = ("circuit_id", "start_utc", "id",
                               "role", "direction", "rule", "billsec", "billable_seconds", "amount")
BILLED_INDEX_WHERE = "role = 'call' AND direction IN (" + ", ".join(f"'{d}'" for d in BILLED_DIRECTIONS) + ")"


def billed_calls() -> TextClause:
    """The WHERE term that selects the calls a circuit pays for and lets ix_cdrs_billed serve."""
    return text(BILLED_INDEX_WHERE)


class Cdr(Base):
    """One leg FreeSWITCH reported, unique by its channel UUID.

    ``role`` is ``call`` for the leg that stands for the call (the one carrying the
    painel_* variables, or attributed without them) and ``linked`` for the other legs,
    which point to their call and are never billed.
    """

    __tablename__ = "cdrs"
    # Few indexes on purpose: every one costs on each of millions of inserts. Portal and
    # billing read by circuit and time; linking reads by bleg_uuid (set on answered a-legs only).
    __table_args__ = (
        Index("ix_cdrs_circuit_start", *CIRCUIT_START_INDEX_COLUMNS, sqlite_where=text("circuit_id IS NOT NULL"),
              postgresql_where=text("circuit_id IS NOT NULL")),
        Index("ix_cdrs_bleg_uuid", "bleg_uuid", sqlite_where=text("bleg_uuid IS NOT NULL"),
              postgresql_where=text("bleg_uuid IS NOT NULL")),
        # an invoice's itemized calls (PDF); NULL until the close links a call, so inserts pay nothing
        Index("ix_cdrs_invoice", "invoice_id", sqlite_where=text("invoice_id IS NOT NULL"),
              postgresql_where=text("invoice_id IS NOT NULL")),
        # the billed calls of a circuit by billing month: the portal's Fatura em Aberto (calls
        # not yet invoiced) and the monthly chart's counts read it alone, without the table
        Index("ix_cdrs_billed", *BILLED_INDEX_COLUMNS, sqlite_where=text(BILLED_INDEX_WHERE),
              postgresql_where=text(BILLED_INDEX_WHERE)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    leg: Mapped[str] = mapped_column(String(1), default="")
    #: call | linked
    role: Mapped[str] = mapped_column(String(8))
    #: the uuid of the call this leg belongs to (its own uuid for a call)
    call_uuid: Mapped[str] = mapped_column(String(64))
    bleg_uuid: Mapped[str | None] = mapped_column(String(64))
    circuit_id: Mapped[int | None] = mapped_column(ForeignKey("circuits.id"))
    did: Mapped[str | None] = mapped_column(String(32))
    #: inbound | outbound | forwarded | collect (the business direction)
    direction: Mapped[str | None] = mapped_column(String(12))
    rule: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(16))
    #: how the circuit was found: painel | did | sip_user | accountcode
    attributed_by: Mapped[str | None] = mapped_column(String(12))
    caller_raw: Mapped[str] = mapped_column(String(64), default="")
    destination_raw: Mapped[str] = mapped_column(String(64), default="")
    #: the other party, E.164 (the called number of outbound calls, the caller of received ones)
    number_e164: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(16))
    start_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    answer_utc: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_utc: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration: Mapped[int] = mapped_column(Integer, default=0)
    billsec: Mapped[int] = mapped_column(Integer, default=0)
    hangup_cause: Mapped[str] = mapped_column(String(40), default="")
    billable_seconds: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    #: rate_plan_versions.id used to rate (None for zero-cost directions)
    plan_version_id: Mapped[int | None] = mapped_column(ForeignKey("rate_plan_versions.id"))
    #: reduced or normal time band the call was rated in
    band: Mapped[str | None] = mapped_column(String(8))
    #: month (YYYY-MM) of the call's start in the circuit's time zone
    bill_month: Mapped[str | None] = mapped_column(String(7))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    source: Mapped[str] = mapped_column(String(8))  # json | xml | csv
    source_ref: Mapped[str] = mapped_column(String(255), default="")
    raw: Mapped[str] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class QuarantinedCdr(Base):
    """A record that could not be rated, with its reason; retried once the cause is fixed."""

    __tablename__ = "cdr_quarantine"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: sha256 of the raw record: the same input is quarantined once
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    uuid: Mapped[str | None] = mapped_column(String(64), index=True)
    #: malformed | unknown_circuit | bad_number | no_plan
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(8))
    source_ref: Mapped[str] = mapped_column(String(255), default="")
    #: the CSV template the line was written with (to parse it again on retry)
    template: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    last_retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: set when a retry rated it (the row is kept for the audit trail)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IngestedFile(Base):
    """Progress of a CDR file, so a re-run skips what a finished run committed."""

    __tablename__ = "ingested_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sha256 of the file's content
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    #: lines committed so far (CSV); a finished file has completed_at set
    lines_done: Mapped[int] = mapped_column(BigInteger, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --------------------------------------------------------------------------- billing


class Invoice(Base):
    """Fatura: one per circuit per month; open, closed (issued) or paid."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("circuit_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM in the circuit's time zone
    #: open | closed | paid
    state: Mapped[str] = mapped_column(String(8), default="open")
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pdf_path: Mapped[str | None] = mapped_column(String(1024))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))

    circuit: Mapped[Circuit] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="invoice")


class InvoiceLine(Base):
    """A printed line of an invoice: a category, the monthly fee or an adjustment."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: category | monthly_fee | adjustment
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(200))
    calls: Mapped[int] = mapped_column(Integer, default=0)
    billable_seconds: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Money)
    #: for adjustments: the month the late calls belong to
    ref_month: Mapped[str | None] = mapped_column(String(7))

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class Payment(Base):
    """Pagamento: an amount received for one invoice (partial payments add up).

    A bank reference identifies a payment: the same non-empty reference on the same
    invoice is a duplicate (bank files are imported again); NULL references stay distinct.
    """

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("invoice_id", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


# --------------------------------------------------------------------------- people


class Message(Base):
    """Operator notices and subscriber requests (Mensagem / Resposta flags)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id"), index=True)
    #: to_operator (a subscriber's request) | to_subscriber (notice or reply)
    direction: Mapped[str] = mapped_column(String(16))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEvent(Base):
    """Who changed what, when, from where: admin, subscriber and CLI changes alike."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        # the audit page filters by what was changed and by who changed it
        Index("ix_audit_events_target", "target_kind", "target_id"),
        Index("ix_audit_events_actor", "actor_kind", "actor"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: admin | subscriber | cli | system
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[str | None] = mapped_column(Text)  # JSON
    after: Mapped[str | None] = mapped_column(Text)  # JSON
    address: Mapped[str | None] = mapped_column(String(64))


class RulesVersion(Base):
    """One row: bumped by every change that affects call routing; routers poll it."""

    __tablename__ = "rules_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class JobLock(Base):
    """A named lock held by one run (billing close, re-rating); works on SQLite and PostgreSQL."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --------------------------------------------------------------------------- operator staff


#: what each admin role may do on the admin pages (webui.admin checks it on every view)
ADMIN_ROLES = ("admin", "support")


class AdminUser(Base):
    """An operator's staff account for the admin pages: never a subscriber, never a circuit.

    ``admin`` changes everything; ``support`` reads everything and changes nothing except a
    circuit's web password. ``totp_secret`` (base32) turns on the second factor;
    ``totp_last_step`` is the last code step accepted, so a code cannot be used twice.
    """

    __tablename__ = "admin_users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'support')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
