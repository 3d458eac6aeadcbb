"""The demo: a walk through the core's decisions (walkthrough) and the full virtual-board
tour (full: build, flash, verify, report)."""
