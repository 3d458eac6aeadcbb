// The board's state dir on the host: walking it and writing files so that a kill at any
// moment leaves the old or the new file (written to a temporary name, then renamed).

import fs from "node:fs";
import path from "node:path";

export function walkHost(dir, rel = "", out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    if (ent.name === "__pycache__" || ent.name.endsWith(".vbtmp")) continue;
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) { out.push([r, null]); walkHost(path.join(dir, ent.name), r, out); }
    else if (ent.isFile()) out.push([r, path.join(dir, ent.name)]);
  }
  return out;
}

// A planned power cut (the launcher's cut_power_at_write): ARMLOCK_VB_CUT="N:phase" kills
// the whole board process at its N-th file write, before it, halfway through the new
// file, or after it is in place.
const [cutAt, cutPhase] = (process.env.ARMLOCK_VB_CUT || "0:").split(":");
let writes = 0;

function powerCut(phase) {
  if (writes === Number(cutAt) && phase === cutPhase) process.kill(process.pid, "SIGKILL");
}

export function writeAtomic(file, data) {
  writes++;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.vbtmp`;
  powerCut("before");
  if (cutPhase === "mid" && writes === Number(cutAt)) {
    const bytes = Buffer.from(data);
    fs.writeFileSync(tmp, bytes.subarray(0, bytes.length >> 1));
    powerCut("mid");
  }
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
  powerCut("after");
}
