#!/usr/bin/env bash
# Every event type gmd can emit (the literal names passed to its event writers in member/*.c)
# is documented in doc/gmd-events.md as a "### `name`" heading, and every documented one is
# emitted: an event added without its documentation, or documented after its removal, fails.
set -euo pipefail
S=${GK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/gk-evdoc.XXXXXX")
trap 'rm -rf "$W"' EXIT
fails=0
. "$(dirname "$0")/tap.sh"

# the writers: ev_note/ev_sa/drop_kek (gm_groups.c), gk_gm_groups_retrying (gmd.c), and JSON
# objects that set "event" directly
cat "$S"/member/*.c |
	grep -oE '(ev_note|ev_sa|drop_kek|gk_gm_groups_retrying)\([^";]*"[a-z_]+"|"event", "[a-z_]+"' |
	grep -oE '"[a-z_]+"$' | tr -d '"' | sort -u >"$W/emitted"
grep -oE '^### `[a-z_]+`$' "$S/doc/gmd-events.md" | tr -d '#` ' | sort -u >"$W/documented"
check "gmd emits events (the scan finds at least 20 types: $(wc -l <"$W/emitted"))" \
	test "$(wc -l <"$W/emitted")" -ge 20
check "every event gmd emits is documented in doc/gmd-events.md" \
	bash -c 'comm -23 "$1" "$2" | sed "s/^/undocumented: /" | { ! grep .; }' _ "$W/emitted" "$W/documented"
check "every documented event is one gmd emits" \
	bash -c 'comm -13 "$1" "$2" | sed "s/^/not emitted: /" | { ! grep .; }' _ "$W/emitted" "$W/documented"
check "the common fields are documented: event, time (RFC 3339 UTC, milliseconds), group" \
	bash -c 'grep -q "^| \`time\` | .*RFC 3339, UTC, with milliseconds" "$1"' _ "$S/doc/gmd-events.md"
[ "$fails" -eq 0 ]
