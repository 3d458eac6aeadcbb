let grows = 0, mem = null;
const origInst = WebAssembly.instantiate;
WebAssembly.instantiate = async function (src, imports) {
  if (imports && imports.env && imports.env.emscripten_resize_heap) {
    const orig = imports.env.emscripten_resize_heap;
    imports.env.emscripten_resize_heap = (n) => { grows++; console.error("grow req", n); return orig(n); };
  }
  const r = await origInst.call(this, src, imports);
  const ex = (r.instance || r).exports; for (const k in ex) if (ex[k] instanceof WebAssembly.Memory) mem = ex[k];
  return r;
};
const { loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript");
const mp = await loadMicroPython({heapsize: 256*1024, linebuffer: false, stdout: (b)=>process.stdout.write(b), stderr: (b)=>process.stderr.write(b)});
console.error("mem", mem.buffer.byteLength, "grows", grows);
mp.runPython("print(compile)\nimport gc; print(gc.mem_alloc(), gc.mem_free()-128*1024*1024)\nx=bytearray(300000)\nprint(gc.mem_alloc(), gc.mem_free()-128*1024*1024)");
console.error("mem", mem.buffer.byteLength, "grows", grows);
