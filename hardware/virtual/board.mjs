// armlock virtual board: the real MicroPython VM (WebAssembly, v1.27) behaving like an
// ESP32 running the armlock firmware.
//
//   node board.mjs --state-dir DIR [--mode dev|production] [--heap-kb N] [--heap-max-kb N]
//                  [--tick-ms N] [--repo DIR]
//
// stdin/stdout carry the board's UART as raw bytes (the Python launcher puts a pty in
// front). stderr carries one-line diagnostics for the host, each starting "board: "; the
// line "board: ready ..." is printed once the first boot has finished.
//
// This thread is the board's USB bridge and reset circuit; the VM runs in a worker thread
// (vm.mjs), a fresh one at every power-on, reset and soft reset, so nothing survives a
// reset that would not survive it on a chip, and the UART stays responsive while Python
// code runs: Ctrl-C interrupts a blocking input() at once and, when the code does not
// give way (`while True: pass`), the VM is stopped and a fresh one continues in the REPL
// after the KeyboardInterrupt, as `mpremote` expects of a board.
//
// Output is streamed as it is printed; while user code runs a slow reader slows the VM
// down (backpressure) instead of losing output.
//
// Filesystem: "/" is the board's flash (<state-dir>/flash), "/storage" the app's data
// (<state-dir>/storage). If <state-dir>/flash does not exist it is first "flashed" from
// the repo: every *.py under firmware/ and protocols/, plus a main.py that re-exports
// firmware/ports/virtual/main.py. See vm.mjs for the write-through.
//
// App mode (after boot). /main.py is imported and driven sans-IO:
//   main.start(board, now_ms, rtc_s) -> bytes   (board: the JS module "board", see vm.mjs)
//   main.step(data: bytes, now_ms, rtc_s) -> bytes   (UART bytes in, UART bytes out)
//   main.wake_ms() -> int | None   (call step(b"") no later than this monotonic ms)
// step(b"", ...) is also called every --tick-ms. now_ms counts from this boot; rtc_s is
// host UTC seconds plus an offset the app may set with board.set_rtc(utc_s) (it survives
// soft and hard resets, like a battery-backed RTC, but not a board restart).
//
// Dev mode: Ctrl-C stops the app (KeyboardInterrupt) and enters the friendly REPL.
// Raw REPL (Ctrl-A) is the VM's own; raw-paste (Ctrl-A then 05 41 01) is implemented in
// vm.mjs because the WASM build's event-driven raw REPL blocks on it. Ctrl-D on an empty
// line (or sys.exit()) soft-resets; from the friendly REPL the app starts again, from the
// raw REPL the board stays in raw REPL (as an ESP32 does: main.py only runs after a
// friendly soft reset). machine.reset() is a hard reset (app runs). Production mode: no
// REPL, 0x03 is data, an app crash restarts the VM after one second (watchdog-like).
//
// Heap: the GC heap starts at --heap-kb (56, as ESP32_GENERIC) and grows by doubling.
// --heap-max-kb N caps the growth (past it allocations fail with MemoryError; for an S3
// with PSRAM give the PSRAM size). The cap is off by default: this WASM build collects
// garbage only between calls into the VM (it cannot scan its own stack), so within one
// long-running call the heap only grows, and any capped loop would fail where a chip,
// which collects, runs it. The app's steps are short calls, so its use after each step is
// what the board reports ("booted ... heap_alloc=").

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { walkHost, writeAtomic } from "./hostfs.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_REPO = path.resolve(HERE, "..", "..");
const VM = path.join(HERE, "vm.mjs");
const RING = 64 * 1024;             // the UART receive buffer
const HEAD = 0, TAIL = 1, BUSY = 2, INTR = 3, OHEAD = 5, OTAIL = 6, BEAT = 7;
const OOM_GRACE_MS = 3000;          // a VM silent this long after a denied growth hangs
const ORING = 16 * 1024;            // the UART transmit buffer
const INTR_GRACE_MS = 250;          // code that ignores Ctrl-C this long is stopped
const MAIN_SHIM = `# armlock virtual board entry point: the board host drives start()/step()/wake_ms().
# Replace this file (e.g. with mpremote) to run another app with the same three calls.
from firmware.ports.virtual.main import start, step, wake_ms  # noqa: F401
`;

function parseArgs(argv) {
  const opts = { stateDir: null, mode: "dev", heapKb: 56, heapMaxKb: 0, tickMs: 20, repo: DEFAULT_REPO };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === "--state-dir") { opts.stateDir = v; i++; }
    else if (a === "--mode") { opts.mode = v; i++; }
    else if (a === "--heap-kb") { opts.heapKb = parseInt(v, 10); i++; }
    else if (a === "--heap-max-kb") { opts.heapMaxKb = parseInt(v, 10); i++; }
    else if (a === "--tick-ms") { opts.tickMs = parseInt(v, 10); i++; }
    else if (a === "--repo") { opts.repo = v; i++; }
    else { fail(`unknown argument ${a}`); }
  }
  if (!opts.stateDir) fail("--state-dir is required");
  if (!["dev", "production"].includes(opts.mode)) fail(`--mode must be dev or production, not ${opts.mode}`);
  if (!(opts.heapKb >= 16)) fail("--heap-kb must be a number >= 16");
  if (!(opts.heapMaxKb === 0 || opts.heapMaxKb >= opts.heapKb)) fail("--heap-max-kb must be 0 or >= --heap-kb");
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

