"""Event kinds of funding: premium samples, rates and zero-sum payments."""

from __future__ import annotations

from clearing.events.base import Event


class PremiumSampled(Event, frozen=True, kw_only=True, tag="premium_sampled"):
    """A funding premium sample as the venue takes it (`clearing.core.funding`): by default
    [max(0, impact bid - index) - max(0, index - impact ask)] / index."""

    market: int
    premium_ppb: int
    impact_bid_ticks: int
    impact_ask_ticks: int
    index_ticks: int


class FundingRateSet(Event, frozen=True, kw_only=True, tag="funding_rate_set"):
    """The funding rate paid for the interval that ends now (the period's rate times interval / period), from the
    averaged premium; `mark_ticks` is the price the payments value positions at (the mark, or the oracle price)."""

    market: int
    rate_ppb: int
    average_premium_ppb: int
    samples: int
    mark_ticks: int


class FundingPaid(Event, frozen=True, kw_only=True, tag="funding_paid"):
    """Funding moved between accounts (amount > 0 received, < 0 paid) via the clearing ledger.

    One settlement may span several events; the last has `final` set, and after it the
    clearing ledger is exactly zero.
    """

    market: int
    accounts: tuple[int, ...]
    amounts: tuple[int, ...]
    final: bool
