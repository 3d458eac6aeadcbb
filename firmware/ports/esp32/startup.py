# Boot of the ESP32 app (firmware/ports/esp32/loop.py start()): peripherals, reset
# cause, identity, the hardening check, the Device, BLE. Boot only: loop frees this
# module and the ones only it used after boot (firmware/ports/esp32/trim.py BOOT), so
# nothing that stays referenced may be a function of this module (no lambdas, closures).

def identity(mode, nvs, esp32=None):
    """(device_id, key or None, authority) from NVS, by the one policy of firmware/app/identity.py
    (unprovisioned: the public dev identity in dev mode, else none: tokens refused)."""
    from firmware.app import identity as ident
    return ident.resolve(mode, nvs.read_identity(esp32))


class Unbuilt:
    """What armlock_build says when it is missing (loop.main): production, watchdog on."""
    MODE = "production"
    BOARD = "esp32"
    VERSION = "unknown"
    WDT_MS = 8000


class NoIdentity:
    """An NVS that holds nothing: the identity policy's answer for an unprovisioned board."""

    @staticmethod
    def read_identity(esp32=None):
        return None


def hardening(build, machine, cfg):
    """(trusted, audit text) of this board for this build: the chip's eFuses judged by
    the core (firmware/core/platform.py); a rig build may carry a waiver
    (armlock_build.WAIVE_HARDENING, recorded in the build manifest and the boot audit)."""
    from firmware.ports.esp32 import security
    waiver = getattr(build, "WAIVE_HARDENING", None) or None
    return security.check(machine, cfg.get("chip", "esp32"), build.MODE, waiver)


def start(classes, build, machine, time_mod, esp32=None, io=None, cfg=None,
          store_root="/data", device_cls=None, store_cls=None, ble=True, aes=None):
    """Set everything up and boot the Device; returns the App (not yet running). classes:
    loop.py's (App, Clock, UsbSerial), passed by loop.start (this module does not import
    loop.py). What stays referenced after boot must not be a function of this module."""
    from firmware.ports.esp32 import board as B
    from firmware.ports.esp32 import nvs, resetcause
    App, Clock, UsbSerial = classes
    from firmware.ports.esp32.setup import core_config
    if cfg is None:
        from firmware.ports.esp32.setup import load
        cfg = load()
    if aes is None:
        from firmware.drivers.ntag424 import default_aes_factory
        aes = default_aes_factory()
    hw = B.Hardware(cfg, machine, time_mod.ticks_ms, time_mod.ticks_us, aes)
    rtc = machine.RTC() if hasattr(machine, "RTC") else None
    clock = Clock(time_mod, rtc)
    mode = build.MODE
    wdt_ms = getattr(build, "WDT_MS", 0)
    wdt = machine.WDT(timeout=wdt_ms) if mode == "production" and wdt_ms else None
    cause = resetcause.name(machine, esp32)
    dev_id, key, authority = identity(mode, nvs, esp32)
    # -- hardening hook (issue 10; firmware/ports/esp32/security.py) ------------------
    trusted, why = hardening(build, machine, cfg)
    if not trusted:   # an unhardened board: as if unprovisioned, nothing authenticates
        key, authority = identity(mode, NoIdentity)[1:]
    # ------------------------------------------------------------------------------
    if device_cls is None:
        from firmware.app.device import Device as device_cls
    if store_cls is None:
        from firmware.app.store import FileStore as store_cls
    device = device_cls(dev_id, key, mode, store_cls(store_root), ticks_us=time_mod.ticks_us,
                        fw_version=getattr(build, "VERSION", "?"),
                        runtime="micropython-" + getattr(build, "BOARD", "esp32"),
                        config=core_config(cfg), authority=authority)
    if aes is not None:  # the RFID reader asks the loaded permit for each card's key
        hw.device = device  # pyright: ignore[reportAttributeAccessIssue]
    # (Device declares its hooks as None; pyright cannot see they are callables.)
    device.actuator_hook = hw.lock  # pyright: ignore[reportAttributeAccessIssue]
    device.rtc_hook = clock.set_rtc  # pyright: ignore[reportAttributeAccessIssue]
    device.indicate_hook = hw.indicate  # pyright: ignore[reportAttributeAccessIssue]
    app = App(device, hw, io if io is not None else UsbSerial(), clock, mode, wdt,
              reset=getattr(machine, "reset", None))
    app.cause = cause
    app.broadcast(device.boot(clock.mono(), clock.rtc(), cause + (" " + why if why else "")))
    app.ble = None
    if ble:
        try:
            app.ble = start_ble(dev_id)
        except (MemoryError, OSError) as exc:  # a radio that could not start: say so, audit it
            print("armlock: BLE did not start: %s %s" % (type(exc).__name__, exc))
            app.broadcast(device.local_event(("fault", "ble", False), clock.mono(), clock.rtc()))
    return app


def start_ble(device_id):
    """The BLE Nordic UART Service (firmware/ports/esp32/ble.py), or None in a firmware
    without BLE. A radio that fails to start (MemoryError: the heap NimBLE and the app
    share; OSError) raises: start() prints and audits it."""
    try:
        import bluetooth

        from firmware.ports.esp32.ble import NusService
    except ImportError:  # no BLE in this firmware: the console still works
        return None
    return NusService(bluetooth.BLE(), name="armlock-" + device_id)