// ---- the bridge ---------------------------------------------------------------------

class Bridge {
  constructor(opts) {
    this.opts = opts;
    this.ctlBuf = new SharedArrayBuffer(8 * 4);
    this.ringBuf = new SharedArrayBuffer(RING);
    this.ctl = new Int32Array(this.ctlBuf);
    this.ring = new Uint8Array(this.ringBuf);
    this.oringBuf = new SharedArrayBuffer(ORING);
    this.oring = new Uint8Array(this.oringBuf);
    this.pending = [];            // UART bytes not yet in the ring (it was full)
    this.worker = null;
    this.vmState = { state: "booting", raw: false };
    this.intrTimer = null;
    this.rtcOffsetMs = 0;
    this.ready = false;
    this.stopping = false;
    this.version = "";
  }

  start(cause, raw = false, after = null, carry = null) {
    Atomics.store(this.ctl, BUSY, 0);
    Atomics.store(this.ctl, INTR, 0);
    this.vmState = { state: "booting", raw };
    const w = new Worker(VM, {
      workerData: {
        opts: { ...this.opts, rtcOffsetMs: this.rtcOffsetMs }, cause, raw, after,
        carry, ctlBuf: this.ctlBuf, ringBuf: this.ringBuf, oringBuf: this.oringBuf,
      },
      stdout: false, stderr: false,
    });
    this.worker = w;
    w.on("message", (m) => { if (this.worker === w) this.onMessage(m); });
    w.on("error", (e) => {
      if (this.worker !== w) return;
      diag(`vm crashed: ${String(e && e.message ? e.message : e).split("\n")[0]}`);
      this.restart("crash", false, 0);
    });
    w.on("exit", (code) => {  // the VM ended by itself: a fatal error inside it
      if (this.worker !== w) return;
      diag(`vm died (exit ${code}; out of memory? see --heap-max-kb); restarting`);
      this.restart("crash", false, 1000);
    });
  }

  onMessage(m) {
    switch (m.t) {
      case "diag": diag(m.msg); break;
      case "state": this.vmState = { state: m.state, raw: m.raw }; break;
      case "rtc": this.rtcOffsetMs = m.offsetMs; break;
      case "booted":
        if (!this.ready) {
          this.ready = true;
          this.version = m.version;
          diag(`ready mode=${this.opts.mode} runtime=micropython version=${m.version} heap_kb=${this.opts.heapKb} heap_max_kb=${this.opts.heapMaxKb}`);
        }
        break;
      case "reset": this.restart(m.kind, m.raw, m.delayMs, m.carry); break;
      case "oom": this.watchOom(m.state); break;
      case "bye": this.finish(0); break;
      case "fatal": this.finish(1); break;
      default: break;
    }
  }

  // -- UART output: the transmit ring to stdout, at the pace stdout takes it ------------

  takeOut() {
    const h = Atomics.load(this.ctl, OHEAD), t = Atomics.load(this.ctl, OTAIL);
    if (h === t) return null;
    const buf = Buffer.alloc(h - t);
    for (let i = 0; i < buf.length; i++) buf[i] = this.oring[(t + i) % ORING];
    Atomics.store(this.ctl, OTAIL, h);
    Atomics.notify(this.ctl, OTAIL);
    return buf;
  }

  async transmit() {
    for (;;) {
      const buf = this.takeOut();
      if (buf === null) {
        const w = Atomics.waitAsync(this.ctl, OHEAD, Atomics.load(this.ctl, OTAIL));
        if (w.async) await Promise.race([w.value, new Promise((r) => setTimeout(r, 50))]);
        if (this.finished) return;
        continue;
      }
      if (!process.stdout.write(buf)) await new Promise((r) => process.stdout.once("drain", r));
    }
  }

  write(buf) {
    const pending = this.takeOut();  // what the VM sent before comes first
    if (pending) process.stdout.write(pending);
    process.stdout.write(buf);
  }

  restart(kind, raw, delayMs, carry = null) {
    const old = this.worker;
    this.worker = null;
    if (old) old.terminate();
    if (this.stopping) { this.finish(0); return; }
    setTimeout(() => this.start(kind, raw, null, carry), delayMs || 0);
  }

  // -- UART input -----------------------------------------------------------------------

