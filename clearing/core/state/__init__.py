"""The state of a run and the one function that changes it.

`ClearingState` (struct-of-arrays), its schema (`Role`, `MarginMode`, the arrays it holds)
and `apply`, the reducer the live run and replay share; the appliers it dispatches to are
in `reducers/`.
"""

from clearing.core.state.apply import apply
from clearing.core.state.schema import DIGEST_VERSION, MarginMode, Role
from clearing.core.state.state import ClearingState

__all__ = ["DIGEST_VERSION", "ClearingState", "MarginMode", "Role", "apply"]
