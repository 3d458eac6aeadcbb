# The confirmation codes of the R503 / R307 fingerprint modules and their datasheet
# names, and the details of a malformed packet (firmware/drivers/r503.py imports this
# only to name an error; the ESP32 port frees it again, firmware/ports/esp32/trim.py
# TRANSIENT).

# Confirmation codes and their names, one string (cheaper in RAM than a dict): "cc name"
# per entry. 0x00..0x1D from the ZFM-20/R307 table, the rest from the R503 user manual
# v1.2 table. 01 error receiving the package, 03 GenImg could not collect the finger (a
# bad touch), 06 over-disorderly image, 07 too few character points, 08 finger doesn't
# match, 09 no match in the library, 0A character files do not combine, 0B PageID beyond
# the library, 0C template read failed or invalid, 0E the module can't receive the
# following packages, 15 no valid primary image, 18 error writing flash, 1D failed to
# operate the communication port.
_NAMES = ("00 ok,01 packet_error,02 no_finger,03 image_not_collected,06 image_messy,"
          "07 image_too_few_features,08 no_match,09 not_found,0a merge_fail,0b bad_page,"
          "0c template_read_error,0d template_upload_error,0e cannot_receive,"
          "0f image_upload_error,10 delete_fail,11 clear_fail,13 wrong_password,"
          "15 no_valid_image,18 flash_error,19 undefined_error,1a bad_register,"
          "1b bad_register_config,1c bad_notepad_page,1d port_error,1f library_full,"
          "20 bad_address,21 password_required,22 template_empty,24 library_empty,"
          "26 timeout,27 already_exists,29 sensor_hardware_error,fc unsupported_command,"
          "fd hardware_error,fe execution_failure,")


def code_name(code):
    """The datasheet name of a confirmation code, or None if it has none."""
    i = _NAMES.find("%02x " % code)
    while i > 0 and _NAMES[i - 1] != ",":      # (a match inside a name: look further)
        i = _NAMES.find("%02x " % code, i + 1)
    if i < 0:
        return None
    return _NAMES[i + 3:_NAMES.find(",", i)]


def codes():
    """Every confirmation code that has a name."""
    return [int(e[:2], 16) for e in _NAMES.split(",") if e]


# The detail of a PacketError, by index (r503.py's private _T_<NAME> consts; the comment
# names each entry, tests/test_error_texts.py checks r503.py's numbers against them).
DETAILS = (
    "short packet: %d of %d bytes",  # 0 short
    "bad header %02x%02x",  # 1 header
    "address %08x, expected %08x",  # 2 address
    "unexpected PID 0x%02x",  # 3 pid
    "bad length %d",  # 4 length
    "checksum %04x, expected %04x",  # 5 checksum
    "expected an acknowledge, got PID 0x%02x",  # 6 not_ack
    "empty acknowledge",  # 7 empty_ack
    "search answer has %d bytes",  # 8 search
    "system parameters have %d bytes",  # 9 sys_para
    "library size %d",  # 10 library
)
