"""Operators' commands: `flask --app tracker db|users|homes|tokens|contacts|chase|prune|subject-access ...`."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import sys
from datetime import datetime
from pathlib import Path

import click
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from alembic import command
from tracker import audit, auth, signing
from tracker.admin import cqc_files, cqc_import, demo, invites, privacy
from tracker.chasing import ladder
from tracker.db import session
from tracker.families import postcodes
from tracker.managers import contacts, links
from tracker.models import ApiToken, CareHome, Contact, Hospital, Locality, Role, User, utcnow
from tracker.phones import BadPhoneNumber, to_e164
from tracker.timefmt import LONDON, duration

users_cli = AppGroup("users", help="People who sign in: coordinators and administrators.")
homes_cli = AppGroup("homes", help="Care homes and their managers' links.")
tokens_cli = AppGroup("tokens", help="API tokens for machine clients.")
contacts_cli = AppGroup("contacts", help="Phones that may update a home by text or call.")
localities_cli = AppGroup("localities", help="Localities and who hears about homes that stop answering.")
postcodes_cli = AppGroup("postcodes", help="Postcode centres for the families' search.")


def find_home(ref: str) -> CareHome:
    """HOME is the tracker's id or the CQC location id."""
    home = session.get(CareHome, int(ref)) if ref.isdecimal() else None
    home = home or session.scalars(select(CareHome).where(CareHome.cqc_location_id == ref)).one_or_none()
    if home is None:
        raise click.ClickException(f"No care home has id or CQC location id {ref!r}. `homes list` shows them.")
    return home


def find_user(email: str) -> User:
    user = session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())).one_or_none()
    if user is None:
        raise click.ClickException(f"No one has an account with the email address {email!r}. `users list` shows them.")
    return user


@users_cli.command("create-admin")
@click.argument("email")
@click.option("--name", required=True, help="Their name, as the audit log will show it.")
def create_admin(email: str, name: str):
    """Create an administrator and print their invitation link (one use, for a week)."""
    email, name = email.strip().lower(), name.strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) or len(email) > 254:
        raise click.ClickException(f"{email!r} is not an email address.")
    if not name or len(name) > 120:
        raise click.ClickException("--name: give their name, up to 120 characters.")
    if session.scalars(select(User).where(func.lower(User.email) == email)).one_or_none():
        raise click.ClickException(f"{email} already has an account: an admin can send a new invitation from its page.")
    user = User(email=email, name=name, role=Role.ADMIN, password_hash=invites.unusable_password(), active=True)
    session.add(user)
    audit.record("user.invite", user, changes={"email": [None, email], "role": [None, Role.ADMIN.value]})
    session.commit()
    click.echo(f"Created {name} <{email}>, administrator. Pass on this link; it sets their password once,", err=True)
    click.echo(f"within {invites.VALID_DAYS} days:", err=True)
    click.echo(invites.invite_url(user))


@users_cli.command("list")
def list_users():
    """Print every account: email, role, name, hospital, and whether it can sign in."""
    for user in session.scalars(select(User).order_by(User.active.desc(), User.email)):
        state = "active" if user.active else "DISABLED"
        if user.active and user.password_hash.startswith("!"):
            state = "invited"  # no password chosen yet
        hospital = f" ({user.hospital.name})" if user.hospital else ""
        click.echo(f"{user.email:<40} {user.role.value:<12} {state:<9} {user.name}{hospital}")


@users_cli.command("disable")
@click.argument("email")
def disable_user(email: str):
    """Stop EMAIL signing in: their sign-ins end and their open boards are disconnected at once."""
    user = find_user(email)
    if user.active and user.role == Role.ADMIN:
        others = select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active, User.id != user.id)
        if not session.scalar(others):
            raise click.ClickException(f"{user.email} is the last active administrator: create another first.")
    changes = audit.apply(user, {"active": False})
    if changes:
        audit.record("user.disable", user, changes=changes)
    auth.end_sign_ins(user)  # commits
    click.echo(f"{user.name} <{user.email}> can no longer sign in; their sign-ins have ended.")


