"""Replay: rebuild a run's state from its log alone, checking it on the way.

`fold` walks the log with `clearing.apps.fold.fold_log` (hash chain, decode, upcast,
`apply`) and the replay's checks as its observer, `ReplayChecks`: at every checkpoint of
the current digest version it compares the state digest (checkpoints written by an older
state layout are counted as skipped: their events still replay, upcast), and at every
margin breach it recomputes the audited equity and requirement; after the last row of a
complete log it compares the header's state digest with the final checkpoint's (layout 2;
layout 1 recorded the final state's, compared with the replayed one) and checks the
conservation laws. Any difference is a `ReplayDivergenceError` naming the seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clearing import events as ev
from clearing.apps.fold import Folded, Observer, fold_log
from clearing.apps.summary import RunSummary
from clearing.core.invariants import violations
from clearing.core.risk import account_risk, breach_liquidation_price
from clearing.core.state import DIGEST_VERSION, ClearingState
from clearing.errors import ReplayDivergenceError
from clearing.log.reader import RunHeader


@dataclass
class ReplayResult:
    """The rebuilt state with what the replay checked."""

    state: ClearingState
    header: RunHeader
    events: int
    head_hash: str
    checkpoints: int
    checkpoints_skipped: int
    summary: RunSummary
    start_seq: int = 1  # where the replay started: 1, or the checkpoint of the state snapshot it started from


class ReplayChecks(Observer):
    """The replay's checks as an observer: checkpoint digests, breach audits, the final state.

    Any view that applies the events can carry them (`clearing report` does), so that what
    it shows is the state the live run had.
    """

    kinds = frozenset({"checkpoint_recorded", "margin_breached", "margin_called"})

    def __init__(self) -> None:
        self.path = Path()
        self.checkpoints = 0
        self.skipped = 0
        self.final_comparable = True  # the last checkpoint's digest version is this code's

    def begin(self, path: Path, header: RunHeader) -> None:
        """Remember the path, for the messages."""
        self.path = path

    def event(self, seq: int, kind: str, event: ev.Event, state: ClearingState) -> None:
        """Compare a checkpoint's digest with the state's; recompute a breach's audited values."""
        if isinstance(event, ev.MarginBreached):
            _check_breach(state, event, seq)
            return
        if isinstance(event, ev.MarginCalled):
            _check_call(state, event, seq)
            return
        if not isinstance(event, ev.CheckpointRecorded):
            return
        self.final_comparable = event.digest_version == DIGEST_VERSION
        if not self.final_comparable:
            self.skipped += 1
            return
        digest = state.digest()
        if digest != event.digest:
            raise ReplayDivergenceError(
                f"{self.path}: seq {seq}: replayed state digest {digest[:16]}… differs from the "
                f"checkpoint's {event.digest[:16]}…",
                seq,
            )
        self.checkpoints += 1

    def end(self, folded: Folded) -> None:
        """For a whole complete log: the header's state digest (unless an old checkpoint was skipped) and conservation."""
        if not folded.whole or folded.header.status != "complete":
            return
        state = folded.state
        # Layout 2 records the final checkpoint's digest (the fold binds the header to it; the replayed state at that
        # checkpoint is compared above); layout 1 the digest after the last event.
        if folded.header.layout < 2 and self.final_comparable and folded.header.state_digest != state.digest():
            raise ReplayDivergenceError(
                f"{self.path}: replayed final state {state.digest()[:16]}… differs from the header's", folded.events
            )
        problems = violations(state)
        if problems:
            raise ReplayDivergenceError(
                f"{self.path}: replayed final state breaks conservation: {'; '.join(problems)}", folded.events
            )


def _check_breach(state: ClearingState, e: ev.MarginBreached, seq: int) -> None:
    # The monitor's computation (`clearing.core.risk`), redone on the state as it was at the breach.
    rows = np.array([e.account])
    equity, requirement = account_risk(state, rows)
    eq, req = int(equity[0]), int(requirement[0])
    lp = breach_liquidation_price(state, e.account, e.market) if e.liquidation_price_ticks else 0
    if (eq, req, lp) != (e.equity, e.requirement, e.liquidation_price_ticks) or not eq < req:
        raise ReplayDivergenceError(
            f"seq {seq}: margin breach of account {e.account} recomputes to equity {eq}, requirement {req}, "
            f"liquidation price {lp}; the log says {e.equity}, {e.requirement}, {e.liquidation_price_ticks}",
            seq,
        )


def _check_call(state: ClearingState, e: ev.MarginCalled, seq: int) -> None:
    # The margin caller's measure, redone on the state as it was at the call.
    equity, requirement = account_risk(state, np.array([e.account]))
    eq, req = int(equity[0]), int(requirement[0])
    if (eq, req) != (e.equity, e.requirement):
        raise ReplayDivergenceError(
            f"seq {seq}: margin call of account {e.account} recomputes to equity {eq}, requirement {req}; "
            f"the log says {e.equity}, {e.requirement}",
            seq,
        )


def replayed(folded: Folded, checks: ReplayChecks) -> ReplayResult:
    """Return the replay result of a fold that carried `checks`."""
    return ReplayResult(folded.state, folded.header, folded.events, folded.head_hash, checks.checkpoints, checks.skipped,
                        folded.summary(), folded.start_seq)  # fmt: skip


def fold(
    path: Path | str, until_ns: int | None = None, observers: tuple[Observer, ...] = (), *, from_snapshot: bool = False
) -> ReplayResult:
    """Replay the log at `path` up to and including `until_ns` (all of it when None).

    `observers` ride the same walk, after the replay's checks. `from_snapshot`: with
    `until_ns`, start from the log's last state snapshot at or before it (its state checked
    against its checkpoint's digest; the observers see the events from there on).

    Raises:
        clearing.errors.EventLogError: the file is not a readable event log.
        VerificationError: the chain is broken, a row does not decode, or the header does not match.
        ReplayDivergenceError: a checkpoint digest or an audited value does not match.
    """
    checks = ReplayChecks()
    return replayed(fold_log(path, (checks, *observers), until_ns=until_ns, from_snapshot=from_snapshot), checks)
