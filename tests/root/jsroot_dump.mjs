// Reads TTree branches with JSROOT (CERN's JavaScript ROOT reader) and prints them in the layout of
// testdata/expected/*.json.gz, so tests can compare `mlaas dump` with an independent reader.
//   node jsroot_dump.mjs JSROOT_DIR FILE TREE [BRANCH,BRANCH,...] [--time]
// A branch named "m.first" or "m.second" that does not exist reads std::map branch "m" and prints
// the keys or the values of each entry's pairs.
// With --time it reads all the branches in one pass, three times, and prints the best {"seconds": S, "entries": N}.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { printBestPass } from './jsroot_time.mjs';

const [jsrootDir, file, treeName, branchList, flag] = process.argv.slice(2);
const load = (m) => import(pathToFileURL(path.join(jsrootDir, 'modules', m)).href);
const { openFile } = await load('io.mjs');
const { TSelector, treeProcess } = await load('tree.mjs');

function plain(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return Number.isNaN(v) ? 'nan' : (v === Infinity ? 'inf' : (v === -Infinity ? '-inf' : v));
  if (typeof v === 'string') return v;
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return Array.from(v, plain);
  if (typeof v === 'object' && typeof v.fString === 'string') return v.fString;
  return null;
}

function leafBranches(list, out) {
  for (const b of list?.arr ?? []) {
    if (b.fBranches?.arr?.length) leafBranches(b.fBranches, out);
    else out.push(b);
  }
  return out;
}

const f = await openFile(file);
const tree = await f.readObject(treeName);
const all = leafBranches(tree.fBranches, []);
const wanted = branchList ? branchList.split(',') : all.map((b) => b.fName);

if (flag === '--time') {
  await printBestPass(TSelector, wanted, (sel) => treeProcess(tree, sel));
} else {
  const branches = {};
  for (const name of wanted) {
    // "m.first" / "m.second" of a std::map branch "m": the keys / values of each entry's pairs.
    const pair = name.match(/^(.*)\.(first|second)$/);
    const member = pair && !all.find((x) => x.fName === name) ? pair[2] : null;
    const branchName = member ? pair[1] : name;
    const b = all.find((x) => x.fName === branchName);
    const entry = { title: b?.fTitle ?? '', class: b?.fClassName ?? '', leaf: b?.fLeaves?.arr?.[0]?._typename ?? '' };
    const values = [];
    const sel = new TSelector();
    sel.addBranch(branchName, 'v');
    sel.Process = function() {
      const v = this.tgtobj.v;
      values.push(member ? Array.from(v ?? [], (p) => plain(p?.[member])) : plain(v));
    };
    try {
      await treeProcess(tree, sel);
      entry.values = values;
    } catch (e) {
      entry.error = String(e?.message ?? e);
    }
    branches[name] = entry;
  }
  console.log(JSON.stringify({ [treeName]: { entries: Number(tree.fEntries), branches } }));
}
