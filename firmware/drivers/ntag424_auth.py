# NXP NTAG 424 DNA AuthenticateEV2First and the secure-messaging session it opens, for
# firmware/drivers/ntag424.py's RfidReader (which imports this module for each card with
# a key; see there for the protocol and the references).

from firmware.drivers._ticks import ticks_diff
from firmware.drivers.cmac import AES_ECB, cmac, same_mac, xor
from firmware.drivers.rfid_errors import AuthError, ProtocolError, hexlify

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_AES_MODE_CBC = const(2)
_CMD_GET_CARD_UID = const(0x51)
_SV1 = const(b"\xa5\x5a\x00\x01\x00\x80")  # SesAuthENCKey label (AN12196 section 3, table 14)
_SV2 = const(b"\x5a\xa5\x00\x01\x00\x80")  # SesAuthMACKey label
ZERO_IV = bytes(16)
_NTAG_APP_AID = const(b"\xd2\x76\x00\x00\x85\x01\x01")
_SW_OK = const(b"\x90\x00")
_SW_ADDITIONAL_FRAME = const(b"\x91\xaf")
_SW_OK_DESFIRE = const(b"\x91\x00")
_SW_AUTH_ERROR = const(b"\x91\xae")


def rotl1(b):
    return bytes(b[1:]) + bytes(b[:1])


def session_keys(aes, key, rnd_a, rnd_b):
    """(SesAuthENCKey, SesAuthMACKey) after AuthenticateEV2First: CMAC(key, _SV1|_SV2 ||
    RndA[15:14] || (RndA[13:8] ^ RndB[15:10]) || RndB[9:0] || RndA[7:0])."""
    ctx = rnd_a[0:2] + xor(rnd_a[2:8], rnd_b[0:6]) + rnd_b[6:16] + rnd_a[8:16]
    return cmac(aes, key, _SV1 + ctx), cmac(aes, key, _SV2 + ctx)


def _unpad(b):
    # ISO/IEC 9797-1 padding method 2: data || 80 || 00...
    i = len(b) - 1
    while i >= 0 and b[i] == 0:
        i -= 1
    if i < 0 or b[i] != 0x80:
        raise AuthError("ntag424: bad padding in an encrypted answer")
    return bytes(b[:i])


class Session:
    """Secure messaging in the session one AuthenticateEV2First opened (EV2 mode)."""

    def __init__(self, aes, ti, enc_key, mac_key):
        self.aes = aes
        self.ti = bytes(ti)
        self.enc_key = enc_key
        self.mac_key = mac_key
        self.ctr = 0  # CmdCtr, reset by authentication, +1 per command/answer pair

    def mac_t(self, data):
        """The truncated MAC (bytes 1, 3, .., 15 of CMAC under SesAuthMACKey)."""
        m = cmac(self.aes, self.mac_key, data)
        return bytes([m[i] for i in range(1, 16, 2)])

    def _ctr(self):
        return bytes((self.ctr & 0xFF, self.ctr >> 8))

    def command(self, reader, cmd, header=b""):
        """Send cmd || header (header: any bytes already in their CommMode form) with its
        MAC; check the answer's MAC; return the answer's (still encrypted) data."""
        mac = self.mac_t(bytes((cmd,)) + self._ctr() + self.ti + header)
        ans = reader.exchange_apdu(bytes((0x90, cmd, 0, 0, len(header) + 8)) + header + mac
                                   + b"\x00")
        if ans[-2:] != _SW_OK_DESFIRE or len(ans) < 10:
            raise AuthError("ntag424: command 0x%02x answered %s" % (cmd, hexlify(ans[-2:])))
        self.ctr += 1
        body = bytes(ans[:-10])
        if not same_mac(self.mac_t(b"\x00" + self._ctr() + self.ti + body), ans[-10:-2]):
            raise AuthError("ntag424: answer to 0x%02x has a wrong MAC" % cmd)
        return body

    def decrypt(self, body):
        """Decrypt an answer's data: CBC under SesAuthENCKey, IV = E(5A A5 || TI || CmdCtr
        || 0^8), padding removed."""
        if not body or len(body) % 16:
            raise AuthError("ntag424: encrypted answer of %d bytes" % len(body))
        return _unpad(self.aes(self.enc_key, _AES_MODE_CBC, self.iv(b"\x5a\xa5")).decrypt(body))

    def iv(self, label):
        """E(SesAuthENCKey, label || TI || CmdCtr || 0^8): label A5 5A for command data,
        5A A5 for answers."""
        return self.aes(self.enc_key, AES_ECB).encrypt(label + self.ti + self._ctr() + bytes(8))

    def card_uid(self, reader):
        """GetCardUID in CommMode.Full -> the UID the card keeps (7 bytes)."""
        uid = self.decrypt(self.command(reader, _CMD_GET_CARD_UID))
        if len(uid) not in (4, 7, 10):
            raise AuthError("ntag424: GetCardUID gave %d bytes" % len(uid))
        return uid


class EV2First:
    """AuthenticateEV2First against one key slot.

    aes: factory(key, mode, iv) -> cipher; random: callable(n) -> n random bytes (both
    given: RfidReader resolves the defaults)."""

    def __init__(self, aes, random):
        self.aes = aes
        self.random = random

    def _enc(self, key, data):
        return self.aes(key, _AES_MODE_CBC, ZERO_IV).encrypt(data)

    def _dec(self, key, data):
        return self.aes(key, _AES_MODE_CBC, ZERO_IV).decrypt(data)

    def authenticate(self, reader, key, key_no=0):
        """Run both parts on an ISO-DEP-activated card -> (Session, rtt_us of part 2).

        Raises AuthError when the card rejects our proof or fails to prove its own."""
        sel = reader.exchange_apdu(b"\x00\xa4\x04\x0c\x07" + _NTAG_APP_AID + b"\x00")
        if sel[-2:] != _SW_OK:
            raise ProtocolError("ntag424: select application answered %s" % hexlify(sel[-2:]))
        ans = reader.exchange_apdu(bytes((0x90, 0x71, 0x00, 0x00, 0x02, key_no, 0x00, 0x00)))
        if ans[-2:] != _SW_ADDITIONAL_FRAME or len(ans) != 18:
            raise AuthError("ntag424: part 1 answered %s" % hexlify(ans[-2:]))
        rnd_b = self._dec(key, ans[:16])
        rnd_a = bytes(self.random(16))
        token = self._enc(key, rnd_a + rotl1(rnd_b))
        t0 = reader.ticks_us()
        ans = reader.exchange_apdu(b"\x90\xaf\x00\x00\x20" + token + b"\x00")
        rtt = ticks_diff(reader.ticks_us(), t0)
        if ans[-2:] == _SW_AUTH_ERROR:
            raise AuthError("ntag424: card rejected our key (91 ae)")
        if ans[-2:] != _SW_OK_DESFIRE or len(ans) != 34:
            raise AuthError("ntag424: part 2 answered %s" % hexlify(ans[-2:]))
        plain = self._dec(key, ans[:32])
        if plain[4:20] != rotl1(rnd_a):
            raise AuthError("ntag424: card failed to prove the key (RndA' mismatch)")
        enc, mac = session_keys(self.aes, key, rnd_a, rnd_b)
        return Session(self.aes, plain[:4], enc, mac), rtt
