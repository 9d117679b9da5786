"""A source's reading, called directly: outages, frozen values, dislocations, noise, confidence."""

import numpy as np

from clearing.core.oracle import dislocation_offset, fresh_readings, in_windows, random_outages, read_source
from tests.unit.oracle_builders import S, held, source


def test_read_source_without_noise_reads_the_reference():
    assert read_source(source(), 100_000, 0, 5 * S, 1.7) == (100_000, 0, "ok")  # noise 0 ppm: Z is ignored


def test_read_source_applies_the_noise_and_rounds_the_confidence_up():
    # 10 bps of noise with Z = 1.5: 100,000 x 1.0015 = 100,150; confidence 5 bps of it, rounded up: 50.075 -> 51.
    spec = source(noise_ppm=1_000.0, confidence_ppm=500.0)
    assert read_source(spec, 100_000, 0, 0, 1.5) == (100_150, 51, "ok")


def test_read_source_gives_nothing_in_an_outage_or_before_a_reference_price():
    spec = source(outages=((10 * S, 20 * S),))
    assert read_source(spec, 100_000, 99_000, 10 * S, 0.0) is None
    assert read_source(spec, 100_000, 99_000, 20 * S - 1, 0.0) is None
    assert read_source(spec, 100_000, 99_000, 20 * S, 0.0) == (100_000, 0, "ok")  # [start, end)
    assert read_source(source(), 0, 0, 0, 0.0) is None


def test_a_frozen_source_repeats_its_last_price_once_it_has_one():
    spec = source(frozen=((10 * S, 20 * S),), confidence_ppm=1_000.0)
    assert read_source(spec, 90_000, 100_000, 15 * S, 0.3) == (100_000, 100, "frozen")
    assert read_source(spec, 90_000, 0, 15 * S, 0.0) == (90_000, 90, "ok")  # nothing read yet: a real reading


def test_a_dislocated_source_is_off_by_the_window_offset():
    spec = source(dislocations=((10 * S, 20 * S, -0.3), (15 * S, 30 * S, 0.1)))
    assert read_source(spec, 100_000, 0, 12 * S, 0.0) == (70_000, 0, "dislocated")
    assert read_source(spec, 100_000, 0, 16 * S, 0.0) == (70_000, 0, "dislocated")  # the first window holding now
    assert read_source(spec, 100_000, 0, 25 * S, 0.0) == (110_000, 0, "dislocated")
    assert dislocation_offset(spec.dislocations, 30 * S) == 0.0
    assert read_source(source(), 1, 0, 0, -50.0) == (1, 0, "ok")  # never below one tick


def test_windows_are_half_open():
    assert in_windows(((5, 10),), 5) and in_windows(((5, 10),), 9)
    assert not in_windows(((5, 10),), 10) and not in_windows((), 0)


def test_a_reading_overtaken_by_a_later_one_of_its_source_is_not_fresh():
    held_now = [held(100, 5 * S), None, held(100, 3 * S)]
    assert fresh_readings(held_now, [0, 1, 2], 4 * S) == [1, 2]  # source 0 already holds a reading taken at 5 s
    assert fresh_readings(held_now, [0, 2], 5 * S) == [0, 1]


def test_random_outages_are_drawn_from_the_generator_passed_in():
    outages = random_outages(np.random.default_rng(2), 6.0, 30.0, 3600 * S)
    assert outages == random_outages(np.random.default_rng(2), 6.0, 30.0, 3600 * S)
    rng = np.random.default_rng(2)  # gap, duration, gap, duration, ...
    start = rng.exponential(600.0) * 1e9
    duration = rng.exponential(30.0) * 1e9
    assert outages[0] == (round(start), round(start + duration))
    assert random_outages(np.random.default_rng(2), 0.0, 30.0, 3600 * S) == []
