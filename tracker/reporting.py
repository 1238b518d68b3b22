"""Reports for commissioners (admins): /admin/reports."""
