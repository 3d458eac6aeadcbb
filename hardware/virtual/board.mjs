// armlock virtual board: the real MicroPython VM (WebAssembly, v1.27) behaving like an
// ESP32 running the armlock firmware.
//
//   node board.mjs --state-dir DIR [--mode dev|production] [--heap-kb N] [--tick-ms N]
//                  [--repo DIR]
//
// stdin/stdout carry the board's UART as raw bytes (the Python host puts a pty in front).
// stderr carries one-line diagnostics for the host, each starting "board: "; the line
// "board: ready ..." is printed once the first boot has finished.
//
// Filesystem. The VM sees /flash (the board's flash: firmware files, main.py, anything
// mpremote writes; the VM's working directory) and /storage (the app's persistent data).
// At boot both are loaded from <state-dir>/flash and <state-dir>/storage. If
// <state-dir>/flash does not exist it is first "flashed" from the repo: every *.py under
// firmware/ and protocols/, plus a main.py that re-exports firmware/ports/virtual/main.py.
// Write-through: after every app step, every REPL chunk and before every reset or exit,
// the VM's /flash and /storage trees are compared with what was last written (mtime, size,
// then content) and changed/new/deleted files are mirrored to the state dir (each file
// written to a temporary name and renamed, so a kill leaves the old or the new file).
//
// App mode (after boot). /flash/main.py is imported and driven sans-IO:
//   main.start(board, now_ms, rtc_s) -> bytes   (board: the JS module "board", see below)
//   main.step(data: bytes, now_ms, rtc_s) -> bytes   (UART bytes in, UART bytes out)
//   main.wake_ms() -> int | None   (call step(b"") no later than this monotonic ms)
// step(b"", ...) is also called every --tick-ms. now_ms counts from this boot; rtc_s is
// host UTC seconds plus an offset the app may set with board.set_rtc(utc_s) (it survives
// soft and hard resets, like a battery-backed RTC, but not a board restart).
//
// Dev mode: byte 0x03 stops the app (KeyboardInterrupt) and enters the friendly REPL.
// Raw REPL (Ctrl-A) is the VM's own; raw-paste (Ctrl-A then 05 41 01) is implemented here
// because the WASM build's event-driven raw REPL blocks on it. Ctrl-D on an empty line (or
// sys.exit()) soft-resets: the FS is synced, a fresh VM is loaded from the state dir; from
// the friendly REPL the app starts again, from the raw REPL the board stays in raw REPL
// (as an ESP32 does: main.py only runs after a friendly soft reset). machine.reset() does
// a hard reset (fresh VM, app runs). Code typed at the REPL runs synchronously: an endless
// loop there blocks the board (no Ctrl-C can reach it; stop the board). Production mode: no REPL, 0x03 is data, an app crash
// restarts the VM after one second (watchdog-like).
//
// Heap: the WASM build grows its GC heap on demand, so --heap-kb is the initial heap and
// a budget, not a cap: after each boot the board reports gc.mem_alloc() and warns on
// stderr when it exceeds the budget.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_REPO = path.resolve(HERE, "..", "..");
const RAW_BANNER = "raw REPL; CTRL-B to exit\r\n";
const FORCED_EXIT = 0x100;
const PASTE_WINDOW = 512;

const MAIN_SHIM = `# armlock virtual board entry point: the board host drives start()/step()/wake_ms().
# Replace this file (e.g. with mpremote) to run another app with the same three calls.
from firmware.ports.virtual.main import start, step, wake_ms  # noqa: F401
`;

