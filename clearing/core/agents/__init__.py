"""Agent policies: pure functions from what an agent sees to what it does.

Each agent's SimPy process (in `clearing.sim`) calls its policy with the current state and
its own seeded generator, and emits the result. No policy reads a clock or a global RNG.
"""
