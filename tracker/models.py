"""Typed models. Pure helpers take `now`; nothing here commits."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy import text as sql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC (SQLite has no zones), always handed back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _enum(cls: type[enum.Enum], length: int) -> Enum:
    """Store the enum's value ("web"), not its Python name, as plain text with a check."""
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Channel(enum.StrEnum):
    WEB = "web"
    SMS = "sms"
    VOICE = "voice"
    API = "api"
    ADMIN = "admin"
    IMPORT = "import"
    DEMO = "demo"
    CLOCK = "clock"  # the scheduled jobs: a hold reaching its time (docs/holds.md)


CHANNEL_WORDS = {
    Channel.WEB: "web form",
    Channel.SMS: "text message",
    Channel.VOICE: "phone call",
    Channel.API: "API",
    Channel.ADMIN: "administrator",
    Channel.IMPORT: "import",
    Channel.DEMO: "demo data",
    Channel.CLOCK: "clock",
}


class Role(enum.StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"


class Region(Base):
    """An integrated care system's area: the unit a board watches by default."""

    __tablename__ = "region"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # The seq of this region's latest update: the cursor of boards that watch only this region.
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Locality(Base):
    __tablename__ = "locality"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    # Who hears about a home that has stopped answering reminders (chasing.py): a hub or commissioner.
    escalation_name: Mapped[str] = mapped_column(String(120), default="")
    escalation_phone: Mapped[str | None] = mapped_column(String(20))
    region: Mapped[Region] = relationship()


class CareKind(Base):
    """A kind of care (RES, NUR, ...). Data, not an enum, so a region can add one without a release."""

    __tablename__ = "care_kind"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)


class CareHome(Base):
    __tablename__ = "care_home"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(10), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    locality_id: Mapped[int] = mapped_column(ForeignKey("locality.id"), index=True)
    phone: Mapped[str] = mapped_column(String(30), default="")
    cqc_location_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    # What a contact of several homes starts a text with ("TRE NUR 2").
    short_code: Mapped[str | None] = mapped_column(String(8), unique=True)
    listed_publicly: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether families may see how many beds are free, not only that some are (a home's choice).
    public_counts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bumped to rotate the manager's link: every link signed with an older version stops working.
    link_version: Mapped[int] = mapped_column(Integer, default=1)

    # Current state, written only by vacancies.record_update.
    admissions_open: Mapped[bool] = mapped_column(Boolean, default=True)
    closed_reason: Mapped[str | None] = mapped_column(String(120))
    reopens_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(280), default="")
    note_at: Mapped[datetime | None]  # when the note was last written: an old note must look old
    confirmed_at: Mapped[datetime | None] = mapped_column(index=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(120))
    confirmed_via: Mapped[Channel | None] = mapped_column(_enum(Channel, 10))
    last_seq: Mapped[int | None] = mapped_column(Integer)

    # The reminder ladder (chasing.py). chase_due_at is when its next step is due (None: nothing to
    # do, because the home is escalated or not chased); record_update resets the ladder. Whoever creates
    # a home sets it to their `now` (a new home is asked for its numbers at once): not a default taken
    # from the real clock, so that a home created at a controlled time is due at that time.
    chase_policy: Mapped[dict[str, Any] | None]  # this home's overrides of the chasing settings
    chase_due_at: Mapped[datetime | None] = mapped_column(index=True)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_reminded_at: Mapped[datetime | None]
    last_reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None] = mapped_column(index=True)

    locality: Mapped[Locality] = relationship(lazy="joined")
    offers: Mapped[list[Offer]] = relationship(
        back_populates="home", order_by="Offer.position", cascade="all, delete-orphan", lazy="selectin"
    )
    contacts: Mapped[list[Contact]] = relationship(back_populates="home", cascade="all, delete-orphan")

    def offer(self, code: str) -> Offer | None:
        return next((o for o in self.offers if o.kind_code == code), None)


class Offer(Base):
    """A kind of care a home offers, its registered capacity, and the beds available now.

    `available` means vacant, staffed and accepting admissions: an empty bed the home cannot staff is
    not available. None until the home first reports.
    """

    __tablename__ = "offer"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("available IS NULL OR (available >= 0 AND available <= capacity)", name="available_in_range"),
    )
    home_id: Mapped[int] = mapped_column(ForeignKey("care_home.id", ondelete="CASCADE"), primary_key=True)
    kind_code: Mapped[str] = mapped_column(ForeignKey("care_kind.code"), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    available: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)

    home: Mapped[CareHome] = relationship(back_populates="offers")
    kind: Mapped[CareKind] = relationship(lazy="joined")