// Python glue run in every fresh VM: hex in/out keeps the JS<->Python boundary to str.
const GLUE = `
import binascii as _vb_ba, sys as _vb_sys, gc as _vb_gc, os as _vb_os
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
import builtins as _vb_bi
_vb_bi.open = _vb_fix(_vb_bi.open)
_vb_os.chdir('/flash')
_vb_sys.path[:] = ['', '.frozen', '/flash/lib']
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
def _vb_paste(h):
    import __main__
    try:
        exec(_vb_ba.unhexlify(h).decode(), __main__.__dict__)
    except SystemExit:
        print('\\x04\\x04', end='')
        return 1
    except BaseException as e:
        print('\\x04', end='')
        _vb_sys.print_exception(e)
        print('\\x04', end='')
        return 0
    print('\\x04\\x04', end='')
    return 0
def _vb_version():
    return '%d.%d.%d' % tuple(_vb_sys.implementation.version[:3])
def _vb_heap():
    _vb_gc.collect()
    return _vb_gc.mem_alloc()
`;

function parseArgs(argv) {
  const opts = { stateDir: null, mode: "dev", heapKb: 110, tickMs: 20, repo: DEFAULT_REPO };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === "--state-dir") { opts.stateDir = v; i++; }
    else if (a === "--mode") { opts.mode = v; i++; }
    else if (a === "--heap-kb") { opts.heapKb = parseInt(v, 10); i++; }
    else if (a === "--tick-ms") { opts.tickMs = parseInt(v, 10); i++; }
    else if (a === "--repo") { opts.repo = v; i++; }
    else { fail(`unknown argument ${a}`); }
  }
  if (!opts.stateDir) fail("--state-dir is required");
  if (!["dev", "production"].includes(opts.mode)) fail(`--mode must be dev or production, not ${opts.mode}`);
  if (!(opts.heapKb >= 16)) fail("--heap-kb must be a number >= 16");
  if (!(opts.tickMs >= 1)) fail("--tick-ms must be a number >= 1");
  return opts;
}

function fail(msg) {
  process.stderr.write(`board: error: ${msg}\n`);
  process.exit(2);
}

function diag(msg) {
  process.stderr.write(`board: ${msg}\n`);
}

// ---- host state dir ---------------------------------------------------------------

function walkHost(dir, rel = "", out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    if (ent.name === "__pycache__" || ent.name.endsWith(".vbtmp")) continue;
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) { out.push([r, null]); walkHost(path.join(dir, ent.name), r, out); }
    else if (ent.isFile()) out.push([r, path.join(dir, ent.name)]);
  }
  return out;
}

