# The wording of a bad frame or message (protocols/frame.py, schema.py, msg_types.py,
# cbor.py, messages.py), by a short key: imported when one is raised (frame.frame_error,
# errors.message_error) and freed again by the ESP32 port (firmware/ports/esp32/trim.py),
# so the texts stay off a running lock's heap. A leaf. MicroPython and CPython.

TEXTS = {
    # frames (FrameError)
    "cobs_zero": "cobs error (0x00 inside frame at byte %d)",
    "cobs_past": "cobs error (code 0x%02x at byte %d runs past end of %d bytes)",
    "oversize": "oversize frame (>%d bytes)",
    "truncated": "truncated frame (%d bytes)",
    "crc": "crc mismatch (frame says 0x%04x, computed 0x%04x)",
    # messages (MessageError)
    "expected": "%s: expected %s, got %s",
    "range": "%s: %d out of range %d..%d",
    "not_one_of": "%s: '%s' is not one of %s",
    "length": "%s: length %d out of range %d..%d",
    "null": "%s.%s: expected %s, got null",
    "missing": "%s: missing field '%s'",
    "unknown": "%s: unknown field '%s'",
    "kind_type": "%s.kind: expected str, got %s",
    "kind_value": "%s.kind: '%s' is not one of %s",
    "too_long": "%s: payload too long (%d bytes > %d)",
    "int_range": "cbor: integer out of 64-bit range",
    "depth": "cbor: nested deeper than %d",
    "key_type": "cbor: map key %r is not a str",
    "encode": "cbor: cannot encode a %s",
}
