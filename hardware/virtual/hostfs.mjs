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

export function writeAtomic(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.vbtmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