@homes_cli.command("list")
def list_homes():
    """Print every home's id, CQC location id and name."""
    for home in session.scalars(select(CareHome).order_by(CareHome.id)):
        code = home.short_code or "-"
        click.echo(f"{home.id:>6}  {home.cqc_location_id or '-':<14}  {code:<6} {home.name} ({home.locality.name})")


@homes_cli.command("link")
@click.argument("home_ref", metavar="HOME")
def print_link(home_ref: str):
    """Print the manager's form link for HOME (id or CQC location id)."""
    click.echo(links.link_url(find_home(home_ref)))


@homes_cli.command("rotate-link")
@click.argument("home_ref", metavar="HOME")
def rotate_link(home_ref: str):
    """Replace HOME's form link: the old one stops working at once. Prints the new link."""
    home = find_home(home_ref)
    link = links.replace_link(home)
    session.commit()
    click.echo(f"The old link for {home.name} no longer works. New link:", err=True)
    click.echo(link)


@homes_cli.command("chase-policy")
@click.argument("home_ref", metavar="HOME")
@click.option("--stale-after", help="Due a reminder when the last confirmation is older than this (e.g. 48h).")
@click.option("--remind-every", help="Time between reminders (e.g. 2h).")
@click.option("--max-reminders", help="Reminders before escalating (0 escalates at once).")
@click.option("--hours", help="Working hours, UK time (e.g. 09:00-17:00).")
@click.option("--off/--on", "off", default=None, help="Stop or resume chasing this home.")
@click.option("--clear", is_flag=True, help="Drop this home's overrides: the configured defaults apply.")
def chase_policy(home_ref, stale_after, remind_every, max_reminders, hours, off, clear):
    """Show or change how HOME is chased; options not given keep their current value."""
    home = find_home(home_ref)
    given = {"stale_after": stale_after, "remind_every": remind_every, "max_reminders": max_reminders, "hours": hours}
    try:
        policy = ladder.change_policy(home, given, off=off, clear=clear)
    except ladder.PolicyError as exc:
        raise click.ClickException(f"Not changed: {exc}") from None
    session.commit()
    hours_text = f"{policy.hours[0]:%H:%M}-{policy.hours[1]:%H:%M}"
    click.echo(
        f"{home.name}: {'chased' if policy.enabled else 'NOT chased'}; due after {duration(policy.stale_after)}, "
        f"reminded every {duration(policy.remind_every)} up to {policy.max_reminders} times, {hours_text} UK time. "
        f"Overrides: {home.chase_policy or 'none'}. Next step: {home.chase_due_at or 'none'}."
    )


@localities_cli.command("list")
def list_localities():
    """Print each locality and its escalation contact."""
    for place in session.scalars(select(Locality).order_by(Locality.name)):
        contact = f"{place.escalation_name} {place.escalation_phone}".strip() if place.escalation_phone else "none"
        click.echo(f"{place.id:>4}  {place.name:<32} escalation: {contact}")


@localities_cli.command("escalation")
@click.argument("locality_ref", metavar="LOCALITY")
@click.argument("phone")
@click.option("--name", default="", help="Who answers that phone (e.g. 'West Cornwall discharge hub').")
def set_escalation(locality_ref: str, phone: str, name: str):
    """Text PHONE when a home in LOCALITY (id or name) stops answering reminders."""
    place = session.get(Locality, int(locality_ref)) if locality_ref.isdecimal() else None
    place = place or session.scalars(select(Locality).where(Locality.name == locality_ref)).one_or_none()
    if place is None:
        raise click.ClickException(f"No locality has id or name {locality_ref!r}. `localities list` shows them.")
    try:
        number = to_e164(phone)
    except BadPhoneNumber as exc:
        raise click.ClickException(str(exc)) from None
    changes = audit.apply(place, {"escalation_phone": number, "escalation_name": name})
    audit.record("locality.update", place, changes=changes)
    session.commit()
    click.echo(f"{place.name}: escalations go to {name or 'the number'} {place.escalation_phone}.")


