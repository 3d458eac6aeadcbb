#!/usr/bin/env node
// Run Python under the real MicroPython VM (WebAssembly build, v1.27) in Node.
//
//   node mp_run.mjs [--heap SIZE] [--root DIR] [--only PATHS] [--grow] [FILE | -]
//   node mp_run.mjs --serve [--heap SIZE] [--root DIR] [--only PATHS] [--grow]
//
// The repo's firmware/ and protocols/ trees (every .py or .mpy file, or only the paths listed
// in --only, comma separated, relative to the repo root) are copied to the top of the
// VM's filesystem (its cwd, '' on sys.path, as on a board), so `import firmware.core.x`
// and `import protocols.x` work; the runner's own module goes to /lib.
//
// Run mode: the program (FILE, or stdin) runs once; its stdout/stderr stream to ours.
// Exit code: 0, or 1 if it raised (MicroPython traceback on stderr), or the code given
// to sys.exit(); 2 for bad usage, 3 if the VM itself failed.
//
// Serve mode: each stdin line is a JSON request {"code": "...", "name": "<snippet>"}
// run in the same VM and the same __main__ globals; each reply is one JSON line
// {"ok": bool, "out": str, "err": str, "exc": str|null, "heap_grown": bool}
// (exc: the exception type name; heap_grown: a MemoryError let the GC heap grow once
// past --heap, so later limits in this VM are looser: start a new VM to measure again).
//
// GC: this WASM build collects garbage only when control returns to JS, never in the
// middle of a call, so within one program everything allocated (live or garbage) counts
// against --heap. A program may set the global __steps__ to a generator: the runner then
// calls next() on it from JS until it ends, collecting garbage after each step, like a
// device main loop iteration. The runner also collects after every program/snippet.
//
// Heap: --heap (bytes, or with k/m suffix; default 256k) is the MicroPython GC heap.
// This build grows its GC heap on demand (split heap), so unless --grow is given the
// script denies WebAssembly memory growth and fills the C heap, leaving only a small
// reserve for the JS glue: an allocation beyond --heap then raises MemoryError, as on
// an ESP32 without PSRAM (use --heap 110k for that).

import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_ROOT = path.resolve(HERE, "..", "..");
const TREES = ["firmware", "protocols"];
const PROG_PATH = "/tmp/_armlock_prog.py";
const RT_MODULE = "_armlock_rt";
const RT_SOURCE = `import gc, sys
_gen = None
def _exit_code(e):
    c = e.args[0] if e.args else 0
    if c is None:
        return 0
    if isinstance(c, int):
        return c
    print(c, file=sys.stderr)
    return 1
def run(path, name, g):
    global _gen
    f = open(path)  # no "with": it leaves a stale reference that pins later garbage
    src = f.read()
    f.close()
    f = None
    code = compile(src, name, "exec")
    src = None
    try:
        exec(code, g)
    except SystemExit as e:
        return _exit_code(e)
    finally:
        gc.collect()
    _gen = g.pop("__steps__", None)
    return 0 if _gen is None else -1
def heap_total():
    free = gc.mem_free()
    if free > 1 << 27:
        free -= 1 << 27
    return gc.mem_alloc() + free
def step():
    global _gen
    try:
        next(_gen)
    except StopIteration:
        _gen = None
        return 0
    except SystemExit as e:
        _gen = None
        return _exit_code(e)
    except BaseException:
        _gen = None
        raise
    finally:
        gc.collect()
    return -1
`;

class UsageError extends Error {}

function parseSize(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text ?? "");
  if (!m) throw new UsageError(`--heap: expected a size like 262144, 256k or 1m, got ${text}`);
  const mult = { "": 1, k: 1024, m: 1024 * 1024 }[m[2].toLowerCase()];
  const n = parseInt(m[1], 10) * mult;
  if (n < 16 * 1024) throw new UsageError(`--heap: at least 16k, got ${text}`);
  return n;
}

