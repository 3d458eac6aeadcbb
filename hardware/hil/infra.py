"""Infrastructure errors (the rig failed, not the board under test) and their bounded
retries. A port that is missing or busy, a board that stops answering or is lost in the
middle of a test, a virtual board that cannot start, a flash or power switch that fails:
these are reported as infrastructure errors, apart from test failures, and a test that
met one may be run again up to `retries` times. A real failure (an assertion, an ERROR
answer from the board) is never retried."""

from __future__ import annotations

from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from hardware.link.base import DeviceError, LinkError

INFRA_PROP = "armlock_infra"


class BoardLost(LinkError):
    """The board went away during a test and did not come back in time."""

    exit_code = 3


def is_infra(exc: BaseException) -> bool:
    """True for errors of the rig rather than of the board's behaviour."""
    from hardware.flash import FlashError
    from hardware.power import PowerError
    from hardware.virtual.launcher import BoardError

    if isinstance(exc, DeviceError):
        return False
    return isinstance(exc, LinkError | BoardError | PowerError | FlashError)


def mark(report: pytest.TestReport, call: pytest.CallInfo[Any]) -> None:
    """Tag a failed report whose exception is an infrastructure error."""
    if report.failed and call.excinfo is not None and is_infra(call.excinfo.value):
        text = str(call.excinfo.value).splitlines()[0] if str(call.excinfo.value) else \
            type(call.excinfo.value).__name__
        report.user_properties.append((INFRA_PROP, f"{type(call.excinfo.value).__name__}: "
                                                   f"{text}"))


def infra_of(report: pytest.TestReport) -> str | None:
    """The infrastructure error a report carries, or None."""
    for name, value in report.user_properties:
        if name == INFRA_PROP:
            return str(value)
    return None


def run_with_retries(item: pytest.Item, nextitem: pytest.Item | None, retries: int) -> bool:
    """pytest_runtest_protocol: run `item`, again (at most `retries` times) while it fails
    with an infrastructure error only; report the last attempt (and how many it took)."""
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    attempt = 0
    while True:
        attempt += 1
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        failed = [r for r in reports if r.failed]
        if not failed or not all(infra_of(r) for r in failed) or attempt > retries:
            break
        _reset(item)
    for r in reports:
        if attempt > 1:
            r.user_properties.append(("armlock_attempts", attempt))
        item.ihook.pytest_runtest_logreport(report=r)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _reset(item: pytest.Item) -> None:
    """Forget the item's fixture values so that the next attempt sets them up again."""
    if hasattr(item, "_initrequest"):
        item._initrequest()  # pyright: ignore[reportAttributeAccessIssue]
    if hasattr(item, "funcargs"):
        item.funcargs.clear()  # pyright: ignore[reportAttributeAccessIssue]
