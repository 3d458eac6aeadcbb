// armlock virtual board, one boot: the MicroPython VM (WebAssembly, v1.27) in a worker
// thread, started by board.mjs for every power-on, reset and soft reset (a fresh VM with
// no state left from the last one, as on a real board).
//
// board.mjs (the main thread) plays the USB bridge and the reset circuit: it owns the
// UART bytes and can interrupt or kill this worker while Python code runs. The two share
// `ctl` (Int32Array) and two rings (SharedArrayBuffer):
//   ring  UART receive buffer, written by main:     ctl[HEAD] written, ctl[TAIL] read
//   oring UART transmit buffer, written here:        ctl[OHEAD] written, ctl[OTAIL] read
//   ctl[BUSY]   1 while user code runs (REPL line, raw or raw-paste exec)
//   ctl[INTR]   set by main on Ctrl-C while BUSY; cleared here when taken
// Output is streamed byte by byte while user code runs; when the transmit ring is full
// (the host reads slowly) print() waits (backpressure, nothing dropped). The app's own
// output in app mode never blocks the lock: if the ring is full it is dropped and counted
// (a UART nobody listens to).
//
// Filesystem: "/" is the board's flash (<state-dir>/flash: main.py, boot.py, firmware/,
// lib/, anything mpremote writes) and "/storage" the app's data (<state-dir>/storage).
// Write-through after every app step, REPL chunk and before every reset or exit: files
// and directories that changed, appeared or vanished are mirrored (files written to a
// temporary name and renamed, so a kill leaves the old or the new file).
//
// App mode, dev-mode REPL, raw REPL and raw-paste: see board.mjs.

import fs from "node:fs";
import path from "node:path";
import { parentPort, threadId, workerData } from "node:worker_threads";
import { walkHost, writeAtomic } from "./hostfs.mjs";

const HEAD = 0, TAIL = 1, BUSY = 2, INTR = 3, OHEAD = 5, OTAIL = 6, BEAT = 7;
const RAW_BANNER = "raw REPL; CTRL-B to exit\r\n";
const FORCED_EXIT = 0x100;
const PASTE_WINDOW = 512;
const HELD = [Buffer.from('  File "<vb>"', "latin1"), Buffer.from("MicroPython v", "latin1")];
const SYSTEM_DIRS = new Set(["dev", "proc", "tmp", "home", "storage"]);
const MACHINE_NAME = "Generic ESP32 module with ESP32";
const RESET_CAUSES = { power_on: 1, hard: 2, crash: 3, soft: 5 };  // machine.*_RESET

const { opts, cause, raw, after, carry, ctlBuf, ringBuf, oringBuf } = workerData;
const ctl = new Int32Array(ctlBuf);
const ring = new Uint8Array(ringBuf);
const oring = new Uint8Array(oringBuf);

