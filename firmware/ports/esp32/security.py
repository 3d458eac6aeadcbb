# The chip's security state, read from its eFuse and chip-revision registers through
# machine.mem32 (the driver observes; firmware/core/platform.py classifies):
#
#     facts = read_state(machine.mem32, "esp32" | "esp32s3")
#
# Addresses and bits, ESP32: ESP32 Technical Reference Manual, chapter "eFuse Controller"
# (Table "System Parameters" and the register summary: EFUSE_BLK0_RDATAn_REG at
# 0x3FF5A000 + 4n, EFUSE_BLK3_RDATA0_REG at 0x3FF5A078) and chapter "DPort/APB register"
# APB_CTRL_DATE_REG (0x3FF6607C, bit 31: the third chip-revision bit, ESP32 ECO V3
# user guide). ESP32-S3: ESP32-S3 Technical Reference Manual, chapter "eFuse Controller"
# (Table "Parameters in BLOCK0", EFUSE_RD_WR_DIS_REG at 0x6000702C, EFUSE_RD_REPEAT_DATAn_REG
# at 0x60007030 + 4n, BLOCK1 EFUSE_RD_MAC_SPI_SYS_n_REG at 0x60007044 + 4n). The same
# word/bit positions are in ESP-IDF components/efuse/<chip>/esp_efuse_table.csv and in
# esptool's espefuse field definitions (espefuse/efuse_defs/<chip>.yaml, "rloc"), which
# the tests use to build their register images.
#
# Register map as (name, address, shift, mask); a field's value is (word >> shift) & mask.
# _fields gives the values in map order; the code below reads them by private consts
# named after the fields (_E_* for the ESP32 map, _S_* for the ESP32-S3 one: no names on
# the device; tests/test_platform_security.py checks each against the map). The names
# stay in the maps for the host (hardware/harden.py reads the same fields by name).

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_ESP32 = const((
    ("wr_dis", 0x3FF5A000, 0, 0xFFFF),          # EFUSE_BLK0_RDATA0_REG[15:0] WR_DIS
    ("crypt_cnt", 0x3FF5A000, 20, 0x7F),        # [26:20] FLASH_CRYPT_CNT
    ("uart_dl_dis", 0x3FF5A000, 27, 1),         # [27] UART_DOWNLOAD_DIS (rev >= 3)
    ("rev1", 0x3FF5A00C, 15, 1),                # EFUSE_BLK0_RDATA3_REG[15] CHIP_VER_REV1
    ("rev2", 0x3FF5A014, 20, 1),                # EFUSE_BLK0_RDATA5_REG[20] CHIP_VER_REV2
    ("minor", 0x3FF5A014, 24, 3),               # [25:24] WAFER_VERSION_MINOR
    ("abs_done_1", 0x3FF5A018, 5, 1),           # EFUSE_BLK0_RDATA6_REG[5] ABS_DONE_1 (SBV2)
    ("jtag_dis", 0x3FF5A018, 6, 1),             # [6] JTAG_DISABLE
    ("dl_enc_dis", 0x3FF5A018, 7, 1),           # [7] DISABLE_DL_ENCRYPT
    ("dl_dec_dis", 0x3FF5A018, 8, 1),           # [8] DISABLE_DL_DECRYPT
    ("dl_cache_dis", 0x3FF5A018, 9, 1),         # [9] DISABLE_DL_CACHE
    ("secure_version", 0x3FF5A088, 0, 0xFFFFFFFF),  # EFUSE_BLK3_RDATA4_REG SECURE_VERSION
    ("rev3", 0x3FF6607C, 31, 1),                # APB_CTRL_DATE_REG[31]
))
_E_WR_DIS = const(0)
_E_CRYPT_CNT = const(1)
_E_UART_DL_DIS = const(2)
_E_REV1 = const(3)
_E_REV2 = const(4)
_E_MINOR = const(5)
_E_ABS_DONE_1 = const(6)
_E_JTAG_DIS = const(7)
_E_DL_ENC_DIS = const(8)
_E_DL_DEC_DIS = const(9)
_E_DL_CACHE_DIS = const(10)
_E_SECURE_VERSION = const(11)
_E_REV3 = const(12)
_ESP32_WR_DIS_CRYPT_CNT = const(1 << 2)         # WR_DIS bit 2 protects FLASH_CRYPT_CNT

