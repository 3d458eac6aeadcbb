"""Write the core test vectors in protocols/vectors/core_*.json.

Run: .venv/bin/python tools/make_core_vectors.py   (the files are committed; rerun after
changing a scenario). Each vector runs under CPython and MicroPython and must give the
same trace (tests/test_parity.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from armlock.authority.signer import from_seed  # noqa: E402
from protocols import permit as P  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "protocols" / "vectors"
AUTH = from_seed(b"armlock vector authority")      # the key the vector lock trusts
NEXT = from_seed(b"armlock vector authority 2")    # trusted by a key update
ROGUE = from_seed(b"armlock vector rogue")         # never trusted ("forged" tokens)
MASTER = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
DEV = "AL-0001"
T0 = 1_800_000_000
# A 1-degree square near Timbuktu (lat 16.2-17.2 N, lon -3.5..-2.5) with a hole, and a
# forbidden box inside it.
DEPOT = [(162000000, -35000000), (172000000, -35000000), (172000000, -25000000),
         (162000000, -25000000)]
HOLE = [(166000000, -31000000), (167000000, -31000000), (167000000, -30000000),
        (166000000, -30000000)]
NOGO = [(170000000, -27000000), (171000000, -27000000), (171000000, -26000000),
        (170000000, -26000000)]
IN = (164000000, -33000000)
EDGE = (162000500, -33000000)  # 5.5 m inside the southern edge
OUT_FAR = (180000000, -33000000)


def permit(serial: int, **kw: object) -> dict:
    fields = dict(kind=1, device_id=DEV, serial=serial, not_before=T0,
                  not_after=T0 + 8 * 3600, fail_enabled=False, max_unlock_s=600,
                  rule_mode=1, factor_mask=3, k=2, window_s=30,
                  holders=[[7, ["04A1B2C3D4E5F6"], [3]], [8, ["0455667788"], [4]]],
                  zones=[[False, [DEPOT, HOLE]], [True, [NOGO]]])
    fields.update(kw)
    return fields


def token(kind: int, serial: int) -> dict:
    return dict(kind=kind, device_id=DEV, serial=serial, not_before=T0)


BASE = {"rtc": T0 + 100, "utc": T0 + 100}


def epoch(rtc: int, utc: int | None = None) -> None:
    """Start a new segment (after a reboot): RTC reads `rtc` at mono 0, GNSS says `utc`."""
    BASE["rtc"] = rtc
    BASE["utc"] = rtc if utc is None else utc


def at(ms: int, *ev: object) -> list:
    return [ms, BASE["rtc"] + ms // 1000, *ev]


def reboot(rtc: int, cause: str, utc: int | None = None) -> list:
    epoch(rtc, utc)
    return ["reboot", 0, rtc, cause]


def fix(ms: int, p: tuple, hacc: int = 5, utc: bool = True) -> list:
    return at(ms, "fix", p[0], p[1], hacc, BASE["utc"] + ms // 1000 if utc else None)


def unlock(ms: int) -> list:
    return [at(ms, "rfid", "04A1B2C3D4E5F6", 1500, True), at(ms + 500, "finger", 3, 120),
            at(ms + 750, "tick")]


VECTORS = {
    "unlock_relock": ("unlock inside the zone, relock on zone exit (hysteresis), grip, hole,"
                      " timeout, stale fix",
                      {"p1": permit(1)},
                      lambda: [at(0, "boot", None, "power_on"), at(10, "permit", "@p1"),
                               fix(1000, EDGE),
                       *unlock(2000), fix(4000, (162000000 - 300, -33000000)),
                       *unlock(5000), fix(8000, (162000000 - 10000, -33000000)),
                       fix(20000, EDGE), *unlock(21000), at(22000, "grip", True),
                       at(23000, "grip", False), fix(1200000, (166500000, -30500000)),
                       *unlock(1201000), fix(2400000, IN), *unlock(2401000),
                       fix(2410000, IN), fix(2420000, IN), at(2430000, "tick"),
                       *[fix(2400000 + 10000 * i, IN) for i in range(4, 62)],
                       at(3100000, "tick")]),
    "permits": ("forged, wrong device, replayed, expired permits; recall and re-enable",
                {"p1": permit(1), "p2": permit(2), "forged": dict(permit(3), key="forged"),
                 "other": permit(4, device_id="AL-0002"), "old": permit(5, not_after=T0 + 10),
                 "recall": token(2, 6), "p7": permit(7)},
                lambda: [at(0, "boot", None, "power_on"), at(10, "permit", "@forged"),
                 at(20, "permit", "@other"), at(30, "permit", "@p2"), at(40, "permit", "@p1"),
                 at(50, "permit", "@p2"), at(60, "permit", "@old"), fix(1000, IN),
                 *unlock(2000), at(5000, "permit", "@recall"), *unlock(6000),
                 at(9000, "permit", "@p7"), *unlock(10000),
                 at(12000, "permit", "hex:414c504d01"), at(13000, "permit", "@recall")]),
    "lockout": ("failures lock out with backoff, kept across a reboot; equal-time answers",
                {"p1": permit(1)},
                lambda: [at(0, "boot", None, "power_on"), at(10, "permit", "@p1"), fix(1000, IN),
                 at(2000, "rfid", "DEADBEEF", 1000, True), at(3000, "finger", 3, 10),
                 at(4000, "rfid", "04A1B2C3D4E5F6", 50000, True),
                 at(4500, "rfid_fail", "card failed authentication"),
                 *unlock(5000), reboot(T0 + 110, "power_on"), fix(1000, IN),
                 *unlock(2000), at(40000, "finger", 9, 200), at(41000, "finger_fail",
                                                                "finger not recognised"),
                 at(42000, "finger", 9, 200), fix(44000, IN), *unlock(45000),
                 fix(140000, IN), *unlock(141000)]),
    "tamper_battery": ("tamper latch until authority reset; battery low and critical",
                       {"p1": permit(1), "reset": token(3, 2)},
                       lambda: [at(0, "boot", None, "power_on"), at(10, "permit", "@p1"),
                        fix(1000, IN), *unlock(2000), at(3000, "tamper", "magnet"),
                        *unlock(4000), reboot(T0 + 110, "brownout"), fix(1000, IN),
                        *unlock(2000), at(3000, "permit", "@reset"), *unlock(4000),
                        at(6000, "battery", 3450), at(7000, "battery", 3200),
                        *unlock(8000), at(9000, "actpos", False), at(9500, "battery", 3900)]),
    "gnss_profiles": ("GNSS jamming and spoofing under fail-secure and fail-enabled",
                      {"sec": permit(1), "en": permit(2, fail_enabled=True)},
                      lambda: [at(0, "boot", None, "power_on"), at(10, "permit", "@sec"),
                       fix(1000, IN), at(1500, "gnss", 200, 31000, 2, 22), *unlock(2000),
                       at(4000, "permit", "@en"), *unlock(5000), at(7000, "gnss", 100, 500, 9, 44),
                       fix(8000, IN), fix(9000, (164000000, -32000000)), *unlock(10000),
                       fix(300000, IN, 80), *unlock(301000), fix(302000, IN),
                       at(302100, "grip", True), at(302200, "grip", False),
                       at(303000, "fault", "finger", False), at(304000, "rfid",
                                                                 "04A1B2C3D4E5F6", 900, True),
                       at(304300, "tick"), at(305000, "fault", "finger", True)]),
    "actuator": ("bolt position sense: moving within the settle time, stuck locked (fault),"
                 " forced open (tamper latch); GNSS observations lost, jammed, silent",
                 {"p1": permit(1)},
                 lambda: [at(0, "boot", None, "power_on"), at(5, "actpos", True),
                  at(10, "permit", "@p1"), fix(1000, IN), *unlock(2000),
                  at(2900, "actpos", False), at(3000, "grip", True), at(3100, "grip", False),
                  at(3300, "actpos", True), fix(4000, IN), *unlock(5000),
                  at(6050, "tick"), fix(7000, IN), at(7500, "gnss", 100, 8000, 6, -1),
                  at(8000, "gnss", 4000, 9000, 0, -1), fix(9000, IN), *unlock(10000),
                  at(10900, "actpos", False), at(11000, "grip", True),
                  at(11100, "grip", False), at(11500, "tick"), at(12000, "actpos", True),
                  at(20000, "actpos", False)]),
    "time": ("clock rollback after reboot, RTC/GNSS skew and resync, damaged state record",
             {"p1": permit(1), "reset": token(3, 2)},
             lambda: [at(0, "boot", None, "power_on"), at(10, "permit", "@p1"), fix(1000, IN),
              reboot(T0 - 5000, "power_on", T0 + 110), fix(1000, IN, 5, False), *unlock(2000),
              fix(4000, IN), fix(5000, IN), fix(6000, IN), *unlock(7000),
              ["corrupt"], reboot(T0 + 400, "watchdog"), fix(1000, IN),
              *unlock(2000), at(3000, "permit", "@p1"), at(4000, "permit", "@reset"),
              *unlock(5000), at(6000, "bogus"), at(7000, "fix", "x", 1, 2, None),
              at(8000, "rfid", 5, 5, True), at(9000, "boot", None, "again")]),
    "keys_and_attacks": (
        "key update (trust a second key, revoke the first; tokens of the revoked key refused"
        " and audited), lockout held while time is untrusted, rollback audited at once,"
        " junk tokens aggregated, a fix with an old timestamp is not fresh",
        {"p1": permit(1), "ku": dict(token(4, 2), added=NEXT.public.hex(),
                                     revoked=AUTH.key_id.hex()),
         "old": permit(3), "p4": dict(permit(4), key="next"),
         "junk": dict(permit(5), key="forged")},
        lambda: [at(0, "boot", None, "power_on"), at(10, "permit", "@p1"), fix(1000, IN),
                 *unlock(2000), at(3000, "permit", "@ku"), at(3100, "permit", "@old"),
                 at(3200, "permit", "@p4"), fix(4000, IN), *unlock(5000),
                 *[at(6000 + 10 * i, "permit", "@junk") for i in range(6)],
                 at(6100, "permit", "hex:00"), at(70000, "tick"),
                 at(80000, "fix", IN[0], IN[1], 5, BASE["utc"] + 80 - 60),
                 at(81000, "tick"),
                 *[at(90000 + 100 * i, "finger", 9, 120) for i in range(3)],
                 [91000, BASE["rtc"] - 4000, "tick"],
                 [92000, BASE["rtc"] - 4000, "finger", 3, 120],
                 [93000, BASE["rtc"] + 93, "tick"],
                 reboot(T0 + 400, "power_on"), *unlock(1000)]),
}


def signed(fields: dict) -> dict:
    """{"fields", "hex"}: signed by AUTH, or by the key named in fields["key"]."""
    f = dict(fields)
    signer = {"forged": ROGUE, "next": NEXT}.get(f.pop("key", ""), AUTH)
    f = json.loads(json.dumps(f))  # tuples as lists, as the runtimes read them
    return {"fields": f, "hex": P.encode(f, signer).hex()}


def main() -> None:
    for name, (desc, tokens, make_steps) in VECTORS.items():
        epoch(T0 + 100)
        steps = make_steps()
        vec = {"name": name, "description": desc, "device_id": DEV, "master_hex": MASTER,
               "authority": [AUTH.public.hex()],
               "tokens": {n: signed(f) for n, f in tokens.items()}, "steps": steps}
        (OUT / f"core_{name}.json").write_text(json.dumps(vec, indent=1) + "\n")
        print("wrote", OUT / f"core_{name}.json")


if __name__ == "__main__":
    main()
