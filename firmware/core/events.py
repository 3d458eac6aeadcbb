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
BOOT = "boot"            # (BOOT, state_blob_or_None, reset_cause:str[, tail[, read_audit
                         #   [, permits]]])
                         #   tail = (audit_seq, audit_hash[, serial_floor]): the last record
                         #   of the stored audit log and, for a damaged state record, the
                         #   highest token serial the log proves used; read_audit(from_seq,
                         #   count) -> [record bytes]: with it the core reconciles the record
                         #   with the log itself (recovery.py) and finds serial_floor (None
                         #   for either: no audit log); permits = (slot 0, slot 1): the
                         #   stored permit slots (bytes or None each, SAVE_PERMIT), of
                         #   which the record references one (state.py)
TICK = "tick"            # (TICK,)  periodic, and when a WAKE action asks for it
PERMIT = "permit"        # (PERMIT, token:bytes)  permit, recall, authority reset, key update
FIX = "fix"              # (FIX, lat_e7:int, lon_e7:int, hacc_m:int, utc_s:int|None)
GNSS = "gnss"            # (GNSS, silent_ms:int, nofix_ms:int, sats:int, cn0_dbhz:int)
                         #   what the receiver driver observed: ms since the receiver last
                         #   sent anything; ms since its last valid fix (-1: none since
                         #   boot); satellites used; strongest C/N0 from GSV (-1: not
                         #   reported). The core classifies ok / lost / jammed (gnss.py).
RFID = "rfid"            # (RFID, cred_id:str hex, rtt_us:int, strong:bool)
RFID_FAIL = "rfid_fail"  # (RFID_FAIL, why:str)  a card failed authentication / read failed
FINGER = "finger"        # (FINGER, template_id:int, score:int)
FINGER_FAIL = "finger_fail"  # (FINGER_FAIL, why:str)  a finger nobody enrolled
                         #   both count as failed attempts (lockout) like a refused credential
GRIP = "grip"            # (GRIP, held:bool)
ACTPOS = "actpos"        # (ACTPOS, locked:bool)  sensed bolt position, on every change; the
                         #   core compares it with its command after actuator_settle_ms:
                         #   open while commanded locked = tamper latch "actuator"; locked
                         #   while commanded open = fault (bolt stuck locked), audited
TAMPER = "tamper"        # (TAMPER, source:str)  "enclosure" | "magnet"
BATTERY = "battery"      # (BATTERY, millivolts:int)
FAULT = "fault"          # (FAULT, sensor:str, ok:bool)  "rfid" | "finger" | "gnss" | "actuator"
                         #   | "ble" (the radio link did not start: audited, decides nothing)
                         #   (a peripheral that could not be set up, or came back)
READ_ERRORS = "read_errors"  # (READ_ERRORS, sensor:str, consecutive:int)  a driver's count
                         #   of consecutive read errors, on every change (0: it read fine
                         #   again); the core marks the sensor faulty at sensor_fail_after
MAGNET = "magnet"        # (MAGNET, deviation:int)  |B - B_rest| the magnetometer measured
                         #   (its unit), on every change; the core latches tamper "magnet"
                         #   above magnet_threshold

EVENT_KINDS = (BOOT, TICK, PERMIT, FIX, GNSS, RFID, RFID_FAIL, FINGER, FINGER_FAIL, GRIP,
               ACTPOS, TAMPER, BATTERY, FAULT, READ_ERRORS, MAGNET)

# -- actions ------------------------------------------------------------------
ACTUATE = "actuate"      # (ACTUATE, locked:bool, reason:str)  drive the lock now; reason:
                         #   "boot", "authorised", or the relock record's reason (e.g.
                         #   "timeout", "grip_released", "tamper_magnet", "a,b" joined)
ANSWER = "answer"        # (ANSWER, at_ms:int, ok:bool)  signal a credential result at at_ms
WAKE = "wake"            # (WAKE, at_ms:int|None)  call handle((TICK,), ...) no later than
                         #   at_ms; None: nothing is due any more (cancels the last WAKE)
PERSIST = "persist"      # (PERSIST, state_blob:bytes)  write the persistent record
SAVE_PERMIT = "save_permit"  # (SAVE_PERMIT, slot:int, token:bytes)  write the token to
                         #   permit slot `slot` (0 or 1), replacing what it held; always
                         #   the slot the stored record does not reference, and before the
                         #   PERSIST of the record that references it (a cut between the two
                         #   leaves the old record and its token)
AUDIT = "audit"          # (AUDIT, record:bytes)  append to the audit log
INDICATE = "indicate"    # (INDICATE, what:str)  "ready" | "denied" | "lockout" | "battery_low"
                         #                      | "tamper" | "disabled" | "locked"
SET_RTC = "set_rtc"      # (SET_RTC, utc_s:int)  set the board RTC to utc_s now (resync from
                         #   trusted GNSS time); hosts must apply it: later rtc_s readings
                         #   are expected to include it
RESULT = "result"        # (RESULT, ok:bool, message:str)  outcome of a PERMIT token (load,
                         #   recall, reset) or of accept_counter, for the host to report back

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
