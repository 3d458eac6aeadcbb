# Free the code of modules the app needs only at boot or on a rare command (MicroPython).
#
# A module loaded from a .mpy keeps its bytecode, functions and globals in the GC heap
# while anything references it: its sys.modules entry, the attribute its parent package
# got at import, and whatever imported it at module level. drop() takes away the first
# two for the modules of a list that are loaded and that no other loaded module holds
# (neither the module nor anything it defines sits in another module's globals); the GC
# then frees them, and an import later loads them again. A module still held is simply
# kept (dropping it would only make the next import load a second copy). Objects that
# keep one of its functions are not seen here: the lists name modules whose results are
# plain values (tuples, strings). Interned names (qstrs) are never freed.
# The GC is conservative: a stale word that happens to point at garbage keeps it, and
# with it all it points at. So the search makes no garbage that points at a module it
# drops: dicts are iterated directly (the iterator lives in the frame; .items() and
# .values() would be heap objects holding the module's dict) and `gone` is emptied
# before drop returns (measured: without this, the freed audit reader stayed in 7 of 16
# heap layouts of bench_build.py's run).
#
# CPython (the simulator, the tests) keeps everything: a re-import there costs time
# and saves nothing.
#
# loop.py calls drop(BOOT) after boot and after_step() after a serial or driver step
# during which the number of loaded modules grew (a command or a card read imported
# something); this module drops itself too, so it is loaded only then.

import sys

# Used once by loop.start: reset cause, identity (NVS), eFuse hardening check and the
# core's judgement of it, building the peripherals (board setup).
BOOT = ("firmware.ports.esp32.resetcause", "firmware.ports.esp32.nvs",
        "firmware.app.identity", "firmware.ports.esp32.security", "firmware.core.platform",
        "firmware.ports.esp32.setup", "firmware.ports.esp32.startup",
        "firmware.ports.esp32.ble_adv")
# Loaded for one card read with a key (the NTAG 424 challenge; its objects die with
# the read), to word a failed card read or a bad frame or message, to name a
# fingerprint module's error code, for HMAC / HKDF (the boot's card-wrap key, a sealed
# command: its one-key pad cache only saves time) and this module itself, loaded again
# when needed.
TRANSIENT = ("firmware.drivers.ntag424_auth", "firmware.drivers.cmac",
             "firmware.drivers.isodep", "firmware.drivers.rfid_texts",
             "protocols.wire_texts", "firmware.drivers.r503_codes", "protocols.crypto",
             "firmware.ports.esp32.trim")
# Loaded by rare commands or once per permit: the controller's rare paths and
# recovery, its bounds (config: merged once, at boot), the validity check they share
# with host code, the signed-token decoder and its curve math, the host command set and
# its decoders, the store's scans, the identity record, the audit record reader (the
# boot's recovery; the controller writes with protocols/audit_chain.py) (their callers
# import them lazily).
# Dropped strictly: a module that defines a class or holds a mutable cache (a list, a
# bytearray, a set) is kept, since an object of it may outlive the command (a decoded
# Permit: a fresh import would give a second class). Module-level dicts must be
# constant tables (message names, schemas): a copy that outlives the module is harmless.
RARE = ("firmware.core.admin", "firmware.core.recovery", "protocols.permit_decode",
        "protocols.p256_math", "protocols.message_set", "protocols.cbor_decode",
        "protocols.schema", "protocols.seal", "firmware.app.commands",
        "firmware.app.store_scan", "firmware.app.identity", "firmware.core.trust",
        "firmware.core.rules", "protocols.audit", "firmware.core.config")

MICROPYTHON = sys.implementation.name == "micropython"


def _split(name):
    i = name.rfind(".")
    return name[:i], name[i + 1:]


_CACHES = (list, bytearray, set)   # mutable values strict refuses (see RARE)


def _own(mod, name):
    """ids of the module and of the functions and classes it defines (not imported)."""
    g = mod.__dict__
    out = {id(mod)}
    for k in g:
        v = g[k]
        if getattr(v, "__globals__", None) is g or (
                isinstance(v, type) and getattr(v, "__module__", None) == name):
            out.add(id(v))
    return out


def _held(mod, name, mods, gone, strict):
    """True if a loaded module not in `gone` holds `mod` or a function or class it
    defines in its globals (other than the parent package's attribute); or, strict, if
    `mod` defines a class or holds a mutable cache. (`mods` is sys.modules itself: no
    copy of it is made, a ~1 KB block a nearly full heap may not have.)"""
    own = _own(mod, name)
    if strict:
        g = mod.__dict__
        for k in g:
            v = g[k]
            if isinstance(v, _CACHES) or (isinstance(v, type) and id(v) in own):
                return True
    parent, leaf = _split(name)
    for oname in mods:
        if oname in gone:
            continue
        try:
            g = mods[oname].__dict__
        except AttributeError:   # not a module (a stand-in in sys.modules)
            continue
        for k in g:
            if id(g[k]) in own and not (oname == parent and k == leaf):
                return True
    return False


def drop(names, strict=False):
    """Forget the loaded, unheld modules of `names` (see the header); returns their names.
    Does nothing on CPython."""
    if not MICROPYTHON:
        return []
    mods = sys.modules
    gone = {n: mods[n] for n in names if n in mods}
    changed = True
    while changed and gone:
        changed = False
        for n in list(gone):
            if _held(gone[n], n, mods, gone, strict):
                del gone[n]
                changed = True
                break
    for n in gone:
        del mods[n]
        parent, leaf = _split(n)
        p = mods.get(parent)
        if p is not None and getattr(p, leaf, None) is gone[n]:
            try:
                delattr(p, leaf)
            except (AttributeError, TypeError):
                pass
    out = list(gone)
    gone.clear()
    return out


def after_step():
    """After a loop step that imported something: drop the RARE modules (strictly) and
    the TRANSIENT ones (this one too); returns the names that went."""
    return drop(RARE, True) + drop(TRANSIENT)
