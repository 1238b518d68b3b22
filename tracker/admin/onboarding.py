"""Admin pages for what a region is made of: care homes (details, kinds and capacities, public
listing, contacts, form link and texting it, how it is chased), users, hospitals, regions and
localities; and the audit log, a page at a time or as CSV.

Every change is written with its audit row in one transaction (audit.py). Vacancies are never
written here: a home's beds free change only through vacancies.record_update.
"""

from __future__ import annotations

import re

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, EmailField, FloatField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from tracker import audit, auth, availability, outbox, plaintext
from tracker.admin import admin_required, bp, invites, paged
from tracker.chasing import ladder
from tracker.coordinators import csv_export
from tracker.db import session
from tracker.families import postcodes
from tracker.managers import contacts, links
from tracker.models import (
    AuditEvent,
    CareHome,
    CareKind,
    Contact,
    Hospital,
    Locality,
    Offer,
    Region,
    Role,
    User,
    utcnow,
)
from tracker.phones import BadPhoneNumber, to_e164
from tracker.timefmt import duration

AUDIT_PAGE = 100  # audit rows carry before-and-after pairs: a page of 100 is already long
AUDIT_CHUNK = 1000
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # the invitation link is what proves the address works
POSTCODE = r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$"


def _phone_check(form, field) -> None:
    if field.data:
        try:
            to_e164(field.data)
        except BadPhoneNumber as exc:
            raise ValidationError(str(exc)) from None