_ESP32S3 = const((
    ("wr_dis", 0x6000702C, 0, 0xFFFFFFFF),      # EFUSE_RD_WR_DIS_REG WR_DIS
    ("dl_icache_dis", 0x60007030, 10, 1),       # RD_REPEAT_DATA0[10] DIS_DOWNLOAD_ICACHE
    ("dl_dcache_dis", 0x60007030, 11, 1),       # [11] DIS_DOWNLOAD_DCACHE
    ("pad_jtag_dis", 0x60007030, 19, 1),        # [19] DIS_PAD_JTAG
    ("dl_enc_dis", 0x60007030, 20, 1),          # [20] DIS_DOWNLOAD_MANUAL_ENCRYPT
    ("crypt_cnt", 0x60007034, 18, 7),           # RD_REPEAT_DATA1[20:18] SPI_BOOT_CRYPT_CNT
    ("sb_en", 0x60007038, 20, 1),               # EFUSE_RD_REPEAT_DATA2_REG[20] SECURE_BOOT_EN
    ("usb_jtag_dis", 0x60007038, 22, 1),        # [22] DIS_USB_JTAG
    ("dl_dis", 0x6000703C, 0, 1),               # EFUSE_RD_REPEAT_DATA3_REG[0] DIS_DOWNLOAD_MODE
    ("sec_dl", 0x6000703C, 5, 1),               # [5] ENABLE_SECURITY_DOWNLOAD
    ("secure_version", 0x6000703C, 14, 0xFFFF),  # [29:14] SECURE_VERSION
    ("minor_lo", 0x60007050, 18, 7),            # BLOCK1 word 3 [20:18] WAFER_VERSION_MINOR_LO
    ("minor_hi", 0x60007058, 23, 1),            # BLOCK1 word 5 [23] WAFER_VERSION_MINOR_HI
    ("major", 0x60007058, 24, 3),               # BLOCK1 word 5 [25:24] WAFER_VERSION_MAJOR
))
_S_WR_DIS = const(0)
_S_DL_ICACHE_DIS = const(1)
_S_DL_DCACHE_DIS = const(2)
_S_PAD_JTAG_DIS = const(3)
_S_DL_ENC_DIS = const(4)
_S_CRYPT_CNT = const(5)
_S_SB_EN = const(6)
_S_USB_JTAG_DIS = const(7)
_S_DL_DIS = const(8)
_S_SEC_DL = const(9)
_S_SECURE_VERSION = const(10)
_S_MINOR_LO = const(11)
_S_MINOR_HI = const(12)
_S_MAJOR = const(13)
_S3_WR_DIS_CRYPT_CNT = const(1 << 4)            # WR_DIS bit 4 protects SPI_BOOT_CRYPT_CNT

MAPS = {"esp32": _ESP32, "esp32s3": _ESP32S3}


def bits(n):
    """Number of bits set in n (eFuse counters are thermometer codes)."""
    return bin(n).count("1")


def _fields(mem32, regmap):
    words = {}
    out = []
    for _name, addr, shift, mask in regmap:
        if addr not in words:
            words[addr] = mem32[addr] & 0xFFFFFFFF
        out.append((words[addr] >> shift) & mask)
    return out


def _esp32(f):
    major = {0: 0, 1: 1, 3: 2, 7: 3}.get(f[_E_REV1] | f[_E_REV2] << 1 | f[_E_REV3] << 2, 0)
    cnt = f[_E_CRYPT_CNT]
    return {
        "rev": major * 100 + f[_E_MINOR],
        "secure_boot": f[_E_ABS_DONE_1] == 1,
        "flash_enc": bits(cnt) % 2 == 1,
        "flash_enc_locked": bool(f[_E_WR_DIS] & _ESP32_WR_DIS_CRYPT_CNT) or cnt == 0x7F,
        "dl_crypt_off": f[_E_DL_ENC_DIS] == f[_E_DL_DEC_DIS] == f[_E_DL_CACHE_DIS] == 1,
        "jtag_off": f[_E_JTAG_DIS] == 1,
        "download": "off" if f[_E_UART_DL_DIS] else "on",
        "secure_version": bits(f[_E_SECURE_VERSION]),
    }


def _esp32s3(f):
    cnt = f[_S_CRYPT_CNT]
    return {
        "rev": f[_S_MAJOR] * 100 + (f[_S_MINOR_HI] << 3 | f[_S_MINOR_LO]),
        "secure_boot": f[_S_SB_EN] == 1,
        "flash_enc": bits(cnt) % 2 == 1,
        "flash_enc_locked": bool(f[_S_WR_DIS] & _S3_WR_DIS_CRYPT_CNT) or cnt == 7,
        "dl_crypt_off": f[_S_DL_ENC_DIS] == f[_S_DL_ICACHE_DIS] == f[_S_DL_DCACHE_DIS] == 1,
        "jtag_off": f[_S_PAD_JTAG_DIS] == f[_S_USB_JTAG_DIS] == 1,
        "download": "off" if f[_S_DL_DIS] else ("secure" if f[_S_SEC_DL] else "on"),
        "secure_version": bits(f[_S_SECURE_VERSION]),
    }


def judge(chip, f):
    """The facts from raw field values `f`, in the order of the chip's map (MAPS)."""
    facts = _esp32(f) if chip == "esp32" else _esp32s3(f)
    facts["chip"] = chip
    facts["readable"] = True
    return facts


def read_state(mem32, chip):
    """The facts firmware/core/platform.py judges; {"chip", "readable": False} when the
    chip is unknown or its registers cannot be read (no mem32: not an ESP32)."""
    regmap = MAPS.get(chip)
    if regmap is None or mem32 is None:
        return {"chip": chip, "readable": False}
    try:
        f = _fields(mem32, regmap)
    except Exception:  # a bus error must not stop the boot: unreadable = not hardened
        return {"chip": chip, "readable": False}
    return judge(chip, f)


def check(machine, chip, mode, waiver=None):
    """The boot hook: (trusted, audit_detail). trusted is False when a build that must
    check (every build but dev) runs on a board the core does not call hardened."""
    from firmware.core import platform
    if not platform.must_check(mode):
        return True, ""
    ok, reasons = platform.hardened(read_state(getattr(machine, "mem32", None), chip), waiver)
    return ok, platform.audit_detail(reasons, waiver)
