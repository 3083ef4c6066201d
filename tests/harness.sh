# Shared by the shell tests (sourced): a scratch folder, Debian's python3, pass/fail bookkeeping,
# and the two checks every test is made of.  The sourcing script reports `$failures` at its end;
# the fail-fast tests (set -eu: test_photos.sh, test_quantize.sh, test_reference.sh) take only the
# scratch folder and $PY.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3
failures=0
pass() { echo "ok   $1"; }
bad() { echo "FAIL $1"; failures=$((failures + 1)); }

# run NAME WANT_STATUS CMD...: runs CMD with stdout in $TMP/out, stderr in $TMP/err.
run() {
    local name=$1 want=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then
        pass "$name (exit $got)"
        return 0
    fi
    bad "$name: exit $got, want $want"
    sed 's/^/     stdout: /' "$TMP/out" | head -5
    sed 's/^/     stderr: /' "$TMP/err" | head -5
    return 1
}

# expect NAME CONDITION...: a test of the files run left.
expect() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else bad "$name"; fi
}
