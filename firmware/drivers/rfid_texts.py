# The wording of the RFID drivers' failures (firmware/drivers/mfrc522.py, ntag424.py), by
# a short key: imported when one is raised (rfid_errors.error) and freed again by the
# port (firmware/ports/esp32/trim.py), so the texts stay off the resident heap. The
# answer of every poll without a card (NoCardError) keeps its text in mfrc522.py.
# MicroPython and CPython.

TEXTS = {
    "reset": "mfrc522: soft reset did not complete in 50 ms",
    "version": "mfrc522: VersionReg reads 0x%02x, check SPI wiring",
    "crc_unit": "mfrc522: CRC coprocessor gave no result",
    "collision": "rfid: collision (CollReg 0x%02x)",
    "no_irq": "mfrc522: no interrupt after %d us (ComIrqReg 0x%02x)",
    "crc_chip": "rfid: chip reports CRC error",
    "error_reg": "rfid: chip ErrorReg 0x%02x",
    "empty": "rfid: empty answer",
    "short": "rfid: answer too short (%d bytes, %d bits)",
    "crc_a": "rfid: CRC_A mismatch in %d-byte answer",
    "atqa": "rfid: ATQA is %d bytes, %d bits, expected 2 bytes",
    "anticoll": "rfid: anticollision answer is %d bytes, expected 5",
    "bcc": "rfid: BCC mismatch at cascade level %d",
    "sak": "rfid: SAK is %d bytes, expected 1",
    "cascade": "rfid: cascade bit set without cascade tag",
    "uid_long": "rfid: UID longer than 3 cascade levels",
    "no_aes": "ntag424: no AES (cryptolib missing); pass aes=factory",
    "no_random": "ntag424: no random source; pass random=callable",
    "not_iso": "ntag424: card %s does not speak ISO 14443-4 (SAK 0x%02x)",
    "uid_swap": "ntag424: card keeps UID %s but showed %s at anticollision",
}