class AdminForm(FlaskForm):
    """Every text field is kept as plaintext.clean leaves it: no control or other non-printing character
    is stored from an admin page (removed, as in every channel; docs/architecture.md)."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = [*unbound_field.kwargs.get("filters", ()), plaintext.clean_field]
            return unbound_field.bind(form=form, filters=filters, **options)


# Within the UK and its islands, as CQC and ONS publish coordinates (availability.in_uk).
def _latitude() -> FloatField:
    south, north = availability.UK_SOUTH, availability.UK_NORTH
    return FloatField("Latitude", [Optional(), NumberRange(south, north, f"A latitude in the UK: {south} to {north}.")])


def _longitude() -> FloatField:
    west, east = availability.UK_WEST, availability.UK_EAST
    return FloatField("Longitude", [Optional(), NumberRange(west, east, f"A longitude in the UK: {west} to {east}.")])


class HomeForm(AdminForm):
    name = StringField("Name", [InputRequired("Enter the home's name."), Length(max=200)])
    address = StringField("Address", [Optional(), Length(max=300)])
    postcode = StringField("Postcode", [Optional(), Regexp(POSTCODE, message="That does not look like a UK postcode.")])
    latitude = _latitude()
    longitude = _longitude()
    position_from_postcode = BooleanField("Take the latitude and longitude from the postcode when saving")
    phone = StringField("Phone number (shown on boards)", [Optional(), Length(max=30), _phone_check])
    locality_id = SelectField("Locality", coerce=int)
    cqc_location_id = StringField(
        "CQC location ID",
        [Optional(), Regexp(r"^1-[0-9]{6,12}$", message="A CQC location ID looks like 1-123456789.")],
    )
    listed_publicly = BooleanField("Listed on the public search for families")
    public_counts = BooleanField('Families may see the exact number of beds free (otherwise: "has vacancies")')


class UserForm(AdminForm):
    email = EmailField(
        "Email address",
        [InputRequired("Enter an email address."), Length(max=254), Regexp(EMAIL, message="Enter an email address.")],
    )
    name = StringField("Name", [InputRequired("Enter their name."), Length(max=120)])
    role = SelectField("Role", choices=[SelectChoice(r.value, r.value.title()) for r in Role])
    hospital_id = SelectField("Hospital", coerce=int)


class HospitalForm(AdminForm):
    name = StringField("Name", [InputRequired("Enter the hospital's name."), Length(max=200)])
    site = StringField("Site or town", [Optional(), Length(max=200)])
    postcode = StringField("Postcode", [Optional(), Regexp(POSTCODE, message="That does not look like a UK postcode.")])
    latitude = _latitude()
    longitude = _longitude()
    region_id = SelectField("Region", coerce=int)


class LocalityForm(AdminForm):
    name = StringField("Name", [InputRequired("Enter the locality's name."), Length(max=120)])
    region_id = SelectField("Region", coerce=int)
    escalation_name = StringField("Escalation contact (who answers)", [Optional(), Length(max=120)])
    escalation_phone = StringField("Escalation phone (texted when a home stops answering)", [Optional(), _phone_check])


class RegionForm(AdminForm):
    name = StringField("New region's name", [InputRequired("Enter the region's name."), Length(max=120)])


# Said when a save breaks a rule of the database other than a unique name or id: most often a
# manager recorded beds while the admin was editing (registered beds can never be below beds free).
CONFLICT = "Nothing was saved: the home changed while you were editing it. Check the figures below and save again."


def _saved(target, action: str, changes: dict, unique: str = "name") -> bool:
    """Write a change with its audit row; False, with nothing written, when the `unique` column clashes.

    Any other refusal by the database is not a clash of names: it is raised as `Conflict`."""
    session.add(target)
    try:
        audit.record(action, target, changes=changes)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        # SQLite says "care_home.cqc_location_id", PostgreSQL "Key (cqc_location_id)=...".
        if re.search(rf"[.(]{unique}\b", str(exc.orig)):
            return False
        raise Conflict(CONFLICT) from exc
    return True


class Conflict(Exception):
    """A save refused by the database for a reason other than a duplicate name or id."""


# ---- care homes ------------------------------------------------------------------------------


@bp.get("/homes")
@admin_required
def homes():
    query = request.args.get("q", "").strip()
    statement = select(CareHome).options(selectinload(CareHome.contacts)).order_by(CareHome.name)  # counted per row
    if query:
        statement = statement.where(func.lower(CareHome.name).contains(query.lower()))
    page = paged(statement.order_by(CareHome.id))  # the id breaks ties between homes of the same name
    return render_template("admin/homes.html", rows=page.rows, query=query, page=page)


@bp.route("/homes/new", methods=["GET", "POST"])
@bp.route("/homes/<int:home_id>", methods=["GET", "POST"])
@admin_required
def home(home_id: int | None = None):
    existing = session.get(CareHome, home_id) if home_id else None
    if home_id and existing is None:
        abort(404)
    form = HomeForm(obj=existing, data=None if existing else {"listed_publicly": True})
    form.locality_id.choices = [SelectChoice(p.id, f"{p.name} ({p.region.name})") for p in _localities()]
    kinds = session.scalars(select(CareKind).order_by(CareKind.position)).all()
    capacities = {k.code: request.form.get(f"capacity-{k.code}", "").strip() for k in kinds}
    if request.method == "GET" and existing:
        capacities = {k.code: str(o.capacity) if (o := existing.offer(k.code)) else "" for k in kinds}
    errors: dict[str, str] = {}
    if form.validate_on_submit() and _position(form, asked=form.position_from_postcode.data):
        wanted = _capacities(kinds, capacities, existing, errors)
        if not errors:
            target = existing or CareHome(link_version=1, chase_due_at=utcnow())
            values = {name: _stripped(getattr(form, name).data) for name in _HOME_FIELDS}
            for text in ("address", "postcode", "phone"):
                values[text] = values[text] or ""
            values["postcode"] = values["postcode"].upper()
            values["cqc_location_id"] = values["cqc_location_id"] or None  # unique: blank is "none", not ""
            changes = audit.apply(target, values)
            kinds_before = {o.kind_code: o.capacity for o in target.offers}
            _set_offers(target, wanted, kinds)
            if kinds_before != wanted:
                changes["kinds"] = [kinds_before, wanted]
            try:
                if _saved(target, "home.update" if existing else "home.create", changes, unique="cqc_location_id"):
                    flash(f"{'Saved' if existing else 'Created'} {target.name}.", "success")
                    return redirect(url_for("admin.home", home_id=target.id))
                form.cqc_location_id.errors.append("Another home already has this CQC location ID.")
            except Conflict as conflict:
                errors[""] = str(conflict)  # about the whole form: no field to link to
    form.position_from_postcode.data = False  # a choice for one save, not a setting of the home
    return render_template(
        "admin/home.html", form=form, home=existing, kinds=kinds, capacities=capacities, errors=errors,
        link=links.link_url(existing) if existing else None, **(_chase_form(existing) if existing else {}),
        textable=len(contacts.textable(existing)) if existing else 0,
    )  # fmt: skip


def _position(form, *, asked: bool) -> bool:
    """Fill the latitude and longitude from the postcode when both are blank, or when `asked`; False,
    with the reason beside the field, when that postcode is not known (nothing is saved then)."""
    lat, lon = form.latitude.data, form.longitude.data
    if not asked and (lat is None) != (lon is None):
        form.latitude.errors.append("Enter both the latitude and the longitude, or neither: the postcode gives both.")
        return False
    if not asked and lat is not None:
        return True
    raw = (form.postcode.data or "").strip()
    if not raw:
        if asked:
            form.postcode.errors.append("Enter the postcode to take the position from.")
        return not asked  # no postcode and no position: allowed, the place is just not on distance sorts
    postcode = postcodes.normalise(raw)
    point = postcodes.locate(postcode) if postcode and " " in postcode else None
    if point is None:
        form.postcode.errors.append(
            f"The postcode {raw.upper()} is not in the postcode directory: check it, or enter the latitude "
            "and longitude yourself."
        )
        return False
    for field, value in ((form.latitude, point.lat), (form.longitude, point.lon)):
        field.data, field.raw_data = value, [str(value)]
    return True


_HOME_FIELDS = (  # what the form saves: not position_from_postcode
    "name", "address", "postcode", "phone", "locality_id", "cqc_location_id", "listed_publicly",
    "public_counts", "latitude", "longitude",
)  # fmt: skip


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


def _capacities(kinds, raw: dict[str, str], home: CareHome | None, errors: dict[str, str]) -> dict[str, int]:
    """Registered beds per kind from the form; a blank means the home does not offer that kind."""
    wanted = {}
    for kind in kinds:
        text = raw.get(kind.code, "")
        if not text:
            continue
        if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= availability.MAX_BEDS:
            errors[kind.code] = f"{kind.name}: enter the registered beds as a whole number from 1, or leave it blank."
            continue
        offer = home.offer(kind.code) if home else None
        if offer and not availability.capacity_holds(int(text), offer.available):
            errors[kind.code] = (
                f"{kind.name}: {offer.available} beds are recorded free now, so the home cannot have fewer "
                "registered. Record fewer free beds first (the home's form), then change this."
            )
            continue
        wanted[kind.code] = int(text)
    if not wanted and not errors:
        errors["kinds"] = "Enter the registered beds for at least one kind of care."
    return wanted


def _set_offers(home: CareHome, wanted: dict[str, int], kinds) -> None:
    order = {k.code: k.position for k in kinds}
    for offer in list(home.offers):
        if offer.kind_code not in wanted:
            home.offers.remove(offer)
    for code, capacity in wanted.items():
        offer = home.offer(code)
        if offer:
            offer.capacity = capacity
        else:
            home.offers.append(Offer(kind_code=code, capacity=capacity, position=order[code]))


@bp.route("/homes/<int:home_id>/rotate-link", methods=["GET", "POST"])
@admin_required
def home_rotate_link(home_id: int):
    """GET asks first (the old link stops working at once); only the POST, with its CSRF token, replaces it."""
    target = session.get(CareHome, home_id) or abort(404)
    if request.method == "GET":
        return render_template("admin/rotate_link.html", home=target, textable=len(contacts.textable(target)))
    links.replace_link(target)
    session.commit()
    flash(f"{target.name} has a new form link; the old one no longer works. Send them the new one.", "success")
    return redirect(url_for("admin.home_link", home_id=home_id))


@bp.get("/homes/<int:home_id>/link")
@admin_required
def home_link(home_id: int):
    target = session.get(CareHome, home_id) or abort(404)
    return render_template(
        "admin/link.html", home=target, link=links.link_url(target), textable=len(contacts.textable(target))
    )


@bp.post("/homes/<int:home_id>/link/text")
@admin_required
def home_text_link(home_id: int):
    """Text the form link to each of the home's phones that may be texted (as the chaser does: not STOP, not failed)."""
    target = session.get(CareHome, home_id) or abort(404)
    phones = contacts.textable(target)
    if not phones:
        flash(f"Nothing was sent: no phone of {target.name} can be texted. Add a mobile number first.", "error")
        return redirect(url_for("admin.home_link", home_id=home_id))
    now, body = utcnow(), links.link_text(target, current_user.name)
    queued = [outbox.queue(phone, body, purpose="form link", home_id=target.id, now=now) for phone in phones]
    # The count only: the link is a secret, and the numbers are on the home's page.
    audit.record("home.text_link", target, summary=f"form link texted to {len(phones)} phone(s)")
    session.commit()  # stored with its audit row before any is sent
    for message in queued:
        outbox.deliver(message.id, now=now)
    flash(
        f"The link is on its way to {len(phones)} phone{'s' if len(phones) != 1 else ''} of {target.name}: "
        "the Outbox shows each text's progress.",
        "success",
    )
    return redirect(url_for("admin.home_link", home_id=home_id))


