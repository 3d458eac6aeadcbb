# Events into and actions out of the lock controller (sans-IO).
#
# Every host (ESP32 port, virtual board, simulator, tests) drives the core with
#     actions = controller.handle(event, mono_ms, rtc_s)
# where `mono_ms` is a monotonic, never-wrapping millisecond count since boot (the
# ESP32 port accumulates time.ticks_diff of ticks_ms) and `rtc_s` is the board's
# real-time clock reading in UTC seconds since 1970. The core never reads a clock.
#
# Events and actions are plain tuples, first item the kind (a short str), so they
# cost little heap on an ESP32 and serialise to JSON for test vectors unchanged.
# Coordinates are integers in 1e-7 degrees (WGS84), as u-blox receivers report them,
# so that every runtime computes the same result bit for bit.

# -- events -------------------------------------------------------------------
BOOT = "boot"            # (BOOT, state_blob_or_None, reset_cause:str[, tail])
                         #   tail = (audit_seq, audit_hash[, serial_floor]): the last record
                         #   of the stored audit log and, for a damaged state record, the
                         #   highest token serial the log proves used
TICK = "tick"            # (TICK,)  periodic, and when a WAKE action asks for it
PERMIT = "permit"        # (PERMIT, token:bytes)  permit, recall or authority reset
FIX = "fix"              # (FIX, lat_e7:int, lon_e7:int, hacc_m:int, utc_s:int|None)
GNSS = "gnss"            # (GNSS, status:str)  "lost" | "jammed" | "ok"
RFID = "rfid"            # (RFID, cred_id:str hex, rtt_us:int, strong:bool)
FINGER = "finger"        # (FINGER, template_id:int, score:int)
GRIP = "grip"            # (GRIP, held:bool)
ACTPOS = "actpos"        # (ACTPOS, locked:bool)  actuator position sense
TAMPER = "tamper"        # (TAMPER, source:str)  "enclosure" | "magnet" | "actuator"
BATTERY = "battery"      # (BATTERY, millivolts:int)
FAULT = "fault"          # (FAULT, sensor:str, ok:bool)  "rfid" | "finger" | "gnss" | "actuator"

EVENT_KINDS = (BOOT, TICK, PERMIT, FIX, GNSS, RFID, FINGER, GRIP, ACTPOS, TAMPER,
               BATTERY, FAULT)

# -- actions ------------------------------------------------------------------
ACTUATE = "actuate"      # (ACTUATE, locked:bool)  drive the lock now
ANSWER = "answer"        # (ANSWER, at_ms:int, ok:bool)  signal a credential result at at_ms
WAKE = "wake"            # (WAKE, at_ms:int)  call handle((TICK,), ...) no later than at_ms
PERSIST = "persist"      # (PERSIST, state_blob:bytes)  write the persistent record
AUDIT = "audit"          # (AUDIT, record:bytes)  append to the audit log
INDICATE = "indicate"    # (INDICATE, what:str)  "ready" | "denied" | "lockout" | "battery_low"
                         #                      | "tamper" | "disabled" | "locked"
SET_RTC = "set_rtc"      # (SET_RTC, utc_s:int)  set the board RTC to utc_s now (resync from
                         #   trusted GNSS time); hosts must apply it: later rtc_s readings
                         #   are expected to include it
RESULT = "result"        # (RESULT, ok:bool, message:str)  outcome of a PERMIT token (load,
                         #   recall, reset) for the host to report back

# -- reasons the lock is held locked (status and audit text) --------------------
R_NO_PERMIT = "no_permit"
R_RECALLED = "recalled"
R_NOT_YET = "permit_not_yet_valid"
R_EXPIRED = "permit_expired"
R_TIME = "time_untrusted"
R_NO_FIX = "no_fix"
R_STALE_FIX = "fix_stale"
R_IMPRECISE = "fix_imprecise"
R_SPOOF = "fix_implausible"
R_OUTSIDE = "outside_zone"
R_FORBIDDEN = "in_forbidden_zone"
R_GNSS_LOST = "gnss_lost"
R_LOCKOUT = "lockout"
R_TAMPER = "tamper_latched"
R_BATTERY = "battery_critical"
R_STATE = "state_damaged"
R_ACTUATOR = "actuator_fault"