@click.command("chase")
@click.option("--at", "at", help="Run the pass as if it were this time (ISO 8601, e.g. 2026-11-24T08:00:00+00:00).")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send and change nothing.")
def chase(at: str | None, dry_run: bool):
    """One chasing pass, as the clock runs each minute: prints what it sent or would send."""
    now = _moment(at) if at else utcnow()
    steps = ladder.run_pass(now, dry_run=dry_run)
    acted = [step for step in steps if step.action != "waiting"]
    waiting = len(steps) - len(acted)
    verb = "would send" if dry_run else "sent"
    for step in acted:
        click.echo(("[dry run] " if dry_run else "") + step.describe())
        if dry_run:
            click.echo(f"    {step.body}")
    click.echo(
        f"{len(acted)} step(s) {verb} at {now.isoformat()}; {waiting} home(s) due but outside their working hours."
    )


def _moment(at: str) -> datetime:
    try:
        now = datetime.fromisoformat(at)
    except ValueError:
        raise click.ClickException(f"--at {at!r}: expected an ISO 8601 time, like 2026-11-24T08:00:00+00:00") from None
    # A bare time is read as UK time, as people write it.
    return now if now.tzinfo is not None else now.replace(tzinfo=LONDON)


@contacts_cli.command("add")
@click.argument("home_ref", metavar="HOME")
@click.argument("phone")
@click.option("--name", default="", help="Whose phone, e.g. 'Jo Smith, manager'.")
def add_contact(home_ref: str, phone: str, name: str):
    """Let PHONE update HOME by text message or phone call."""
    home = find_home(home_ref)
    try:
        contact = contacts.add_contact(home, phone, name)
    except (contacts.ContactError, BadPhoneNumber) as exc:
        raise click.ClickException(str(exc)) from None
    audit.record("contact.add", home, changes={"contact_id": [None, contact.id]})
    session.commit()
    click.echo(
        f"{contact.phone} can now update {home.name}"
        + (f" (texts start {home.short_code})." if home.short_code else ".")
    )


@contacts_cli.command("remove")
@click.argument("home_ref", metavar="HOME")
@click.argument("phone")
def remove_contact(home_ref: str, phone: str):
    """Stop PHONE updating HOME."""
    home = find_home(home_ref)
    try:
        contact = contacts.remove_contact(home, phone)
    except (contacts.ContactError, BadPhoneNumber) as exc:
        raise click.ClickException(str(exc)) from None
    audit.record("contact.remove", home, changes={"contact_id": [contact.id, None]})
    session.commit()
    click.echo(f"Removed {phone} from {home.name}.")


@contacts_cli.command("list")
@click.argument("home_ref", metavar="HOME", required=False)
def list_contacts(home_ref: str | None):
    """Every contact (of HOME, if given), with Twilio's word on whether it can be texted."""
    query = select(Contact).join(Contact.home).order_by(CareHome.name, Contact.phone)
    if home_ref:
        query = query.where(Contact.home_id == find_home(home_ref).id)
    for contact in session.scalars(query):
        flag = " OPTED OUT (replied STOP)" if contact.opted_out_at else ""
        flag += f" CANNOT BE TEXTED: {contact.failure}" if contact.failed_at else ""
        code = f"[{contact.home.short_code}] " if contact.home.short_code else ""
        click.echo(f"{contact.phone:<16} {code}{contact.home.name} {contact.name}{flag}".rstrip())


@tokens_cli.command("create")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", required=True, help="Who or what will use it, e.g. 'Treliske discharge hub system'.")
@click.option(
    "--home", "home_ref", help="Limit it to one care home (id or CQC location id): it sees and updates only that."
)
@click.option(
    "--hospital",
    "hospital_ref",
    help="The hospital a coordinator token holds beds for (id or exact name): it holds and ends only that "
    "hospital's holds. A coordinator token without one cannot hold beds.",
)
def create_token(role: str, name: str, home_ref: str | None, hospital_ref: str | None):
    """Create an API token. It is printed once, on the last line, and cannot be shown again."""
    if hospital_ref and home_ref:
        raise click.ClickException("--home or --hospital, not both: a token speaks for one care home or one hospital.")
    if hospital_ref and role == Role.ADMIN.value:
        raise click.ClickException(
            "--hospital is for coordinator tokens: an admin token names the hospital it holds for in each request."
        )
    home = find_home(home_ref) if home_ref else None
    hospital = find_hospital(hospital_ref) if hospital_ref else None
    token = auth.create_token(
        name, Role(role), home_id=home.id if home else None, hospital_id=hospital.id if hospital else None
    )
    scope = f", for {home.name} only" if home else f", holding for {hospital.name}" if hospital else ""
    click.echo(f"Token for {name!r} ({role}{scope}). Store it now: only its hash is kept.", err=True)
    click.echo(token)


