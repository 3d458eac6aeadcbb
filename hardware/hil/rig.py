"""The rig: stimulus for the board under test, its events, audit trail and latencies."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from hardware.hil.authority import Authority
from hardware.hil.boards import Board
from hardware.hil.client import HilClient
from hardware.hil.infra import BoardLost
from hardware.hil.measure import Recorder, answer_delays
from hardware.hil.nmea import NmeaPort, nmea_fix
from hardware.hil.places import HOLDER1, POINTS
from hardware.link.base import DeviceError, LinkError
from protocols import audit as A


class Rig:
    """Stimulus for the board under test, its events, its audit trail and the latencies.

    Stimuli go as STIMULUS frames (dev/rig builds); with `gnss` (an NmeaPort) fixes go
    as NMEA sentences into the board's GNSS UART instead. `now()` is the board's clock as
    the rig set it; move it with `time()` or `advance()`.
    """

    def __init__(self, client: HilClient, board: Board, authority: Authority,
                 recorder: Recorder, offset: int = 0, gnss: NmeaPort | None = None) -> None:
        self.client = client
        self.board = board
        self.authority = authority
        self.recorder = recorder
        self.offset = offset
        self.gnss_port = gnss
        self.log: list[dict[str, Any]] = []
        self.cursor = 0
        self.mark = 0              # audit seq before the test started
        self.sent: list[tuple[str, float]] = []   # (command, host time sent)
        self.name = getattr(board, "name", "") or "board"
        self.steps = 0                 # rig steps taken (named in "board lost at step N")
        authority.clock = self.now

    # -- clock ---------------------------------------------------------------------------
    def now(self) -> int:
        """The board's UTC seconds, as this rig has set it."""
        return int(time.time()) + self.offset

    def time(self, utc: int) -> None:
        """Set the board's RTC to `utc` (STIMULUS time)."""
        self._stim("time", utc_s=int(utc))
        self.offset = int(utc) - int(time.time())

    def advance(self, seconds: int) -> None:
        """Move the board's clock forward by `seconds` (no real waiting)."""
        self.time(self.now() + seconds)

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """One step of the test on the board: a link that drops (and does not come back
        within the board's reconnect time) becomes BoardLost naming the step."""
        self.steps += 1
        try:
            yield
        except DeviceError:
            raise
        except LinkError as exc:
            raise BoardLost(f"board {self.name} lost at step {self.steps} ({what}): "
                            f"{exc}") from None

    # -- stimulus ------------------------------------------------------------------------
    def _note(self, what: str) -> None:
        self.sent.append((what, time.perf_counter()))

    @contextlib.contextmanager
    def _send(self, what: str) -> Iterator[None]:
        """A step that sends `what` to the board, noted for the latency figures."""
        self._note(what)
        with self.step(what):
            yield

    def _stim(self, kind: str, **fields: Any) -> None:
        with self._send(kind):
            self.client.stimulate(kind, **fields)

    def fix(self, lat: int, lon: int, hacc: int = 5, utc: int | None = None) -> None:
        """A GNSS fix at (lat, lon) in 1e-7 degrees with accuracy `hacc` metres."""
        if self.gnss_port is not None:
            self._note("fix")
            self.gnss_port.write(nmea_fix(lat, lon, hacc, self.now() if utc is None else utc))
            return
        fields: dict[str, Any] = {"lat_e7": lat, "lon_e7": lon, "hacc_m": hacc}
        if utc is not None:
            fields["utc_s"] = utc
        self._stim("fix", **fields)

    def at(self, place: str | tuple[int, int], hacc: int = 5) -> None:
        """A fix at a named place of POINTS (or a (lat, lon) pair)."""
        lat, lon = POINTS[place] if isinstance(place, str) else place
        self.fix(lat, lon, hacc)

    def nmea(self, sentence: str) -> None:
        """One NMEA sentence for the board's GNSS driver (STIMULUS nmea)."""
        self._stim("nmea", sentence=sentence.strip())

    def gnss(self, silent_ms: int, nofix_ms: int, sats: int, cn0_dbhz: int = -1) -> None:
        """What the GNSS driver observed: ms since the receiver last spoke, ms since its
        last fix (-1: none since boot), satellites used, strongest C/N0 (-1: not reported).
        The board's core decides whether that is ok, lost or jammed."""
        self._stim("gnss", silent_ms=silent_ms, nofix_ms=nofix_ms, sats=sats,
                   cn0_dbhz=cn0_dbhz)

    def rfid(self, cred: str, rtt_us: int = 1500, strong: bool = True) -> None:
        """An RFID read of card `cred` (hex UID), challenge round trip `rtt_us`."""
        self._stim("rfid", cred=cred, rtt_us=rtt_us, strong=strong)

    def rfid_fail(self, why: str = "authentication failed") -> None:
        """A card the reader could not authenticate (a failed attempt for the core)."""
        self._stim("rfid_fail", why=why)

    def finger_fail(self, why: str = "not recognised") -> None:
        """A finger the sensor did not recognise (a failed attempt for the core)."""
        self._stim("finger_fail", why=why)

    def finger(self, template: int, score: int = 90) -> None:
        """A fingerprint match of `template` with match `score`."""
        self._stim("finger", template=template, score=score)

    def grip(self, held: bool) -> None:
        self._stim("grip", held=held)

    def tamper(self, source: str) -> None:
        """A tamper sensor fires: "enclosure", "magnet" or "actuator"."""
        self._stim("tamper", source=source)

    def battery(self, mv: int) -> None:
        self._stim("battery", mv=mv)

    def actpos(self, locked: bool) -> None:
        self._stim("actpos", locked=locked)

    def fault(self, sensor: str, ok: bool) -> None:
        self._stim("fault", sensor=sensor, ok=ok)

    def present(self, holder: tuple[int, str, int] = HOLDER1,
                factors: tuple[str, ...] = ("rfid", "finger")) -> None:
        """Present the holder's credentials (RFID card, then finger)."""
        if "rfid" in factors:
            self.rfid(holder[1])
        if "finger" in factors:
            self.finger(holder[2])

    # -- tokens ----------------------------------------------------------------------------
    def load(self, token: bytes) -> None:
        with self._send("permit"):
            self.client.load_permit(token)

    def recall(self, token: bytes) -> None:
        with self._send("recall"):
            self.client.recall(token)

    def reset(self, token: bytes) -> None:
        with self._send("reset"):
            self.client.reset_tamper(token)

    # -- power ---------------------------------------------------------------------------------
    def power_cycle(self, restore_clock: bool = True) -> None:
        """Restart the board with its stored state (virtual: a new process on the same state
        dir; real: REBOOT or a reset over RTS). The board's RTC is a battery-backed clock, so
        the rig sets it back to `now()` unless `restore_clock` is False."""
        self._pull(0)
        self.board.power_cycle(self.client)
        self.log.append({"kind": "_power_cycle", "_rx": time.perf_counter()})
        self.cursor = len(self.log)
        if restore_clock and self.offset:
            self.time(self.now())

    @property
    def can_cut_power(self) -> bool:
        """True if this board's supply can be cut (virtual: kill; real: power control)."""
        return hasattr(self.board, "power_cut") or getattr(self.board, "power", None) is not None

    def power_cut(self, at_write: tuple[int, str] | None = None,
                  restore_clock: bool = True) -> None:
        """Cut the supply with no warning and power on again: a virtual board is killed now
        (or, with `at_write=(n, phase)`, kills itself at its n-th flash write after the next
        power-on, see VirtualBoard.cut_power_at_write); a real one is switched off and on
        by its rig file's power control."""
        with self.step("power cut"):
            cut = getattr(self.board, "power_cut", None)
            if cut is not None:
                cut(self.client, at_write)
            elif getattr(self.board, "power", None) is not None:
                self.board.power_cycle(self.client)
            else:
                raise RuntimeError(f"board {self.name}: no power control (rig file power)")
        self.log.append({"kind": "_power_cycle", "_rx": time.perf_counter()})
        self.cursor = len(self.log)
        if restore_clock and self.offset:
            self.time(self.now())

    # -- events ----------------------------------------------------------------------------------
    def _pull(self, timeout: float) -> None:
        with self.step("wait for events"):
            for ev in self.client.events(timeout):
                self.log.append(ev)
                break
            self.log.extend(self.client.drain_events())

    def wait_event(self, kind: str, timeout: float = 3.0, **match: Any) -> dict[str, Any]:
        """The next event of `kind` (with fields equal to `match`) after the last one taken."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self.cursor, len(self.log)):
                ev = self.log[i]
                if ev["kind"] == kind and all(ev.get(k) == v for k, v in match.items()):
                    self.cursor = i + 1
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} event {match or ''} within {timeout:g} s; "
                                     f"saw {self._recent()}")
            self._pull(min(left, 0.5))

    def seen(self, kind: str, **match: Any) -> bool:
        """True if an event of `kind` (with `match`) arrived at any time during the test."""
        self._pull(0)
        return any(ev["kind"] == kind and all(ev.get(k) == v for k, v in match.items())
                   for ev in self.log)

    def no_event(self, kind: str, within: float, **match: Any) -> None:
        """Assert that no `kind` event arrives within `within` seconds."""
        end = time.monotonic() + within
        while time.monotonic() < end:
            self._pull(max(0.0, min(end - time.monotonic(), 0.2)))
        for ev in self.log[self.cursor:]:
            if ev["kind"] == kind and all(ev.get(k) == v for k, v in match.items()):
                raise AssertionError(f"unexpected {kind} event: {_show(ev)}")

    def _recent(self) -> str:
        return "; ".join(_show(e) for e in self.log[-8:]) or "no events"

    def expect_actuate(self, locked: bool, op: str, timeout: float = 3.0,
                       timed: bool = False) -> dict[str, Any]:
        """Wait for the actuator to lock (or unlock) and record its latency as `op`.

        The host round trip is from the last command sent before the event to its arrival;
        `timed=True` (the board's own timer acted: timeout, expiry, stale fix) records only
        the device latency."""
        ev = self.wait_event("actuate", timeout, locked=locked)
        rtt = None
        if not timed:
            before = [t for _w, t in self.sent if t <= ev["_rx"]]
            rtt = (ev["_rx"] - before[-1]) * 1000 if before else None
        self.recorder.add(op, None if rtt is None else round(rtt, 3), ev.get("latency_us"))
        return ev

    def expect_unlock(self, timeout: float = 3.0) -> dict[str, Any]:
        """The lock opens (records op "unlock")."""
        return self.expect_actuate(False, "unlock", timeout)

    def expect_relock(self, trigger: str, timeout: float = 3.0,
                      timed: bool = False) -> dict[str, Any]:
        """The lock closes (records op "relock:<trigger>")."""
        return self.expect_actuate(True, "relock:" + trigger, timeout, timed)

    def expect_denied(self, timeout: float = 3.0) -> None:
        """Credentials were answered with a refusal and the lock stayed shut."""
        self.wait_event("indicate", timeout, what="denied")
        self.no_event("actuate", 0.05, locked=False)

    def expect_rejected(self, timeout: float = 3.0) -> None:
        """A credential was answered "no" (rejected or ignored) and the lock stayed shut."""
        self.wait_event("answer", timeout, ok=False)
        self.no_event("actuate", 0.05, locked=False)

    def record_answers(self) -> None:
        """Record the answer delay of every credential answered so far (ops answer:accept,
        answer:refuse, answer:unlock), for the equal-time limits."""
        self._pull(0)
        for kind, ms in answer_delays(self.sent, self.log):
            self.recorder.add("answer:" + kind, ms, None)

    def unlock(self, place: str = "in", holder: tuple[int, str, int] = HOLDER1,
               factors: tuple[str, ...] = ("rfid", "finger")) -> dict[str, Any]:
        """Fix at `place`, present the holder's credentials, and wait for the unlock."""
        self.at(place)
        self.present(holder, factors)
        return self.expect_unlock()

    # -- audit -----------------------------------------------------------------------------------
    def audit(self) -> list[tuple[int, int, str, str]]:
        """Audit records written since the test began, decoded (seq, time, code, detail);
        raises AssertionError if the hash chain does not hold."""
        with self.step("audit"):
            recs = self.client.audit(from_seq=max(1, self.mark))
        problems = self.client.verify_audit(recs)
        assert not problems, f"audit chain broken: {problems}"
        return [A.decode(r)[:4] for r in recs if A.decode(r)[0] > self.mark]

    def audit_has(self, code: str, contains: str = "") -> tuple[int, int, str, str]:
        """The first record since the test began with `code` whose detail has `contains`."""
        recs = self.audit()
        for r in recs:
            if r[2] == code and contains in r[3]:
                return r
        shown = ", ".join(f"{r[2]}({r[3]})" for r in recs[-12:])
        raise AssertionError(f"no audit record {code} {contains!r}; records: {shown}")

    def audit_lacks(self, code: str, contains: str = "") -> None:
        """No record with `code` (and `contains`) since the test began."""
        for r in self.audit():
            assert not (r[2] == code and contains in r[3]), f"unexpected audit record {r}"

    def status(self) -> dict[str, Any]:
        with self.step("status"):
            return self.client.status()


def _show(ev: dict[str, Any]) -> str:
    return ev["kind"] + "(" + ", ".join(f"{k}={v}" for k, v in ev.items()
                                      if k not in ("kind", "_rx")) + ")"