// Python glue run in every fresh VM (compiled as "<vb>": its frames are cut from tracebacks).
const GLUE = `
import binascii as _vb_ba, sys as _vb_rsys, gc as _vb_gc, os as _vb_os, io as _vb_io
import builtins as _vb_bi, vbio as _vb_io_js
# The WASM build raises OSError with Emscripten (WASI) errno numbers (ENOENT is 44) while
# its errno module, mpremote and an ESP32 use MicroPython's (ENOENT is 2): translate.
_VB_ERR = {63: 1, 44: 2, 29: 5, 8: 9, 6: 11, 48: 12, 2: 13, 10: 16, 20: 17, 54: 20, 31: 21,
           28: 22, 51: 28, 69: 30, 37: 36, 55: 39}
def _vb_fix(f):
    def w(*a, **k):
        try:
            return f(*a, **k)
        except OSError as e:
            n = e.args[0] if e.args else None
            if n in _VB_ERR:
                raise OSError(_VB_ERR[n])
            raise
    return w
for _vb_n in ('remove', 'chdir', 'ilistdir', 'listdir', 'mkdir', 'rename', 'rmdir', 'stat',
              'statvfs', 'unlink'):
    setattr(_vb_os, _vb_n, _vb_fix(getattr(_vb_os, _vb_n)))
_vb_bi.open = _vb_fix(_vb_bi.open)
_VB_HIDE = ('dev', 'proc', 'tmp', 'home')
_vb_ild = _vb_os.ilistdir
def _vb_ilistdir(p='.'):
    # the root lists the flash's files only, not the Emscripten runtime's own folders
    hide = p == '/' or (p in ('', '.') and _vb_os.getcwd() == '/')
    return (e for e in _vb_ild(p) if not (hide and e[0] in _VB_HIDE))
def _vb_listdir(p='.'):
    return [e[0] for e in _vb_ilistdir(p)]
_vb_os.ilistdir, _vb_os.listdir = _vb_ilistdir, _vb_listdir
from collections import namedtuple as _vb_nt
_VbUname = _vb_nt('uname_result', ('sysname', 'nodename', 'release', 'version', 'machine'))
def _vb_uname():
    v = '%d.%d.%d' % _vb_rsys.implementation.version[:3]
    return _VbUname('esp32', 'esp32', v, _vb_rsys.version.split('MicroPython ')[-1],
                    '${MACHINE_NAME}')
_vb_os.uname = _vb_uname
class _VbImpl:
    name = 'micropython'
    version = _vb_rsys.implementation.version
    _machine = '${MACHINE_NAME}'
    _mpy = _vb_rsys.implementation._mpy
    _build = 'ESP32_GENERIC'
    def __getitem__(self, i):
        return (self.name, self.version, self._machine, self._mpy)[i]
class _VbSys:
    # sys as the ESP32 build presents it; everything else is the VM's own sys
    platform = 'esp32'
    implementation = _VbImpl()
    def __getattr__(self, n):
        return getattr(_vb_rsys, n)
_vb_rsys.modules['sys'] = _VbSys()
def _vb_input(prompt=''):
    # input() reading the UART: echo, backspace, Enter ends the line, Ctrl-C interrupts
    print(prompt, end='')
    line = []
    while True:
        c = _vb_io_js.getc()
        if c < 0:
            raise KeyboardInterrupt
        if c in (13, 10):
            print()
            return bytes(line).decode()
        if c in (8, 127):
            if line:
                line.pop()
                print('\\b \\b', end='')
            continue
        if c == 4 and not line:
            raise EOFError
        line.append(c)
        print(chr(c), end='')
_vb_bi.input = _vb_input
class _VbPin:
    IN, OUT, OPEN_DRAIN = 1, 3, 7
    PULL_UP, PULL_DOWN = 1, 2
    IRQ_RISING, IRQ_FALLING = 1, 2
    def __init__(self, id, mode=-1, pull=-1, value=None):
        if not isinstance(id, int) or not 0 <= id <= 39 or id in (20, 24, 28, 29, 30, 31):
            raise ValueError('invalid pin')
        self.id, self._v, self._irq = id, 0, None
        self.init(mode, pull, value)
    def init(self, mode=-1, pull=-1, value=None):
        if mode in (self.OUT, self.OPEN_DRAIN) and 34 <= self.id <= 39:
            raise ValueError('pin can only be input')
        if value is not None:
            self._v = 1 if value else 0
        elif pull == self.PULL_UP:
            self._v = 1
    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
    __call__ = value
    def on(self):
        self._v = 1
    def off(self):
        self._v = 0
    def irq(self, handler=None, trigger=3):
        self._irq = (handler, trigger)
        return self
    def __repr__(self):
        return 'Pin(%d)' % self.id
class _VbRTC:
    def __init__(self, id=0):
        pass
    def datetime(self, dt=None):
        import time
        if dt is None:
            t = time.gmtime(_vb_io_js.rtc_s())
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        self.init(dt)
    def init(self, dt):
        import time
        _vb_io_js.set_rtc(time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0)))
    def memory(self, data=None):
        if data is None:
            return bytes(_vb_ba.unhexlify(_vb_io_js.rtc_mem_get()))
        if len(data) > 2048:
            raise ValueError('buffer too long')
        _vb_io_js.rtc_mem_set(_vb_ba.hexlify(data).decode())
class _VbMachine:
    PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
    Pin, RTC = _VbPin, _VbRTC
    _freq = 160000000
    def freq(self, hz=None):
        if hz is None:
            return self._freq
        if hz not in (20000000, 40000000, 80000000, 160000000, 240000000):
            raise ValueError('frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz')
        _VbMachine._freq = hz
    def reset_cause(self):
        return _vb_io_js.reset_cause()
    def reset(self):
        _vb_io_js.reset('hard')
        raise SystemExit
    def soft_reset(self):
        _vb_io_js.reset('soft')
        raise SystemExit
    def unique_id(self):
        return b'\\x24\\x0a\\xc4\\x00\\xa1\\x0c'
    def idle(self):
        pass
    def disable_irq(self):
        return 0
    def enable_irq(self, state=0):
        pass
_vb_rsys.modules['machine'] = _VbMachine()
_vb_os.chdir('/')
_vb_rsys.path[:] = ['', '.frozen', '/lib']
_vb_app = None
def _vb_hex(b):
    return _vb_ba.hexlify(b or b'').decode()
def _vb_wake():
    w = _vb_app.wake_ms() if hasattr(_vb_app, 'wake_ms') else None
    return -1 if w is None else int(w)
def _vb_start(now_ms, rtc_s):
    global _vb_app
    import board
    import main
    _vb_app = main
    out = main.start(board, now_ms, rtc_s) if hasattr(main, 'start') else b''
    return _vb_hex(out) + ',' + str(_vb_wake())
def _vb_step(h, now_ms, rtc_s):
    out = _vb_app.step(_vb_ba.unhexlify(h), now_ms, rtc_s)
    return _vb_hex(out) + ',' + str(_vb_wake())
def _vb_exc(e):
    s = _vb_io.StringIO()
    _vb_rsys.print_exception(e, s)
    return ''.join(l + '\\n' for l in s.getvalue().split('\\n')[:-1] if '"<vb>"' not in l)
def _vb_paste(h):
    import __main__
    try:
        code = compile(_vb_ba.unhexlify(h).decode(), '<stdin>', 'exec')
        exec(code, __main__.__dict__)
    except SystemExit:
        print('\\x04\\x04', end='')
        return 1
    except BaseException as e:
        print('\\x04' + _vb_exc(e) + '\\x04', end='')
        return 0
    print('\\x04\\x04', end='')
    return 0
def _vb_version():
    return '%d.%d.%d' % tuple(_vb_rsys.implementation.version[:3])
def _vb_heap():
    _vb_gc.collect()
    return _vb_gc.mem_alloc()
`;

