# Tick helpers shared by the drivers (MicroPython and CPython).
#
# Drivers take their clock as a callable so tests can fake it. The defaults use
# time.ticks_us / time.ticks_ms on MicroPython and a monotonic CPython fallback
# wrapped to the same 30-bit period, so ticks_diff below is right on both.

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_TICKS_MASK = const(0x3FFFFFFF)   # MicroPython's ticks period on the ESP32 port: 2^30
_TICKS_HALF = const(0x20000000)


def ticks_diff(end, start):
    """Signed difference end - start of two tick readings (wraps like time.ticks_diff)."""
    return ((end - start + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def default_ticks(us):
    """time.ticks_us (us true) or time.ticks_ms if present, else a CPython monotonic tick
    in that unit."""
    import time
    f = getattr(time, "ticks_us" if us else "ticks_ms", None)
    if f is not None:
        return f
    div = 1000 if us else 1000000

    def cpython_ticks():
        return (time.monotonic_ns() // div) & _TICKS_MASK
    return cpython_ticks
