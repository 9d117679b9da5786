"""The pure core: the state and its one reducer, and every rule of the exchange as a function.

Nothing here waits, logs, stores or reads a clock: functions take arrays, integers and a
read-only state and return arrays, integers or decisions. `state/` holds `ClearingState`,
its schema and `apply`; the rest are the exchange's rules (the book, margin, account risk,
the oracle, the mark, funding, price paths, liquidation, the agents' policies).
"""
