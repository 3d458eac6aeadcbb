"""Deployment simulator: SimPy worlds in which every weapon runs the real firmware core.

Modules: scenario (TOML files, validation), zonefiles (GeoJSON zones, layout warnings),
template (scenario new / check), world (zones, rosters, routes, diversions), sensors
(GNSS observations, fingerprint scores, RFID, battery, RTC), policies (permit contents
per policy), keys (the simulated authority's keys), device (the core on its Host),
weapon (one weapon's life), diverted (after a diversion), adversaries (the new holder's
means), platform (attacker tiers and the board they meet), causes (why a try was
denied), metrics (definitions, counters), stats (Wilson, design effect, Newcombe),
costs (money per weapon-year), compare (paired differences, summary sentences), run
(shards, processes, precision mode), sweep (local or Dask), report, sections and charts
(CSV, Markdown, HTML) and cli (`armlock simulate`, `armlock sweep`).
"""