function diag(msg) { parentPort.postMessage({ t: "diag", msg }); }

// ---- heap cap -----------------------------------------------------------------------

// The WASM build grows its GC heap on demand without bound (it asks the C heap for a new
// area, doubling the total, and the C heap grows the WebAssembly memory). An ESP32_GENERIC
// build starts with a smaller heap and grows by doubling until the chip's RAM is used up.
// To match: refuse to grow the WebAssembly memory, and leave free in the C heap only room
// for the growth the target allows (plus a separate slack for the C side's own small
// buffers), so the next doubling past the cap fails with MemoryError as on the chip.
// A denied growth (the cap reached: a MemoryError is on its way) is told to main, which
// watches the heartbeat (ctl[BEAT], counted by this thread's event loop): this build can
// hang inside the failing call instead of raising, and main then reports the MemoryError
// the chip would raise (board.mjs, watchOom).
let growMemory = true;
const realInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async (bin, imports) => {
  const env = imports && imports.env;
  if (env && env.emscripten_resize_heap) {
    const resize = env.emscripten_resize_heap;
    env.emscripten_resize_heap = (size) => {
      if (growMemory) return resize(size);
      parentPort.postMessage({ t: "oom", state: board ? board.state : "booting" });
      return 0;
    };
  }
  return realInstantiate(bin, imports);
};

function capHeap(mp, initialKb, maxKb) {
  const M = mp._module;
  const growth = Math.max(0, maxKb - initialKb) * 1024;
  const keep = [];
  const grow = growth ? M._malloc(growth + growth / 16 + 4096) : 0;  // + gc tables
  keep.push(M._malloc(16));
  const slack = [];  // small separate blocks: room for C buffers, too small for a GC area
  for (let i = 0; i < 16; i++) { slack.push(M._malloc(16 * 1024)); keep.push(M._malloc(16)); }
  growMemory = false;
  for (let size = 1 << 24; size >= 4096; size >>= 1) {
    for (;;) { const p = M._malloc(size); if (!p) break; keep.push(p); }
  }
  if (grow) M._free(grow);
  for (const p of slack) M._free(p);
  return keep.length;
}

// ---- the board ----------------------------------------------------------------------

