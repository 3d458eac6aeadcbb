"""R503 fingerprint driver against the byte-level fake module."""

from __future__ import annotations

import pytest
from fakes.fake_esp32 import FakeMachine
from fakes.fake_machine import FakeClock
from fakes.fake_r503 import OP, FakeR503, Finger

from firmware.core.config import DEFAULTS
from firmware.drivers import r503 as r
from firmware.drivers import r503_codes as codes
from firmware.drivers import r503_enroll as en
from firmware.drivers.r503_enroll import R503Enroll
from firmware.ports.esp32.board import Hardware

FAIL_AFTER = DEFAULTS["sensor_fail_after"]

ALICE = Finger("alice", score=180)
BOB = Finger("bob", score=90)
SMUDGE = Finger("alice", score=180, collected=False)     # GenImg 0x03: bad touch


def rig(**kw: object) -> tuple[FakeR503, R503Enroll]:
    fake = FakeR503(**kw)  # type: ignore[arg-type]
    clock = FakeClock(step_us=1000)                 # every tick read is 1 ms later
    drv = R503Enroll(fake.uart, address=fake.address, password=fake.password,
                     ticks_ms=clock.ticks_ms, timeout_ms=200)
    return fake, drv


def test_command_packet_bytes():
    # GenImg as in the R503 manual: EF01 FFFFFFFF 01 0003 01 0005
    assert r.build_packet(0xFFFFFFFF, OP.PID_COMMAND, b"\x01") == bytes.fromhex(
        "ef01ffffffff010003010005")
    fake, drv = rig()
    drv.verify_password()
    # VfyPwd: checksum 01 + 00 07 + 13 + 00000000 = 001b
    assert fake.uart.written == bytes.fromhex("ef01ffffffff0100071300000000001b")


def test_password():
    fake, drv = rig(password=0x1234, need_password=True)
    fake.library[0] = "alice"
    fake.finger = ALICE
    with pytest.raises(r.WrongPassword) as e:
        drv.identify()
    assert e.value.code == 0x21
    drv.verify_password()
    assert drv.identify() == (0, 180)
    drv.password = 1
    with pytest.raises(r.WrongPassword, match="wrong_password"):
        drv.verify_password()


def test_identify_found_no_finger_not_found():
    fake, drv = rig()
    fake.library[7] = "alice"
    fake.finger = ALICE
    assert drv.identify() == (7, 180)
    assert drv.event() == ("finger", 7, 180)
    fake.finger = None
    with pytest.raises(r.NoFinger):
        drv.identify()
    fake.finger = BOB
    with pytest.raises(r.NotFound) as e:
        drv.identify()
    assert e.value.code == 0x09 and e.value.name == "not_found"


def test_enroll_then_identify_then_delete():
    fake, drv = rig()
    fake.finger_script = [ALICE, None, ALICE]
    drv.enroll(3)
    assert fake.library == {3: "alice"}
    assert drv.template_count() == 1
    fake.finger = ALICE
    assert drv.identify() == (3, 180)
    drv.delete(3)
    assert drv.template_count() == 0
    with pytest.raises(r.NotFound):
        drv.identify()


def test_enroll_two_different_fingers_fails_merge():
    fake, drv = rig()
    fake.finger_script = [ALICE, None, BOB]
    with pytest.raises(en.EnrollFail) as e:
        drv.enroll(0)
    assert e.value.code == 0x0A and fake.library == {}


def test_enroll_bad_page_and_finger_never_lifted():
    fake, drv = rig()
    with pytest.raises(en.BadPage):
        drv.enroll(200)
    fake.finger = ALICE
    with pytest.raises(r.FingerTimeout, match="not lifted"):
        drv.enroll(1, wait_ms=50)


def test_store_beyond_library_is_bad_page():
    fake, drv = rig()
    fake.finger = ALICE
    drv.gen_img()
    drv.img2tz(1)
    with pytest.raises(en.BadPage):
        drv.store(250)


def test_empty_clears_library():
    fake, drv = rig()
    fake.library.update({1: "a", 2: "b"})
    drv.empty()
    assert drv.template_count() == 0


def test_bad_checksum_from_module():
    fake, drv = rig()
    fake.bad_checksum = True
    with pytest.raises(r.PacketError, match="checksum"):
        drv.gen_img()


def test_bad_header_from_module():
    fake, drv = rig()
    fake.bad_header = True
    with pytest.raises(r.PacketError, match="bad header ef02"):
        drv.gen_img()


