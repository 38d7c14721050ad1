#!/bin/sh
# Every mutant of test/mutants/mutants.txt must still name text that occurs exactly once in its
# file, so that code moved or rewritten keeps its mutants (make mutants refuses a stale list).
srcdir=${srcdir:-.}
# Inside make mutants' full run the mutated text is gone by design: the list is checked on the
# unmutated tree before the run instead.
if [ "${GK_MUTANT_RUN:-}" = 1 ]; then
	echo "mutant run: the list was checked on the unmutated tree"
	exit 0
fi
exec python3 "$srcdir/tools/mutants.py" --srcdir "$srcdir" --check