class Update(Base):
    """Append-only history: one row per recorded update, numbered by `seq` across all homes.

    `seq` is the boards' cursor. It is drawn from `board_cursor` under a row lock held until commit,
    so numbers become visible in the order they commit ("since N" never skips one).
    """

    __tablename__ = "vacancy_update"
    __table_args__ = (
        Index("ix_vacancy_update_region_seq", "region_id", "seq"),
        Index("ix_vacancy_update_recorded_at", "recorded_at"),  # compliance and history by date
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    home_id: Mapped[int] = mapped_column(ForeignKey("care_home.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    # The region's previous update (0 for its first): regional boards check their chain with it,
    # as national boards check that seq follows seq - 1.
    region_prev_seq: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime]
    channel: Mapped[Channel] = mapped_column(_enum(Channel, 10))
    # How it came, in words that name no one ("text message from a contact", "API token 'ward system'"):
    # the history is kept for ever and cannot be edited, so it holds no name or phone number.
    actor: Mapped[str] = mapped_column(String(120))
    # Who, by reference: shown by name (to admins) while the contact or user exists. Not foreign
    # keys: erasing a contact must not have to touch this append-only table (docs/data-protection.md).
    contact_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    token_id: Mapped[int | None] = mapped_column(Integer)
    changed: Mapped[bool] = mapped_column(Boolean)  # False: a "no change" confirmation
    state: Mapped[dict[str, Any]]  # the home's state after this update, as boards are sent it
    # A channel's own id for the submission (form nonce, Twilio MessageSid...): a repeat is a no-op.
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    # A hash of the home and the change the key recorded (vacancies._fingerprint): a repeat of the key
    # that asks for something else is refused, never answered with this row.
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The hold this update placed or ended (bed_hold.id): a coordinator's or the clock's act on the
    # home's beds, not the home confirming its numbers (compliance and freshness leave it out).
    hold_id: Mapped[int | None] = mapped_column(Integer)
    # The home's answer this row records (bed_request_message.id): in the same sequence as updates, so
    # a board or request page that reconnects replays it; like a hold, it does not confirm the numbers.
    answer_id: Mapped[int | None] = mapped_column(Integer)

    home: Mapped[CareHome] = relationship()

    @property
    def confirms(self) -> bool:
        """Whether this row is the home confirming its numbers (not a hold, not an answer to a request)."""
        return self.hold_id is None and self.answer_id is None

    @property
    def what(self) -> str:
        """What the row records, as every history view names it (history_what)."""
        return history_what(self.changed, self.hold_id, self.answer_id)


HISTORY_WHAT = ("update", "no change", "hold", "answer")


def history_what(changed: bool, hold_id: int | None, answer_id: int | None) -> str:
    """ "update" or "no change" (the home confirming its numbers), "hold" (a hold placed or ended) or
    "answer" (the home answering a bed request): only the first two are the home vouching for its beds."""
    if answer_id is not None:
        return "answer"
    if hold_id is not None:
        return "hold"
    return "update" if changed else "no change"


class HoldEnd(enum.StrEnum):
    ADMITTED = "admitted"
    RELEASED = "released"
    EXPIRED = "expired"


class Hold(Base):
    """One bed of one kind at one home, held for one hospital until `until` (docs/holds.md).

    Standing while `ended_at` is None. Placed and ended only through vacancies.record_update, under
    the home's row lock, so two holds can never take the same last bed.
    """

    __tablename__ = "bed_hold"
    __table_args__ = (Index("ix_bed_hold_standing", "ended_at", "until"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[int] = mapped_column(ForeignKey("care_home.id", ondelete="CASCADE"), index=True)
    kind_code: Mapped[str] = mapped_column(ForeignKey("care_kind.code"))
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    # Who placed it, by reference (like vacancy_update.user_id): no name is copied here.
    held_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    until: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_how: Mapped[HoldEnd | None] = mapped_column(_enum(HoldEnd, 10))

    hospital: Mapped[Hospital] = relationship(lazy="joined")


class RequestState(enum.StrEnum):
    OPEN = "open"
    CHOSEN = "chosen"  # the coordinator took one home's YES: that bed is held
    EXPIRED = "expired"  # no choice within REQUEST_OPEN_FOR
    CANCELLED = "cancelled"  # the coordinator no longer needs a bed


class Verdict(enum.StrEnum):
    YES = "yes"
    NO = "no"
    QUESTION = "question"


class BedRequest(Base):
    """A coordinator asking homes at once for one bed of one kind (docs/requests.md).

    It describes a need, never a person: the needs text is refused if it holds an NHS number or a
    date of birth (identifiers.py). `code` is what homes reply with ("YES 4821"): unique among open
    requests only, so four digits last for ever.
    """

    __tablename__ = "bed_request"
    __table_args__ = (
        Index("uq_bed_request_open_code", "code", unique=True, sqlite_where=sql("state = 'open'"),
              postgresql_where=sql("state = 'open'")),
        Index("ix_bed_request_state_expires_at", "state", "expires_at"),
    )  # fmt: skip
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(4))
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), index=True)
    kind_code: Mapped[str] = mapped_column(ForeignKey("care_kind.code"))
    from_date: Mapped[date] = mapped_column(Date)
    max_km: Mapped[float | None] = mapped_column(Float)
    locality_ids: Mapped[list[int] | None] = mapped_column(JSON)
    needs: Mapped[str] = mapped_column(String(200), default="")
    # Who asked, by reference (like vacancy_update.user_id).
    created_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    state: Mapped[RequestState] = mapped_column(_enum(RequestState, 10))
    closed_at: Mapped[datetime | None]
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("bed_hold.id"))

    hospital: Mapped[Hospital] = relationship(lazy="joined")
    kind: Mapped[CareKind] = relationship(lazy="joined")
    asked: Mapped[list[AskedHome]] = relationship(
        back_populates="request", order_by="AskedHome.id", cascade="all, delete-orphan"
    )


