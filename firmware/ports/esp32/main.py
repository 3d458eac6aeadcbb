# main.py: the armlock app. On an ESP32 it runs the asyncio loop (loop.py). In
# production mode it never returns: if the app stops for any reason the lock is driven
# locked (loop.main) and the board resets (the watchdog would too). In dev mode an
# interrupt from the console (mpremote) or a crash leaves the lock locked and returns
# to the REPL.
#
# On the virtual board (the MicroPython VM that hardware/virtual/launcher.py runs, which
# offers a `board` host module) the same flashed firmware exposes the virtual port's
# start/step/wake_ms instead, since that board's host drives the app sans-IO.
try:
    import board as _host  # pyright: ignore[reportMissingImports]
except ImportError:
    _host = None

if _host is not None and hasattr(_host, "storage"):
    from firmware.ports.virtual.main import start, step, wake_ms  # noqa: F401
else:
    try:
        import armlock_build as _b  # pyright: ignore[reportMissingImports]
        _dev = _b.MODE == "dev"
    except ImportError:
        _dev = False
    try:
        from firmware.ports.esp32 import loop as _loop
        _loop.main()
    except BaseException as _e:  # noqa: B036
        if not _dev:
            import machine
            machine.reset()
        if not isinstance(_e, KeyboardInterrupt):
            import sys
            sys.print_exception(_e)  # pyright: ignore[reportAttributeAccessIssue]
