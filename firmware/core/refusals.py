# Refusals that nobody authenticated (malformed or forged tokens, sealed commands that
# do not verify, replayed counters) must not push authenticated history out of the
# audit ring (protocols/SPEC.md, "Refusals of unauthenticated input"). Per source
# ("permit", "command") the first refusal opens a window and is audited; the ones after
# it inside the window are only counted. When a window with counted refusals ends, one
# record gives their number and the last reason, and the next window is twice as long
# (up to the cap): a flood writes O(log) records, then one per cap, whatever its rate.
# A quiet window returns the source to the base width. Windows run on the monotonic
# clock; a reboot starts afresh (and writes its own boot record).


class Refusals:
    """Per-source windows. admit() says whether a refusal is audited now; due() gives
    the summaries of windows that have ended."""

    def __init__(self, base_s, cap_s):
        self.base = base_s * 1000
        self.cap = cap_s * 1000
        self.windows = {}  # source -> [window end ms, width ms, counted, last reason]:
        # empty when no window is open (the controller checks that on every event)

    def admit(self, source, now_ms, why):
        """True: audit this refusal now (it opens a window). False: counted only.
        Call due() first, so that an ended window is summarised before."""
        w = self.windows.get(source)
        if w is None or now_ms >= w[0]:
            width = self.base if w is None else w[1]
            self.windows[source] = [now_ms + width, width, 0, why]
            return True
        w[2] += 1
        w[3] = why
        return False

    def due(self, now_ms):
        """[(source, counted, window_s, last reason)] of ended windows with counted
        refusals; each such window is followed by one twice as long."""
        out = []
        for source in list(self.windows):
            w = self.windows[source]
            if now_ms < w[0]:
                continue
            if not w[2]:
                del self.windows[source]
                continue
            out.append((source, w[2], w[1] // 1000, w[3]))
            width = min(w[1] * 2, self.cap) if self.cap else w[1] * 2
            self.windows[source] = [now_ms + width, width, 0, w[3]]
        return out

    def pending(self):
        """Refusals counted in open windows, per source (for status)."""
        return dict([(s, self.windows[s][2]) for s in self.windows if self.windows[s][2]])
