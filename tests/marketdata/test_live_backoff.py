"""Full-jitter backoff for upstream reconnects: 1 s doubling to a 60 s cap."""

import random

from marketdata.live.link import Backoff


def test_waits_are_random_below_a_doubling_ceiling_capped_at_60_s():
    backoff = Backoff(1.0, 60.0, random.Random(3))
    ceilings = [1, 2, 4, 8, 16, 32, 60, 60, 60]
    for ceiling in ceilings:
        waits = []
        for _ in range(200):
            saved = backoff.attempt
            waits.append(backoff.next_delay())
            backoff.attempt = saved
        assert 0 <= min(waits) and max(waits) <= ceiling
        assert max(waits) > ceiling * 0.8  # the whole range is used
        backoff.next_delay()


def test_reset_starts_over():
    backoff = Backoff(1.0, 60.0, random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0
