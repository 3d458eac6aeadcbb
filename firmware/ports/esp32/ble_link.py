# A pump between firmware/ports/esp32/ble.py's NusService and a Device, for programs
# other than the app (tests, a rig's own loop): loop.py does the same itself.

class BleDeviceLink:
    """Pumps bytes between a NusService and a device (feed/tick -> bytes out)."""

    def __init__(self, service, device, now_ms, rtc_s, link=1):
        self.svc = service
        self.device = device
        self.now_ms = now_ms     # callables: monotonic ms, RTC UTC seconds
        self.rtc_s = rtc_s
        self.link = link         # Device.feed link number: its own frame decoder

    def poll(self):
        """One step: feed what the central wrote (or tick) and notify the answer."""
        data = self.svc.take()
        t = self.now_ms()
        if data:
            out = self.device.feed(data, t, self.rtc_s(), self.link)
        else:
            out = self.device.tick(t, self.rtc_s())
        if out:
            self.svc.send(out)
        elif self.svc.tx:
            self.svc.flush()

    async def run(self, period_ms=10):
        """Poll forever (the port's main loop task)."""
        import asyncio
        while True:
            self.poll()
            await asyncio.sleep_ms(period_ms)
