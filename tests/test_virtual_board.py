"""The virtual board: firmware behind a pty, on the MicroPython WASM VM and on CPython.

What a user relies on: the pty speaks the wire protocol like a board, state survives a
restart, mpremote can copy files and soft-reset a dev board, a production board offers no
REPL and refuses stimulus, and stopping the board leaves nothing running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armlock import authority
from armlock.authority.signer import dev_signer
from armlock.tour import walkthrough
from firmware.app.identity import UNPROVISIONED
from firmware.ports.virtual.main import DEV_DEVICE_ID, DEV_MASTER
from hardware.virtual.launcher import REPO, VirtualBoard
from protocols import audit, crypto
from protocols import frame as F
from protocols import messages as M

KEY = crypto.device_key(DEV_MASTER, DEV_DEVICE_ID)
MPREMOTE = str(REPO / ".venv" / "bin" / "mpremote")
HAVE_NODE = shutil.which("node") is not None
needs_node = pytest.mark.skipif(not HAVE_NODE, reason="Node.js not installed")
RUNTIMES = [pytest.param("micropython", marks=needs_node), "cpython"]


class Link:
    """A host end of the board's pty: frames out, replies and events in."""

    def __init__(self, port: str, key: bytes = KEY) -> None:
        self.key = key
        self.ser = serial.Serial(port, timeout=0.05)
        self.dec = F.Decoder()
        self.events: list[dict[str, Any]] = []
        self.queue: list[tuple[int, int, bytes]] = []  # decoded, not yet looked at
        self.seq = 0
        self.text = bytearray()  # everything received, for REPL checks

    def close(self) -> None:
        self.ser.close()

    def _read(self) -> None:
        """Read what is there; keep it as text and decode the frames in it."""
        data = self.ser.read(4096)
        self.text += data
        self.queue += [f for f in self.dec.feed(data) if isinstance(f, tuple)]

    def _frames(self, until: float) -> Iterator[tuple[Any, Any, Any]]:
        while self.queue or time.monotonic() < until:
            if not self.queue:
                self._read()
                continue
            yield M.decode_msg(self.queue.pop(0))

    def request(self, typ: int, seq: int, fields: dict[str, Any] | None = None,
                counter: int | None = None, wait: float = 10.0,
                payload: bytes | None = None) -> tuple[int, dict[str, Any]]:
        """Send one command (or a raw `payload`); return (type, fields) of its reply."""
        key = self.key if counter is not None else None
        if payload is not None:
            self.ser.write(F.encode(typ, seq, payload))
        else:
            self.ser.write(M.encode_msg(typ, seq, fields or {}, key=key, counter=counter))
        for rtyp, rseq, f in self._frames(time.monotonic() + wait):
            if rtyp == M.EVENT:
                self.events.append(f)
            elif rseq == seq:
                return rtyp, f
        raise AssertionError(f"no reply to {M.type_name(typ)} seq {seq}")

    def event(self, kind: str, wait: float = 10.0, **match: Any) -> dict[str, Any]:
        """The first EVENT of `kind` with fields `match` (received or arriving in `wait`)."""

        def hit(f: dict[str, Any]) -> bool:
            return f["kind"] == kind and all(f.get(k) == v for k, v in match.items())

        for f in self.events:
            if hit(f):
                return f
        for rtyp, _seq, f in self._frames(time.monotonic() + wait):
            if rtyp == M.EVENT:
                self.events.append(f)
                if hit(f):
                    return f
        raise AssertionError(f"no {kind} event with {match}; got {self.events}")

    def read_until(self, marker: bytes, wait: float = 10.0) -> bytes:
        """Raw bytes until `marker` appears (REPL text)."""
        end = time.monotonic() + wait
        while marker not in self.text and time.monotonic() < end:
            self._read()  # frames right behind the marker (a boot event) are kept
        assert marker in self.text, f"{marker!r} not in {bytes(self.text[-300:])!r}"
        return bytes(self.text)

    def quiet_read(self, seconds: float) -> bytes:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read()
        return bytes(self.text)