function parseArgs(argv) {
  const opts = { heap: 256 * 1024, root: DEFAULT_ROOT, only: null, grow: false, serve: false, file: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--heap") opts.heap = parseSize(next());
    else if (a === "--root") opts.root = path.resolve(next());
    else if (a === "--only") opts.only = next().split(",").map((s) => s.trim()).filter(Boolean);
    else if (a === "--grow") opts.grow = true;
    else if (a === "--serve") opts.serve = true;
    else if (a === "-h" || a === "--help") {
      const lines = fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1);
      const end = lines.findIndex((l) => !l.startsWith("//"));
      process.stdout.write(lines.slice(0, end).map((l) => l.slice(3)).join("\n") + "\n");
      process.exit(0);
    } else if (a.startsWith("--")) throw new UsageError(`unknown option ${a}`);
    else if (opts.file === null) opts.file = a;
    else throw new UsageError(`unexpected argument ${a}`);
  }
  if (opts.serve && opts.file !== null) throw new UsageError("--serve takes no program file");
  if (opts.file !== null && opts.file !== "-" && !fs.existsSync(opts.file)) {
    throw new UsageError(`program file not found: ${opts.file}`);
  }
  if (!fs.existsSync(path.join(opts.root, "firmware"))) {
    throw new UsageError(`--root ${opts.root}: no firmware/ folder there`);
  }
  return opts;
}

// Deny WebAssembly memory growth (when asked) and remember the exported memory.
const wasm = { denyGrowth: false, memory: null, onDeny: null };
const origInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async function (source, imports) {
  const env = imports?.env;
  if (env && typeof env.emscripten_resize_heap === "function") {
    const resize = env.emscripten_resize_heap;
    env.emscripten_resize_heap = (n) => {
      if (!wasm.denyGrowth) return resize(n);
      wasm.onDeny?.();
      return 0;
    };
  }
  const result = await origInstantiate.call(this, source, imports);
  const exports = (result.instance ?? result).exports;
  for (const k of Object.keys(exports)) {
    if (exports[k] instanceof WebAssembly.Memory) wasm.memory = exports[k];
  }
  return result;
};

// Fill the C heap so the GC cannot add a heap area (it asks for >= its current size).
// A spare block is kept back: when the GC's request is denied (MemoryError is on its
// way), the spare is freed so that formatting the error cannot starve the VM; the GC
// heap may then grow once, so `hits` counts requests that went past the cap.
class HeapCap {
  constructor(mod, heap) {
    this.mod = mod;
    this.heap = heap;
    this.spare = 0;
    this.hits = 0;
  }
  apply() {
    const mod = this.mod;
    const reserve = Math.min(32 * 1024, this.heap >> 2);
    const minBlock = Math.min(64 * 1024, this.heap >> 1);
    wasm.denyGrowth = true;
    wasm.onDeny = null;
    if (!this.spare) this.spare = mod._malloc(this.heap * 2 + 64 * 1024);
    const keep = mod._malloc(reserve);
    let block = wasm.memory ? wasm.memory.buffer.byteLength : 1 << 28;
    while (block >= minBlock) {
      if (!mod._malloc(block)) block >>= 1;
    }
    if (keep) mod._free(keep);
    wasm.onDeny = () => this.release();
  }
  release() {
    if (!this.spare) return;
    this.hits++;
    this.mod._free(this.spare);
    this.spare = 0;
  }
}

function wanted(rel, only) {
  if (!only) return true;
  return only.some((p) => {
    const q = p.replace(/\/+$/, "");
    return rel === q || rel.startsWith(q + "/") || path.basename(rel) === "__init__.py" &&
      (q + "/").startsWith(path.dirname(rel) + "/");
  });
}

function listPy(root, only) {
  const out = [];
  const walk = (rel) => {
    for (const ent of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel + "/" + ent.name;
      if (ent.isDirectory()) {
        if (ent.name !== "__pycache__" && !ent.name.startsWith(".")) walk(r);
      } else if ((ent.name.endsWith(".py") || ent.name.endsWith(".mpy")) && wanted(r, only)) {
        out.push(r);
      }
    }
  };
  for (const t of TREES) if (fs.existsSync(path.join(root, t))) walk(t);
  return out;
}

function installFiles(FS, root, only) {
  // at the top of the filesystem, as `armlock flash` writes a board's: imported through
  // sys.path's '' (the VM's cwd is /), so each module's path is "firmware/core/x.mpy"
  // as on a board (the import interns it: the heap counts it)
  for (const rel of listPy(root, only)) {
    FS.mkdirTree("/" + path.dirname(rel));
    FS.writeFile("/" + rel, fs.readFileSync(path.join(root, rel)));
  }
  FS.mkdirTree("/lib");
  FS.writeFile(`/lib/${RT_MODULE}.py`, RT_SOURCE);
}

