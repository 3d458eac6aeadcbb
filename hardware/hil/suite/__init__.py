"""The armlock verification suite: one test per rule and relock trigger of the lock core.

Every test drives the board under test through the `rig` fixture (stimulus frames, or NMEA
into the GNSS UART with --armlock-gnss-port), checks the actuator EVENT it causes and the
audit records it leaves (read back over the wire, hash chain verified), and records the
latency of every unlock and relock for the report.

    armlock hil                                  # a fresh virtual board per test (Node)
    armlock hil --target virtual-cpython         # the same firmware under CPython
    armlock hil --target serial:/dev/ttyUSB0 --key master.key   # a rig/dev ESP32
    armlock hil --target ble:AA:BB:CC:DD:EE:FF --key master.key
    pytest --pyargs hardware.hil.suite --armlock-target ... --armlock-out DIR

Boards that keep their state (pty/serial/ble) are restarted (REBOOT in dev mode, EN pulse
over RTS otherwise), their clock set no earlier than their newest audit record, their
tamper latch and lockout cleared with an authority reset and their permit recalled
before each test; `--key` is the authority master key they were provisioned with. The
suite moves the board's clock with `rig.time` instead of waiting; only the stale-fix test
waits in real time (fix_max_age_s, 15 s by default).
"""