def mpremote(port: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MPREMOTE, "connect", port, *args], capture_output=True, text=True,
                          timeout=timeout)


def pid_gone(pid: int) -> bool:
    """True if no process (running or zombie) has this pid."""
    return not Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_board_speaks_the_wire_protocol_and_stops_cleanly(tmp_path: Path, runtime: str) -> None:
    vb = VirtualBoard(tmp_path / "b", runtime=runtime).start()
    assert vb._proc is not None
    pid = vb._proc.pid
    link = Link(vb.port)
    try:
        typ, info = link.request(M.INFO, 1)
        assert typ == M.INFO_REPLY
        assert info["mode"] == "dev" and info["runtime"] == f"{runtime}-virtual"
        # frames full of 0x03 bytes (seq 3, 0x0303, 256) are data, not Ctrl-C
        for seq in (3, 0x0303, 256):
            assert link.request(M.PING, seq) == (M.OK, {})
        typ, st = link.request(M.STATUS, 4)
        assert typ == M.STATUS_REPLY and st["locked"] is True and "no_permit" in st["reasons"]
        link.ser.write(b"line noise\x00")
        bad = M.cbor_encode({"from_seq": 0, "count": 300})
        typ, err = link.request(M.AUDIT_READ, 5, payload=bad)
        assert typ == M.ERROR and err["code"] == M.E_BAD_MESSAGE and "count" in err["message"]
    finally:
        link.close()
        vb.stop()
    assert vb.exit_code == 0
    assert pid_gone(pid)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_storage_survives_a_restart(tmp_path: Path, runtime: str) -> None:
    state = tmp_path / "b"
    with VirtualBoard(state, runtime=runtime) as vb:
        link = Link(vb.port)
        stim = {"kind": "battery", "mv": 3200}
        assert link.request(M.STIMULUS, 1, stim, counter=7) == (M.OK, {})
        typ, err = link.request(M.STIMULUS, 2, stim, counter=7)
        assert typ == M.ERROR and err["code"] == M.E_REPLAY
        _, recs = link.request(M.AUDIT_READ, 3, {"from_seq": 0, "count": 50})
        link.close()
    assert recs["records"], "the boot and battery audit records are stored"
    with VirtualBoard(state, runtime=runtime) as vb:
        link = Link(vb.port)
        _, st = link.request(M.STATUS, 1)
        assert st["last_counter"] == 7
        typ, err = link.request(M.STIMULUS, 2, stim, counter=7)
        assert typ == M.ERROR and err["code"] == M.E_REPLAY, "replay refused after reboot"
        _, again = link.request(M.AUDIT_READ, 3, {"from_seq": 0, "count": 50})
        link.close()
    n = len(recs["records"])
    assert again["records"][:n] == recs["records"]
    assert len(again["records"]) > n, "the second boot continued the same audit log"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_end_to_end_unlock_relock_recall_and_reboot(tmp_path: Path, runtime: str) -> None:
    key_path = tmp_path / "master.key"
    tokens = walkthrough.issue_tokens(key_path, int(time.time()))
    dev = walkthrough.DEVICE
    dkey = authority.derive_device_key(authority.load_master_key(key_path), dev)
    trusted = (authority.signer_for(key_path).public,)
    state = tmp_path / "b"

    def fix(p: tuple[int, int]) -> dict[str, Any]:
        return {"kind": "fix", "lat_e7": p[0], "lon_e7": p[1], "hacc_m": 4}

    with VirtualBoard(state, runtime=runtime, identity=(dev, dkey, trusted)) as vb:
        link = Link(vb.port, dkey)
        assert link.request(M.INFO, 1)[1]["device_id"] == dev
        assert link.request(M.LOAD_PERMIT, 2, {"token": tokens["permit"]}) == (M.OK, {})
        assert link.request(M.STIMULUS, 3, fix(walkthrough.YARD), counter=1) == (M.OK, {})
        rfid = {"kind": "rfid", "cred": walkthrough.TOKEN, "rtt_us": 1800, "strong": True}
        assert link.request(M.STIMULUS, 4, rfid, counter=2) == (M.OK, {})
        finger = {"kind": "finger", "template": walkthrough.FINGER, "score": 142}
        assert link.request(M.STIMULUS, 5, finger, counter=3) == (M.OK, {})
        assert link.event("actuate", locked=False)["reason"] == "authorised"
        _, st = link.request(M.STATUS, 6)
        assert st["locked"] is False and st["permit"]["holders"] == ["7", "8"]
        assert link.request(M.STIMULUS, 7, fix(walkthrough.ROAD), counter=4) == (M.OK, {})
        link.event("actuate", locked=True)
        assert link.request(M.RECALL, 8, {"token": tokens["recall"]}) == (M.OK, {})
        typ, err = link.request(M.LOAD_PERMIT, 9, {"token": tokens["permit"]})
        assert typ == M.ERROR and err["code"] == M.E_REFUSED
        link.close()
    with VirtualBoard(state, runtime=runtime, identity=(dev, dkey, trusted)) as vb:
        link = Link(vb.port, dkey)
        _, st = link.request(M.STATUS, 1)
        assert st["locked"] is True and "recalled" in st["reasons"]
        link.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_reboot_command_restarts_the_app(tmp_path: Path, runtime: str) -> None:
    with VirtualBoard(tmp_path / "b", runtime=runtime) as vb:
        link = Link(vb.port)
        assert link.request(M.REBOOT, 1, {}, counter=1) == (M.OK, {})
        link.event("boot", reset_cause="hard")
        assert link.request(M.PING, 2) == (M.OK, {})
        link.close()


