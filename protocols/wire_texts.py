# The wording of a bad frame or message (protocols/frame.py, schema.py, msg_types.py,
# cbor.py, messages.py), by index: each caller names the ones it raises with private
# _T_<NAME> consts (no names on the device), the comment of each entry names it and
# tests/test_error_texts.py checks the callers' numbers against those names. Imported
# when one is raised (frame.frame_error, errors.message_error) and freed again by the
# ESP32 port (firmware/ports/esp32/trim.py), so the texts stay off a running lock's
# heap. A leaf. MicroPython and CPython.

TEXTS = (
    # frames (FrameError)
    "cobs error (0x00 inside frame at byte %d)",  # 0 cobs_zero
    "cobs error (code 0x%02x at byte %d runs past end of %d bytes)",  # 1 cobs_past
    "oversize frame (>%d bytes)",  # 2 oversize
    "truncated frame (%d bytes)",  # 3 truncated
    "crc mismatch (frame says 0x%04x, computed 0x%04x)",  # 4 crc
    # messages (MessageError)
    "%s: expected %s, got %s",  # 5 expected
    "%s: %d out of range %d..%d",  # 6 range
    "%s: '%s' is not one of %s",  # 7 not_one_of
    "%s: length %d out of range %d..%d",  # 8 length
    "%s.%s: expected %s, got null",  # 9 null
    "%s: missing field '%s'",  # 10 missing
    "%s: unknown field '%s'",  # 11 unknown
    "%s.kind: expected str, got %s",  # 12 kind_type
    "%s.kind: '%s' is not one of %s",  # 13 kind_value
    "%s: payload too long (%d bytes > %d)",  # 14 too_long
    "cbor: integer out of 64-bit range",  # 15 int_range
    "cbor: nested deeper than %d",  # 16 depth
    "cbor: map key %r is not a str",  # 17 key_type
    "cbor: cannot encode a %s",  # 18 encode
)
