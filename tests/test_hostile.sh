#!/bin/sh
# tools/convert.py on the hostile corpus (tests/data/hostile/, written by
# tools/reference/make_hostile_checkpoints.py): every file must be refused with exit status 1 and one
# line on stderr naming the file, within 20 s and under 2 GB peak RSS, leaving no output, no temporary
# file, no process and no marker behind.  Also: the generator reproduces the committed bytes, and the
# valid bases the hostile files are made from still convert (so the refusals are for the attacks).
# Usage: tests/test_hostile.sh [CONVERT_PY]   (default tools/convert.py; needs only /usr/bin/python3)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
CONVERT=${1:-$ROOT/tools/convert.py}
CORPUS=$ROOT/tests/data/hostile
TIME_LIMIT=20                 # seconds per file
RSS_LIMIT_KB=1953125          # 2 GB (2 000 000 000 bytes); the watchdog kills the converter there
FSIZE_LIMIT=1073741824        # no file the converter writes may pass 1 GiB (protects the disk)
FIXED_MARKER=/tmp/ramstrans_hostile_marker
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RAMS_HOSTILE_MARKER=$TMP/marker
export RAMS_HOSTILE_MARKER
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }

# The runner: runs a command in its own session under the time and file-size limits, samples its
# RSS (killing it past the limit) and reports exit status, peak RSS (ru_maxrss from wait4: also
# catches what sampling missed), wall time, and whether any process of its session outlived it.
cat > "$TMP/limits.py" <<'EOF'
import os, resource, signal, subprocess, sys, time
timeout, limit_kb, fsize = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out_path, err_path, cmd = sys.argv[4], sys.argv[5], sys.argv[7:]

def limits():
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True

with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, preexec_fn=limits,
                         start_new_session=True)
pgid = p.pid
timed_out = killed_rss = peak = 0
while True:
    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    r = rss_kb(p.pid)
    peak = max(peak, r)
    if r > limit_kb and not killed_rss:
        killed_rss = 1
        os.killpg(pgid, signal.SIGKILL)
    elif time.monotonic() - t0 > timeout and not timed_out:
        timed_out = 1
        os.killpg(pgid, signal.SIGKILL)
    time.sleep(0.01)
wall = time.monotonic() - t0
peak = max(peak, ru.ru_maxrss)
rc = os.waitstatus_to_exitcode(status)
leftover = 0
if group_alive(pgid):  # something it started is still running: give it 2 s (a marker may follow), then kill
    leftover = 1
    end = time.monotonic() + 2
    while group_alive(pgid) and time.monotonic() < end:
        time.sleep(0.05)
    if group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.1)
print(f"rc={rc} timed_out={timed_out} killed_rss={killed_rss} rss_kb={peak} wall={wall:.1f} leftover={leftover}")
EOF

run_limited() { # stdout stderr cmd...: sets rc timed_out killed_rss rss_kb wall leftover
  o=$1; e=$2; shift 2
  eval "$($PY "$TMP/limits.py" $TIME_LIMIT $RSS_LIMIT_KB $FSIZE_LIMIT "$o" "$e" -- "$@")"
}

markers_found() { # prints and removes any marker present
  for m in "$RAMS_HOSTILE_MARKER" "$FIXED_MARKER"; do
    if [ -e "$m" ]; then
      printf ' %s' "$m"
      rm -f "$m" || echo " (cannot remove $m)"
    fi
  done
}

if [ -e "$FIXED_MARKER" ]; then
  echo "note: removing a marker left by an earlier run: $FIXED_MARKER"
  rm -f "$FIXED_MARKER" || { echo "FAIL: cannot remove $FIXED_MARKER (another user's?)"; exit 1; }
fi

# 1. The generator reproduces the committed corpus, byte for byte.
if $PY "$ROOT/tools/reference/make_hostile_checkpoints.py" --out "$TMP/regen" --controls "$TMP/controls" \
    > "$TMP/regen.log" 2>&1; then
  if diff -r "$TMP/regen" "$CORPUS" > "$TMP/regen.diff" 2>&1; then
    pass "corpus: make_hostile_checkpoints.py reproduces tests/data/hostile/"
  else
    fail "corpus: tests/data/hostile/ differs from what make_hostile_checkpoints.py writes: $(head -5 "$TMP/regen.diff" | tr '\n' ' ')"
  fi
else
  fail "corpus: make_hostile_checkpoints.py failed: $(tail -3 "$TMP/regen.log" | tr '\n' ' ')"
fi
COUNT=$(ls "$CORPUS"/*.pt 2>/dev/null | wc -l)
[ "$COUNT" -ge 40 ] || fail "corpus: only $COUNT files in $CORPUS"

# 2. The valid bases convert (a converter that refused everything would pass step 3).
for f in "$TMP"/controls/*.pt; do
  [ -e "$f" ] || continue
  name=$(basename "$f")
  rm -rf "$TMP/out"; mkdir "$TMP/out"
  run_limited "$TMP/stdout" "$TMP/stderr" $PY "$CONVERT" --input "$f" --output "$TMP/out/out.safetensors" --num-heads 4
  if [ "$rc" -eq 0 ] && [ -s "$TMP/out/out.safetensors" ]; then
    pass "$name (valid base): converts (${wall} s, $((rss_kb / 1024)) MiB)"
  else
    fail "$name (valid base): exit status $rc, no output: $(head -c 300 "$TMP/stderr")"
  fi
  m=$(markers_found); [ -z "$m" ] || fail "$name (valid base): marker appeared:$m"
done

# 3. Every hostile file is refused, cleanly and within bounds, and runs nothing.
for f in "$CORPUS"/*.pt; do
  name=$(basename "$f")
  rm -rf "$TMP/out"; mkdir "$TMP/out"
  run_limited "$TMP/stdout" "$TMP/stderr" $PY "$CONVERT" --input "$f" --output "$TMP/out/out.safetensors" --num-heads 4
  problems=""
  if [ "$timed_out" -eq 1 ]; then
    problems="$problems; timed out after $TIME_LIMIT s"
  elif [ "$killed_rss" -eq 1 ]; then
    problems="$problems; killed at RSS over 2 GB"
  elif [ "$rc" -lt 0 ]; then
    problems="$problems; killed by signal $((-rc))"
  elif [ "$rc" -ne 1 ]; then
    problems="$problems; exit status $rc, want 1"
  fi
  [ "$rss_kb" -lt "$RSS_LIMIT_KB" ] || problems="$problems; peak RSS $((rss_kb / 1024)) MiB"
  lines=$(awk 'END { print NR }' "$TMP/stderr")
  [ "$lines" -eq 1 ] || problems="$problems; stderr has $lines lines"
  grep -qF "$name" "$TMP/stderr" || problems="$problems; the message does not name the file"
  left=$(ls -A "$TMP/out")
  [ -z "$left" ] || problems="$problems; left in the output directory: $(echo $left)"
  m=$(markers_found)
  [ -z "$m" ] || problems="$problems; CODE RAN: marker appeared:$m"
  [ "$leftover" -eq 0 ] || problems="$problems; CODE RAN: left a process running"
  msg=$(head -n 1 "$TMP/stderr" | cut -c 1-200)
  if [ -z "$problems" ]; then
    pass "$name (${wall} s, $((rss_kb / 1024)) MiB): $msg"
  else
    fail "$name: ${problems#; } [${wall} s, $((rss_kb / 1024)) MiB] stderr: $msg"
  fi
done

m=$(markers_found)
[ -z "$m" ] || fail "marker present at the end:$m"
echo "test_hostile: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
