# ISO/IEC 14443-4 (ISO-DEP) block exchange over firmware/drivers/mfrc522.py's MFRC522:
# RATS, I-blocks (no CID, no NAD, no chaining), S(WTX), S(DESELECT). Used only for cards
# that speak it (the NTAG 424 challenge): the MFRC522 methods rats / exchange_apdu /
# deselect import this module, and the port frees it after the read (trim.TRANSIENT).
# The block number and the card's FWT live on the MFRC522 (m._block, m.fwt_us).
#
# ISO/IEC 14443-4 section 7.2: the card's frame waiting time FWT = (256 x 16 / fc) x
# 2^FWI, FWI from the ATS (TB(1) high nibble; 4 when absent or 15, RFU), so FWI 7
# (NTAG 424 DNA) is 38.7 ms and FWI 14 is 4.95 s. The reader adds
# delta FWT = 49152 / fc (3.6 ms, as NXP's reader library does). S(WTX) multiplies FWT
# by WTXM (1-59) for the one answer that follows, at most to FWT(14).

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

from firmware.drivers.rfid_errors import ProtocolError, RfidError

FWI_DEFAULT = const(4)
DELTA_FWT_US = const(3625)
_PICC_RATS = const(0xE0)


def deselect(m):
    """S(DESELECT) for an ISO-DEP card: it goes to HALT. Silence is tolerated."""
    try:
        m.transceive_crc(b"\xc2")
    except RfidError:
        return False
    return True


def rats(m, fsdi=5):
    """RATS with FSDI (5 -> 64-byte frames) and CID 0 -> ATS bytes. From then on the
    receive timer waits the card's frame waiting time (ats_fwi, fwt_us)."""
    ats = m.transceive_crc(bytes((_PICC_RATS, (fsdi << 4) & 0xF0)))
    if ats[0] != len(ats):
        raise ProtocolError("rfid: ATS length byte %d but %d bytes" % (ats[0], len(ats)))
    m._block = 0
    m.fwt_us = fwt_us(ats_fwi(ats)) + DELTA_FWT_US
    m.set_timeout(m.fwt_us)
    return ats


def exchange_apdu(m, apdu):
    """Send an APDU in one I-block, return the answer's INF field. Answers S(WTX)."""
    pcb = 0x02 | m._block
    ans = m.transceive_crc(bytes((pcb,)) + bytes(apdu))
    for _ in range(8):
        if ans[0] & 0xF7 == 0xF2 and len(ans) == 2:         # S(WTX): echo it
            ans = _wtx(m, ans)
            continue
        break
    if ans[0] & 0xE2 != 0x02 or ans[0] & 0x01 != m._block:
        raise ProtocolError("rfid: unexpected PCB 0x%02x" % ans[0])
    if ans[0] & 0x10:
        raise ProtocolError("rfid: chained answers are not supported")
    m._block ^= 1
    return ans[1:]


def _wtx(m, req):
    """Echo S(WTX) and wait FWT x WTXM for the answer, then the FWT again."""
    wtxm = req[1] & 0x3F
    if wtxm < 1 or wtxm > 59:
        raise ProtocolError("rfid: S(WTX) with WTXM %d (1-59)" % wtxm)
    fwt = m.fwt_us if m.fwt_us is not None else m.timeout_us
    m.set_timeout(min((fwt - DELTA_FWT_US) * wtxm, fwt_us(14)) + DELTA_FWT_US)
    try:
        return m.transceive_crc(req)
    finally:
        m.set_timeout(fwt)


def fwt_us(fwi):
    """ISO/IEC 14443-4 frame waiting time (256 x 16 / fc) x 2^FWI, in us rounded up."""
    return ((4096 << fwi) * 100 + 1355) // 1356            # fc = 13.56 MHz = 1356 / 100 us


def ats_fwi(ats):
    """FWI from an ATS (TL T0 [TA] [TB] [TC] ...): TB(1) high nibble, else the default."""
    if len(ats) < 2 or not ats[1] & 0x20:
        return FWI_DEFAULT
    i = 3 if ats[1] & 0x10 else 2
    if i >= len(ats):
        raise ProtocolError("rfid: ATS announces TB(1) but has %d bytes" % len(ats))
    fwi = ats[i] >> 4
    return FWI_DEFAULT if fwi == 15 else fwi
