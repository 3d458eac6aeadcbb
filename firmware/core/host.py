# The one carrier of the core's actions (events.py). Every host (the device app, the
# simulator, the trace runner, the walkthrough) extends Host and overrides the methods for
# what it can do; nothing else interprets action tuples.
#
#     host = MyHost(LockController(device_id, key, config))
#     actions = host.handle(event, mono_ms, rtc_s)   # the core's actions, carried out
#
# rtc_s is the board's raw RTC reading; Host adds `rtc_offset` (what SET_RTC moved the
# clock by, when the host keeps the correction itself) before the core sees it.

from firmware.core import events as E

# the frequent action kinds, bound once (the rare ones are looked up when reached)
_AUDIT, _PERSIST, _WAKE, _ACTUATE, _ANSWER, _INDICATE = (
    E.AUDIT, E.PERSIST, E.WAKE, E.ACTUATE, E.ANSWER, E.INDICATE)


class Host:
    """Runs a LockController and dispatches each action to an overridable method.

    `locked` is the last ACTUATE command; `wake_at` the core's pending WAKE (None: nothing
    due). Overrides need not call the base methods except `wake` and `set_rtc`, whose
    defaults keep `wake_at` and `rtc_offset`."""

    def __init__(self, ctl):
        self.ctl = ctl
        self.locked = True
        self.wake_at = None
        self.rtc_offset = 0

    def handle(self, ev, mono_ms, rtc_s):
        """Feed one event to the core and carry out its actions; returns them."""
        acts = self.ctl.handle(ev, mono_ms, rtc_s + self.rtc_offset)
        self.carry(acts, mono_ms, rtc_s)
        return acts

    def accept_counter(self, counter, mono_ms, rtc_s):
        """The core's acceptance of a sealed-command counter, carried out; True when the
        core accepted it (its RESULT, if refused, went to result())."""
        acts = self.ctl.accept_counter(counter)
        self.carry(acts, mono_ms, rtc_s)
        for a in acts:
            if a[0] == E.RESULT and not a[1]:
                return False
        return True

    def carry(self, acts, mono_ms, rtc_s):
        """Dispatch each action of `acts` (from the core) in order."""
        for a in acts:
            k = a[0]
            if k == _AUDIT:  # the most frequent kinds first
                self.audit(a[1])
            elif k == _PERSIST:
                self.persist(a[1])
            elif k == _WAKE:
                self.wake(a[1])
            elif k == _ACTUATE:
                self.locked = a[1]
                self.actuate(a[1], a[2], mono_ms)
            elif k == _ANSWER:
                self.answer(a[1], a[2])
            elif k == _INDICATE:
                self.indicate(a[1])
            elif k == E.SET_RTC:
                self.set_rtc(a[1], rtc_s)
            elif k == E.RESULT:
                self.result(a[1], a[2])
            elif k == E.SAVE_PERMIT:
                self.save_permit(a[1], a[2])

    # -- what a host does with each action (override) ---------------------------------
    def actuate(self, locked, reason, mono_ms):
        """Drive the bolt now (`reason` as in the audit record)."""

    def persist(self, blob):
        """Write the state record (before acting on anything that follows)."""

    def save_permit(self, slot, token):
        """Write the permit token to slot `slot` (0 or 1), before the PERSIST that follows
        (a failed write raises: nothing after it is carried)."""

    def audit(self, record):
        """Append one audit record."""

    def answer(self, at_ms, ok):
        """Signal a credential answer at `at_ms` (equal-time answers)."""

    def wake(self, at_ms):
        """Run the core's TICK no later than `at_ms`; None cancels the earlier WAKE."""
        self.wake_at = at_ms

    def indicate(self, what):
        """Show an indication (LED, buzzer)."""

    def set_rtc(self, utc_s, rtc_s):
        """The board RTC should read `utc_s` now (`rtc_s` is its raw reading). Default:
        keep the correction as an offset added to later readings."""
        self.rtc_offset = utc_s - rtc_s

    def result(self, ok, message):
        """Outcome of a PERMIT token or a counter, for the host to report back."""
