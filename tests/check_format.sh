#!/bin/sh
# Every C file of the project is formatted as .clang-format says (the house style).  .ci/run runs
# this; `tests/check_format.sh --fix` rewrites the files in place.  Needs Debian 12's clang-format
# (version 14): other versions format some constructs differently, so they are refused.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CF=${CLANG_FORMAT:-clang-format}
if ! command -v "$CF" > /dev/null 2>&1; then
    echo "check_format: $CF not found (apt-get install clang-format)" >&2
    exit 1
fi
case "$("$CF" --version)" in
    *"version 14."*) ;;
    *) echo "check_format: needs clang-format 14 (Debian 12's), found: $("$CF" --version)" >&2; exit 1 ;;
esac
FILES=$(git ls-files '*.c' '*.h' | grep -v '^tests/data/')
if [ "${1:-}" = "--fix" ]; then
    echo "$FILES" | xargs "$CF" -i --style=file
    exit 0
fi
BAD=0
for f in $FILES; do
    if ! "$CF" --style=file "$f" | cmp -s - "$f"; then
        echo "check_format: $f is not formatted (tests/check_format.sh --fix)"
        BAD=$((BAD + 1))
    fi
done
COUNT=$(echo "$FILES" | wc -l)
echo "check_format: $((COUNT - BAD)) passed, $BAD failed"
[ "$BAD" -eq 0 ]