# ---- how a home is chased --------------------------------------------------------------------

CHASE_LABELS = {
    "stale_after": "Remind when its numbers are older than",
    "remind_every": "Then remind every",
    "max_reminders": "Reminders before escalating",
    "hours": "Working hours, UK time",
}


def _chase_form(home: CareHome, values: dict | None = None, error: str = "") -> dict:
    """What the chasing form shows: this home's overrides (blank: the default applies), and the defaults."""
    overrides = home.chase_policy or {}
    default = ladder.default_policy()
    defaults = {
        "stale_after": duration(default.stale_after),
        "remind_every": duration(default.remind_every),
        "max_reminders": str(default.max_reminders),
        "hours": f"{default.hours[0]:%H:%M}-{default.hours[1]:%H:%M}",
    }
    if values is None:
        values = {name: str(overrides.get(name, "")) for name in ladder.SETTINGS}
        values["chased"] = overrides.get("enabled", True)
    field = next((name for name in ladder.SETTINGS if error.startswith(name)), "")
    return {
        "chase_values": values, "chase_defaults": defaults, "chase_labels": CHASE_LABELS,
        "chase_error": (CHASE_LABELS[field] + ": " if field else "") + error, "chase_error_field": field,
        "policy": ladder.policy_for(home),
    }  # fmt: skip


