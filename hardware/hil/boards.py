"""The boards under test as the fixtures see them: spawned virtual boards (fresh per
test, started ahead in a pool) and attached boards (a running pty, serial, usb or BLE)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from hardware.client import DeviceClient
from hardware.hil.authority import Authority
from hardware.link.base import DeviceError, LinkError, Transport
from hardware.link.factory import TargetSpec, open_target
from hardware.link.serial import SerialTransport
from protocols import messages as M

DEVICE_ID = "AL-HIL-0001"        # the id given to virtual boards under test


class Board:
    """The board under test, as the fixtures see it (one per test for spawned boards)."""

    spec: TargetSpec
    name = "board"      # the rig file's name for it
    persistent = True   # state carries over between tests (cannot start from scratch)
    mode = "dev"

    def transport(self) -> Transport:
        raise NotImplementedError

    def power_cycle(self, client: DeviceClient) -> None:
        """Restart the board, keeping its stored state; the client is reconnected."""
        raise NotImplementedError

    def stop(self) -> None:
        """Release the board (stop it if we started it)."""


class SpawnedBoard(Board):
    """A virtual board this harness starts on a state dir (fresh per test)."""

    persistent = False

    def __init__(self, spec: TargetSpec, state_dir: Path,
                 identity: tuple[str, bytes, tuple[bytes, ...]], mode: str = "dev",
                 name: str = "board") -> None:
        self.spec = spec
        self.name = name
        self.state_dir = state_dir
        self.identity = identity
        self.mode = mode
        self.vb: Any = None
        self.starts = 0

    @property
    def port(self) -> str:
        return self.vb.port if self.vb is not None else ""

    def start(self) -> SpawnedBoard:
        from hardware.virtual.launcher import BoardError, VirtualBoard

        try:
            self.vb = VirtualBoard(self.state_dir, mode=self.mode, runtime=self.spec.where,
                                   identity=self.identity).start()
        except BoardError as exc:
            hint = " (or use --armlock-target virtual-cpython)" if "node" in str(exc) else ""
            raise BoardError(f"{self.spec}: {exc}{hint}") from None
        self.starts += 1
        return self

    def transport(self) -> Transport:
        return open_target("pty:" + self.port)

    def power_cycle(self, client: DeviceClient) -> None:
        client.close()
        self.stop()
        self.start()
        client.transport = self.transport()
        client.open()

    def power_cut(self, client: DeviceClient, at_write: tuple[int, str] | None = None) -> None:
        """Cut the power now (kill the board process), or arm a cut at a flash write of
        the next power-on (`(n, phase)`, see VirtualBoard.cut_power_at_write); then power
        it on again on what reached its flash and reconnect the client."""
        client.close()
        self.vb.kill()
        if at_write is not None:
            self.vb.cut_power_at_write(*at_write)
        self.vb.start()
        client.transport = self.transport()
        client.open()

    def stop(self) -> None:
        vb, self.vb = self.vb, None
        if vb is not None:
            vb.stop()


class AttachedBoard(Board):
    """A board that runs on its own: a pty of a running virtual board, serial or BLE."""

    def __init__(self, spec: TargetSpec, reconnect_s: float = 5.0, name: str = "board",
                 power: Any = None) -> None:
        self.spec = spec
        self.name = name
        self.port = spec.where
        self.reconnect_s = reconnect_s
        self.power = power         # a hardware.power control, or None (REBOOT / RTS reset)
        self.offset = 0            # seconds the board's clock runs ahead of the host's
        self.synced = False        # clock and serials checked once this session

    def transport(self) -> Transport:
        if self.spec.kind == "ble":
            return open_target(self.spec)
        return open_target(self.spec, reconnect_s=self.reconnect_s)

    def power_cycle(self, client: DeviceClient) -> None:
        if self.power is not None:
            from hardware.power import cycle

            client.close()
            cycle(self.power)
            client.open()  # the transport waits up to reconnect_s for the port
            _wait_boot(client, 15.0)
            return
        try:
            client.reboot()
        except DeviceError as exc:
            if exc.code != M.E_MODE or self.spec.kind != "serial":
                raise
            if not isinstance(client.transport, SerialTransport):
                raise LinkError(f"{client.transport.name}: cannot reset the board "
                                "(not a serial port)") from None
            client.transport.pulse_reset()
        _wait_boot(client, 15.0)


class BoardPool:
    """Fresh virtual boards, each with its own new authority (master key), one started
    ahead in the background while the current test runs; used boards stop in the
    background too. `close()` waits for all of it."""

    def __init__(self, spec: TargetSpec, root: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.spec = spec
        self.root = root
        self.count = 0
        self._starter = ThreadPoolExecutor(1, thread_name_prefix="armlock-start")
        self._stopper = ThreadPoolExecutor(1, thread_name_prefix="armlock-stop")
        self._next: Any = None
        self._stops: list[Any] = []

    def _make(self) -> tuple[SpawnedBoard, Authority]:
        self.count += 1
        folder = self.root / f"board{self.count}"
        authority = Authority.create(folder / "authority").bind(DEVICE_ID)
        board = SpawnedBoard(self.spec, folder / "state", authority.identity())
        return board.start(), authority

    def take(self) -> tuple[SpawnedBoard, Authority]:
        """A started board and its authority; starts the next one meanwhile."""
        fut = self._next if self._next is not None else self._starter.submit(self._make)
        self._next = self._starter.submit(self._make)
        return fut.result()

    def give_back(self, board: SpawnedBoard) -> None:
        """Stop a used board (in the background)."""
        self._stops.append(self._stopper.submit(board.stop))

    def close(self) -> None:
        nxt, self._next = self._next, None
        if nxt is not None:
            with contextlib.suppress(Exception):
                nxt.result()[0].stop()
        for f in self._stops:
            with contextlib.suppress(Exception):
                f.result()
        self._starter.shutdown()
        self._stopper.shutdown()


def _wait_boot(client: DeviceClient, timeout: float) -> None:
    for ev in client.events(timeout):
        if ev["kind"] == "boot":
            return
    raise LinkError(f"{client.transport.name}: no boot event within {timeout:g} s of a reset")