class AskedHome(Base):
    """One home asked by a request, and where its answer stands (the latest YES or NO; a question
    leaves an earlier YES or NO as it was)."""

    __tablename__ = "bed_request_home"
    __table_args__ = (UniqueConstraint("request_id", "home_id", name="asked_once_per_request"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("bed_request.id", ondelete="CASCADE"), index=True)
    home_id: Mapped[int] = mapped_column(ForeignKey("care_home.id", ondelete="CASCADE"), index=True)
    km: Mapped[float | None] = mapped_column(Float)  # from the hospital, when asked
    verdict: Mapped[Verdict | None] = mapped_column(_enum(Verdict, 10))
    answered_at: Mapped[datetime | None]
    # When this home was told the request closed ("no longer needed"): claimed once, in the database.
    thanked_at: Mapped[datetime | None]

    request: Mapped[BedRequest] = relationship(back_populates="asked")
    home: Mapped[CareHome] = relationship(lazy="joined")
    messages: Mapped[list[RequestMessage]] = relationship(order_by="RequestMessage.id", cascade="all, delete-orphan")


class RequestMessage(Base):
    """The conversation about one asked home: its answers (from the home) and the hospital's replies."""

    __tablename__ = "bed_request_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    asked_id: Mapped[int] = mapped_column(ForeignKey("bed_request_home.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    from_home: Mapped[bool] = mapped_column(Boolean)
    verdict: Mapped[Verdict | None] = mapped_column(_enum(Verdict, 10))  # None for the hospital's replies
    text: Mapped[str] = mapped_column(String(320), default="")
    channel: Mapped[Channel] = mapped_column(_enum(Channel, 10))
    # Who, by reference: a home's contact, or the coordinator who replied.
    contact_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int | None] = mapped_column(Integer)  # the history row that recorded a home's answer


class BoardCursor(Base):
    """A single row holding the last `seq` handed out."""

    __tablename__ = "board_cursor"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class JobRun(Base):
    """When each periodic job last finished a pass, whichever process ran it (read by /readyz and /metrics)."""

    __tablename__ = "job_run"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    finished_at: Mapped[datetime | None]


