"""Replay: rebuild a run's state from its log alone, checking it on the way.

The fold reads rows in seq order, checks each row's place in the hash chain, decodes it,
and applies it with the same `apply` the live run used. At every checkpoint of the current
digest version it compares the state digest (checkpoints written by an older state layout
are counted as skipped: their events still replay, upcast), and at every margin breach it recomputes the audited equity and
requirement; any difference is a `ReplayDivergenceError` naming the seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clearing import events as ev
from clearing.apps.summary import RunSummary, summarize
from clearing.core.invariants import violations
from clearing.core.risk import account_risk, breach_liquidation_price
from clearing.core.state import DIGEST_VERSION, ClearingState, apply
from clearing.data.inputs import data_sources_of
from clearing.errors import InvariantViolation, ReplayDivergenceError, VerificationError
from clearing.log.reader import REPLAY_COLUMNS, EventLogReader, RunHeader
from clearing.log.schema import chain_hash, genesis_hash


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


def _check_against_header(path: Path, h: RunHeader, events: int, head: str, state: ClearingState, check_digest: bool) -> None:
    if (h.events, h.head_hash) != (events, head):
        raise VerificationError(f"{path}: the header records {h.events} events ending in {h.head_hash}; the log has {events}")
    digest = state.digest()
    if check_digest and h.state_digest != digest:
        raise ReplayDivergenceError(f"{path}: replayed final state {digest[:16]}… differs from the header's", events)
    problems = violations(state)
    if problems:
        raise ReplayDivergenceError(f"{path}: replayed final state breaks conservation: {'; '.join(problems)}", events)


def fold(path: Path | str, until_ns: int | None = None) -> ReplayResult:
    """Replay the log at `path` up to and including `until_ns` (all of it when None).

    Raises:
        clearing.errors.EventLogError: the file is not a readable event log.
        VerificationError: the chain is broken or a row does not decode.
        ReplayDivergenceError: a checkpoint digest or an audited value does not match.
    """
    with EventLogReader(path) as reader:
        h = reader.header
        head = genesis_hash(h.run_id, h.scenario_hash, h.seed)
        state = ClearingState()
        decode, breached, checkpoint = ev.decode, ev.MarginBreached, ev.CheckpointRecorded
        fast_decode, versions = ev.DECODER.decode, ev.VERSIONS
        expected = 1
        checkpoints = 0
        skipped = 0
        final_comparable = True
        try:
            for seq, kind, version, payload, row_hash in reader.rows(until_ns=until_ns, columns=REPLAY_COLUMNS):
                data = payload.encode()
                head = chain_hash(head, seq, version, data)
                if head != row_hash or seq != expected:
                    raise VerificationError(f"{reader.path}: seq {seq}: hash chain broken; run `clearing verify`", seq)
                expected += 1
                event = fast_decode(data) if versions.get(kind) == version else decode(data, kind, version)
                etype = type(event)
                if etype is checkpoint:
                    final_comparable = event.digest_version == DIGEST_VERSION  # type: ignore[union-attr]
                if etype is checkpoint and not final_comparable:
                    skipped += 1
                elif etype is checkpoint:
                    digest = state.digest()
                    if digest != event.digest:  # type: ignore[union-attr]
                        raise ReplayDivergenceError(
                            f"{reader.path}: seq {seq}: replayed state digest {digest[:16]}… differs from the "
                            f"checkpoint's {event.digest[:16]}…",  # type: ignore[union-attr]
                            seq,
                        )
                    checkpoints += 1
                elif etype is breached:
                    _check_breach(state, event, seq)  # type: ignore[arg-type]
                apply(state, event)
        except (ValueError, TypeError) as e:
            raise VerificationError(f"{reader.path}: seq {expected}: undecodable payload ({e})", expected) from None
        except InvariantViolation as e:
            raise ReplayDivergenceError(f"{reader.path}: seq {expected - 1}: cannot be applied ({e})", expected - 1) from None
        events = expected - 1
        whole = events == reader.count()
        if whole and h.status == "complete":
            _check_against_header(reader.path, h, events, head.hex(), state, check_digest=final_comparable)
        status = h.status if until_ns is None or whole else "partial"
        summary = summarize(
            state, run_id=h.run_id, scenario=h.scenario_name, seed=h.seed, status=status, events=events,
            head_hash=head.hex(), data_sources=data_sources_of(h.scenario_json, h.inputs_json),
        )  # fmt: skip
        return ReplayResult(state, h, events, head.hex(), checkpoints, skipped, summary)
