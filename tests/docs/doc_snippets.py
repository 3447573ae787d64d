#!/usr/bin/env python3
"""Every shell snippet in README.md and docs/*.md runs, as a reader would run it.

Each page's ```sh blocks run in order in one bash session (later blocks use what earlier ones
made: a server, a token, $demo), with `set -eo pipefail`, in a scratch copy of the repository
layout: `build/` is the build being tested, `examples/`, `python/`, `tests/` and `scripts/` are the
sources, and `../shared/testdata` is the corpus. `mlaas` is on PATH. A page's ```cpp block that
has a `main` was built by tests/docs/CMakeLists.txt as `doc_snippet_<page>_<n>`; it runs at its
place in the page, against whatever the page's shell blocks started.

A block is left out only when the line right before its fence says why:
    <!-- doc-test: skip (the reason) -->
Blocks that call `mlaas train` are left out, saying so, when the build has no training module.

    doc_snippets.py --source-dir S --build-dir B --testdata T [--page docs/cli.md] [--list]
    doc_snippets.py --source-dir S --extract-cpp DIR   (configure time: the C++ blocks as sources)
Exit status 0 when every page passed, 1 when one failed (its output is printed), 2 on bad usage.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!--\s*doc-test:\s*skip\s*\((.+)\)\s*-->\s*$")
PAGE_TIMEOUT_S = 300


@dataclass
class Block:
    page: str  # path relative to the source dir
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip_reason: str | None
    index: int  # position among the page's blocks of this language, from 1


def parse_blocks(source_dir: Path, page: str) -> list[Block]:
    lines = (source_dir / page).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    counts: dict[str, int] = {}
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        lang = match.group(1)
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise SystemExit(f"{page}:{start + 1}: code fence never closed")
        i += 1  # the closing fence
        skip = SKIP.match(lines[start - 1]) if start > 0 else None
        counts[lang] = counts.get(lang, 0) + 1
        blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n",
                            skip.group(1) if skip else None, counts[lang]))
    return blocks


def snippet_target(block: Block) -> str:
    """The CMake target name tests/docs/CMakeLists.txt gives a cpp block (keep in sync)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", Path(block.page).stem).strip("_").lower()
    return f"doc_snippet_{stem}_{block.index}"


def has_main(block: Block) -> bool:
    return re.search(r"^int main\(", block.text, re.M) is not None


def pages(source_dir: Path) -> list[str]:
    return ["README.md"] + sorted(f"docs/{p.name}" for p in (source_dir / "docs").glob("*.md"))


def make_workspace(root: Path, source_dir: Path, build_dir: Path, testdata: Path) -> Path:
    """root/main looks like a checkout next to root/shared/testdata."""
    root.chmod(0o755)  # servers the pages start as another user (xrootd -R xrootd) must get in
    (root / "shared").mkdir()
    (root / "shared" / "testdata").symlink_to(testdata.resolve())
    main = root / "main"
    main.mkdir()
    (main / "build").symlink_to(build_dir.resolve())
    for name in ("examples", "python", "tests", "scripts", "docs", ".deps"):
        if (source_dir / name).exists():
            (main / name).symlink_to((source_dir / name).resolve())
    return main


def page_script(blocks: list[Block], build_dir: Path, has_train: bool, log) -> str | None:
    parts = [
        "set -eo pipefail",
        # whatever a page leaves running (servers started with &) stops with the page
        "trap 'jobs -p | xargs -r kill 2>/dev/null; wait 2>/dev/null || true' EXIT",
    ]
    ran = 0
    for block in blocks:
        where = f"{block.page}:{block.line}"
        if block.lang not in ("sh", "cpp"):
            continue
        if block.skip_reason:
            log(f"  skip {where}: {block.skip_reason}")
            continue
        if block.lang == "cpp":
            if not has_main(block):
                continue  # fragments are compiled by tests/docs/CMakeLists.txt, not run
            binary = build_dir / "bin" / "doc-snippets" / snippet_target(block)
            if not binary.exists():
                log(f"  skip {where}: {binary.name} was not built (its module is off in this build)")
                continue
            parts.append(f"echo '### {where} ({binary.name})'")
            parts.append(f"'{binary}'")
            ran += 1
            continue
        if not has_train and re.search(r"\bmlaas train\b", block.text):
            log(f"  skip {where}: this build has no training module (MLAAS_WITH_TORCH=OFF)")
            continue
        parts.append(f"echo '### {where}'")
        parts.append(block.text)
        ran += 1
    return "\n".join(parts) + "\n" if ran else None


