// Times JSROOT reading every listed branch or field in one pass (a TSelector that only counts
// entries), three times in this process, and prints the best as {"seconds": S, "entries": N}:
// JavaScript's warm-up is not the reader. Used by jsroot_dump.mjs and jsroot_rntuple_dump.mjs
// with --time (bench/read and bench/ntuple compare it with ours).
export async function printBestPass(TSelector, names, processAll) {
  const sel = new TSelector();
  for (const name of names) sel.addBranch(name, `v${sel.numBranches()}`);
  let entries = 0;
  sel.Process = function() { ++entries; };
  let seconds = Infinity;
  for (let pass = 0; pass < 3; ++pass) {
    entries = 0;
    const t0 = process.hrtime.bigint();
    await processAll(sel);
    seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(JSON.stringify({ seconds, entries }));
}