// Byte sink: the VM hands us one byte at a time.
class Sink {
  constructor(onLine) {
    this.buf = Buffer.alloc(4096);
    this.len = 0;
    this.onLine = onLine;
  }
  push(bytes) {
    for (const b of bytes) {
      if (this.len === this.buf.length) {
        const bigger = Buffer.alloc(this.buf.length * 2);
        this.buf.copy(bigger, 0, 0, this.len);
        this.buf = bigger;
      }
      this.buf[this.len++] = b;
      if (b === 10 && this.onLine) this.flush();
    }
  }
  take() {
    const out = Buffer.from(this.buf.subarray(0, this.len));
    this.len = 0;
    return out;
  }
  flush() {
    if (this.len && this.onLine) this.onLine(this.take());
  }
}

// Drop the frames of the runner itself from a MicroPython traceback.
function cleanTraceback(text) {
  const lines = text.split("\n");
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.includes(`${RT_MODULE}.py"`)) continue;
    if (l === '  File "<stdin>", line 1, in <module>' && out.at(-1)?.startsWith("Traceback")) continue;
    out.push(l);
  }
  return out.join("\n");
}

// Run one program; returns {code, exc, traceback}.
function execProgram(mp, source, name) {
  mp.FS.writeFile(PROG_PATH, source);
  try {
    let rc = mp.rt.run(PROG_PATH, name, mp.globals.__dict__);
    while (rc === -1) rc = mp.rt.step();
    return { code: rc, exc: rc ? "SystemExit" : null, traceback: "" };
  } catch (e) {
    if (e?.name !== "PythonError") throw e;
    return { code: 1, exc: e.type, traceback: cleanTraceback(e.message) };
  } finally {
    try { mp.FS.unlink(PROG_PATH); } catch { /* already gone */ }
  }
}

async function boot(opts, out, err) {
  const { loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript");
  const mp = await loadMicroPython({
    heapsize: opts.heap,
    linebuffer: false,
    stdout: (b) => out.push(b),
    stderr: (b) => err.push(b),
  });
  installFiles(mp.FS, opts.root, opts.only);
  mp.cap = opts.grow ? null : new HeapCap(mp._module, opts.heap);
  mp.cap?.apply();
  mp.rt = mp.pyimport(RT_MODULE);
  mp.heapTotal = mp.rt.heap_total();
  return mp;
}

async function runOnce(opts) {
  const source = opts.file === null || opts.file === "-"
    ? fs.readFileSync(0) : fs.readFileSync(opts.file);
  const name = opts.file === null || opts.file === "-" ? "<stdin>" : opts.file;
  const out = new Sink((b) => process.stdout.write(b));
  const err = new Sink((b) => process.stderr.write(b));
  const mp = await boot(opts, out, err);
  const r = execProgram(mp, source, name);
  out.flush();
  err.flush();
  if (r.traceback) process.stderr.write(r.traceback.endsWith("\n") ? r.traceback : r.traceback + "\n");
  process.exitCode = r.code;
}

async function serve(opts) {
  const out = new Sink(null);
  const err = new Sink(null);
  const mp = await boot(opts, out, err);
  const reply = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let req;
    try {
      req = JSON.parse(line);
      if (typeof req?.code !== "string") throw new Error('missing string field "code"');
    } catch (e) {
      reply({ ok: false, out: "", err: `mp_run: bad request: ${e.message}\n`, exc: "BadRequest" });
      continue;
    }
    const r = execProgram(mp, req.code, typeof req.name === "string" ? req.name : "<snippet>");
    if (mp.cap?.hits) {
      mp.cap.hits = 0;
      mp.cap.apply();
      mp.heapGrown ||= mp.rt.heap_total() > mp.heapTotal;
    }
    const errText = err.take().toString("utf8") + r.traceback;
    reply({
      ok: r.code === 0, out: out.take().toString("utf8"), err: errText, exc: r.exc,
      heap_grown: Boolean(mp.heapGrown),
    });
  }
}

try {
  const opts = parseArgs(process.argv.slice(2));
  await (opts.serve ? serve(opts) : runOnce(opts));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`mp_run: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    const msg = e?.code === "ERR_MODULE_NOT_FOUND"
      ? "MicroPython WASM package not found: run `make setup` (npm ci) in the repo root"
      : String(e?.message ?? e).split("\n")[0];
    process.stderr.write(`mp_run: ${msg}\n`);
    process.exitCode = 3;
  }
}
