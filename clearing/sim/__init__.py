"""The SimPy shell: processes that wait, read the state, call one pure function and emit events.

`world.build_world` wires a run from its compiled parameters; `bus.EventBus.emit` is the
single write path.
"""
