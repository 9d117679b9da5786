import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing import events as ev
from clearing.core.state import MarginMode, Role
from tests.builders import accounts_opened, deposited, market_listed


@pytest.mark.parametrize("kind", sorted(ev.KINDS))
def test_every_kind_round_trips_through_its_canonical_bytes(kind):
    @given(st.from_type(ev.KINDS[kind]))
    def check(event):
        payload = ev.encode(event)
        assert ev.decode(payload, kind, ev.VERSIONS[kind]) == event
        assert ev.encode(ev.decode(payload, kind, ev.VERSIONS[kind])) == payload

    check()


def test_events_are_frozen_and_typed():
    event = deposited(2, 3, ts_ns=1)
    with pytest.raises(AttributeError):
        event.amount = 4  # type: ignore[misc]
    with pytest.raises(msgspec.ValidationError, match="Expected `int`"):
        ev.decode(b'["deposited",1,[],2,3.5]', "deposited", 1)
    with pytest.raises(msgspec.ValidationError, match="Expected `int`"):
        ev.decode_object(b'{"kind":"deposited","ts_ns":1,"causes":[],"account":2,"amount":3.5}', "deposited", 1)


def test_the_canonical_bytes_are_an_array_and_the_object_form_names_the_fields():
    event = deposited(2, 3, ts_ns=1)
    assert ev.encode(event) == b'["deposited",1,[],2,3]'
    assert ev.encode_object(event) == b'{"kind":"deposited","ts_ns":1,"causes":[],"account":2,"amount":3}'
    assert ev.decode_object(ev.encode_object(event), "deposited", 1) == event
    assert ev.to_builtins(event) == {"kind": "deposited", "ts_ns": 1, "causes": [], "account": 2, "amount": 3}
    with pytest.raises(msgspec.ValidationError, match="of kind 'deposited'"):
        ev.decode_object(b'{"kind":"withdrawn","ts_ns":1,"causes":[],"account":2,"amount":3}', "deposited", 1)


def test_a_newer_version_is_refused_and_an_unknown_kind_too():
    with pytest.raises(ValueError, match="newer"):
        ev.decode(b"{}", "deposited", 99)
    with pytest.raises(ValueError, match="unknown event kind"):
        ev.decode(b"{}", "teleported", 1)


def test_older_versions_go_through_upcasters(monkeypatch):
    monkeypatch.setitem(ev.VERSIONS, "deposited", 2)
    monkeypatch.setitem(ev.UPCASTERS, ("deposited", 1), lambda d: {**d, "amount": d.pop("qty")})
    event = ev.decode_object(b'{"kind":"deposited","ts_ns":1,"causes":[],"account":2,"qty":3}', "deposited", 1)
    assert event == deposited(2, 3, ts_ns=1)
    # An older version's array is named by that version's fields (a log records them), then upcast.
    assert ev.decode(b'["deposited",1,[],2,3]', "deposited", 1, ("account", "qty")) == deposited(2, 3, ts_ns=1)
    with pytest.raises(ValueError, match="fields of that version"):
        ev.decode(b'["deposited",1,[],2,3]', "deposited", 1)
    with pytest.raises(msgspec.ValidationError, match="array of 5"):
        ev.decode(b'["deposited",1,[],2]', "deposited", 1, ("account", "qty"))


def test_kind_tags_are_snake_case_class_names():
    import re

    for kind, cls in ev.KINDS.items():
        assert kind == re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def test_a_v1_observation_becomes_a_batch_of_one():
    v1 = (b'{"kind":"oracle_observed","ts_ns":5,"causes":[3],"market":0,"source":2,"price_ticks":100,'
          b'"confidence_ticks":1,"ts_source_ns":4,"status":"frozen"}')  # fmt: skip
    assert ev.decode_object(v1, "oracle_observed", 1) == ev.OracleObserved(
        ts_ns=5, causes=(3,), market=0, ts_source_ns=4, sources=(2,), price_ticks=(100,), confidence_ticks=(1,),
        status=("frozen",),
    )  # fmt: skip


def test_a_v1_listing_gains_every_later_field_by_upcasting():
    # v1 -> v2 maker fee 0, v2 -> v3 one bracket at its maintenance rate, v3 -> v4 no rate set by size.
    v1 = (b'{"kind":"market_listed","ts_ns":0,"causes":[],"market":0,"symbol":"X","tick_size":"1","lot_size":"1",'
          b'"quote_decimals":0,"unit_value":1,"maintenance_margin_ppm":5000,"liquidation_fee_ppm":0,"taker_fee_ppm":0}')
    assert ev.decode_object(v1, "market_listed", 1) == market_listed()


def test_the_builders_defaults_are_the_events_tests_wrote_by_hand():
    # Tests rely on these defaults (tests/builders.py): market "X" with unit conventions of
    # 1, a 0.5 % maintenance rate as its one bracket and no fees; cross-margined traders.
    assert market_listed() == ev.MarketListed(
        ts_ns=0, market=0, symbol="X", tick_size="1", lot_size="1", quote_decimals=0, unit_value=1,
        maintenance_margin_ppm=5000, liquidation_fee_ppm=0, taker_fee_ppm=0, maker_fee_ppm=0, bracket_floors=(0,),
        bracket_rates_ppm=(5000,), size_premium_ppm=0, risk_limit_lots=(0, 0),
    )  # fmt: skip
    assert market_listed(2, maintenance_margin_ppm=20_000).bracket_rates_ppm == (20_000,)
    assert accounts_opened(3, 2) == ev.AccountsOpened(ts_ns=0, first_account=3, count=2, role="trader", margin_mode="cross")
    fund = accounts_opened(0, 1, Role.INSURANCE_FUND, MarginMode.ISOLATED)
    assert (fund.role, fund.margin_mode) == ("insurance_fund", "isolated")
