#!/bin/bash
# Installs the build into a temporary prefix and builds examples/classify.c against it as an
# outside program would: through pkg-config (shared, then static) and through find_package.
# Each program must run on the golden input and print the same top-5.
#
#   test_install.sh CMAKE BUILD_DIR SOURCE_DIR        (registered with ctest; exit 77 = skipped)
set -euo pipefail
CMAKE=$1
BUILD=$2
SRC=$3
CC=${CC:-cc}
MODEL=$SRC/tests/data/tiny_f32.safetensors
INPUT=$SRC/tests/data/input.npy
EXAMPLE=$SRC/examples/classify.c
if [ ! -f "$MODEL" ] || [ ! -f "$INPUT" ]; then
    echo "SKIP: golden data is not there yet (tools/reference/make_golden.py writes it)"
    exit 77
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PREFIX=$TMP/prefix

step() { echo "---- $*"; }

step "cmake --install into $PREFIX"
"$CMAKE" --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log"
for f in include/ramstrans.h bin/ramscli; do
    test -e "$PREFIX/$f" || { echo "not installed: $f"; exit 1; }
done
# The default model is installed, and the installed library finds it beside itself, wherever the
# tree was installed (not through the source tree or the configured prefix).
if [ -f "$SRC/models/default.safetensors" ]; then
    test -f "$PREFIX/share/ramstrans/models/default.safetensors" || { echo "not installed: the default model"; exit 1; }
    found=$(env -u RAMSTRANS_MODEL "$PREFIX/bin/ramscli" info | sed -n '1s/^model *//p')
    case "$found" in "$PREFIX"/*) echo "ok: default model found at $found" ;;
        *) echo "the installed ramscli's default model is '$found', not under $PREFIX"; exit 1 ;; esac
fi
PC=$(find "$PREFIX" -name ramstrans.pc | head -1)
test -n "$PC" || { echo "ramstrans.pc not installed"; exit 1; }
LIBDIR=$(dirname "$(dirname "$PC")")
test -e "$LIBDIR/libramstrans.a" || { echo "libramstrans.a not installed in $LIBDIR"; exit 1; }
test -e "$LIBDIR/cmake/ramstrans/ramstransConfig.cmake" || { echo "CMake package not installed"; exit 1; }
SONAME=$(readelf -d "$LIBDIR/libramstrans.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "SONAME $SONAME"
case "$SONAME" in libramstrans.so.[0-9]*) ;; *) echo "no versioned SONAME"; exit 1 ;; esac

# As a user would: the installed .pc as it is (it finds its prefix from where it lies, so an
# install moved with --prefix works too).
pc() { PKG_CONFIG_PATH=$(dirname "$PC") pkg-config "$@" ramstrans; }
case "$(pc --cflags)" in *"$PREFIX"*) ;; *) echo "pkg-config does not point into $PREFIX"; exit 1 ;; esac
echo "cflags: $(pc --cflags)"
echo "libs: $(pc --libs)"
echo "static libs: $(pc --static --libs)"

step "shared, through pkg-config"
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror -o "$TMP/classify_shared" "$EXAMPLE" $(pc --cflags --libs) -Wl,-rpath,"$LIBDIR"
readelf -d "$TMP/classify_shared" | grep -q "NEEDED.*\[$SONAME\]" || { echo "not linked to $SONAME"; exit 1; }
"$TMP/classify_shared" "$INPUT" "$MODEL" | tee "$TMP/shared.txt"

step "static, through pkg-config --static"
# -l:libramstrans.a picks the archive although the shared library sits beside it.
STATIC_LIBS=$(pc --static --libs | sed 's/-lramstrans\b/-l:libramstrans.a/')
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror -o "$TMP/classify_static" "$EXAMPLE" $(pc --cflags) $STATIC_LIBS
if readelf -d "$TMP/classify_static" | grep -q "NEEDED.*libramstrans"; then
    echo "the static build still needs libramstrans.so"
    exit 1
fi
"$TMP/classify_static" "$INPUT" "$MODEL" >"$TMP/static.txt"
cmp "$TMP/shared.txt" "$TMP/static.txt" || { echo "static and shared builds disagree"; exit 1; }

step "find_package(ramstrans), shared and static targets"
"$CMAKE" -S "$SRC/tests/install/consumer" -B "$TMP/consumer" -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DEXAMPLE_SOURCE="$EXAMPLE" -DCMAKE_BUILD_TYPE=Release >"$TMP/consumer.log" ||
    { cat "$TMP/consumer.log"; exit 1; }
"$CMAKE" --build "$TMP/consumer" >>"$TMP/consumer.log" 2>&1 || { cat "$TMP/consumer.log"; exit 1; }
for kind in shared static; do
    "$TMP/consumer/classify_$kind" "$INPUT" "$MODEL" >"$TMP/cmake_$kind.txt"
    cmp "$TMP/shared.txt" "$TMP/cmake_$kind.txt" || { echo "find_package $kind build disagrees"; exit 1; }
done
if readelf -d "$TMP/consumer/classify_static" | grep -q "NEEDED.*libramstrans"; then
    echo "ramstrans::ramstrans_static still needs libramstrans.so"
    exit 1
fi

step "the installed ramscli agrees"
"$PREFIX/bin/ramscli" classify --model "$MODEL" --json "$INPUT" >"$TMP/cli.json"
/usr/bin/python3 - "$TMP/cli.json" "$TMP/shared.txt" <<'PY'
import json, sys
top = json.load(open(sys.argv[1]))["top"]
lines = open(sys.argv[2]).read().split("\n")
lines = [l for l in lines if l.strip()]
assert len(lines) == len(top), (lines, top)
for rank, (t, line) in enumerate(zip(top, lines), 1):
    assert line.startswith("%d. %s " % (rank, t["label"])), (line, t)
print("ok: ramscli and the example give the same top-%d" % len(top))
PY

step "a bad input: the example reports it and exits 1"
if "$TMP/classify_shared" "$TMP/nothing.png" "$MODEL" 2>"$TMP/err.txt"; then
    echo "a missing file did not fail"
    exit 1
fi
grep -q "nothing.png" "$TMP/err.txt" || { echo "the message does not name the file"; cat "$TMP/err.txt"; exit 1; }

step "man ramscli"
test -f "$PREFIX/share/man/man1/ramscli.1" || { echo "not installed: share/man/man1/ramscli.1"; exit 1; }
if command -v man >/dev/null; then
    page=$(man -M "$PREFIX/share/man" -w ramscli)
    case "$page" in "$PREFIX"/*) echo "ok: man ramscli is $page" ;;
        *) echo "man -M $PREFIX/share/man finds '$page'"; exit 1 ;; esac
fi

step "the Python package, as installed"
if [ "${RAMSTRANS_TEST_NO_PYTHON:-0}" = 1 ]; then
    # tests/sanitize.sh's ASan build: an uninstrumented python3 cannot load an ASan library.
    echo "(skipped: RAMSTRANS_TEST_NO_PYTHON=1, the library is built with a sanitizer)"
    echo "all install checks passed"
    exit 0
fi
# In <prefix>/lib/python3/dist-packages (Debian's layout); it finds the installed library beside
# it (no RAMSTRANS_LIBRARY, no build tree) and classifies the examples byte for byte as the
# installed ramscli does.
PYDIR=$PREFIX/lib/python3/dist-packages
test -f "$PYDIR/ramstrans/__init__.py" || { echo "not installed: $PYDIR/ramstrans"; exit 1; }
"$PREFIX/bin/ramscli" classify --json "$SRC"/examples/*.png >"$TMP/cli_examples.json"
(cd "$TMP" && env -u RAMSTRANS_LIBRARY -u RAMSTRANS_MODEL PYTHONPATH="$PYDIR" PREFIX="$PREFIX" \
    /usr/bin/python3 - "$SRC"/examples/*.png >"$TMP/py_examples.json") <<'PY'
import os, sys
import ramstrans
lib = os.path.realpath(ramstrans.library_path)
assert lib.startswith(os.path.realpath(os.environ["PREFIX"]) + "/"), lib
assert ramstrans.__file__.startswith(os.environ["PREFIX"] + "/"), ramstrans.__file__
model = ramstrans.Model()
for path in sys.argv[1:]:
    print(ramstrans.dumps(model.classify(path)))
print("ok: ramstrans %s from %s, model %s" % (ramstrans.version, lib, model.path), file=sys.stderr)
PY
cmp "$TMP/cli_examples.json" "$TMP/py_examples.json" || { echo "import ramstrans and ramscli disagree"; exit 1; }
echo "ok: import ramstrans gives the installed ramscli's lines"
if /usr/bin/python3 -c "import distributed" 2>/dev/null; then
    # python3 -m ramstrans.distributed from the installed tree, on a dask-scheduler and two
    # dask-workers started by hand (tests/python/test_distributed.py, its first cluster test).
    RAMS_INSTALLED_PREFIX=$PREFIX /usr/bin/python3 "$SRC/tests/python/test_distributed.py" \
        SchedulerAndWorkers.test_1_same_lines
else
    echo "(python3-distributed is not installed: the installed ramstrans.distributed is not run)"
fi
echo "all install checks passed"