@bp.route("/homes/<int:home_id>/chase-policy", methods=["GET", "POST"])
@admin_required
def home_chase_policy(home_id: int):
    """The settings of `homes chase-policy`, from the home's page: a blank one takes the default."""
    target = session.get(CareHome, home_id) or abort(404)
    if request.method == "GET":
        return render_template("admin/chase_policy.html", home=target, **_chase_form(target))
    clear = bool(request.form.get("clear"))
    values = {name: request.form.get(name, "").strip()[:40] for name in ladder.SETTINGS}
    values["chased"] = clear or request.form.get("chased") == "1"
    given = {} if clear else {name: value or None for name, value in values.items() if name != "chased"}
    try:
        ladder.change_policy(target, given, off=None if values["chased"] else True, clear=True)
    except ladder.PolicyError as exc:
        session.rollback()
        form = _chase_form(target, values, str(exc))
        return render_template("admin/chase_policy.html", home=target, **form), 400
    session.commit()
    policy = ladder.policy_for(target)
    flash(
        f"Saved: {target.name} is {'chased' if policy.enabled else 'not chased'}"
        + (" with the default settings." if not target.chase_policy else " with its own settings."),
        "success",
    )
    return redirect(url_for("admin.home", home_id=home_id) + "#chasing")


@bp.post("/homes/<int:home_id>/contacts")
@admin_required
def home_add_contact(home_id: int):
    target = session.get(CareHome, home_id) or abort(404)
    phone, name = request.form.get("phone", ""), plaintext.clean(request.form.get("name", ""))[:120]
    try:
        contact = contacts.add_contact(target, phone, name)
    except (BadPhoneNumber, contacts.ContactError) as exc:
        session.rollback()
        flash(f"Contact not added: {exc}", "error")
    else:
        audit.record("contact.add", target, changes={"contact_id": [None, contact.id]})
        session.commit()
        flash(f"{contact.phone} may now update {target.name} by text and phone.", "success")
    return redirect(url_for("admin.home", home_id=home_id) + "#contacts")