@needs_node
def test_mpremote_copies_execs_and_soft_resets(tmp_path: Path) -> None:
    state = tmp_path / "b"
    src = tmp_path / "local.py"
    src.write_text("X = 'copied-%d' % (6 * 7)\n")
    with VirtualBoard(state) as vb:
        r = mpremote(vb.port, "fs", "cp", str(src), ":local.py", "+",
                     "exec", "import local; print(local.X)")
        assert r.returncode == 0, r.stderr
        assert "copied-42" in r.stdout
        r = mpremote(vb.port, "soft-reset")
        assert r.returncode == 0, r.stderr
        link = Link(vb.port)
        link.ser.write(b"\x04")  # Ctrl-D at the friendly REPL: soft reboot, main.py runs
        link.read_until(b"soft reboot\r\n")
        link.event("boot", reset_cause="soft")
        assert link.request(M.PING, 1) == (M.OK, {})
        link.close()
    assert (state / "flash" / "local.py").read_text() == src.read_text()
    with VirtualBoard(state) as vb:
        r = mpremote(vb.port, "exec", "import local; print(local.X)")
        assert r.returncode == 0, r.stderr
        assert "copied-42" in r.stdout


@needs_node
def test_ctrl_c_from_a_person_gives_the_repl_in_dev_mode(tmp_path: Path) -> None:
    with VirtualBoard(tmp_path / "b") as vb:
        link = Link(vb.port)
        link.ser.write(b"\x03")
        link.read_until(b">>> ")
        link.ser.write(b"print(6 * 7)\r")
        link.read_until(b"42")
        link.close()


