#!/usr/bin/env python3
"""Mutation testing for gikev2: `make mutants` (not part of `make check`, not in CI: it is slow).

Each mutant in test/mutants/mutants.txt is one small change to the code (a bound, a comparison, a
skipped check, a wrong constant), found by an exact text that must occur exactly once in its
file (so the list survives edits elsewhere; a stale mutant stops the run before anything is
built). The runner copies the source tree into a scratch directory, configures and builds it
once, then for each mutant: applies it, rebuilds incrementally, runs the mutant's hint tests
and, only when they all pass, the whole `make check`; then restores the file. A mutant is
killed when a test fails (or times out), survives when everything passes.

Usage: tools/mutants.py [--srcdir DIR] [--builddir DIR] [--list FILE] [--as USER] [--only NAME]...
       [--check]  (only validate the list)
MUTANTS_AS=USER (or --as) runs the builds and tests as that user (the runner must be root), to
measure what the suite proves without root; MUTANTS_ONLY="a b" selects mutants;
MUTANTS_JOBS sets make -j (default 2).
"""
import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Mutant:
    def __init__(self, name, lineno):
        self.name = name
        self.lineno = lineno
        self.file = None
        self.tests = []
        self.why = ""
        self.needs = ""
        self.old = []
        self.new = []

    @property
    def original(self):
        return "\n".join(self.old)

    @property
    def replacement(self):
        return "\n".join(self.new)


def parse_list(path):
    """Stanzas: `[name]`, then `file:`, `tests:`, `why:`, `needs:` lines, then `- old` and
    `+ new` lines (the text after the two-character prefix, taken exactly; several lines of one
    kind are joined with newlines)."""
    mutants, cur, errors = [], None, []
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("[") and line.endswith("]"):
                cur = Mutant(line[1:-1].strip(), n)
                mutants.append(cur)
            elif not line.strip() or line.startswith("#"):
                continue
            elif cur is None:
                errors.append(f"{path}:{n}: text before the first [name]")
            elif line.startswith("- ") or line == "-":
                cur.old.append(line[2:])
            elif line.startswith("+ ") or line == "+":
                cur.new.append(line[2:])
            elif ":" in line:
                key, val = line.split(":", 1)
                key, val = key.strip(), val.strip()
                if key == "file":
                    cur.file = val
                elif key == "tests":
                    cur.tests = val.split()
                elif key == "why":
                    cur.why = val
                elif key == "needs":
                    cur.needs = val
                else:
                    errors.append(f"{path}:{n}: unknown key {key!r}")
            else:
                errors.append(f"{path}:{n}: cannot read {line!r}")
    names = set()
    for m in mutants:
        if m.name in names:
            errors.append(f"{path}:{m.lineno}: mutant {m.name} listed twice")
        names.add(m.name)
        if not m.file or not m.old or not m.tests:
            errors.append(f"{path}:{m.lineno}: mutant {m.name} needs file, tests and a - line")
        if any(t.startswith("-") or "/" not in t for t in m.tests):
            errors.append(f"{path}:{m.lineno}: mutant {m.name}: tests are names from TESTS (test/unit/...)")
        if m.old == m.new:
            errors.append(f"{path}:{m.lineno}: mutant {m.name} changes nothing")
    return mutants, errors


def defined_tests(srcdir):
    """The test names the automake files add to TESTS: Makefile.am, mk/*.am and every fragment
    an automake file includes (build fragments may live beside the code they build)."""
    names = set()
    files = [os.path.join(srcdir, "Makefile.am")]
    mk = os.path.join(srcdir, "mk")
    if os.path.isdir(mk):
        files += [os.path.join(mk, f) for f in sorted(os.listdir(mk)) if f.endswith(".am")]
    seen = set()
    while files:
        fn = files.pop(0)
        if fn in seen or not os.path.isfile(fn):
            continue
        seen.add(fn)
        with open(fn, encoding="utf-8") as f:
            text = f.read().replace("\\\n", " ")
        for line in text.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "include":
                files.append(os.path.join(srcdir, words[1].replace("$(srcdir)/", "").replace("$(top_srcdir)/", "")))
            if len(words) > 2 and words[0] == "TESTS" and words[1] in ("=", "+="):
                names.update(words[2:])
    return names


def drop_undefined_tests(mutants, srcdir):
    """A hint test this tree does not have (yet) is left out, with a note: running it would
    fail and count as a kill."""
    have = defined_tests(srcdir)
    for m in mutants:
        missing = [t for t in m.tests if t not in have]
        if missing:
            print(f"note: {m.name}: hint test(s) not in this tree, left out: {' '.join(missing)}", flush=True)
            m.tests = [t for t in m.tests if t in have]


