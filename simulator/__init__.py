"""Deployment simulator: SimPy worlds in which every weapon runs the real firmware core.

Modules: scenario (TOML files, validation), world (zones, rosters, routes, diversions),
sensors (GNSS, fingerprint, RFID, battery, RTC), policies (permit contents per policy),
device (the LockController and its board), weapon (one weapon's life), adversaries,
metrics (definitions and CIs), run (shards, processes), sweep (local or Dask), report
(CSV, Markdown, HTML) and cli (`armlock simulate`, `armlock sweep`).
"""