@bp.post("/homes/<int:home_id>/contacts/<int:contact_id>/remove")
@admin_required
def home_remove_contact(home_id: int, contact_id: int):
    contact = session.get(Contact, contact_id)
    if contact is None or contact.home_id != home_id:
        abort(404)
    target, phone = contact.home, contact.phone
    contacts.remove_contact(target, phone)
    audit.record("contact.remove", target, changes={"contact_id": [contact.id, None]})
    session.commit()
    flash(f"{phone} can no longer update {target.name}.", "success")
    return redirect(url_for("admin.home", home_id=home_id) + "#contacts")


# ---- users -----------------------------------------------------------------------------------


@bp.get("/users")
@admin_required
def users():
    rows = session.scalars(select(User).order_by(User.active.desc(), User.name)).all()
    return render_template("admin/users.html", rows=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user(user_id: int | None = None):
    existing = session.get(User, user_id) if user_id else None
    if user_id and existing is None:
        abort(404)
    form = UserForm(obj=existing, data=None if existing else {"role": Role.COORDINATOR.value})
    if request.method == "GET" and existing:
        form.role.data, form.hospital_id.data = existing.role.value, existing.hospital_id or 0
    form.hospital_id.choices = [SelectChoice(0, "(none)")] + [SelectChoice(h.id, h.name) for h in _hospitals()]
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        clash = session.scalars(select(User).where(func.lower(User.email) == email)).one_or_none()
        if clash is not None and clash is not existing:
            form.email.errors.append("Someone already has an account with this email address.")
        elif existing is current_user._get_current_object() and form.role.data != Role.ADMIN.value:
            form.role.errors.append("You cannot take away your own admin role: ask another admin.")
        else:
            target = existing or User(password_hash=invites.unusable_password(), active=True)
            values = {
                "email": email, "name": form.name.data.strip(), "role": Role(form.role.data),
                "hospital_id": form.hospital_id.data or None,
            }  # fmt: skip
            changes = audit.apply(target, values)
            session.add(target)
            audit.record("user.update" if existing else "user.invite", target, changes=changes)
            session.commit()
            if existing:
                flash(f"Saved {target.name}.", "success")
                return redirect(url_for("admin.user", user_id=target.id))
            return _show_invite(target)
    return render_template("admin/user.html", form=form, user=existing)


@bp.post("/users/<int:user_id>/invite")
@admin_required
def user_reinvite(user_id: int):
    target = session.get(User, user_id) or abort(404)
    target.password_hash = invites.unusable_password()  # the old password and any earlier link stop working
    audit.record("user.reinvite", target, summary="password cleared; a new invitation link was made")
    auth.end_sign_ins(target)  # commits
    return _show_invite(target)


def _show_invite(target: User):
    return render_template("admin/invited.html", user=target, link=invites.invite_url(target), days=invites.VALID_DAYS)


@bp.post("/users/<int:user_id>/active")
@admin_required
def user_active(user_id: int):
    target = session.get(User, user_id) or abort(404)
    active = request.form.get("active") == "1"
    if target.id == current_user.id and not active:
        flash("You cannot disable your own account: ask another admin.", "error")
        return redirect(url_for("admin.users"))
    changes = audit.apply(target, {"active": active})
    if changes:
        audit.record("user.enable" if active else "user.disable", target, changes=changes)
        auth.end_sign_ins(target)  # commits; a disabled user's open boards are disconnected
    flash(f"{target.name} {'can sign in again' if active else 'can no longer sign in'}.", "success")
    return redirect(url_for("admin.users"))


# ---- hospitals, regions and localities -------------------------------------------------------


@bp.get("/places")
@admin_required
def places():
    return render_template(
        "admin/places.html", hospitals=_hospitals(), localities=_localities(),
        regions=session.scalars(select(Region).order_by(Region.name)).all(), region_form=RegionForm(),
    )  # fmt: skip


@bp.post("/regions")
@admin_required
def region_create():
    form = RegionForm()
    if form.validate_on_submit():
        target = Region(name=form.name.data.strip())
        if _saved(target, "region.create", {"name": [None, target.name]}):
            flash(f"Created the region {target.name}: now add its localities.", "success")
        else:
            flash(f"There is already a region called {form.name.data.strip()}.", "error")
    else:
        flash(" ".join(form.name.errors), "error")
    return redirect(url_for("admin.places"))


@bp.route("/hospitals/new", methods=["GET", "POST"])
@bp.route("/hospitals/<int:hospital_id>", methods=["GET", "POST"])
@admin_required
def hospital(hospital_id: int | None = None):
    existing = session.get(Hospital, hospital_id) if hospital_id else None
    if hospital_id and existing is None:
        abort(404)
    form = HospitalForm(obj=existing)
    form.region_id.choices = _region_choices()
    if form.validate_on_submit() and _position(form, asked=False):
        if form.latitude.data is None or form.longitude.data is None:
            form.latitude.errors.append(
                "Enter the hospital's postcode, or its latitude and longitude: boards measure distance from it."
            )
        else:
            target = existing or Hospital()
            fields = ("name", "site", "postcode", "region_id", "latitude", "longitude")
            values = {name: getattr(form, name).data for name in fields}
            values["name"], values["postcode"] = values["name"].strip(), (values["postcode"] or "").strip().upper()
            changes = audit.apply(target, values)
            if _saved(target, "hospital.update" if existing else "hospital.create", changes):
                flash(f"Saved {target.name}.", "success")
                return redirect(url_for("admin.places"))
            form.name.errors.append("There is already a hospital with this name.")
    return render_template("admin/edit.html", form=form, title=existing.name if existing else "New hospital")


@bp.route("/localities/new", methods=["GET", "POST"])
@bp.route("/localities/<int:locality_id>", methods=["GET", "POST"])
@admin_required
def locality(locality_id: int | None = None):
    existing = session.get(Locality, locality_id) if locality_id else None
    if locality_id and existing is None:
        abort(404)
    form = LocalityForm(obj=existing)
    form.region_id.choices = _region_choices()
    if form.validate_on_submit():
        target = existing or Locality()
        phone = (form.escalation_phone.data or "").strip()  # optional fields a client may leave out
        values = {
            "name": form.name.data.strip(), "region_id": form.region_id.data,
            "escalation_name": (form.escalation_name.data or "").strip(),
            "escalation_phone": to_e164(phone) if phone else None,
        }  # fmt: skip
        changes = audit.apply(target, values)
        if _saved(target, "locality.update" if existing else "locality.create", changes):
            flash(f"Saved {target.name}.", "success")
            return redirect(url_for("admin.places"))
        form.name.errors.append("There is already a locality with this name.")
    return render_template("admin/edit.html", form=form, title=existing.name if existing else "New locality")


# ---- the audit log ---------------------------------------------------------------------------


@bp.get("/audit")
@admin_required
def audit_log():
    kind = request.args.get("type", "")
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    if kind:
        statement = statement.where(AuditEvent.target_type == kind)
    page = paged(statement, AUDIT_PAGE)
    types = session.scalars(select(AuditEvent.target_type).distinct().order_by(AuditEvent.target_type)).all()
    return render_template(
        "admin/audit.html", rows=page.rows, kind=kind, types=types, page=page, users=_user_names(page.rows)
    )


def _user_names(events) -> dict[int, str]:
    """Users by name while their account exists: the log itself keeps only their id."""
    ids = {e.user_id for e in events if e.user_id}
    if not ids:
        return {}
    return {u.id: f"{u.name} <{u.email}>" for u in session.scalars(select(User).where(User.id.in_(ids)))}


AUDIT_HEADER = [
    "Entry", "When (UK time)", "Who", "Action", "Of", "Name", "Its id", "Changes (before -> after)", "Summary",
]  # fmt: skip


@bp.get("/audit.csv")
@admin_required
def audit_csv():
    """The whole log, or the days from/to (UK dates, both included), oldest first, as CSV."""
    args = request.args
    statement = select(AuditEvent)
    name = "audit-log"
    if args.get("from") or args.get("to"):
        try:
            first, last = csv_export.date_range(args.get("from", ""), args.get("to", ""), max_days=100 * 366)
        except csv_export.BadRequest as error:
            return Response(str(error) + "\n", status=400, mimetype="text/plain")
        start, end = csv_export.day_bounds(first, last)
        statement = statement.where(AuditEvent.at >= start, AuditEvent.at < end)
        name += f"-{first:%Y-%m-%d}-to-{last:%Y-%m-%d}"
    if args.get("type"):
        statement = statement.where(AuditEvent.target_type == args["type"])
    rows = _audit_rows(statement)
    response = Response(stream_with_context(csv_export.csv_lines(AUDIT_HEADER, rows)), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _audit_rows(statement):
    """CSV rows in id order, a chunk per short transaction (on SQLite a transaction holds the write lock: db.py)."""
    after = 0
    while True:
        chunk = session.scalars(statement.where(AuditEvent.id > after).order_by(AuditEvent.id).limit(AUDIT_CHUNK)).all()
        users = _user_names(chunk)
        rows = [_audit_row(event, users) for event in chunk]  # read before the rollback expires them
        session.rollback()  # ends the read: nothing was written
        yield from rows
        if len(chunk) < AUDIT_CHUNK:
            return
        after = rows[-1][0]


def _audit_row(event: AuditEvent, users: dict[int, str]) -> list:
    changes = "; ".join(
        f"{field}: {'-' if pair[0] is None else pair[0]} -> {'-' if pair[1] is None else pair[1]}"
        for field, pair in event.changes.items()
    )
    who = users.get(event.user_id) or event.actor
    return [event.id, csv_export.uk_time(event.at), who, event.action, event.target_type, event.target_name,
            event.target_id or "", changes, event.summary]  # fmt: skip


def _region_choices() -> list[SelectChoice]:
    return [SelectChoice(r.id, r.name) for r in session.scalars(select(Region).order_by(Region.name))]


def _localities() -> list[Locality]:
    return session.scalars(select(Locality).join(Locality.region).order_by(Region.name, Locality.name)).all()


def _hospitals() -> list[Hospital]:
    return session.scalars(select(Hospital).order_by(Hospital.name)).all()
