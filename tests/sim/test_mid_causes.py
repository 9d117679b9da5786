"""The book's mid names what made it: each maker's latest ladder and the fills against it since."""

from clearing.sim.causes import Latest


def test_a_fill_stays_a_cause_of_the_mid_until_its_maker_quotes_again():
    latest = Latest()
    latest.quoted(0, account=10, seq=1)
    latest.quoted(0, account=11, seq=2)
    latest.traded(0, [3, 4], makers=[10, 11])  # one fill against each maker
    assert latest.of("mid", 0) == (1, 2, 3, 4) and latest.of("last", 0) == (4,)
    latest.quoted(0, account=10, seq=5)  # maker 10's ladder is new: fill 3 no longer shapes the mid
    assert latest.of("mid", 0) == (2, 4, 5)
    latest.traded(0, [6])  # a take-over, no book fill: the last trade only
    assert latest.of("mid", 0) == (2, 4, 5) and latest.of("last", 0) == (6,)


def test_before_any_quote_the_last_trade_makes_the_mid():
    latest = Latest()
    latest.traded(0, [7], makers=[3])
    assert latest.of("mid", 0) == (7,)


def test_each_input_has_its_reader_and_nothing_before_its_first_event():
    latest = Latest()
    assert latest.of_index(0) == latest.of_oracle(0) == latest.of_last(0) == latest.of_mid(0) == ()
    latest.index[0], latest.oracle[0] = 3, 9
    latest.traded(0, [5])
    assert latest.of("index", 0) == (3,) and latest.of("oracle", 0) == (9,) and latest.of("last", 0) == (5,)
    assert latest.of("mid", 0) == (5,)  # no maker has quoted: the last trade
