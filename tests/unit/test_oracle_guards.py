"""The guards, called directly: confidence on the mark, staleness of a pull, staleness and divergence of a liquidation."""

from clearing.core.oracle import GuardDecision, confidence_guard, is_liquidation_guarded, liquidation_guard, pull_guard
from tests.unit.oracle_builders import S

NOW = 100 * S


def test_the_confidence_guard_refuses_a_wide_price_and_is_off_at_zero():
    # 1 % cap: confidence 100 on 10,000 is exactly 1 % (allowed), 101 is more.
    assert confidence_guard(10_000, 100, NOW - 2 * S, NOW, 10_000) == GuardDecision(True, "ok", 2 * S, 10_000, 0)
    assert confidence_guard(10_000, 101, NOW, NOW, 10_000) == GuardDecision(False, "confidence", 0, 10_100, 0)
    assert confidence_guard(10_000, 5_000, NOW, NOW, 0) is None


def test_a_pull_refuses_a_publication_older_than_the_maximum_age():
    assert pull_guard(NOW - 60 * S, NOW, 60 * S) == GuardDecision(True, "ok", 60 * S, 0, 0)
    assert pull_guard(NOW - 60 * S - 1, NOW, 60 * S) == GuardDecision(False, "stale", 60 * S + 1, 0, 0)


def test_the_liquidation_guards_are_off_unless_set():
    assert not is_liquidation_guarded(0, 0)
    assert is_liquidation_guarded(5 * S, 0) and is_liquidation_guarded(0, 100_000)


def test_a_liquidation_waits_on_a_stale_price():
    assert liquidation_guard(10_000, NOW - 5 * S, 10_000, NOW, 5 * S, 0) == GuardDecision(True, "ok", 5 * S, 0, 0)
    assert liquidation_guard(10_000, NOW - 6 * S, 10_000, NOW, 5 * S, 0) == GuardDecision(False, "stale", 6 * S, 0, 0)


def test_a_liquidation_waits_while_the_mark_diverges_from_the_oracle():
    # 10 % limit: a mark 1,000 from an oracle of 10,000 is exactly 10 % (allowed); 1,001 is more.
    assert liquidation_guard(10_000, NOW, 11_000, NOW, 0, 100_000) == GuardDecision(True, "ok", 0, 0, 100_000)
    assert liquidation_guard(10_000, NOW, 8_999, NOW, 0, 100_000) == GuardDecision(False, "divergence", 0, 0, 100_100)
    assert liquidation_guard(0, 0, 8_999, NOW, 0, 100_000) == GuardDecision(True, "ok", NOW, 0, 0)  # no oracle price yet


def test_staleness_is_checked_before_divergence():
    decision = liquidation_guard(10_000, NOW - 10 * S, 5_000, NOW, 5 * S, 100_000)
    assert decision == GuardDecision(False, "stale", 10 * S, 0, 500_000)
