#!/bin/sh
# The seeds of fuzz_gcks are answers to the GCKS the target runs, with its seeded randomness:
# any change to what gk_gcks_new or IKE_SA_INIT draws from it makes them stale (they then stop
# at the integrity check and the fuzzer no longer reaches the handlers, though replay passes).
# This test makes them again and compares. Stale: run `make fuzz-corpus` and commit.
B=${GK_BUILDDIR:-$(pwd)}
S=${GK_SRCDIR:-$(dirname "$0")/../..}
W=$(mktemp -d "${TMPDIR:-/tmp}/gk-seeds.XXXXXX") || exit 99
trap 'rm -rf "$W"' EXIT
"$B/test/fuzz/gen_gcks" "$W" >/dev/null || { echo "not ok - gen_gcks failed"; exit 1; }
fails=0
n=0
for f in "$W"/gcks/*; do
	n=$((n + 1))
	name=$(basename "$f")
	if cmp -s "$f" "$S/test/fuzz/corpus/gcks/$name"; then
		echo "ok - seed $name is current"
	else
		echo "not ok - seed $name is stale or missing: run make fuzz-corpus and commit test/fuzz/corpus/gcks"
		fails=$((fails + 1))
	fi
done
[ "$n" -gt 0 ] || { echo "not ok - gen_gcks wrote no seed"; exit 1; }
echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