def test_wrong_address_from_module():
    fake, drv = rig()
    fake.uart.feed(r.build_packet(0x0A0B0C0D, OP.PID_ACK, b"\x00"))
    with pytest.raises(r.PacketError, match="address 0a0b0c0d, expected ffffffff"):
        drv.read_packet()


def test_short_packet_and_silence():
    fake, drv = rig()
    fake.truncate = True
    with pytest.raises(r.PacketError, match="short packet: 0 of 3 bytes"):
        drv.gen_img()
    fake.truncate = False
    fake.silent = True
    with pytest.raises(r.FingerTimeout, match="no answer in 200 ms"):
        drv.gen_img()


def test_bad_length_field():
    fake, drv = rig()
    fake.uart.feed(bytes.fromhex("ef01ffffffff07000100"))
    with pytest.raises(r.PacketError, match="bad length 1"):
        drv.read_packet()


def test_recovers_after_a_bad_packet():
    fake, drv = rig()
    fake.truncate = True
    with pytest.raises(r.PacketError):
        drv.template_count()
    fake.truncate = False
    assert drv.template_count() == 0


def test_bad_checksum_from_host_gets_code_01():
    fake, drv = rig()
    pkt = bytearray(r.build_packet(0xFFFFFFFF, OP.PID_COMMAND, b"\x01"))
    pkt[-1] ^= 1
    fake.uart.write(bytes(pkt))
    pid, payload = drv.read_packet()
    assert pid == OP.PID_ACK and payload == b"\x01"


EXPECTED_CLASS = {
    0x01: r.PacketError, 0x02: r.NoFinger, 0x03: r.BadImage, 0x06: r.BadImage,
    0x07: r.BadImage, 0x08: r.NotFound, 0x09: r.NotFound, 0x0A: en.EnrollFail,
    0x0B: en.BadPage, 0x13: r.WrongPassword, 0x15: r.BadImage, 0x18: en.FlashError,
    0x26: r.FingerTimeout,
}


@pytest.mark.parametrize("code", sorted(c for c in codes.codes() if c))
def test_every_confirmation_code_is_a_named_error(code: int):
    fake, drv = rig()
    fake.force_code = code
    with pytest.raises(r.FingerError) as e:
        drv.gen_img()
    assert e.value.code == code
    assert e.value.name == codes.code_name(code)
    assert type(e.value) is EXPECTED_CLASS.get(code, type(e.value))
    assert str(codes.code_name(code)) in str(e.value)


def test_datasheet_names_of_key_codes():
    keys = (0x00, 0x01, 0x02, 0x03, 0x09, 0x0A, 0x0B, 0x13, 0x18)
    assert {c: codes.code_name(c) for c in keys} == {
        0x00: "ok", 0x01: "packet_error", 0x02: "no_finger", 0x03: "image_not_collected",
        0x09: "not_found", 0x0A: "merge_fail", 0x0B: "bad_page", 0x13: "wrong_password",
        0x18: "flash_error"}


def test_unknown_code_still_named():
    fake, drv = rig()
    fake.force_code = 0x77
    with pytest.raises(r.FingerError, match="unknown_0x77"):
        drv.gen_img()


def test_fail_next_only_once():
    fake, drv = rig()
    fake.fail_next[OP.GEN_IMG] = 0x06
    fake.finger = ALICE
    with pytest.raises(r.BadImage):
        drv.gen_img()
    drv.gen_img()


# -- library size from the module, bad touches ------------------------------------------
def test_read_sys_para_decodes_the_basic_parameter_list():
    fake, drv = rig(capacity=1000)
    drv.verify_password()
    assert drv.read_sys_para() == (0x0004, 0x0009, 1000, 3, 0xFFFFFFFF, 128, 57600)
    # ReadSysPara as in the R503 manual: EF01 FFFFFFFF 01 0003 0F 0013
    assert fake.uart.written.endswith(bytes.fromhex("ef01ffffffff0100030f0013"))


def test_r307_library_of_1000_is_searched_to_the_last_page():
    fake, drv = rig(capacity=1000)
    fake.library[999] = "alice"
    fake.finger = ALICE
    assert drv.identify() == (999, 180)
    assert drv.library_size() == 1000
    assert fake.commands.count(OP.READ_SYS_PARA) == 1         # read once, then kept
    drv.identify()
    assert fake.commands.count(OP.READ_SYS_PARA) == 1


