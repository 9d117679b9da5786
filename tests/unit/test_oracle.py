from clearing.oracle import publication_reason

HOUR = 3600 * 10**9


def test_first_observation_publishes():
    assert publication_reason(0, 0, 1000, 0, 5000, HOUR) == "initial"


def test_deviation_must_exceed_threshold_strictly():
    # 0.5 % of 100,000 ticks is 500 ticks: exactly 500 does not publish, 501 does.
    assert publication_reason(100_000, 0, 100_500, 10, 5000, HOUR) is None
    assert publication_reason(100_000, 0, 100_501, 10, 5000, HOUR) == "deviation"
    assert publication_reason(100_000, 0, 99_499, 10, 5000, HOUR) == "deviation"
    assert publication_reason(100_000, 0, 99_500, 10, 5000, HOUR) is None


def test_heartbeat_fires_when_elapsed_even_without_a_move():
    assert publication_reason(100_000, 0, 100_000, HOUR - 1, 5000, HOUR) is None
    assert publication_reason(100_000, 0, 100_000, HOUR, 5000, HOUR) == "heartbeat"


def test_deviation_wins_when_both_hold():
    assert publication_reason(100_000, 0, 200_000, HOUR, 5000, HOUR) == "deviation"
