"""The appliers `clearing.core.state.apply` dispatches to, one module per area of the state.

Only `apply` calls them. Each takes the state and one event and changes the state in
place; an impossible event raises `InvariantViolation` before changing anything where it
can be checked up front.
"""