def test_r503_library_of_200_is_searched_with_its_own_count():
    fake, drv = rig(capacity=200)
    fake.finger = ALICE
    with pytest.raises(r.NotFound):
        drv.identify()
    search = bytes(fake.uart.written).rfind(bytes((0x04, 0x01)))
    assert fake.uart.written[search + 2:search + 6] == bytes.fromhex("000000c8")


def test_given_capacity_is_not_read_from_the_module():
    fake = FakeR503(capacity=1000)
    drv = R503Enroll(fake.uart, ticks_ms=FakeClock(step_us=1000).ticks_ms, timeout_ms=200,
                     capacity=50)
    fake.library[49] = "alice"
    fake.finger = ALICE
    assert drv.identify() == (49, 180)
    assert OP.READ_SYS_PARA not in fake.commands
    with pytest.raises(en.BadPage):
        drv.enroll(50)


def test_short_system_parameters_are_a_packet_error():
    fake, drv = rig()
    fake.fail_next[OP.READ_SYS_PARA] = 0x00                  # OK, but no parameter list
    with pytest.raises(r.PacketError, match="system parameters have 0 bytes"):
        drv.identify()


def test_enroll_checks_the_page_against_the_module_library():
    fake, drv = rig(capacity=1000)
    fake.finger_script = [ALICE, None, ALICE]
    drv.enroll(700)
    assert fake.library == {700: "alice"}


def test_image_not_collected_is_a_bad_touch():
    fake, drv = rig()
    fake.library[1] = "alice"
    fake.finger_script = [SMUDGE]
    fake.finger = ALICE
    with pytest.raises(r.BadImage) as e:
        drv.identify()
    assert e.value.code == 0x03 and e.value.name == "image_not_collected"
    assert drv.identify() == (1, 180)


def test_enroll_waits_through_bad_touches():
    fake, drv = rig()
    fake.finger_script = [None, SMUDGE, ALICE, SMUDGE, None, SMUDGE, ALICE]
    drv.enroll(4)
    assert fake.library == {4: "alice"}


def _board_with(fake: FakeR503) -> tuple[FakeMachine, Hardware]:
    machine = FakeMachine()
    machine.attach_uart(2, fake.uart)
    cfg = {"finger": {"uart": 2, "tx": 17, "rx": 16, "touch": 39, "baud": 57600}}
    machine.Pin(39).drive(0)                 # a finger on the sensor (WAKEUP is active low)
    return machine, Hardware(cfg, machine, machine.clock.ticks_ms, machine.clock.ticks_us)


def _polls(machine: FakeMachine, hw: Hardware, n: int) -> list[tuple]:
    out = []
    for _ in range(n):
        machine.clock.advance(400_000)
        out += hw.poll(0)
    return out


def test_module_is_asked_for_an_image_only_while_its_touch_line_is_low():
    """The R503's WAKEUP output is high with no finger and low while one touches (GROW
    R503 manual): the board asks for an image only then, not on every poll (each ask is
    a UART exchange with the module at its acquiring current)."""
    fake = FakeR503()
    fake.library[3] = "alice"
    fake.finger = ALICE
    machine, hw = _board_with(fake)
    fake.commands.clear()
    machine.Pin(39).drive(1)                                 # idle: no finger
    assert [e for e in _polls(machine, hw, 3) if e[0] == "finger"] == []
    assert OP.GEN_IMG not in fake.commands
    machine.Pin(39).drive(0)
    assert ("finger", 3, 180) in _polls(machine, hw, 1)
    assert OP.GEN_IMG in fake.commands


def test_bad_touches_in_a_row_never_raise_a_sensor_fault():
    fake = FakeR503()
    fake.library[3] = "alice"
    machine, hw = _board_with(fake)
    fake.finger_script = [SMUDGE] * (FAIL_AFTER + 2)
    fake.finger = ALICE
    events = _polls(machine, hw, FAIL_AFTER + 3)
    assert not [e for e in events if e[0] in ("fault", "read_errors")], events
    assert ("finger", 3, 180) in events


def test_a_dead_module_still_raises_the_fault():
    fake = FakeR503()
    machine, hw = _board_with(fake)
    fake.force_code = 0x29                                   # sensor hardware error
    events = _polls(machine, hw, FAIL_AFTER)
    # the board reports the count; the core decides (test_board_observations.py)
    assert ("read_errors", "finger", FAIL_AFTER) in events
