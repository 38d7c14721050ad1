#!/bin/sh
# Every mutant of test/mutants/mutants.txt must still name text that occurs exactly once in its
# file, so that code moved or rewritten keeps its mutants (make mutants refuses a stale list).
srcdir=${srcdir:-.}
exec python3 "$srcdir/tools/mutants.py" --srcdir "$srcdir" --check
