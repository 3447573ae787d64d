#!/usr/bin/env node
// Reads every TTree of a ROOT file with JSROOT (CERN's JavaScript reader) and prints JSON in the
// layout of ../shared/testdata/expected/ (see its README), so tests can compare what an
// independent reader sees in files we write.
//
//   node tests/tools/jsroot-read.mjs FILE.root [--first N] [--count N] [--last N] [--branches a,b]
//
// JSROOT is looked up in $JSROOT_DIR, then .deps/node_modules/jsroot next to this repository.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function usage(message) {
  process.stderr.write(`jsroot-read: ${message}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const options = { first: 0, count: undefined, last: undefined, branches: undefined };
let path;
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  if (a === '--first') options.first = Number(args[++i]);
  else if (a === '--count') options.count = Number(args[++i]);
  else if (a === '--last') options.last = Number(args[++i]);
  else if (a === '--branches') options.branches = args[++i].split(',');
  else if (a.startsWith('--')) usage(`unknown option ${a}`);
  else path = a;
}
if (!path) usage('no file given');
if (!existsSync(path)) usage(`${path}: no such file`);

const here = dirname(fileURLToPath(import.meta.url));
const candidates = [process.env.JSROOT_DIR, join(here, '..', '..', '.deps', 'node_modules', 'jsroot')].filter(Boolean);
const jsrootDir = candidates.find((d) => existsSync(join(d, 'modules', 'main.mjs')));
if (!jsrootDir) usage('JSROOT not found (set JSROOT_DIR or run scripts/bootstrap)');
const jsroot = await import(pathToFileURL(join(jsrootDir, 'modules', 'main.mjs')).href);
const { TSelector, treeProcess } = await import(pathToFileURL(join(jsrootDir, 'modules', 'tree.mjs')).href);

// JSON has no NaN, infinities or BigInt: encode them as the expected/ files do.
function plain(value) {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan';
    if (value === Infinity) return 'inf';
    if (value === -Infinity) return '-inf';
    return value;
  }
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return null;
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return Array.from(value, plain);
  return String(value);
}

async function readBranch(tree, branch, first, count) {
  const selector = new TSelector();
  selector.addBranch(branch, 'v');
  const values = [];
  selector.Process = function () { values.push(plain(this.tgtobj.v)); };
  await treeProcess(tree, selector, { firstentry: first, numentries: count });
  return values;
}

async function readTree(tree) {
  const entries = Number(tree.fEntries);
  let first = options.first;
  let count = options.count ?? entries - first;
  if (options.last !== undefined) {
    first = Math.max(0, entries - options.last);
    count = entries - first;
  }
  const out = { entries, first, branches: {} };
  for (const branch of tree.fBranches.arr) {
    if (options.branches && !options.branches.includes(branch.fName)) continue;
    const leaf = branch.fLeaves?.arr?.[0];
    const item = { title: branch.fTitle, class: branch.fClassName ?? '', leaf: leaf?._typename ?? '' };
    try {
      item.values = count > 0 ? await readBranch(tree, branch, first, count) : [];
    } catch (err) {
      item.error = String(err?.message ?? err);
    }
    out.branches[branch.fName] = item;
  }
  return out;
}

async function walk(dir, prefix, result) {
  for (const key of dir.fKeys) {
    const name = prefix + key.fName;
    if (key.fClassName === 'TTree' || key.fClassName === 'TNtuple') {
      if (result[name]) continue;  // lower cycles of the same tree
      result[name] = await readTree(await dir.readObject(`${key.fName};${key.fCycle}`));
    } else if (key.fClassName === 'TDirectory' || key.fClassName === 'TDirectoryFile') {
      await walk(await dir.readObject(key.fName), `${name}/`, result);
    }
  }
}

try {
  const file = await jsroot.openFile(resolve(path));
  const result = {};
  await walk(file, '', result);
  process.stdout.write(JSON.stringify(result) + '\n');
} catch (err) {
  process.stderr.write(`jsroot-read: ${path}: ${err?.stack ?? err}\n`);
  process.exit(1);
}