def validate(mutants, srcdir):
    """Every original text must occur exactly once in its file: fail loudly otherwise."""
    errors = []
    for m in mutants:
        p = os.path.join(srcdir, m.file)
        try:
            with open(p, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            errors.append(f"mutant {m.name}: {e}")
            continue
        k = text.count(m.original)
        if k != 1:
            errors.append(f"mutant {m.name}: its text occurs {k} times in {m.file} (must be exactly once): "
                          f"{m.original!r}")
    return errors


class Runner:
    def __init__(self, args):
        self.args = args
        self.user = args.as_user
        self.jobs = os.environ.get("MUTANTS_JOBS", "2")
        self.work = None
        self.src = None
        self.build = None
        self.log = None

    def cmd(self, argv, cwd, timeout, log):
        """Runs argv (as self.user if set); returns (rc, seconds); rc None on timeout."""
        if self.user:
            argv = ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups",
                    "--reset-env", "--"] + argv
        t0 = time.monotonic()
        with open(log, "ab") as out:
            out.write(("\n$ " + " ".join(shlex.quote(a) for a in argv) + "\n").encode())
            out.flush()
            p = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                rc = None
            except BaseException:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                raise
        return rc, time.monotonic() - t0

    def configure_args(self):
        """The options the caller's build was configured with (config.status), else --enable-werror."""
        cs = os.path.join(self.args.builddir, "config.status") if self.args.builddir else None
        if cs and os.path.exists(cs):
            out = subprocess.run([cs, "--config"], capture_output=True, text=True).stdout
            opts = shlex.split(out)
            return [o for o in opts if not o.startswith(("--srcdir", "--cache-file"))]
        return ["--enable-werror"]

    def prepare(self):
        base = os.environ.get("TMPDIR", "/tmp")
        self.work = tempfile.mkdtemp(prefix="gikev2-mutants-", dir=base)
        self.src = os.path.join(self.work, "src")
        self.build = os.path.join(self.work, "build")
        self.log = os.path.join(self.work, "mutants.log")
        objects = shutil.ignore_patterns(".git", "autom4te.cache", "*.o", "*.a", "config.status", "config.log")
        top = os.path.abspath(self.args.srcdir)

        def ignore(d, names):
            skip = set(objects(d, names))
            if os.path.abspath(d) == top:  # build directories in the tree, not build-aux
                skip |= {n for n in names if n.startswith("build") and n != "build-aux"}
            return skip
        shutil.copytree(self.args.srcdir, self.src, ignore=ignore, symlinks=True)
        os.makedirs(self.build)
        if self.user:
            subprocess.run(["chown", "-R", f"{self.user}:", self.work], check=True)
        print(f"scratch tree: {self.work} (log: {self.log})", flush=True)
        if not os.path.exists(os.path.join(self.src, "configure")):
            rc, _ = self.cmd(["./autogen.sh"], self.src, 900, self.log)
            if rc != 0:
                sys.exit("autogen.sh failed, see " + self.log)
        rc, _ = self.cmd([os.path.join(self.src, "configure")] + self.configure_args(), self.build, 900, self.log)
        if rc != 0:
            sys.exit("configure failed, see " + self.log)
        t0 = time.monotonic()
        rc, _ = self.cmd(["make", f"-j{self.jobs}"], self.build, 1800, self.log)
        if rc != 0:
            sys.exit("the unmutated tree does not build, see " + self.log)
        # the test programs too, so the first mutant's time is its own
        rc, _ = self.cmd(["make", f"-j{self.jobs}", "check", "TESTS="], self.build, 1800, self.log)
        if rc != 0:
            sys.exit("the unmutated test programs do not build, see " + self.log)
        print(f"baseline build: {time.monotonic() - t0:.0f} s", flush=True)
        # a suite that fails unmutated would "kill" every mutant
        rc, t = self.cmd(["make", f"-j{self.jobs}", "check"], self.build, 3600, self.log)
        if rc != 0:
            sys.exit("make check fails on the unmutated tree: fix that first, see " + self.log)
        print(f"baseline make check passes: {t:.0f} s", flush=True)

    def run_one(self, m):
        path = os.path.join(self.src, m.file)
        with open(path, encoding="utf-8") as f:
            orig = f.read()
        st = os.stat(path)
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(orig.replace(m.original, m.replacement, 1))
            rc, t_build = self.cmd(["make", f"-j{self.jobs}"], self.build, 1800, self.log)
            if rc != 0:
                return "stillborn", "does not build", t_build
            hint = " ".join(m.tests)
            t_hint = 0.0
            if hint:
                rc, t_hint = self.cmd(["make", f"-j{self.jobs}", "check", f"TESTS={hint}"], self.build, 900,
                                      self.log)
                if rc is None:
                    return "killed", f"timeout in {hint}", t_build + t_hint
                if rc != 0:
                    return "killed", f"by {hint}", t_build + t_hint
            # GK_MUTANT_RUN: list_current.sh would fail on every mutant (its text is gone) and
            # count it as killed
            rc, t_full = self.cmd(["make", f"-j{self.jobs}", "check", "GK_MUTANT_RUN=1"], self.build, 3600,
                                  self.log)
            total = t_build + t_hint + t_full
            if rc is None:
                return "killed", "timeout in make check", total
            if rc != 0:
                return "killed", "by make check (not the hint tests)", total
            return "survived", "", total
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(orig)
            # the restored file is newer than any object built from the mutant
            os.utime(path, ns=(st.st_atime_ns, max(time.time_ns(), st.st_mtime_ns + 1)))

    def cleanup(self):
        """Keeps the log of the builds and tests (in the caller's build directory) and removes
        the scratch tree."""
        if not self.work:
            return
        name = f"mutants-{self.user}.log" if self.user else "mutants.log"
        keep_log = os.path.join(self.args.builddir or os.getcwd(), name)
        try:
            shutil.copyfile(self.log, keep_log)
            print(f"log: {keep_log}", flush=True)
        except OSError:
            pass
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="run the mutants of test/mutants/mutants.txt")
    ap.add_argument("--srcdir", default=os.path.dirname(here))
    ap.add_argument("--builddir", default=None, help="the caller's build (for its configure options)")
    ap.add_argument("--list", default=None)
    ap.add_argument("--as", dest="as_user", default=os.environ.get("MUTANTS_AS") or None)
    ap.add_argument("--only", action="append", default=(os.environ.get("MUTANTS_ONLY") or "").split())
    ap.add_argument("--check", action="store_true", help="only validate the list against the tree")
    ap.add_argument("--keep", action="store_true", help="keep the scratch tree")
    args = ap.parse_args()
    args.srcdir = os.path.abspath(args.srcdir)
    lst = args.list or os.path.join(args.srcdir, "test", "mutants", "mutants.txt")
    mutants, errors = parse_list(lst)
    errors += validate(mutants, args.srcdir)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(f"{lst}: {len(errors)} stale or broken mutant(s): fix the list before running it")
    drop_undefined_tests(mutants, args.srcdir)
    if args.only:
        unknown = set(args.only) - {m.name for m in mutants}
        if unknown:
            sys.exit("no such mutant: " + " ".join(sorted(unknown)))
        mutants = [m for m in mutants if m.name in args.only]
    print(f"{len(mutants)} mutants, list {lst} valid", flush=True)
    if args.check:
        return 0
    if args.as_user and os.geteuid() != 0:
        sys.exit("--as/MUTANTS_AS needs the runner to start as root")
    if not args.as_user and os.geteuid() != 0:
        print("note: not root: root-only tests skip, this is the score without root", flush=True)

    def term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, term)
    r = Runner(args)
    t0 = time.monotonic()
    results = []
    try:
        r.prepare()
        for i, m in enumerate(mutants, 1):
            verdict, how, secs = r.run_one(m)
            results.append((m, verdict, how, secs))
            print(f"[{i}/{len(mutants)}] {verdict.upper():9} {m.name}  ({m.file}; {how or 'all tests pass'}; "
                  f"{secs:.0f} s)", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except SystemExit:
        args.keep = True  # the unmutated tree failed: keep it to look at
        raise
    finally:
        r.cleanup()
    killed = [x for x in results if x[1] == "killed"]
    survived = [x for x in results if x[1] == "survived"]
    stillborn = [x for x in results if x[1] == "stillborn"]
    scored = len(killed) + len(survived)
    who = f"as {args.as_user}" if args.as_user else ("as root" if os.geteuid() == 0 else "not as root")
    print(f"\nmutation score ({who}): {len(killed)}/{scored} killed"
          + (f" = {100.0 * len(killed) / scored:.1f} %" if scored else ""), flush=True)
    for m, _, _, _ in survived:
        print(f"  survived: {m.name}  ({m.file}){'  needs: ' + m.needs if m.needs else ''}")
        if m.why:
            print(f"            {m.why}")
    for m, _, _, _ in stillborn:
        print(f"  does not build (fix the mutant): {m.name}  ({m.file})")
    print(f"total time: {time.monotonic() - t0:.0f} s")
    if len(results) < len(mutants) or stillborn:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
