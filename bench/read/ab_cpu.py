#!/usr/bin/env python3
"""Same-run A/B of two bench_read builds by CPU time (user + sys), for machines without hardware
counters and with other work on them: for each file, `--profile-reuse N` (N single-threaded
readInto's), `--profile-bound N` (the decompress-only bound A) and `--profile-b N` (bound B: A plus the
swap pass over one read's columns) of each build, alternated, 3 rounds,
best of 3, in microseconds per read.

Usage: ab_cpu.py OLD_BENCH_READ NEW_BENCH_READ [FILE.root ...]   (default: the bench_read corpus files)
"""
import os
import resource
import subprocess
import sys

ROUNDS = 3
TESTDATA = os.environ.get("MLAAS_TESTDATA", os.path.join(os.path.dirname(__file__), "../../../shared/testdata"))
DEFAULT = ["uproot-issue79.root", "uproot-HZZ-uncompressed.root", "uproot-HZZ-zlib.root", "uproot-HZZ-lzma.root",
           "uproot-HZZ-lz4.root", "uproot-HZZ-zstd.root", "nanoAOD_2015_CMS_Open_Data_ttbar.root"]
# About 1-2 s of CPU per run on this project's machine.
READS = {"uproot-issue79.root": 1500, "uproot-HZZ-uncompressed.root": 20000, "uproot-HZZ-zlib.root": 1500,
         "uproot-HZZ-lzma.root": 60, "uproot-HZZ-lz4.root": 8000, "uproot-HZZ-zstd.root": 3000,
         "nanoAOD_2015_CMS_Open_Data_ttbar.root": 4000}


def cpu_per_read(binary, mode, reads, path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([binary, mode, str(reads), path], check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1e6 / reads


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    old, new = sys.argv[1], sys.argv[2]
    files = sys.argv[3:] or [os.path.join(TESTDATA, "root", f) for f in DEFAULT]
    for path in files:
        reads = READS.get(os.path.basename(path), 1000)
        best = {}
        for _ in range(ROUNDS):
            for key, binary, mode in [("old", old, "--profile-reuse"), ("new", new, "--profile-reuse"),
                                      ("oldA", old, "--profile-bound"), ("newA", new, "--profile-bound"),
                                      ("oldB", old, "--profile-b"), ("newB", new, "--profile-b")]:
                best[key] = min(best.get(key, float("inf")), cpu_per_read(binary, mode, reads, path))
        o, n, oa, na, ob, nb = best["old"], best["new"], best["oldA"], best["newA"], best["oldB"], best["newB"]
        print(f"{os.path.basename(path)}: readInto {o:.1f} -> {n:.1f} us ({o / n:.2f}x); "
              f"bound A {oa:.1f} -> {na:.1f} us; readInto/A {100 * oa / o:.0f}% -> {100 * na / n:.0f}%; "
              f"bound B {ob:.1f} -> {nb:.1f} us; readInto/B {100 * ob / o:.0f}% -> {100 * nb / n:.0f}%", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
