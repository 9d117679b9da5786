"""The endogenous index's step (`clearing.core.discovery.next_index`)."""

from __future__ import annotations

import pytest

from clearing.core.discovery import next_index


def test_without_weight_the_index_is_the_fundamental():
    level, before = 100.0, 100.0
    for f in (101.0, 99.5, 80.0, 90.0):
        level = next_index(level, f, before, venue_move=-5.0, weight=0.0, decay=0.9)
        before = f
        assert level == pytest.approx(f)


def test_a_move_of_the_venue_alone_moves_the_index_by_its_share_then_fades_with_the_half_life():
    level = next_index(100.0, 100.0, 100.0, venue_move=-4.0, weight=0.25, decay=1.0)
    assert level == pytest.approx(99.0)  # a quarter of the venue's -4
    decay = 0.5 ** (1 / 600)  # one-second steps, a 600 s half-life
    level = next_index(100.0, 100.0, 100.0, venue_move=-4.0, weight=0.25, decay=decay)
    for _ in range(599):
        level = next_index(level, 100.0, 100.0, venue_move=0.0, weight=0.25, decay=decay)
    assert 100.0 - level == pytest.approx(0.5, rel=1e-9)  # half the gap left after one half-life


def test_a_move_both_make_passes_through_whole_and_a_flat_venue_lags_by_its_share():
    assert next_index(100.0, 90.0, 100.0, venue_move=-10.0, weight=0.4, decay=1.0) == pytest.approx(90.0)
    assert next_index(100.0, 90.0, 100.0, venue_move=0.0, weight=0.4, decay=1.0) == pytest.approx(94.0)