  input(buf) {
    if (this.stopping) return;
    let from = 0;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] === 0x03 && this.opts.mode === "dev" && Atomics.load(this.ctl, BUSY)) {
        if (i > from) this.pending.push(buf.subarray(from, i));
        from = i + 1;
        this.interrupt();
      }
    }
    if (from < buf.length) this.pending.push(buf.subarray(from));
    this.pump();
  }

  pump() {
    const ctl = this.ctl;
    let moved = false;
    while (this.pending.length) {
      const head = Atomics.load(ctl, HEAD), tail = Atomics.load(ctl, TAIL);
      const free = RING - (head - tail);
      if (free <= 0) break;
      const chunk = this.pending[0];
      const n = Math.min(free, chunk.length);
      for (let i = 0; i < n; i++) this.ring[(head + i) % RING] = chunk[i];
      Atomics.store(ctl, HEAD, head + n);
      moved = true;
      if (n === chunk.length) this.pending.shift(); else this.pending[0] = chunk.subarray(n);
    }
    if (moved) {
      Atomics.notify(ctl, HEAD);
      if (this.worker) this.worker.postMessage({ t: "in" });
    }
    if (this.pending.length) { process.stdin.pause(); setTimeout(() => this.pump(), 5); }
    else process.stdin.resume();
  }

  // Ctrl-C while Python code runs: input() takes it at once; code that does not give way
  // within INTR_GRACE_MS (a busy loop never returns to the VM's scheduler in this build)
  // is stopped, and a fresh VM continues in the REPL, after the KeyboardInterrupt.
  interrupt() {
    Atomics.store(this.ctl, INTR, 1);
    Atomics.notify(this.ctl, HEAD);
    if (this.intrTimer) return;
    this.intrTimer = setTimeout(() => {
      this.intrTimer = null;
      if (!Atomics.load(this.ctl, INTR)) return;
      if (!Atomics.load(this.ctl, BUSY)) { Atomics.store(this.ctl, INTR, 0); return; }
      const raw = this.vmState.raw || this.vmState.state === "exec";
      const old = this.worker;
      this.worker = null;
      if (old) old.terminate();
      const tb = "Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n";
      this.write(Buffer.from(raw ? `\x04${tb}\x04>` : `${tb}>>> `, "latin1"));
      diag("interrupted: code did not stop on Ctrl-C; VM restarted into the REPL");
      this.start("soft", raw, "interrupt");
    }, INTR_GRACE_MS);
  }

  // The heap cap was reached. The VM normally raises MemoryError and goes on; this build
  // can instead hang inside the failing call (it cannot collect garbage there). If its
  // event loop has not turned after OOM_GRACE_MS, stop it and do what the chip does with
  // an uncaught MemoryError: print it, then the REPL in dev mode, a crash reset otherwise.
  watchOom(state) {
    if (this.oomTimer) return;
    const w = this.worker, beat = Atomics.load(this.ctl, BEAT);
    this.oomTimer = setTimeout(() => {
      this.oomTimer = null;
      if (this.worker !== w || Atomics.load(this.ctl, BEAT) !== beat) return;  // it went on
      this.worker = null;
      if (w) w.terminate();
      const cap = this.opts.heapMaxKb;
      this.write(Buffer.from("Traceback (most recent call last):\r\nMemoryError: memory " +
        `allocation failed (heap cap ${cap} KB reached during ${state})\r\n`, "latin1"));
      diag(`vm out of memory: heap cap ${cap} KB reached during ${state} (the VM hung ` +
        "instead of raising MemoryError; see --heap-max-kb); " +
        (this.opts.mode === "dev" ? "REPL" : "crash reset"));
      if (this.opts.mode === "dev") {
        this.start("soft", false, "interrupt");
      } else {
        this.restart("crash", false, 1000);
      }
    }, OOM_GRACE_MS);
  }

  shutdown(code) {
    if (this.stopping) return;
    this.stopping = true;
    const w = this.worker;
    if (!w) { this.finish(code); return; }
    w.postMessage({ t: "shutdown" });
    setTimeout(() => this.finish(code), 2000).unref();
  }

  finish(code) {
    if (this.finished) return;
    this.finished = true;
    const w = this.worker;
    this.worker = null;
    if (w) w.terminate();
    process.exitCode = code;
    const rest = this.takeOut();
    if (rest) process.stdout.write(rest);
    process.stdout.end(() => process.exit(code));
  }
}

function fatal(e) {
  diag(`fatal: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const flashDir = path.join(opts.stateDir, "flash");
  fs.mkdirSync(path.join(opts.stateDir, "storage"), { recursive: true });
  if (ensureFlash(flashDir, opts.repo)) diag(`flashed firmware from ${opts.repo} into ${flashDir}`);
  const bridge = new Bridge(opts);
  process.stdin.on("data", (buf) => { try { bridge.input(buf); } catch (e) { fatal(e); } });
  process.stdin.on("end", () => bridge.shutdown(0));
  process.on("SIGTERM", () => bridge.shutdown(0));
  process.on("SIGINT", () => bridge.shutdown(0));
  bridge.start("power_on", false);
  bridge.transmit().catch(fatal);
}

try { main(); } catch (e) { fatal(e); }
