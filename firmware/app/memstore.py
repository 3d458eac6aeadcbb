# MemStore: the interface of firmware/app/store.py's FileStore in RAM, for tests and the
# simulator (nothing survives the object). A lock never imports it.

from firmware.app.store_format import CAPACITY, Ring, rec_seq


class MemStore(Ring):
    """The same interface in RAM (tests, simulator): nothing survives the object."""

    def __init__(self, capacity=CAPACITY, identity=None):
        Ring.__init__(self, capacity)
        self.problems = []
        self.blob = None
        self.permits = [None, None]  # type: list[bytes | None]
        self.records = {}
        self.identity = identity

    def load_state(self):
        return self.blob

    def save_state(self, blob):
        self.blob = bytes(blob)

    def save_permit(self, slot, token):
        self.permits[slot] = bytes(token)

    def load_permits(self):
        return (self.permits[0], self.permits[1])

    def append_audit(self, rec):
        seq = rec_seq(rec)
        self.records[seq] = bytes(rec)
        self.records.pop(seq - self.capacity, None)
        self.tail = (seq, bytes(rec[len(rec) - 32:]))

    def read_audit(self, from_seq, count):
        s = from_seq if from_seq > self.first_seq() else self.first_seq()
        out = []
        while s <= self.last_seq() and len(out) < count:
            r = self.records.get(s)
            if r is None:
                if out:
                    break
            else:
                out.append(r)
            s += 1
        return out

    def ack_audit(self, upto_seq):
        upto = upto_seq if upto_seq < self.last_seq() else self.last_seq()
        if upto > self.ack:
            self.ack = upto
        return self.ack

    def load_identity(self):
        return self.identity