class Board {
  constructor() {
    this.dirs = { "/": path.join(opts.stateDir, "flash"), "/storage": path.join(opts.stateDir, "storage") };
    this.mp = null;
    this.state = "booting";      // booting | app | repl | idle
    this.replRaw = false;         // raw REPL (tracked from what the VM prints and Ctrl-B)
    this.rawLineLen = 0;          // bytes typed on the current raw REPL line
    this.paste = null;            // raw-paste state: {stage, buf, window}
    this.out = [];                // UART output not yet posted to main
    this.line = [];               // cooked VM output of the current line (see capture)
    this.cache = new Map();       // VM path -> {mtime, size, data} last mirrored to host
    this.dirsSeen = new Set();    // VM dirs last mirrored
    this.lastSync = 0;
    this.timer = null;
    this.wakeAt = -1;
    this.bootT0 = 0;
    this.resetReq = null;         // "hard" | "soft" requested from Python (machine.*)
    this.heldIntr = null;         // timer of a lone 0x03 that may be a Ctrl-C
    this.chunkLen = 0;            // app-mode input bytes since the last 0x00
    this.nlOnly = true;           // ... all of them CR or LF
    this.recent = "";             // last 3 app-mode input bytes
    this.dropped = 0;
    this.carry = null;            // input after a reset request: for the next VM
    this.lastByte = -1;           // last VM output byte (for CR LF cooking)
    this.said = "";               // VM output since replChar started (raw REPL banner check)
    this.mute = false;            // discard VM output (REPL set up again after a reset)
  }

  nowMs() { return Math.floor(performance.now() - this.bootT0); }
  rtcS() { return Math.floor((Date.now() + opts.rtcOffsetMs) / 1000); }

  // -- output ---------------------------------------------------------------------------

  emit(bytes) { this.endLine(); for (const b of bytes) this.out.push(b); }
  emitStr(s) { this.emit(Buffer.from(s, "latin1")); }

  // VM stdout: "\n" becomes "\r\n" as MicroPython's cooked output on a real board; lines
  // of the glue's own frames are cut, the banner names the ESP32 build. While user code
  // runs every byte goes out at once (a line that may be a glue frame waits for its end).
  capture(c) {
    const busy = Atomics.load(ctl, BUSY);
    if (c === 0x0a) {
      const last = this.line.length ? this.line[this.line.length - 1] : this.lastByte;
      if (last !== 0x0d) this.line.push(0x0d);
      this.line.push(0x0a);
      this.endLine();
      if (busy) this.flushOut();
      return;
    }
    this.line.push(c);
    if (this.line.length >= 256 || (busy && !this.mayBeGlueFrame())) {
      this.endLine();
      if (busy) this.flushOut();
    }
  }

  mayBeGlueFrame() {  // a glue frame (cut) or the banner (rewritten): wait for the line end
    return HELD.some((h) => {
      const n = Math.min(this.line.length, h.length);
      for (let i = 0; i < n; i++) if (this.line[i] !== h[i]) return false;
      return true;
    });
  }

  endLine() {
    if (this.line.length === 0) return;
    let s = Buffer.from(this.line).toString("latin1");
    this.line.length = 0;
    if (s.includes('"<vb>"') || this.mute) return;
    if (s.includes("JS with Emscripten")) s = s.replace("JS with Emscripten", MACHINE_NAME);
    for (const b of Buffer.from(s, "latin1")) this.out.push(b);
    this.lastByte = s.charCodeAt(s.length - 1);
    this.said += s;
  }

  // Into the transmit ring: waits for room while user code runs, else drops.
  flushOut() {
    this.endLine();
    if (this.out.length === 0) return;
    const busy = Atomics.load(ctl, BUSY);
    let head = Atomics.load(ctl, OHEAD);
    for (let i = 0; i < this.out.length; i++) {
      while (head - Atomics.load(ctl, OTAIL) >= oring.length) {
        if (!busy) { this.drop(this.out.length - i); i = this.out.length; break; }
        Atomics.store(ctl, OHEAD, head);
        Atomics.notify(ctl, OHEAD);
        Atomics.wait(ctl, OTAIL, Atomics.load(ctl, OTAIL), 100);
      }
      if (i >= this.out.length) break;
      oring[head % oring.length] = this.out[i];
      head++;
    }
    this.out.length = 0;
    Atomics.store(ctl, OHEAD, head);
    Atomics.notify(ctl, OHEAD);
  }

  drop(n) {
    if (this.dropped === 0) diag(`warning: nobody reads the UART; output dropped`);
    this.dropped += n;
  }

  // -- input ring -------------------------------------------------------------------------