def run_page(page: str, script: str, workdir: Path, env: dict) -> tuple[bool, str]:
    proc = subprocess.Popen(["bash", "-c", script], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def stop(signum, _frame):  # ctest's timeout: take the page's servers down with us
        os.killpg(proc.pid, signal.SIGKILL)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        out, _ = proc.communicate(timeout=PAGE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return False, out + f"\n{page}: still running after {PAGE_TIMEOUT_S} s: killed\n"
    finally:
        try:  # servers the page started and forgot
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.returncode == 0, out + ("" if proc.returncode == 0 else f"\n{page}: exit status {proc.returncode}\n")


TOP_LEVEL_DEFINITION = re.compile(r"^[A-Za-z_][\w:<>,\s\*&]*\s[\w:]+\([^;]*\)\s*(const\s*)?\{\s*(//.*)?$", re.M)
MODULE_INCLUDE = re.compile(r'^#include "(\w+)/', re.M)


def cpp_source(block: Block) -> str:
    """A translation unit for a cpp block: programs as written; fragments (statements, or
    declarations with their includes) get the standard headers they lean on and, when they are
    bare statements, a function body around them."""
    header = f"// {block.page}:{block.line}, extracted by tests/docs/doc_snippets.py: edit the page, not this file\n"
    if has_main(block):
        return header + block.text
    hoisted, body = [], []
    for line in block.text.splitlines():
        (hoisted if line.startswith(("#include", "using namespace")) else body).append(line)
    prelude = ["#include <iostream>", "#include <string>", "#include <vector>"] + hoisted
    code = "\n".join(body)
    if TOP_LEVEL_DEFINITION.search(code):
        return header + "\n".join(prelude) + "\n" + code + "\n"
    return header + "\n".join(prelude) + "\n\n[[maybe_unused]] static void docSnippet() {\n" + code + "\n}\n"


def extract_cpp(source_dir: Path, out_dir: Path) -> None:
    """Writes every cpp block as a source and `snippets.cmake`, which calls
    mlaas_doc_snippet(TARGET SOURCE PROGRAM|FRAGMENT MODULE...) for each (tests/docs/CMakeLists.txt)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    calls = []
    for page in pages(source_dir):
        for block in parse_blocks(source_dir, page):
            if block.lang != "cpp" or block.skip_reason:
                continue
            target = snippet_target(block)
            source = out_dir / f"{target}.cpp"
            text = cpp_source(block)
            if not source.exists() or source.read_text(encoding="utf-8") != text:
                source.write_text(text, encoding="utf-8")  # unchanged sources keep their timestamps
            modules = sorted(set(MODULE_INCLUDE.findall(block.text)))
            kind = "PROGRAM" if has_main(block) else "FRAGMENT"
            calls.append(f"mlaas_doc_snippet({target} \"{source}\" {kind} {' '.join(modules)})")
    (out_dir / "snippets.cmake").write_text("\n".join(calls) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-dir", type=Path, required=True)
    parser.add_argument("--build-dir", type=Path)
    parser.add_argument("--testdata", type=Path)
    parser.add_argument("--extract-cpp", type=Path, metavar="DIR", help="write the cpp blocks as sources and exit")
    parser.add_argument("--page", action="append", help="only these pages (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the blocks and what happens to them")
    args = parser.parse_args()
    if args.extract_cpp:
        extract_cpp(args.source_dir, args.extract_cpp)
        return 0
    if os.environ.get("MLAAS_TESTDATA"):  # the tests' own override of the corpus location
        args.testdata = Path(os.environ["MLAAS_TESTDATA"])
    if not args.build_dir or not args.testdata:
        parser.error("--build-dir and --testdata (or MLAAS_TESTDATA) are required to run the snippets")

    mlaas = args.build_dir / "bin" / "mlaas"
    if not mlaas.exists():
        print(f"doc_snippets: {mlaas} does not exist: build the mlaas target first", file=sys.stderr)
        return 2
    if not (args.testdata / "root").is_dir():
        print(f"SKIPPED: the test corpus is absent ({args.testdata}/root): the docs' snippets read it")
        return 0
    # `mlaas train` runs bin/mlaas-train (linked with libtorch), which only a torch build has;
    # `mlaas train --help` answers in every build, so it cannot tell.
    has_train = (mlaas.parent / "mlaas-train").exists()

    selected = args.page or pages(args.source_dir)
    for page in selected:
        if not (args.source_dir / page).is_file():
            print(f"doc_snippets: no page {page}", file=sys.stderr)
            return 2
    if args.list:
        for page in selected:
            for b in parse_blocks(args.source_dir, page):
                what = "skip: " + b.skip_reason if b.skip_reason else (
                    "run" if b.lang == "sh" or (b.lang == "cpp" and has_main(b)) else
                    "compile" if b.lang == "cpp" else "text")
                print(f"{page}:{b.line}\t{b.lang or '-'}\t{what}")
        return 0

    failed = []
    for page in selected:
        print(f"== {page}")
        script = page_script(parse_blocks(args.source_dir, page), args.build_dir, has_train, print)
        if script is None:
            print("  (nothing to run)")
            continue
        with tempfile.TemporaryDirectory(prefix="mlaas-doc-") as tmp:
            workdir = make_workspace(Path(tmp), args.source_dir, args.build_dir, args.testdata)
            env = dict(os.environ)
            env["PATH"] = f"{(args.build_dir / 'bin').resolve()}:{env.get('PATH', '')}"
            env["MLAAS_TESTDATA"] = str(Path(tmp) / "shared" / "testdata")
            env.pop("MLAAS_SERVER", None)
            env.pop("MLAAS_TOKEN", None)
            ok, out = run_page(page, script, workdir, env)
        if ok:
            print(f"  ok ({out.count('### ')} blocks)")
        else:
            failed.append(page)
            print(out)
    if failed:
        print(f"doc_snippets: {len(failed)} page(s) failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
