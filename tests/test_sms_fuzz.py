"""Thousands of random text messages: every reply well-formed TwiML, every recorded update's reply
carries its whole Ref within two segments and says what was stored. bench/sms_fuzz.py sends 10,000."""

from __future__ import annotations

import pytest

from . import sms_fuzz

COUNT = 400  # on each database; `make bench` sends 10,000


@pytest.fixture
def app(make_app, environ):
    app = make_app({**environ, **sms_fuzz.ENV}, {"TESTING": True})
    with app.app_context():
        yield app


def test_random_messages_get_well_formed_replies_that_match_what_was_recorded(app, client, make_home):
    homes = sms_fuzz.setup_homes(make_home)
    tally = sms_fuzz.run(client, homes, COUNT, seed=11)
    assert (tally.malformed, tally.ref_lost, tally.differs, tally.unprintable) == (0, 0, 0, 0), tally.examples
    # The mix really exercised recording, refusing and not understanding.
    assert tally.outcomes["recorded"] > COUNT // 10 and tally.outcomes["refused"] and tally.outcomes["not-understood"]