function writeAtomic(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.vbtmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

// Flash the repo image into <state-dir>/flash if the board has never been flashed.
function ensureFlash(flashDir, repo) {
  if (fs.existsSync(flashDir)) return false;
  const staging = `${flashDir}.vbtmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  for (const top of ["firmware", "protocols"]) {
    for (const [rel, src] of walkHost(path.join(repo, top))) {
      if (src && rel.endsWith(".py")) writeAtomic(path.join(staging, top, rel), fs.readFileSync(src));
    }
  }
  writeAtomic(path.join(staging, "main.py"), MAIN_SHIM);
  fs.renameSync(staging, flashDir);
  return true;
}

// ---- the board ----------------------------------------------------------------------

class Board {
  constructor(opts) {
    this.opts = opts;
    this.dirs = { "/flash": path.join(opts.stateDir, "flash"), "/storage": path.join(opts.stateDir, "storage") };
    this.rtcOffsetMs = 0;
    this.mp = null;
    this.state = "booting";      // booting | app | repl | idle | dead
    this.replRaw = false;         // raw REPL (tracked from what the VM prints and Ctrl-B)
    this.rawLineLen = 0;          // bytes typed on the current raw REPL line
    this.paste = null;            // raw-paste state: {stage, buf, window}
    this.pending = [];            // input that arrived while booting
    this.out = [];                // UART output collected during one VM call
    this.cache = new Map();       // VM path -> {mtime, size, data} last mirrored to host
    this.lastSync = 0;
    this.timer = null;
    this.wakeAt = -1;
    this.bootT0 = 0;
    this.resetReq = null;         // "hard" | "soft" requested from Python (machine.*)
    this.crashes = 0;
    this.heldIntr = null;         // timer of a lone 0x03 that may be a Ctrl-C
    this.chunkLen = 0;            // app-mode input bytes since the last 0x00
    this.nlOnly = true;           // ... all of them CR or LF
    this.recent = "";             // last 3 app-mode input bytes
  }

  nowMs() { return Math.floor(performance.now() - this.bootT0); }
  rtcS() { return Math.floor((Date.now() + this.rtcOffsetMs) / 1000); }

  emit(bytes) { for (const b of bytes) this.out.push(b); }
  emitStr(s) { this.emit(Buffer.from(s, "latin1")); }
  flushOut() {
    if (this.out.length === 0) return;
    const buf = Buffer.from(this.out);
    this.out.length = 0;
    process.stdout.write(buf);
  }

  // -- boot ---------------------------------------------------------------------------

  async boot(cause, raw) {
    this.state = "booting";
    clearTimeout(this.timer);
    clearTimeout(this.heldIntr);
    this.heldIntr = null;
    if (this.mp) this.sync();
    if (cause === "soft") { this.emitStr("MPY: soft reboot\r\n"); this.flushOut(); }
    const { loadMicroPython } = await import(this.vmModulePath());
    const capture = (b) => { for (const c of b) this.out.push(c); };
    this.mp = await loadMicroPython({
      heapsize: this.opts.heapKb * 1024, stdout: capture, stderr: capture, linebuffer: false,
    });
    this.bootT0 = performance.now();
    this.loadFs();
    this.registerModules(cause);
    this.mp.runPython(GLUE);
    this.replRaw = false;
    this.paste = null;
    if (raw) {
      this.mp.replInit();
      this.out.length = 0; // the friendly banner is not shown when rebooting into raw REPL
      this.replChar(0x01);
      this.state = "repl";
    } else {
      this.runBootPy();
      this.startApp();
    }
    this.reportHeap(cause);
    this.flushOut();
    const queued = this.pending;
    this.pending = [];
    if (queued.length) this.input(Buffer.concat(queued));
  }

  vmModulePath() {
    const base = path.join(this.opts.repo, "node_modules", "@micropython",
      "micropython-webassembly-pyscript", "micropython.mjs");
    return fs.existsSync(base) ? base : "@micropython/micropython-webassembly-pyscript";
  }

  loadFs() {
    const FS = this.mp.FS;
    this.cache.clear();
    for (const [vmRoot, hostDir] of Object.entries(this.dirs)) {
      FS.mkdirTree(vmRoot);
      for (const [rel, src] of walkHost(hostDir)) {
        const p = `${vmRoot}/${rel}`;
        if (src === null) { FS.mkdirTree(p); continue; }
        const data = fs.readFileSync(src);
        FS.writeFile(p, data);
        const st = FS.stat(p);
        this.cache.set(p, { mtime: st.mtime.getTime(), size: st.size, data });
      }
    }
    this.lastSync = Date.now();
  }

  registerModules(cause) {
    const board = this;
    this.mp.registerJsModule("board", {
      mode: this.opts.mode,
      runtime: "micropython",
      storage: "/storage",
      reset_cause: cause,
      heap_kb: this.opts.heapKb,
      set_rtc: (utcS) => { board.rtcOffsetMs = Number(utcS) * 1000 - Date.now(); },
      sync: () => { board.sync(); },
      log: (s) => { diag(`app: ${s}`); },
      reset: () => { board.resetReq = "hard"; },
      // time.ticks_us() of the WASM build only has millisecond resolution
      ticks_us: () => Math.floor(performance.now() * 1000) % 0x40000000,
    });
    this.mp.registerJsModule("machine", {
      reset: () => { board.resetReq = "hard"; },
      // time.ticks_us() of the WASM build only has millisecond resolution
      ticks_us: () => Math.floor(performance.now() * 1000) % 0x40000000,
      soft_reset: () => { board.resetReq = "soft"; },
      unique_id: () => "armlock-virtual",
    });
  }

  runBootPy() {
    if (!this.mp.FS.analyzePath("/flash/boot.py").exists) return;
    try { this.mp.runPython("exec(open('/flash/boot.py').read())"); }
    catch (e) { this.emitStr(pyErrText(e)); }
  }

  reportHeap(cause) {
    let alloc = -1;
    try { alloc = this.mp.globals.get("_vb_heap")(); } catch (e) { /* VM unusable */ }
    const budget = this.opts.heapKb * 1024;
    diag(`booted cause=${cause} state=${this.state} heap_alloc=${alloc} heap_budget=${budget}`);
    if (alloc > budget) diag(`warning: heap in use after boot (${alloc} B) exceeds --heap-kb budget (${budget} B)`);
  }

  // -- app mode -----------------------------------------------------------------------

  startApp() {
    this.chunkLen = 0;
    this.nlOnly = true;
    this.recent = "";
    try {
      const r = this.mp.globals.get("_vb_start")(this.nowMs(), this.rtcS());
      this.state = "app";
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
    let delay = this.opts.tickMs;
    if (this.wakeAt >= 0) delay = Math.max(0, Math.min(delay, this.wakeAt - this.nowMs()));
    this.timer = setTimeout(() => { this.step(Buffer.alloc(0)); this.flushOut(); }, delay);
  }

  appCrashed(e) {
    clearTimeout(this.timer);
    this.emitStr(pyErrText(e));
    diag(`app stopped: ${String(e.message || e).trim().split("\n").pop()}`);
    this.sync();
    if (this.opts.mode === "dev") { this.enterRepl(); return; }
    this.state = "idle";
    this.crashes++;
    this.timer = setTimeout(() => this.boot("crash", false), 1000);
  }

  enterRepl() {
    clearTimeout(this.timer);
    this.state = "repl";
    this.replRaw = false;
    this.mp.replInit();
  }

  // -- input ----------------------------------------------------------------------------

  input(buf) {
    if (this.state === "booting" || this.state === "dead") { this.pending.push(Buffer.from(buf)); return; }
    if (this.heldIntr) { // a lone 0x03 was followed by more bytes: it was frame data
      clearTimeout(this.heldIntr);
      this.heldIntr = null;
      if (this.state === "app") this.step(Buffer.from([0x03]));
    }
    let i = 0;
    while (i < buf.length) {
      if (this.state === "booting") { this.pending.push(buf.subarray(i)); break; }
      if (this.state === "app") i = this.appInput(buf, i);
      else if (this.state === "repl") {
        this.replChar(buf[i++]);
        if (this.resetReq) { this.pending.push(buf.subarray(i)); this.doReset(); break; }
      } else i = buf.length; // idle (production, after a crash): bytes are lost as on a resetting board
    }
    if (this.state === "repl") this.sync();
    this.flushOut();
  }

  // App mode. Wire frames may contain 0x03, so in dev mode a Ctrl-C interrupts the app only
  // where no frame can be: (a) 0x03 after a chunk of only CR/LF since the last 0x00
  // delimiter (mpremote sends "\r\x03"; a frame chunk never starts "\r\x03" or "\n\x03":
  // its first byte is a COBS code and a 13-byte zero-free run would start with type 0x03,
  // PING, which is 6 bytes long); (b) "\r\x03\r\x01" anywhere (mpremote entering the raw
  // REPL; then the 0x01 goes to the REPL); (c) a lone 0x03 at a chunk start followed by
  // 30 ms of silence (a person pressing Ctrl-C; a frame arrives in one piece).
  appInput(buf, i) {
    if (this.opts.mode !== "dev") { this.step(buf.subarray(i)); return buf.length; }
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
    const start = this.out.length;
    const rc = this.mp.replProcessChar(c);
    const text = Buffer.from(this.out.slice(start)).toString("latin1");
    if (text.includes(RAW_BANNER)) { this.replRaw = true; this.rawLineLen = 0; }
    else if (this.replRaw && c === 0x02) this.replRaw = false;
    else if (this.replRaw) this.rawLineLen = c <= 0x04 ? 0 : this.rawLineLen + 1;
    if (rc & FORCED_EXIT) this.resetReq = "soft";
  }

  // raw-paste protocol (MicroPython docs, "raw mode and raw-paste mode"):
  // host 05 'A' 01 -> "R\x01" + window (u16 LE); host sends code, we send 01 per window
  // consumed; host 04 -> we ack 04, run the code, then "<out>\x04<err>\x04>".
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
    if (c === 0x04) {
      this.emit([0x04]);
      const code = Buffer.from(p.buf).toString("hex");
      this.paste = null;
      let rc = 0;
      try { rc = this.mp.globals.get("_vb_paste")(code); }
      catch (e) { this.emitStr(`\x04${pyErrText(e)}\x04`); }
      this.emitStr(">");
      this.rawLineLen = 0;
      if (rc === 1) this.resetReq = "soft";
      return;
    }
    p.buf.push(c);
    if (--p.window === 0) { p.window = PASTE_WINDOW; this.emit([0x01]); }
  }

  doReset() {
    const kind = this.resetReq;
    this.resetReq = null;
    const raw = kind === "soft" && this.state === "repl" && this.replRaw;
    this.flushOut();
    this.boot(kind, raw).catch(fatal);
  }

  // -- filesystem write-through ---------------------------------------------------------

  sync() {
    if (!this.mp) return;
    const FS = this.mp.FS;
    const seen = new Set();
    const since = this.lastSync - 2;
    this.lastSync = Date.now();
    for (const [vmRoot, hostDir] of Object.entries(this.dirs)) {
      fs.mkdirSync(hostDir, { recursive: true });
      this.syncDir(FS, vmRoot, hostDir, "", seen, since);
    }
    for (const p of [...this.cache.keys()]) {
      if (seen.has(p)) continue;
      this.cache.delete(p);
      const root = p.startsWith("/flash/") ? "/flash" : "/storage";
      fs.rmSync(path.join(this.dirs[root], p.slice(root.length + 1)), { force: true });
    }
  }

  syncDir(FS, vmRoot, hostDir, rel, seen, since) {
    const vmDir = rel ? `${vmRoot}/${rel}` : vmRoot;
    for (const name of FS.readdir(vmDir)) {
      if (name === "." || name === ".." || name === "__pycache__") continue;
      const r = rel ? `${rel}/${name}` : name;
      const p = `${vmRoot}/${r}`;
      const st = FS.stat(p);
      if (FS.isDir(st.mode)) {
        fs.mkdirSync(path.join(hostDir, r), { recursive: true });
        this.syncDir(FS, vmRoot, hostDir, r, seen, since);
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

  shutdown(code) {
    clearTimeout(this.timer);
    try { this.sync(); } catch (e) { diag(`sync failed at exit: ${e.message}`); }
    this.flushOut();
    this.state = "dead";
    process.exitCode = code;
    process.stdout.end(() => process.exit(code));
  }
}

function pyErrText(e) {
  if (e && e.name === "PythonError") return String(e.message).replace(/\r?\n/g, "\r\n");
  return `Error: ${e && e.message ? e.message : e}\r\n`;
}

function fatal(e) {
  diag(`fatal: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const flashDir = path.join(opts.stateDir, "flash");
  fs.mkdirSync(path.join(opts.stateDir, "storage"), { recursive: true });
  if (ensureFlash(flashDir, opts.repo)) diag(`flashed firmware from ${opts.repo} into ${flashDir}`);
  const board = new Board(opts);
  process.stdin.on("data", (buf) => { try { board.input(buf); } catch (e) { fatal(e); } });
  process.stdin.on("end", () => board.shutdown(0));
  process.on("SIGTERM", () => board.shutdown(0));
  process.on("SIGINT", () => board.shutdown(0));
  await board.boot("power_on", false);
  const ver = board.mp.globals.get("_vb_version")();
  diag(`ready mode=${opts.mode} runtime=micropython version=${ver} heap_kb=${opts.heapKb}`);
}

main().catch(fatal);
