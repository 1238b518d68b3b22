"""The admin page that imports a CQC directory file by upload: the same import as `flask import-cqc`."""

from __future__ import annotations

from flask import current_app, render_template
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, StringField
from wtforms.validators import Length, Optional

from tracker.admin import admin_required, bp, cqc_files, cqc_import


class ImportForm(FlaskForm):
    file = FileField("CQC file (CSV, XLSX or ODS)", [FileRequired("Choose the CQC file to import.")])
    local_authority = StringField("Only this local authority (blank: all)", [Optional(), Length(max=120)])
    region = StringField("Region for new localities (blank: the only one)", [Optional(), Length(max=120)])
    dry_run = BooleanField("Check only: show what would change, and save nothing")


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def import_cqc():
    form = ImportForm()
    summary = None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            sheet = cqc_files.open_file(upload.read())
            summary = cqc_import.run_import(
                sheet, upload.filename or "upload", local_authority=(form.local_authority.data or "").strip() or None,
                region=(form.region.data or "").strip() or None, dry_run=form.dry_run.data,
            )  # fmt: skip
        except (cqc_files.FileError, cqc_import.ImportRefused) as exc:
            form.file.errors.append(str(exc))
    return render_template("admin/import.html", form=form, summary=summary)


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(_error):
    limit = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    form = ImportForm(formdata=None)
    form.file.errors = [
        f"The file is larger than {limit:.3g} MB, the most this page takes: import it with `flask --app tracker "
        "import-cqc FILE` instead, or ask for UPLOAD_MAX_MB to be raised."
    ]
    return render_template("admin/import.html", form=form, summary=None), 413
