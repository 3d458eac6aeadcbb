"""The armoury registry: the system of record for weapons, locks, holders, tokens and audit
logs, with shift issue, docking, tracing, inventory and a dashboard (docs/REGISTRY.md)."""
