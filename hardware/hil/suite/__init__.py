"""The armlock verification suite: one test per rule and relock trigger of the lock core.

Run it with `armlock hil --target ...` or `pytest hardware/hil/suite --armlock-target ...`.
"""
