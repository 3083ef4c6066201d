#!/bin/bash
# The hardening jobs CI runs after the normal test suite (.ci/run), each in its own build folder so
# that build/ is never touched:
#
#   asan      the whole ctest suite in an ASan+UBSan build (build-asan; GCC, plus
#             -fsanitize=float-cast-overflow, which GCC's -fsanitize=undefined leaves out)
#   tsan      tests/test_threads (one model, four threads) in a ThreadSanitizer build (build-tsan)
#   valgrind  build/ramscli classify under memcheck: valid inputs (exit 0, no error, no leak) and
#             malformed ones (ramscli's own non-zero exit, still no memcheck error or leak)
#   fuzz      every libFuzzer target (build-fuzz, clang) on its regression inputs, then for
#             FUZZ_SECONDS (default 60) from the committed seed corpus
#
#   tests/sanitize.sh [asan] [tsan] [valgrind] [fuzz]      (no argument: all four, in this order)
#
# Needs: clang and libclang-rt-14-dev (fuzz), valgrind; build/ramscli built (valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
MODEL=tests/data/tiny_f32.safetensors

step() { echo; echo "==== $*"; }

run_asan() {
    step "ASan+UBSan: the whole test suite (build-asan)"
    local flags="-fsanitize=float-cast-overflow -fno-sanitize-recover=float-cast-overflow"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAMSTRANS_SANITIZE=ON \
        -DCMAKE_C_FLAGS="$flags" >/dev/null
    cmake --build build-asan -j"$JOBS"
    # The install test builds an outside program against the instrumented library: it must be
    # compiled with the same sanitizers.  The Python package's tests (python, distributed, and the
    # install test's Python part) are left out: an uninstrumented python3 cannot load an ASan
    # library (the runtime must come first); they run in the ordinary build.
    (cd build-asan &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 RAMSTRANS_TEST_NO_PYTHON=1 \
        CC="cc -fsanitize=address,undefined" ctest --output-on-failure -E '^(python|distributed)$')
}

run_tsan() {
    step "ThreadSanitizer: test_threads (build-tsan)"
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAMSTRANS_TSAN=ON >/dev/null
    cmake --build build-tsan -j"$JOBS" --target test_threads
    # OpenBLAS is not instrumented; libramstrans sets it to one thread, and no report has come
    # from inside it so far.  setarch -R: TSan's shadow memory needs the address layout without
    # the extra randomisation some kernels apply.
    local run=()
    if setarch "$(uname -m)" -R true 2>/dev/null; then run=(setarch "$(uname -m)" -R); fi
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" "${run[@]}" build-tsan/tests/test_threads
}

run_valgrind() {
    step "valgrind memcheck: ramscli classify (build/ramscli)"
    test -x build/ramscli || { echo "build/ramscli is missing: build first"; exit 1; }
    local vg=(valgrind --quiet --leak-check=full --errors-for-leak-kinds=all --error-exitcode=99)
    "${vg[@]}" build/ramscli classify --json --model "$MODEL" tests/data/input.npy \
        tests/data/images/png_rgb.png tests/data/images/jpeg_420.jpg tests/data/images/jpeg_junk_before_app1.jpg \
        tests/data/images/webp_lossy_alpha.webp tests/data/images/webp_anim_offset_lossless.webp >/dev/null
    echo "valid inputs: clean"
    # Malformed inputs: ramscli reports each and exits 1; memcheck must still find nothing (99).
    local bad
    bad=$(mktemp -d)
    trap 'rm -rf "$bad"' RETURN
    : >"$bad/empty.png"
    head -c 700 tests/data/images/jpeg_420.jpg >"$bad/truncated.jpg"
    head -c 100 tests/data/input.npy >"$bad/truncated.npy"
    set +e
    "${vg[@]}" build/ramscli classify --json --model "$MODEL" "$bad/empty.png" "$bad/truncated.jpg" \
        "$bad/truncated.npy" "$bad/missing.png" tests/data/images/bad_png_crc.png \
        tests/data/images/bad_webp_lossless_damaged.webp tests/data/images/bad_webp_anim_huge_canvas.webp \
        tests/data/images/bad_jpeg_junk_before_rst.jpg tests/data/input.npy >/dev/null
    local rc=$?
    "${vg[@]}" build/ramscli classify --json --model "$bad/truncated.npy" tests/data/input.npy >/dev/null 2>&1
    local rc_model=$?
    set -e
    if [ "$rc" -ne 1 ] || [ "$rc_model" -eq 99 ] || [ "$rc_model" -eq 0 ]; then
        echo "valgrind on malformed inputs: exit $rc and $rc_model (99 = memcheck error)"
        exit 1
    fi
    echo "malformed inputs: refused, clean"
}

run_fuzz() {
    step "libFuzzer: every target for ${FUZZ_SECONDS}s (build-fuzz)"
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAMSTRANS_FUZZ=ON \
        -DRAMSTRANS_BUILD_TESTS=OFF >/dev/null
    cmake --build build-fuzz -j"$JOBS"
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    for target in model jpeg png webp npy dppm; do
        local bin=build-fuzz/fuzz/fuzz_$target
        # Every crash found so far, first: each must now run clean.
        if [ -d "fuzz/regressions/$target" ]; then
            "$bin" -runs=0 fuzz/regressions/"$target"/* >"$work/$target.regressions.log" 2>&1 ||
                { cat "$work/$target.regressions.log"; echo "fuzz_$target: a regression input fails"; exit 1; }
        fi
        mkdir -p "$work/$target"
        echo "fuzz_$target: ${FUZZ_SECONDS}s"
        if ! (cd "$work" && "$ROOT/$bin" -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=4096 \
            -print_final_stats=1 "$work/$target" "$ROOT/fuzz/corpus/$target" >"$work/$target.log" 2>&1); then
            # A timeout on a loaded machine may be the machine stalling, not the input: one that
            # replays well inside the limit is reported and the job goes on.
            local t
            t=$(ls "$work"/timeout-* 2>/dev/null | head -1 || true)
            if [ -n "$t" ] && [ -z "$(ls "$work"/crash-* "$work"/oom-* "$work"/leak-* 2>/dev/null)" ] &&
                "$bin" -timeout=5 "$t" >"$work/$target.replay.log" 2>&1; then
                echo "fuzz_$target: a timeout that replays in under 5 s (machine stall?); base64 of the input:"
                base64 -w0 "$t"; echo
                rm -f "$t"
                grep -E "^stat::number_of_executed_units" "$work/$target.log" || true
                continue
            fi
            tail -60 "$work/$target.log"
            echo "fuzz_$target found a crash: the input is above (artifact in $work); add it under fuzz/regressions/$target/"
            for f in "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$work"/leak-*; do
                [ -e "$f" ] || continue
                echo "base64 of $f:"; base64 -w0 "$f"; echo
            done
            exit 1
        fi
        grep -E "^stat::number_of_executed_units|^#[0-9]+ +DONE" "$work/$target.log" || true
    done
}

jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=(asan tsan valgrind fuzz)
for job in "${jobs[@]}"; do
    case "$job" in
    asan) run_asan ;;
    tsan) run_tsan ;;
    valgrind) run_valgrind ;;
    fuzz) run_fuzz ;;
    *) echo "unknown job '$job' (asan, tsan, valgrind, fuzz)"; exit 2 ;;
    esac
done
echo; echo "sanitize.sh: ${jobs[*]}: all clean"