  takeRing() {
    const h = Atomics.load(ctl, HEAD), t = Atomics.load(ctl, TAIL);
    if (h === t) return null;
    const n = h - t, out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = ring[(t + i) % ring.length];
    Atomics.store(ctl, TAIL, h);
    return out;
  }

  getc() {  // blocking read of one UART byte for input(); -1 on Ctrl-C
    this.flushOut();
    for (;;) {
      if (Atomics.exchange(ctl, INTR, 0)) return -1;
      const h = Atomics.load(ctl, HEAD), t = Atomics.load(ctl, TAIL);
      if (h !== t) { Atomics.store(ctl, TAIL, t + 1); return ring[t % ring.length]; }
      Atomics.wait(ctl, HEAD, h, 100);
    }
  }

  // -- boot ---------------------------------------------------------------------------

  async boot() {
    const { loadMicroPython } = await import(vmModulePath());
    this.mp = await loadMicroPython({
      heapsize: opts.heapKb * 1024, stdout: (b) => { for (const c of b) this.capture(c); },
      stderr: (b) => { for (const c of b) this.capture(c); }, linebuffer: false,
    });
    if (opts.heapMaxKb > 0) capHeap(this.mp, opts.heapKb, opts.heapMaxKb);
    this.bootT0 = performance.now();
    this.loadFs();
    this.registerModules();
    this.mp.runPython(`exec(compile(${JSON.stringify(GLUE)}, "<vb>", "exec"))`);
    if (cause === "soft" && after !== "interrupt") { this.emitStr("MPY: soft reboot\r\n"); }
    if (after === "interrupt") {  // main printed the KeyboardInterrupt; continue in the REPL
      this.mute = true;
      this.mp.replInit();
      if (raw) this.replChar(0x01);
      this.mute = false;
      this.state = "repl";
      this.tellState();
    } else if (raw) {
      this.mute = true;  // no friendly banner when rebooting into raw REPL
      this.mp.replInit();
      this.mute = false;
      this.replChar(0x01);
      this.state = "repl";
      this.tellState();
    } else {
      this.runBootPy();
      this.startApp();
    }
    this.reportHeap();
    this.flushOut();
    parentPort.postMessage({ t: "booted", version: this.mp.globals.get("_vb_version")() });
    const queued = this.takeRing();
    if (carry && carry.length) this.input(Buffer.concat([Buffer.from(carry), queued || Buffer.alloc(0)]));
    else this.input(queued);
  }

  loadFs() {
    const FS = this.mp.FS;
    for (const d of ["/tmp", "/home/web_user", "/home"]) { try { FS.rmdir(d); } catch (e) { /* busy */ } }
    this.cache.clear();
    this.dirsSeen.clear();
    for (const [vmRoot, hostDir] of Object.entries(this.dirs)) {
      FS.mkdirTree(vmRoot);
      for (const [rel, src] of walkHost(hostDir)) {
        const p = vmRoot === "/" ? `/${rel}` : `${vmRoot}/${rel}`;
        if (src === null) { FS.mkdirTree(p); this.dirsSeen.add(p); continue; }
        const data = fs.readFileSync(src);
        FS.writeFile(p, data);
        const st = FS.stat(p);
        this.cache.set(p, { mtime: st.mtime.getTime(), size: st.size, data });
      }
    }
    this.lastSync = Date.now();
  }

  registerModules() {
    const board = this;
    const rtcMem = { hex: "" };
    this.mp.registerJsModule("board", {
      mode: opts.mode,
      runtime: "micropython",
      storage: "/storage",
      reset_cause: cause,
      heap_kb: opts.heapKb,
      set_rtc: (utcS) => board.setRtc(utcS),
      sync: () => { board.sync(); },
      log: (s) => { diag(`app: ${s}`); },
      reset: () => { board.resetReq = "hard"; },
      // time.ticks_us() of the WASM build only has millisecond resolution
      ticks_us: () => Math.floor(performance.now() * 1000) % 0x40000000,
    });
    this.mp.registerJsModule("vbio", {
      getc: () => board.getc(),
      rtc_s: () => board.rtcS(),
      set_rtc: (utcS) => board.setRtc(utcS),
      reset_cause: () => RESET_CAUSES[cause] || 1,
      reset: (kind) => { board.resetReq = kind; },
      rtc_mem_get: () => rtcMem.hex,
      rtc_mem_set: (h) => { rtcMem.hex = h; },
    });
  }

