# The wording of the RFID drivers' failures (firmware/drivers/mfrc522.py, ntag424.py), by
# index: each caller names the ones it raises with private _T_<NAME> consts (no names on
# the device), the comment of each entry names it and tests/test_error_texts.py checks
# the callers' numbers against those names. Imported when one is raised
# (rfid_errors.error) and freed again by the port (firmware/ports/esp32/trim.py), so the
# texts stay off the resident heap. The answer of every poll without a card
# (NoCardError) keeps its text in mfrc522.py. MicroPython and CPython.

TEXTS = (
    "mfrc522: soft reset did not complete in 50 ms",  # 0 reset
    "mfrc522: VersionReg reads 0x%02x, check SPI wiring",  # 1 version
    "mfrc522: CRC coprocessor gave no result",  # 2 crc_unit
    "rfid: collision (CollReg 0x%02x)",  # 3 collision
    "mfrc522: no interrupt after %d us (ComIrqReg 0x%02x)",  # 4 no_irq
    "rfid: chip reports CRC error",  # 5 crc_chip
    "rfid: chip ErrorReg 0x%02x",  # 6 error_reg
    "rfid: empty answer",  # 7 empty
    "rfid: answer too short (%d bytes, %d bits)",  # 8 short
    "rfid: CRC_A mismatch in %d-byte answer",  # 9 crc_a
    "rfid: ATQA is %d bytes, %d bits, expected 2 bytes",  # 10 atqa
    "rfid: anticollision answer is %d bytes, expected 5",  # 11 anticoll
    "rfid: BCC mismatch at cascade level %d",  # 12 bcc
    "rfid: SAK is %d bytes, expected 1",  # 13 sak
    "rfid: cascade bit set without cascade tag",  # 14 cascade
    "rfid: UID longer than 3 cascade levels",  # 15 uid_long
    "ntag424: no AES (cryptolib missing); pass aes=factory",  # 16 no_aes
    "ntag424: no random source; pass random=callable",  # 17 no_random
    "ntag424: card %s does not speak ISO 14443-4 (SAK 0x%02x)",  # 18 not_iso
    "ntag424: card keeps UID %s but showed %s at anticollision",  # 19 uid_swap
)