@needs_node
def test_production_board_has_no_repl_and_refuses_stimulus(tmp_path: Path) -> None:
    with VirtualBoard(tmp_path / "b", mode="production") as vb:
        link = Link(vb.port)
        link.ser.write(b"\r\x03\r\x01\x03\x03")
        text = link.quiet_read(1.0)
        assert b"raw REPL" not in text and b">>>" not in text
        link.ser.write(b"\x00")  # end the noise chunk
        typ, info = link.request(M.INFO, 1)
        assert typ == M.INFO_REPLY and info["mode"] == "field"
        typ, err = link.request(M.STIMULUS, 2, {"kind": "battery", "mv": 3000}, counter=1)
        assert typ == M.ERROR and err["code"] == M.E_MODE
        link.close()
        try:
            r = mpremote(vb.port, "exec", "print('hi')", timeout=5)
            failed = r.returncode != 0 and "hi" not in r.stdout
        except subprocess.TimeoutExpired:
            failed = True  # mpremote waits forever for a raw REPL that never comes
        assert failed
        assert vb.alive
        assert Link(vb.port).request(M.PING, 3) == (M.OK, {})


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_unprovisioned_production_board_has_no_identity(tmp_path: Path, runtime: str) -> None:
    """A production board nobody provisioned does not take the public dev identity: a
    permit made with the dev key is refused ("device not provisioned"), it stays locked."""
    from firmware.app import identity
    from tests import conftest as C

    with VirtualBoard(tmp_path / "b", mode="production", runtime=runtime) as vb:
        link = Link(vb.port)
        _, info = link.request(M.INFO, 1)
        assert info["device_id"] == identity.UNPROVISIONED != DEV_DEVICE_ID
        now = int(time.time())
        token = C.make_permit(1, key=dev_signer(), device_id=DEV_DEVICE_ID, not_before=now - 60,
                              not_after=now + 3600)  # signed by the public dev authority
        typ, err = link.request(M.LOAD_PERMIT, 2, {"token": token})
        assert typ == M.ERROR and "not provisioned" in err["message"]
        _, st = link.request(M.STATUS, 3)
        assert st["locked"] is True and st["permit"] is None
        link.close()
    with VirtualBoard(tmp_path / "d", mode="dev", runtime=runtime) as vb:  # dev: the dev id
        _, info = Link(vb.port).request(M.INFO, 1)
        assert info["device_id"] == DEV_DEVICE_ID


@needs_node
def test_a_board_that_dies_is_reported(tmp_path: Path) -> None:
    vb = VirtualBoard(tmp_path / "b").start()
    try:
        assert vb._proc is not None
        os.kill(vb._proc.pid, 9)
        assert vb.wait_exit(10) == -9
        assert not vb.alive
    finally:
        vb.stop()


@pytest.fixture(scope="module", params=RUNTIMES)
def field_board(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[VirtualBoard, Link]]:
    """A production-mode board (no REPL: any byte is data) shared by the fuzz examples."""
    vb = VirtualBoard(tmp_path_factory.mktemp("fuzz"), mode="production",
                      runtime=request.param).start()
    link = Link(vb.port)
    try:
        yield vb, link
    finally:
        link.close()
        vb.stop()


_frame_bytes = st.builds(  # seqs below 0x8000: the answers to them never pass for ours
    lambda t, s, p: F.encode(t, s, p),
    st.integers(0, 255), st.integers(0, 0x7FFF), st.binary(max_size=64))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=80), _frame_bytes), min_size=1, max_size=4))
def test_fuzzed_bytes_never_break_the_board(field_board: tuple[VirtualBoard, Link],
                                            chunks: list[bytes]) -> None:
    vb, link = field_board
    link.ser.write(b"".join(chunks) + b"\x00")
    link.seq = max(0x8000, (link.seq + 1) & 0xFFFF)
    assert link.request(M.PING, link.seq) == (M.OK, {}), "still answering"
    _, st_ = link.request(M.STATUS, link.seq)
    assert st_["locked"] is True
    _, recs = link.request(M.AUDIT_READ, link.seq, {"from_seq": 0, "count": 50})
    assert audit.verify(recs["records"], UNPROVISIONED) == []  # a production board: no id
    assert vb.alive


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_relative_state_dir_is_the_callers(tmp_path: Path, runtime: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative --state-dir means the caller's directory, for storage and identity."""
    monkeypatch.chdir(tmp_path)
    key = crypto.device_key(b"\x07" * 32, "AL-REL-1")
    ident = ("AL-REL-1", key, (dev_signer().public,))
    with VirtualBoard("rel", runtime=runtime, identity=ident) as vb:
        link = Link(vb.port, key)
        assert link.request(M.INFO, 1)[1]["device_id"] == "AL-REL-1"
        assert link.request(M.STIMULUS, 2, {"kind": "grip", "held": True},
                            counter=1)[0] == M.OK  # sealed with the provisioned key
        link.close()
    assert (tmp_path / "rel" / "storage" / "identity.json").is_file()