  setRtc(utcS) {
    opts.rtcOffsetMs = Number(utcS) * 1000 - Date.now();
    parentPort.postMessage({ t: "rtc", offsetMs: opts.rtcOffsetMs });
  }

  runBootPy() {
    if (!this.mp.FS.analyzePath("/boot.py").exists) return;
    try { this.mp.runPython("exec(open('/boot.py').read())"); }
    catch (e) { this.emitStr(pyErrText(e)); }
  }

  reportHeap() {
    let alloc = -1;
    try { alloc = this.mp.globals.get("_vb_heap")(); } catch (e) { /* VM unusable */ }
    diag(`booted cause=${cause} state=${this.state} vm=${threadId} heap_alloc=${alloc} heap_kb=${opts.heapKb} heap_max_kb=${opts.heapMaxKb}`);
  }

  tellState() {
    parentPort.postMessage({ t: "state", state: this.state, raw: this.replRaw });
  }

  // -- app mode -----------------------------------------------------------------------

  startApp() {
    this.chunkLen = 0;
    this.nlOnly = true;
    this.recent = "";
    try {
      const r = this.mp.globals.get("_vb_start")(this.nowMs(), this.rtcS());
      this.state = "app";
      this.tellState();
      this.afterStep(r);
    } catch (e) {
      this.appCrashed(e);
    }
  }

  step(data) {
    try {
      const r = this.mp.globals.get("_vb_step")(data.toString("hex"), this.nowMs(), this.rtcS());
      this.afterStep(r);
    } catch (e) {
      this.appCrashed(e);
    }
  }

