# Dev builds: the app watches the console for mpremote's interrupt (firmware/ports/esp32/
# loop.py's header says why "\r\x03" at the start of a chunk cannot start a frame).
# Production builds never load this module.

IDLE_MS = 500           # a quiet line ends any partial chunk


class ReplEscape:
    """Dev mode: spot "\\r\\x03" at the start of a chunk (mpremote's interrupt)."""

    def __init__(self):
        self.pos = 0
        self.cr = False
        self.last = None

    def scan(self, data, now_ms):
        if self.last is not None and now_ms - self.last >= IDLE_MS:
            self.pos = 0
        self.last = now_ms
        for b in data:
            if b == 0:
                self.pos = 0
                continue
            if self.pos == 0:
                self.cr = b == 0x0D
            elif self.pos == 1 and self.cr and b == 0x03:
                return True
            self.pos += 1
        return False
