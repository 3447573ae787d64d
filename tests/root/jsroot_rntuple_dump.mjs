// Reads RNTuple fields with JSROOT (its rntuple.mjs) and prints them in the layout of
// testdata/expected/*.json.gz, so tests can compare root::NTuple with an independent reader.
//   node jsroot_rntuple_dump.mjs JSROOT_DIR FILE NTUPLE FIELD,FIELD,... [--time]
// With --time it reads all the fields in one pass, three times, and prints the best {"seconds": S, "entries": N}
// (bench/ntuple compares it with root::NTuple on the same fields).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { printBestPass } from './jsroot_time.mjs';

const [jsrootDir, file, name, fieldList, flag] = process.argv.slice(2);
const load = (m) => import(pathToFileURL(path.join(jsrootDir, 'modules', m)).href);
const { openFile } = await load('io.mjs');
const { TSelector } = await load('tree.mjs');
const { rntupleProcess, readHeaderFooter } = await load('rntuple.mjs');

function plain(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return Number.isNaN(v) ? 'nan' : (v === Infinity ? 'inf' : (v === -Infinity ? '-inf' : v));
  if (typeof v === 'string') return v;
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return Array.from(v, plain);
  return null;
}

const f = await openFile(file);
const rntuple = await f.readObject(name);
await readHeaderFooter(rntuple);
if (flag === '--time') {
  await printBestPass(TSelector, fieldList.split(','), (sel) => rntupleProcess(rntuple, sel));
  process.exit(0);
}
const fields = {};
let entries = 0;
for (const field of fieldList.split(',')) {
  const values = [];
  const sel = new TSelector();
  sel.addBranch(field, 'v');
  sel.Process = function() { values.push(plain(this.tgtobj.v)); };
  const entry = {};
  try {
    await rntupleProcess(rntuple, sel);
    entry.values = values;
    entries = values.length;
  } catch (e) {
    entry.error = String(e?.message ?? e);
  }
  fields[field] = entry;
}
console.log(JSON.stringify({ [name]: { entries, branches: fields } }));
