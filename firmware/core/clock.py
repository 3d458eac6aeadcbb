# Trusted time: the board RTC, corrected by GNSS time, checked against the
# persisted time floor (rollback) and the RTC/GNSS skew bound.


class Clock:
    """Keeps `corr` (seconds added to the RTC: the best estimate of UTC is rtc_s + corr)
    and whether time can be trusted."""

    def __init__(self, skew_max_s, resync_fixes):
        self.skew_max = skew_max_s
        self.resync_need = resync_fixes
        self.corr = 0
        self.floor = 0
        self.skewed = False
        self._ref = None      # utc_ms - mono_ms of the last skewed GNSS time
        self._consistent = 0

    def trusted(self, rtc_s):
        """True when time is not behind the floor (beyond the skew a GNSS correction may
        take back) and GNSS does not contradict it."""
        return not self.skewed and rtc_s + self.corr >= self.floor - self.skew_max

    def gnss_time(self, utc_s, mono_ms, rtc_s):
        """Take GNSS time from a plausible fix.

        Returns None, or (change, skew) when the trust state changed: change 0 trusted
        again, 1 resync (the RTC is to read utc_s now), 2 untrusted (admin.time words
        the audit: rare).
        """
        skew = utc_s - (rtc_s + self.corr)
        if -self.skew_max <= skew <= self.skew_max:
            self.corr += skew
            self._consistent = 0
            if self.skewed:
                self.skewed = False
                return (0, skew)
            return None
        ref = utc_s * 1000 - mono_ms
        if self._ref is not None and -2000 <= ref - self._ref <= 2000:
            self._consistent += 1
        else:
            self._consistent = 1
        self._ref = ref
        if self._consistent >= self.resync_need and utc_s >= self.floor:
            self.corr = 0  # the controller emits SET_RTC: the RTC itself now reads utc_s
            self.skewed = False
            self._consistent = 0
            return (1, skew)
        if not self.skewed:
            self.skewed = True
            return (2, skew)
        return None

    def advance_floor(self, rtc_s, interval_s):
        """Raise the floor to now when trusted and `interval_s` has passed; True if raised."""
        now = rtc_s + self.corr
        if self.trusted(rtc_s) and now - self.floor >= interval_s:
            self.floor = now
            return True
        return False