def find_hospital(ref: str) -> Hospital:
    """HOSPITAL is the tracker's id or the hospital's exact name."""
    hospital = session.get(Hospital, int(ref)) if ref.isdecimal() and len(ref) < 10 else None
    hospital = hospital or session.scalars(select(Hospital).where(Hospital.name == ref.strip())).one_or_none()
    if hospital is None:
        raise click.ClickException(f"No hospital has id or name {ref!r}. Admin pages list them at /admin/places.")
    return hospital


@tokens_cli.command("list")
def list_tokens():
    """Print every token: id, name, role, home, hospital, created, last used (never the token itself)."""
    rows = session.execute(
        select(ApiToken, CareHome.name).outerjoin(CareHome, ApiToken.home_id == CareHome.id).order_by(ApiToken.id)
    )
    for token, home_name in rows:
        state = f"REVOKED {_when(token.revoked_at)}" if token.revoked_at else "active"
        hospital = token.hospital.name if token.hospital else "-"
        click.echo(
            f"{token.id:>4}  {token.name:<32} {token.role.value:<12} home: {home_name or 'all':<24} "
            f"hospital: {hospital:<24} created {_when(token.created_at)}  "
            f"last used {_when(token.last_used_at)}  {state}"
        )


def _when(moment: datetime | None) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") if moment else "never"


@tokens_cli.command("revoke")
@click.argument("token_id", type=int, metavar="ID")
def revoke_token(token_id: int):
    """Refuse token ID from now on (`tokens list` shows ids); boards it opened are disconnected."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException(f"No token has id {token_id}. `tokens list` shows them.")
    if token.revoked_at is None:
        audit.record("token.revoke", token, summary="refused from now on")
    auth.revoke_token(token)  # commits
    click.echo(f"Token {token.id} ({token.name}) is refused from now on.")


@click.command("twilio-curl")
@click.argument("path", default="/twilio/sms")
@click.argument("fields", nargs=-1, metavar="NAME=VALUE...")
def twilio_curl(path: str, fields: tuple[str, ...]):
    """Print a curl command that posts FIELDS to PATH signed as Twilio would sign it.

    For trying the webhooks locally: `twilio-curl /twilio/sms From=+447700900123 "Body=NUR 2"`.
    Signs with TWILIO_AUTH_TOKEN for the address links use (PUBLIC_BASE_URL, or the embedded server's).
    """
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    if not token:
        raise click.ClickException("Set TWILIO_AUTH_TOKEN first (any string will do locally): the webhooks need it.")
    params = dict(field.split("=", 1) for field in fields if "=" in field)
    if path.endswith("/sms"):
        params.setdefault("MessageSid", "SM" + secrets.token_hex(16))
    if path.endswith("/voice"):
        params.setdefault("CallSid", "CA" + secrets.token_hex(16))
    url = signing.base_url() + path
    signature = RequestValidator(token).compute_signature(url, params)
    data = " ".join(f"--data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in params.items())
    click.echo(f"curl -s -X POST {shlex.quote(url)} -H {shlex.quote('X-Twilio-Signature: ' + signature)} {data}")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds care homes.")
def seed_demo(if_empty: bool):
    """Load the Cornwall and Isles of Scilly demo region (never in production)."""
    if current_app.config["TRACKER_ENV"] == "production":
        raise click.ClickException("Refusing to load demo data into a production tracker (TRACKER_ENV=production).")
    if session.scalar(select(func.count()).select_from(CareHome)):
        if not if_empty:
            raise click.ClickException(
                "The database already holds care homes; the demo region loads only into an empty one."
            )
        if session.scalar(select(User).where(User.email == demo.logins()[-1][0])):
            _print_logins("The demo region is loaded.")
        return
    demo.seed(utcnow())
    count = session.scalar(select(func.count()).select_from(CareHome))
    _print_logins(f"Loaded the demo region: {count} care homes.")


def _print_logins(headline: str) -> None:
    click.echo(f"{headline} Demo sign-ins at /login (password for all: {demo.DEMO_PASSWORD}):")
    for email, _password, description in demo.logins():
        click.echo(f"  {email:<34} {description}")


@postcodes_cli.command("import-onspd")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_onspd(path: Path):
    """Load the ONS Postcode Directory's CSV (PATH, or PATH.gz), replacing any earlier import."""
    try:
        count = postcodes.import_onspd(path)
    except postcodes.OnspdError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    click.echo(f"Imported {count:,} postcodes. Searches now look them up before the bundled Code-Point Open.")


@click.command("import-cqc")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--local-authority", help="Import only this local authority's homes (e.g. Cornwall).")
@click.option("--region", help="The region new localities go in; created if there is none of that name.")
@click.option("--dry-run", is_flag=True, help="Show what would change; save nothing.")
def import_cqc(path: Path, local_authority: str | None, region: str | None, dry_run: bool):
    """Create and update care homes from a CQC directory file (weekly CSV, or monthly CSV, XLSX or ODS)."""
    try:
        sheet = cqc_files.open_file(path.read_bytes())
    except cqc_files.FileError as exc:
        raise click.ClickException(f"{path.name}: {exc}") from None
    with click.progressbar(length=sheet.total, label=f"Reading the {sheet.title}", file=sys.stderr) as bar:
        try:
            summary = cqc_import.run_import(
                sheet, path.name, local_authority=local_authority, region=region, dry_run=dry_run,
                actor=f"CQC import ({path.name})", progress=bar.update,
            )  # fmt: skip
        except cqc_import.ImportRefused as exc:
            raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)


