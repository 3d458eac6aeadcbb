"""Rig files, several boards in one test, infrastructure errors with bounded retries, and
a board unplugged in the middle of a test (its pty closed and made again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardware.hil.rigfile import RigFileError, load_rig

pytest_plugins = ["pytester"]

TWO_VIRTUAL = """
name = "armoury"
retries = 1
[[boards]]
name = "lock-a"
virtual = "cpython"
[[boards]]
name = "lock-b"
virtual = "cpython"
"""


def write(tmp: Path, text: str, name: str = "rig.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_rig_file_finds_boards_by_what_survives_a_replug(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "m.key").write_text("00" * 32 + "\n")
    (tmp_path / "manifest.json").write_text('{"board": "esp32-devkitc"}')
    rig = load_rig(write(tmp_path, """
        name = "bench-2"
        reconnect_s = 4
        [[boards]]
        name = "lock-a"
        usb_serial = "0001A2"
        board = "esp32-devkitc"
        chip = "ESP32"
        key = "keys/m.key"
        manifest = "manifest.json"
        gnss_port = "/dev/ttyUSB3"
        [boards.power]
        kind = "uhubctl"
        hub = "1-1"
        port = 2
        [[boards]]
        name = "tag"
        usb_location = "1-1.4"
        [boards.options]
        role = "tag-emulator"
    """.replace("\n        ", "\n")))
    a, tag = rig.boards
    assert (str(a.target), str(tag.target)) == ("usb:0001A2", "usb:1-1.4")
    assert a.key == tmp_path / "keys" / "m.key" and a.chip == "esp32"
    assert a.power == {"kind": "uhubctl", "hub": "1-1", "port": 2}
    assert rig.reconnect_s == 4 and rig.retries == 0 and tag.options == {"role": "tag-emulator"}
    ident = a.identity()
    assert ident["manifest_sha256"] and len(ident["manifest_sha256"]) == 64


@pytest.mark.parametrize("text,msg", [
    ("name = 'x'\n", "needs at least one \\[\\[boards\\]\\]"),
    ("[[boards]]\nname = 'a'\n", "exactly one of usb_serial, .*\\(got none\\)"),
    ("[[boards]]\nname = 'a'\nport = '/dev/x'\nusb_serial = '1'\n", "got usb_serial, port"),
    ("[[boards]]\nname = 'a'\nvirtual = 'rust'\n", "virtual must be micropython or cpython"),
    ("[[boards]]\nname = 'a'\nport = '/dev/x'\ncolour = 'red'\n", "unknown key\\(s\\) colour"),
    ("[[boards]]\nname = 'a'\nport = '/dev/x'\nboard = 'esp32-devkitc'\nchip = 'ESP32-S3'\n",
     "chip .ESP32-S3. but board esp32-devkitc has esp32"),
    ("[[boards]]\nname = 'a'\nport = '/dev/x'\n[[boards]]\nname = 'a'\nport = '/dev/y'\n",
     "board names must differ \\(a twice\\)"),
    ("[[boards]]\nname = 'a'\nvirtual = 'cpython'\n[boards.power]\nkind = 'uhubctl'\n",
     "a virtual board's power is its process"),
    ("[[boards]]\nname = 'a'\nport = '/dev/x'\n[boards.power]\nkind = 'mains'\n",
     "power kind 'mains'"),
    ("retries = 9\n[[boards]]\nname = 'a'\nport = '/dev/x'\n", "retries must be an integer 0..5"),
    ("[[boards]]\nname = 'a'\nport = '/dev/x'\nkey = 'nope.key'\n", "key .*nope.key does not"),
    ("[[boards\n", "not TOML"),
])
def test_bad_rig_file_names_the_problem(tmp_path: Path, text: str, msg: str) -> None:
    with pytest.raises(RigFileError, match=msg):
        load_rig(write(tmp_path, text))


def test_two_virtual_boards_from_a_rig_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    rig = write(tmp_path, TWO_VIRTUAL)
    pytester.makepyfile("""
        import pytest
        from hardware.link.base import DeviceError

        def test_two_locks_in_one_armoury(devices, rig):
            a, b = devices["lock-a"], devices["lock-b"]
            assert rig is a.rig                       # `rig` is the first board
            assert a.info["device_id"] != b.info["device_id"]
            permit_a = a.authority.permit()
            with pytest.raises(DeviceError):          # addressed to the other lock
                b.rig.load(permit_a)
            for d in (a, b):
                d.rig.load(d.authority.permit())
                d.rig.unlock()
            b.rig.grip(True); b.rig.grip(False)
            b.rig.expect_relock("grip")
            assert a.rig.status()["locked"] is False  # one lock's relock is not the other's
    """)
    res = pytester.runpytest_inprocess("--armlock-rig", str(rig), "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)


def test_infrastructure_errors_are_retried_and_reported_apart(pytester: pytest.Pytester,
                                                              tmp_path: Path) -> None:
    count = tmp_path / "count"
    pytester.makepyfile(f"""
        from pathlib import Path
        from hardware.link.base import LinkLost

        def bump(name):
            p = Path({str(count)!r} + name)
            n = int(p.read_text()) + 1 if p.exists() else 1
            p.write_text(str(n))
            return n

        def test_flaky_rig(device):
            if bump("flaky") == 1:
                raise LinkLost("link lost: /dev/ttyUSB0 went away")

        def test_dead_rig(device):
            bump("dead")
            raise LinkLost("link lost: /dev/ttyUSB0 went away")

        def test_real_failure(device):
            bump("fail")
            assert device.status()["locked"] is False, "the lock is shut"
    """)
    out = tmp_path / "out"
    res = pytester.runpytest_inprocess("--armlock-target", "virtual-cpython",
                                       "--armlock-retries", "2", "--armlock-out", str(out),
                                       "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, failed=2)
    runs = {n: int(Path(str(count) + n).read_text()) for n in ("flaky", "dead", "fail")}
    assert runs == {"flaky": 2, "dead": 3, "fail": 1}   # failures are never retried
    data = json.loads((out / "results.json").read_text())
    by = {t["nodeid"].split("::")[1]: t for t in data["tests"]}
    assert by["test_flaky_rig"]["outcome"] == "passed" and by["test_flaky_rig"]["attempts"] == 2
    assert by["test_dead_rig"]["outcome"] == "infra"
    assert by["test_dead_rig"]["message"].startswith("LinkLost: link lost")
    assert by["test_real_failure"]["outcome"] == "failed"


def test_board_unplugged_mid_test_is_found_again_or_reported_lost(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    """An attached board whose pty is closed and made again (an unplug and replug) is
    reached again through its stable name; one that stays away ends the test with
    "board lost at step N" as an infrastructure error, not a hang."""
    from hardware.virtual.launcher import VirtualBoard

    with VirtualBoard(tmp_path / "b", runtime="cpython") as vb:
        rig = write(tmp_path, f"reconnect_s = 6\n[[boards]]\nname = 'lock-a'\n"
                              f"port = '{vb.link}'\n")
        pytester.makepyfile("""
            def test_replugged(rig, authority):
                rig.load(authority.permit())
                rig.board_handle.kill()              # unplugged: the pty is gone ...
                rig.board_handle.start()             # ... and a new one comes up
                assert rig.status()["locked"] is True

            def test_gone(rig, authority):
                rig.load(authority.permit())
                rig.board_handle.kill()              # unplugged for good
                rig.status()
        """)
        pytester.makeconftest("""
            import pytest

            @pytest.fixture(autouse=True)
            def _handle(rig):
                rig.board_handle = pytest.VB  # the board process the outer test started
        """)
        pytest.VB = vb  # type: ignore[attr-defined]
        out = tmp_path / "out"
        res = pytester.runpytest_inprocess("--armlock-rig", str(rig), "--armlock-out",
                                           str(out), "-p", "no:cacheprovider")
        res.assert_outcomes(passed=1, failed=1)
        data = json.loads((out / "results.json").read_text())
        by = {t["nodeid"].split("::")[1]: t for t in data["tests"]}
        assert by["test_gone"]["outcome"] == "infra"
        assert "board lock-a lost at step" in by["test_gone"]["message"]
        assert "(status)" in by["test_gone"]["message"]