class Hospital(Base):
    __tablename__ = "hospital"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    site: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(10), default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    region: Mapped[Region | None] = relationship()


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, 20))
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    hospital: Mapped[Hospital | None] = relationship(lazy="joined")

    # Flask-Login's user protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    # The token of the sign-in being started or loaded (auth.py), never stored: Flask-Login puts
    # it in the session and the remember-me cookie, so ending the sign-in ends every copy of either.
    sign_in_token = None

    def get_id(self) -> str | None:
        return self.sign_in_token


class SignIn(Base):
    """One sign-in of a user on one browser. Deleting the row ends it: every copy of its cookies,
    and its board connections (auth.end_sign_ins)."""

    __tablename__ = "sign_in"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    # A SHA-256 of the token the cookies carry: a copy of the database opens no one's board.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A machine client's credential. Only a SHA-256 of the token is kept; it is shown once."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(_enum(Role, 20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    home_id: Mapped[int | None] = mapped_column(ForeignKey("care_home.id"))
    # A hospital's system holds beds for that hospital only, and ends only its holds (docs/holds.md).
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    hospital: Mapped[Hospital | None] = relationship()


class Contact(Base):
    """A phone that may speak for a home (SMS, voice). Stored in E.164."""

    __tablename__ = "contact"
    # AUTOINCREMENT: SQLite would otherwise give a new contact the id of one just erased, and the
    # history, which refers to contacts by id, would name the new person for the old one's updates.
    __table_args__ = (
        UniqueConstraint("home_id", "phone", name="contact_once_per_home"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[int] = mapped_column(ForeignKey("care_home.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(Text, default="")
    # Set by Twilio's answers: the number replied STOP (error 21610), or cannot take texts at all.
    opted_out_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(String(200))

    home: Mapped[CareHome] = relationship(back_populates="contacts")


class InboundMessage(Base):
    """Every text received, with what it did. The MessageSid makes a redelivery a no-op."""

    __tablename__ = "inbound_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    idempotency_token: Mapped[str | None] = mapped_column(String(120))  # Twilio's I-Twilio-Idempotency-Token
    sender: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(index=True)
    home_id: Mapped[int | None] = mapped_column(ForeignKey("care_home.id"))
    outcome: Mapped[str] = mapped_column(String(20))  # recorded, confirmed, replied, refused, unknown-sender...
    reply: Mapped[str] = mapped_column(Text, default="")
    update_seq: Mapped[int | None] = mapped_column(ForeignKey("vacancy_update.seq"))

    home: Mapped[CareHome | None] = relationship()


class OutboundState(enum.StrEnum):
    """Twilio's message states, plus `outbox` for the offline backend. Ranked: a state only moves forward."""

    PENDING = "pending"  # stored, not yet handed to a backend
    OUTBOX = "outbox"  # kept for the admin Outbox page (no Twilio configured)
    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # the request may have reached Twilio: never resent blindly


class OutboundMessage(Base):
    __tablename__ = "outbound_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(32), index=True)
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(40))  # reply, reminder, escalation, ...
    home_id: Mapped[int | None] = mapped_column(ForeignKey("care_home.id"))
    state: Mapped[OutboundState] = mapped_column(_enum(OutboundState, 20))
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    # What makes a message once-only: a second attempt to store the same reminder fails on it.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    # Delivery (messaging.deliver): due while pending with next_attempt_at set; an attempt clears it
    # (the claim) before the request leaves, so a crash mid-send is seen, not repeated.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    attempted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class AuditEvent(Base):
    """Who changed what, when: one row per administrative change, written in the change's own
    transaction (audit.record). Append-only, like the history."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Who, in words that name no one ("signed-in user", "command line", "CQC import (FILE)"); the
    # user is user_id, shown by name while the account exists. Contacts appear by id, never by number.
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))  # "home.create", "user.disable", ...
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(Integer)
    target_name: Mapped[str] = mapped_column(String(200), default="")
    changes: Mapped[dict[str, Any]]  # field -> [before, after]
    summary: Mapped[str] = mapped_column(Text, default="")


class Postcode(Base):
    """A postcode's centre from the ONS Postcode Directory (`flask --app tracker postcodes import-onspd`)."""

    __tablename__ = "postcode"
    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)  # "TR18 2PF"
    district: Mapped[str] = mapped_column(String(4), index=True)  # "TR18"
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