db_cli = AppGroup("db", help="The database's schema.")


def migrations_dir() -> Path:
    """The Alembic scripts: `alembic/` beside a source checkout, `tracker/migrations/` in an installed wheel."""
    packaged = Path(__file__).resolve().parent / "migrations"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "alembic"


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Upgrade to this revision.")
def db_upgrade(revision: str):
    """Bring the database at DATABASE_URL up to date (what `alembic upgrade head` does in a checkout)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser would read a "%" in a password as interpolation.
    cfg.set_main_option("sqlalchemy.url", current_app.config["DATABASE_URL"].replace("%", "%%"))
    cfg.attributes["skip_logging"] = True
    session.remove()
    command.upgrade(cfg, revision)
    click.echo(f"The database is at {revision}.")


@click.command("prune")
@click.option("--at", help="Prune as if it were this moment (ISO 8601, UK time if no offset); default now.")
def prune(at: str | None):
    """Blank or delete texts, sign-ins and bed requests' words past their retention (the clock does it daily)."""
    now = _moment(at) if at else utcnow()
    pruned = privacy.prune(now)
    click.echo(
        f"{pruned.inbound} text(s) received lost their sender and words; {pruned.outbound} text(s) sent were "
        f"deleted; {pruned.sign_ins} expired sign-in(s) were deleted; {pruned.request_words} bed request need(s) "
        "and message(s) lost their words."
    )


@click.command("subject-access")
@click.argument("person", metavar="PHONE|EMAIL")
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="Write to this file.")
def subject_access(person: str, output: Path | None):
    """Everything held about the owner of PHONE or EMAIL, as JSON (a subject access request)."""
    try:
        found = privacy.subject_access(person)
    except BadPhoneNumber as exc:
        raise click.ClickException(f"{exc}; give a phone number or an e-mail address.") from None
    text = json.dumps(found, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Written to {output}.")


def register(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(postcodes_cli)
    app.cli.add_command(homes_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(contacts_cli)
    app.cli.add_command(localities_cli)
    app.cli.add_command(chase)
    app.cli.add_command(seed_demo)
    app.cli.add_command(twilio_curl)
    app.cli.add_command(import_cqc)
    app.cli.add_command(prune)
    app.cli.add_command(subject_access)
