"""The armlock hardware-in-the-loop harness: pytest plugin, verification suite, reports.

`run_suite` runs the verification suite (hardware/hil/suite) in this process with pytest,
against a target (`virtual`, `virtual-cpython`, `pty:PATH`, `serial:PORT`, `ble:ADDRESS`),
writing JUnit XML, results.json, report.md and report.html into an output folder.
"""

from __future__ import annotations

import os
from pathlib import Path

SUITE = Path(__file__).resolve().parent / "suite"


def suite_args(target: str, out: Path, k: str | None = None, key: Path | None = None,
               gnss_port: str | None = None, human: bool = False,
               rig: Path | None = None, retries: int | None = None,
               extra: list[str] | None = None) -> list[str]:
    """The pytest arguments `armlock hil` uses."""
    args = [str(SUITE), "-o", "addopts=", "-p", "no:cacheprovider", "-q", "-rfEs",
            "-W", "ignore::pytest.PytestAssertRewriteWarning",
            "--armlock-target", target, "--armlock-out", str(out),
            "--junitxml", str(out / "junit.xml"),
            "-m", "not slow" + ("" if human else " and not human")]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "hardware.hil.plugin"]
    if k:
        args += ["-k", k]
    if key is not None:
        args += ["--armlock-key", str(key)]
    if gnss_port:
        args += ["--armlock-gnss-port", gnss_port]
    if rig is not None:
        args += ["--armlock-rig", str(rig)]
    if retries is not None:
        args += ["--armlock-retries", str(retries)]
    return args + list(extra or [])


def run_suite(target: str, out: Path, **kw: object) -> int:
    """Run the verification suite in-process; pytest's exit code (0: all passed)."""
    import pytest

    out.mkdir(parents=True, exist_ok=True)
    return int(pytest.main(suite_args(target, out, **kw)))  # type: ignore[arg-type]
