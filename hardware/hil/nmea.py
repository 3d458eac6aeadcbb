"""NMEA for rigs that feed the board's GNSS UART: sentences of a fix, and the port."""

from __future__ import annotations

import contextlib
import time

from hardware.hil.places import E7
from hardware.link.base import LinkError


def _nmea(body: str) -> str:
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    return f"${body}*{cs:02X}\r\n"


def _coord(v_e7: int, deg_digits: int, pos: str, neg: str) -> tuple[str, str]:
    hemi = pos if v_e7 >= 0 else neg
    v = abs(v_e7)
    deg = v // E7
    minutes_e5 = (v - deg * E7) * 60 // 100  # minutes x 1e5 (0.0000167 deg, ~2 cm)
    whole, frac = divmod(minutes_e5, 10**5)
    return f"{deg:0{deg_digits}d}{whole:02d}.{frac:05d}", hemi


def nmea_fix(lat_e7: int, lon_e7: int, hacc_m: int, utc_s: int) -> list[str]:
    """GGA + RMC sentences of one epoch that the board's NMEA driver turns into this fix
    (HDOP = hacc / 5 m UERE, the driver's default; 5 decimal places of minutes)."""
    t = time.gmtime(utc_s)
    hms = f"{t.tm_hour:02d}{t.tm_min:02d}{t.tm_sec:02d}.00"
    dmy = f"{t.tm_mday:02d}{t.tm_mon:02d}{t.tm_year % 100:02d}"
    la, ns = _coord(lat_e7, 2, "N", "S")
    lo, ew = _coord(lon_e7, 3, "E", "W")
    hdop = f"{hacc_m / 5:.2f}"
    return [_nmea(f"GPGGA,{hms},{la},{ns},{lo},{ew},1,09,{hdop},50.0,M,45.0,M,,"),
            _nmea(f"GPRMC,{hms},A,{la},{ns},{lo},{ew},0.0,0.0,{dmy},,,A")]


class NmeaPort:
    """A second USB-serial adapter wired to the board's GNSS UART (9600 baud)."""

    def __init__(self, port: str, baudrate: int = 9600) -> None:
        import serial

        try:
            self.ser = serial.Serial(port, baudrate, timeout=0, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"--armlock-gnss-port {port}: cannot open ({exc})") from None

    def write(self, lines: list[str]) -> None:
        self.ser.write("".join(lines).encode())
        self.ser.flush()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ser.close()