  afterStep(r) {
    const comma = r.lastIndexOf(",");
    this.emit(Buffer.from(r.slice(0, comma), "hex"));
    this.wakeAt = parseInt(r.slice(comma + 1), 10);
    this.sync();
    if (this.resetReq) { this.doReset(); return; }
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.state !== "app") return;
    let delay = opts.tickMs;
    if (this.wakeAt >= 0) delay = Math.max(0, Math.min(delay, this.wakeAt - this.nowMs()));
    this.timer = setTimeout(() => { this.step(Buffer.alloc(0)); this.flushOut(); }, delay);
  }

  appCrashed(e) {
    clearTimeout(this.timer);
    this.emitStr(pyErrText(e));
    diag(`app stopped: ${String(e.message || e).trim().split("\n").pop()}`);
    this.sync();
    if (opts.mode === "dev") { this.enterRepl(); return; }
    this.state = "idle";
    this.tellState();
    this.flushOut();
    parentPort.postMessage({ t: "reset", kind: "crash", raw: false, delayMs: 1000 });
  }

  enterRepl() {
    clearTimeout(this.timer);
    this.state = "repl";
    this.replRaw = false;
    this.mp.replInit();
    this.tellState();
  }

  // -- input ----------------------------------------------------------------------------

  input(buf) {
    if (!buf || !buf.length) return;
    if (this.state === "booting") return;
    if (this.heldIntr) { // a lone 0x03 was followed by more bytes: it was frame data
      clearTimeout(this.heldIntr);
      this.heldIntr = null;
      if (this.state === "app") this.step(Buffer.from([0x03]));
    }
    let i = 0;
    while (i < buf.length && !this.resetReq) {
      if (this.state === "app") i = this.appInput(buf, i);
      else if (this.state === "repl") this.replChar(buf[i++]);
      else i = buf.length; // idle (production, after a crash): bytes are lost as on a resetting board
    }
    if (this.state === "repl") this.sync();
    this.flushOut();
    if (this.resetReq) {
      this.carry = i < buf.length ? Buffer.from(buf.subarray(i)) : null;
      this.doReset();
    }
  }

  // App mode. Wire frames may contain 0x03, so in dev mode a Ctrl-C interrupts the app only
  // where no frame can be: (a) 0x03 after a chunk of only CR/LF since the last 0x00
  // delimiter (mpremote sends "\r\x03"; a frame chunk never starts "\r\x03" or "\n\x03":
  // its first byte is a COBS code and a 13-byte zero-free run would start with type 0x03,
  // PING, which is 6 bytes long); (b) "\r\x03\r\x01" anywhere (mpremote entering the raw
  // REPL; then the 0x01 goes to the REPL); (c) a lone 0x03 at a chunk start followed by
  // 30 ms of silence (a person pressing Ctrl-C; a frame arrives in one piece).
  appInput(buf, i) {
    if (opts.mode !== "dev") { this.step(buf.subarray(i)); return buf.length; }
    let seg = i;
    for (; i < buf.length; i++) {
      const c = buf[i];
      if (c === 0x03 && this.chunkLen > 0 && this.nlOnly) {
        this.feedApp(buf, seg, i);
        this.interrupt();
        return i + 1;
      }
      if (c === 0x03 && this.chunkLen === 0 && i === buf.length - 1) {
        this.feedApp(buf, seg, i);
        this.track(c);
        this.heldIntr = setTimeout(() => {
          this.heldIntr = null;
          if (this.state === "app") { this.interrupt(); this.flushOut(); }
        }, 30);
        return i + 1;
      }
      if (c === 0x01 && this.recent === "\r\x03\r") {
        this.feedApp(buf, seg, i);
        this.interrupt();
        return i;
      }
      this.track(c);
    }
    this.feedApp(buf, seg, buf.length);
    return buf.length;
  }

  track(c) {
    if (c === 0) { this.chunkLen = 0; this.nlOnly = true; }
    else { this.chunkLen++; this.nlOnly = this.nlOnly && (c === 0x0d || c === 0x0a); }
    this.recent = (this.recent + String.fromCharCode(c)).slice(-3);
  }

  feedApp(buf, a, b) {
    if (b > a && this.state === "app") this.step(buf.subarray(a, b));
  }

  interrupt() {
    this.emitStr("Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n");
    this.enterRepl();
  }

  replChar(c) {
    if (this.paste) { this.pasteChar(c); return; }
    if (this.replRaw && this.rawLineLen === 0 && c === 0x05) { this.paste = { stage: 1 }; return; }
    this.endLine();
    this.said = "";
    Atomics.store(ctl, BUSY, 1);
    let rc = 0;
    try { rc = this.mp.replProcessChar(c); } finally { Atomics.store(ctl, BUSY, 0); }
    this.endLine();
    const text = this.said;
    const wasRaw = this.replRaw;
    if (text.includes(RAW_BANNER)) { this.replRaw = true; this.rawLineLen = 0; }
    else if (this.replRaw && c === 0x02) this.replRaw = false;
    else if (this.replRaw) this.rawLineLen = c <= 0x04 ? 0 : this.rawLineLen + 1;
    if (wasRaw !== this.replRaw) this.tellState();
    if (rc & FORCED_EXIT && !this.resetReq) this.resetReq = "soft";
  }

  // raw-paste protocol (MicroPython docs, "raw mode and raw-paste mode"):
  // host 05 'A' 01 -> "R\x01" + window (u16 LE); host sends code, we send 01 per window
  // consumed; host 04 -> we ack 04 at once, run the code, then "<out>\x04<err>\x04>".
  // Ctrl-C while receiving aborts it as on a real board (KeyboardInterrupt, nothing runs).
  pasteChar(c) {
    const p = this.paste;
    if (p.stage === 1 || p.stage === 2) {
      const want = p.stage === 1 ? 0x41 : 0x01;
      if (c !== want) { // not raw-paste after all: replay what we held back
        const held = p.stage === 1 ? [0x05] : [0x05, 0x41];
        this.paste = null;
        for (const h of held) this.replChar(h);
        this.replChar(c);
        return;
      }
      if (p.stage === 2) {
        this.emit([0x52, 0x01, PASTE_WINDOW & 0xff, PASTE_WINDOW >> 8]);
        this.paste = { stage: 3, buf: [], window: PASTE_WINDOW };
      } else p.stage = 2;
      return;
    }
    if (c === 0x03) {
      this.paste = null;
      this.emitStr("\x04\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04>");
      this.rawLineLen = 0;
      return;
    }
    if (c === 0x04) {
      this.emit([0x04]);
      const code = Buffer.from(p.buf).toString("hex");
      this.paste = null;
      this.flushOut();
      let rc = 0;
      Atomics.store(ctl, BUSY, 1);
      parentPort.postMessage({ t: "state", state: "exec", raw: true });
      try { rc = this.mp.globals.get("_vb_paste")(code); }
      catch (e) { this.emitStr(`\x04${pyErrText(e)}\x04`); }
      finally { Atomics.store(ctl, BUSY, 0); }
      this.emitStr(">");
      this.rawLineLen = 0;
      if (rc === 1 && !this.resetReq) this.resetReq = "soft";
      return;
    }
    p.buf.push(c);
    if (--p.window === 0) { p.window = PASTE_WINDOW; this.emit([0x01]); }
  }

  doReset() {
    const kind = this.resetReq;
    this.resetReq = null;
    clearTimeout(this.timer);
    const rawNext = kind === "soft" && this.state === "repl" && this.replRaw;
    this.sync();
    this.flushOut();
    const left = this.carry;
    this.carry = null;
    parentPort.postMessage({ t: "reset", kind, raw: rawNext, delayMs: 0, carry: left });
    this.state = "idle";
  }

  // -- filesystem write-through ---------------------------------------------------------

  sync() {
    if (!this.mp) return;
    const FS = this.mp.FS;
    const seen = new Set();
    const dirs = new Set();
    const since = this.lastSync - 2;
    this.lastSync = Date.now();
    for (const [vmRoot, hostDir] of Object.entries(this.dirs)) {
      fs.mkdirSync(hostDir, { recursive: true });
      this.syncDir(FS, vmRoot, hostDir, "", seen, dirs, since);
    }
    for (const p of [...this.cache.keys()]) {
      if (seen.has(p)) continue;
      this.cache.delete(p);
      fs.rmSync(this.hostPath(p), { force: true });
    }
    for (const d of [...this.dirsSeen].sort().reverse()) {  // deepest first
      if (dirs.has(d)) continue;
      fs.rmSync(this.hostPath(d), { recursive: true, force: true });
    }
    this.dirsSeen = dirs;
  }

  hostPath(p) {
    if (p === "/storage" || p.startsWith("/storage/")) return path.join(this.dirs["/storage"], p.slice(9));
    return path.join(this.dirs["/"], p.slice(1));
  }

  syncDir(FS, vmRoot, hostDir, rel, seen, dirs, since) {
    const vmDir = rel ? (vmRoot === "/" ? `/${rel}` : `${vmRoot}/${rel}`) : vmRoot;
    for (const name of FS.readdir(vmDir)) {
      if (name === "." || name === ".." || name === "__pycache__") continue;
      if (vmRoot === "/" && !rel && SYSTEM_DIRS.has(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      const p = vmRoot === "/" ? `/${r}` : `${vmRoot}/${r}`;
      const st = FS.stat(p);
      if (FS.isDir(st.mode)) {
        fs.mkdirSync(path.join(hostDir, r), { recursive: true });
        dirs.add(p);
        this.syncDir(FS, vmRoot, hostDir, r, seen, dirs, since);
        continue;
      }
      seen.add(p);
      const mtime = st.mtime.getTime();
      const c = this.cache.get(p);
      if (c && c.mtime === mtime && c.size === st.size && mtime < since) continue;
      const data = Buffer.from(FS.readFile(p));
      if (!c || !data.equals(c.data)) writeAtomic(path.join(hostDir, r), data);
      this.cache.set(p, { mtime, size: st.size, data });
    }
  }

  shutdown() {
    clearTimeout(this.timer);
    try { this.sync(); } catch (e) { diag(`sync failed at exit: ${e.message}`); }
    this.flushOut();
    parentPort.postMessage({ t: "bye" });
  }
}

function vmModulePath() {
  const base = path.join(opts.repo, "node_modules", "@micropython",
    "micropython-webassembly-pyscript", "micropython.mjs");
  return fs.existsSync(base) ? base : "@micropython/micropython-webassembly-pyscript";
}

function pyErrText(e) {
  if (e && e.name === "PythonError") {
    const lines = String(e.message).split(/\r?\n/).filter((l) => !l.includes('"<vb>"'));
    return lines.join("\r\n");
  }
  return `Error: ${e && e.message ? e.message : e}\r\n`;
}

const board = new Board();
setInterval(() => Atomics.add(ctl, BEAT, 1), 100);  // alive: this event loop turns
parentPort.on("message", (m) => {
  try {
    if (m.t === "in") { if (board.state !== "booting") board.input(board.takeRing()); }
    else if (m.t === "shutdown") board.shutdown();
  } catch (e) {
    diag(`fatal: ${e && e.stack ? e.stack : e}`);
    parentPort.postMessage({ t: "fatal" });
  }
});
board.boot().catch((e) => {
  diag(`fatal: ${e && e.stack ? e.stack : e}`);
  parentPort.postMessage({ t: "fatal" });
});
