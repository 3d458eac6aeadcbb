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
#
# CPython (the simulator, the tests) keeps everything: a re-import there costs time
# and saves nothing.

import sys

# Used once by loop.start: reset cause, identity (NVS), eFuse hardening check and the
# core's judgement of it, building the peripherals (board setup).
BOOT = ("firmware.ports.esp32.resetcause", "firmware.ports.esp32.nvs",
        "firmware.app.identity", "firmware.ports.esp32.security", "firmware.core.platform",
        "firmware.ports.esp32.setup")
# Loaded by rare commands or once per permit: the signed-token decoder and its
# signature check, key updates and recovery (loaded lazily by their callers).
RARE = ("protocols.permit", "protocols.p256", "protocols.keyupdate", "firmware.core.trust",
        "firmware.core.recovery", "protocols.schema")

MICROPYTHON = sys.implementation.name == "micropython"


def _split(name):
    i = name.rfind(".")
    return name[:i], name[i + 1:]


def _held(mod, name, others):
    """True if a module in `others` (name -> module) holds `mod` or an object of its own
    (function, class) in its globals, other than the parent package's attribute."""
    own = set()
    for v in mod.__dict__.values():
        if not isinstance(v, (int, str, bytes, tuple, float, bool, type(None))):
            own.add(id(v))
    own.add(id(mod))
    parent, leaf = _split(name)
    for oname, other in others.items():
        for k, v in other.__dict__.items():
            if id(v) in own and not (oname == parent and k == leaf):
                return True
    return False


def drop(names):
    """Forget the loaded, unheld modules of `names` (see the header); returns how many.
    Does nothing on CPython."""
    if not MICROPYTHON:
        return 0
    mods = sys.modules
    gone = {n: mods[n] for n in names if n in mods}
    changed = True
    while changed and gone:
        changed = False
        others = {n: m for n, m in mods.items() if n not in gone}
        for n in list(gone):
            if _held(gone[n], n, others):
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
    return len(gone)
