"""The care home manager's channels: the form behind a signed link, text messages, keypad calls."""
