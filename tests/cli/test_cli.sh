#!/bin/bash
# ramscli's behaviour as a user sees it: results against the golden data of tools/, batches with a
# bad file in the middle, missing files, usage errors, directories, threads, eval.
#
#   test_cli.sh RAMSCLI DATA_DIR        (registered with ctest; exit 77 = skipped)
set -u
RAMSCLI=$1
DATA=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK="/usr/bin/python3 $HERE/check_json.py"
MODEL=$DATA/tiny_f32.safetensors
INPUT=$DATA/input.npy

for f in "$MODEL" "$INPUT" "$DATA/f32/input/logits1.npy" "$DATA/f16/input/logits1.npy"; do
    if [ ! -f "$f" ]; then
        echo "SKIP: golden data $f is not there yet (tools/reference/make_golden.py writes it)"
        exit 77
    fi
done

. "$(dirname "$0")/../harness.sh"

lines() { grep -c '' "$1"; }

# ---- version and help ------------------------------------------------------------------------
run "version" 0 "$RAMSCLI" version && expect "version names the library" grep -q "libramstrans" "$TMP/out"
for cmd in classify info eval explain version; do
    run "$cmd --help" 0 "$RAMSCLI" "$cmd" --help && expect "$cmd --help prints usage" grep -q "^usage: ramscli" "$TMP/out"
done
run "--help" 0 "$RAMSCLI" --help && expect "--help lists classify" grep -q "classify" "$TMP/out"

# ---- usage errors: exit 2, a message on stderr, nothing on stdout -----------------------------
run "no command" 2 "$RAMSCLI"
run "unknown command" 2 "$RAMSCLI" frobnicate
run "classify without files" 2 "$RAMSCLI" classify --model "$MODEL"
run "classify --mode nonsense" 2 "$RAMSCLI" classify --model "$MODEL" --mode nonsense "$INPUT"
run "classify --top-k 0" 2 "$RAMSCLI" classify --model "$MODEL" --top-k 0 "$INPUT"
run "classify --top-k x" 2 "$RAMSCLI" classify --model "$MODEL" --top-k x "$INPUT"
run "classify --threads 0" 2 "$RAMSCLI" classify --model "$MODEL" --threads 0 "$INPUT"
run "classify --model without value" 2 "$RAMSCLI" classify --model
run "classify unknown option" 2 "$RAMSCLI" classify --frobnicate "$INPUT"
expect "usage error says what is wrong" grep -q "unknown option '--frobnicate'" "$TMP/err"
expect "usage error prints nothing on stdout" test ! -s "$TMP/out"
run "info extra argument" 2 "$RAMSCLI" info --model "$MODEL" extra
run "eval without DIR" 2 "$RAMSCLI" eval --model "$MODEL"
run "eval --limit -3" 2 "$RAMSCLI" eval --model "$MODEL" --limit -3 "$TMP"

# ---- info ------------------------------------------------------------------------------------
run "info" 0 "$RAMSCLI" info --model "$MODEL" && expect "info shows the architecture" grep -q "^architecture" "$TMP/out"
run "info --json" 0 "$RAMSCLI" info --model "$MODEL" --json &&
    expect "info --json is JSON with the labels" /usr/bin/python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
a = o["architecture"]
assert len(o["labels"]) == a["num_classes"] and o["file_bytes"] > 0 and o["dtype"] == "F32"
assert o["default_mode"] in ("scale1", "scale2", "fused")' "$TMP/out"
run "info on a missing model" 1 "$RAMSCLI" info --model "$TMP/nonexistent.safetensors"
expect "the model error names the file" grep -q "^ramscli: .*nonexistent.safetensors" "$TMP/err"

# ---- classify against the golden data --------------------------------------------------------
for dtype in f32 f16; do
    for mode in fused scale2 scale1; do
        run "classify --json --mode $mode, $dtype model" 0 "$RAMSCLI" classify --model "$DATA/tiny_$dtype.safetensors" \
            --mode "$mode" --json "$INPUT" &&
            expect "$mode result equals the golden data" $CHECK classify "$TMP/out" "$DATA/$dtype/input" "$mode"
    done
done
run "classify --top-k 3" 0 "$RAMSCLI" classify --model "$MODEL" --json --top-k 3 "$INPUT" &&
    expect "three predictions" /usr/bin/python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["top"]) == 3' "$TMP/out"
run "classify, human table" 0 "$RAMSCLI" classify --model "$MODEL" "$INPUT" &&
    expect "the table has the file and five ranks" bash -c 'grep -q "input.npy" "$1" && grep -q "^ *5\. " "$1"' _ "$TMP/out"

# ---- batches ---------------------------------------------------------------------------------
mkdir -p "$TMP/batch"
cp "$INPUT" "$TMP/batch/a.npy"
cp "$INPUT" "$TMP/batch/c.npy"
echo "this is not an image" >"$TMP/batch/b.png"
run "a bad file in the middle of a batch" 1 "$RAMSCLI" classify --model "$MODEL" --json \
    "$TMP/batch/a.npy" "$TMP/batch/b.png" "$TMP/batch/c.npy"
expect "the good files are still classified, in order" $CHECK lines "$TMP/out" "$TMP/batch/a.npy" "$TMP/batch/c.npy"
expect "one error line that names the bad file" bash -c '[ "$(grep -c "" "$1")" = 1 ] && grep -q "^ramscli: $2: " "$1"' _ "$TMP/err" "$TMP/batch/b.png"

run "a missing file" 1 "$RAMSCLI" classify --model "$MODEL" --json "$TMP/missing.npy" "$TMP/batch/a.npy"
expect "the others still run" $CHECK lines "$TMP/out" "$TMP/batch/a.npy"
expect "one error line that names the missing file" bash -c '[ "$(grep -c "" "$1")" = 1 ] && grep -q "^ramscli: $2: " "$1"' _ "$TMP/err" "$TMP/missing.npy"

# Photos: a PNG, a JPEG cut in half, a JPEG; the box also comes in the photo's pixels.
IMG=$DATA/images
run "photos with a broken JPEG in the middle" 1 "$RAMSCLI" classify --model "$MODEL" --json \
    "$IMG/png_adam7_rgb.png" "$IMG/bad_jpeg_half.jpg" "$IMG/jpeg_420.jpg"
expect "the good photos are classified, in order" $CHECK lines "$TMP/out" "$IMG/png_adam7_rgb.png" "$IMG/jpeg_420.jpg"
expect "one error line for the broken JPEG" bash -c '[ "$(grep -c "" "$1")" = 1 ] && grep -q "^ramscli: $2: " "$1"' _ "$TMP/err" "$IMG/bad_jpeg_half.jpg"
expect "box_image lies inside the photo" /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    w, h, b = o["image"]["width"], o["image"]["height"], o["box_image"]
    assert (w, h) == (45, 31), (w, h)
    assert 0 <= b["left"] <= b["right"] < w and 0 <= b["top"] <= b["bottom"] < h, b' "$TMP/out"

# A truncated tensor: a .npy cut in half.
head -c 200 "$INPUT" >"$TMP/batch/truncated.npy"
run "a truncated .npy" 1 "$RAMSCLI" classify --model "$MODEL" "$TMP/batch/truncated.npy"

# Directories: recursive, sorted, images and .npy only (the text file is not an input).
mkdir -p "$TMP/tree/b" "$TMP/tree/a/deep"
cp "$INPUT" "$TMP/tree/b/2.npy"
cp "$INPUT" "$TMP/tree/a/deep/1.npy"
cp "$INPUT" "$TMP/tree/a/0.npy"
echo "notes" >"$TMP/tree/a/notes.txt"
run "a directory" 0 "$RAMSCLI" classify --model "$MODEL" --json "$TMP/tree"
expect "its files, recursively and sorted" $CHECK lines "$TMP/out" "$TMP/tree/a/0.npy" "$TMP/tree/a/deep/1.npy" "$TMP/tree/b/2.npy"
mkdir -p "$TMP/empty"
run "a directory without inputs" 1 "$RAMSCLI" classify --model "$MODEL" "$TMP/empty"

# Symlink loops: each directory is entered once and each file classified once, by device and
# inode (two self-links once fanned out forever; one classified the same image 41 times).
mkdir -p "$TMP/selfloop"
cp "$INPUT" "$TMP/selfloop/img.npy"
ln -s . "$TMP/selfloop/s1"
ln -s . "$TMP/selfloop/s2"
run "a directory with two self-symlinks" 0 timeout 60 "$RAMSCLI" classify --model "$MODEL" --json "$TMP/selfloop"
expect "one line for its one file" $CHECK lines "$TMP/out" "$TMP/selfloop/img.npy"
mkdir -p "$TMP/uploop/sub/deeper"
cp "$INPUT" "$TMP/uploop/a.npy"
cp "$INPUT" "$TMP/uploop/sub/b.npy"
ln -s .. "$TMP/uploop/sub/up"
ln -s ../.. "$TMP/uploop/sub/deeper/top"
run "a directory with symlinks to its parents" 0 timeout 60 "$RAMSCLI" classify --model "$MODEL" --json "$TMP/uploop"
expect "one line per file" $CHECK lines "$TMP/out" "$TMP/uploop/a.npy" "$TMP/uploop/sub/b.npy"
# One file by three paths (a directory link, a file link, its own): the first in sorted order.
mkdir -p "$TMP/aliases/real"
cp "$INPUT" "$TMP/aliases/real/x.npy"
ln -s real "$TMP/aliases/alias"
ln -s real/x.npy "$TMP/aliases/link.npy"
run "a file reached by three paths" 0 timeout 60 "$RAMSCLI" classify --model "$MODEL" --json "$TMP/aliases"
expect "is classified once, under its first path" $CHECK lines "$TMP/out" "$TMP/aliases/alias/x.npy"

# Threads: the same lines in the same order as one thread.
files=()
for i in 1 2 3 4 5 6 7; do
    cp "$INPUT" "$TMP/batch/t$i.npy"
    files+=("$TMP/batch/t$i.npy")
done
files[3]=$TMP/batch/b.png
# (OpenBLAS on one thread in both runs: its own threading changes the rounding, not the order.)
OPENBLAS_NUM_THREADS=1 "$RAMSCLI" classify --model "$MODEL" --json "${files[@]}" >"$TMP/one" 2>"$TMP/one.err"
run "--threads 3 with a bad file" 1 env OPENBLAS_NUM_THREADS=1 "$RAMSCLI" classify --model "$MODEL" --json --threads 3 "${files[@]}"
expect "--threads 3 prints what one thread prints" cmp -s "$TMP/one" "$TMP/out"
expect "--threads 3 reports the same error" cmp -s "$TMP/one.err" "$TMP/err"
expect "six results" test "$(lines "$TMP/out")" = 6

# ---- eval: an ImageFolder tree whose folders are named after the labels ----------------------
label=$("$RAMSCLI" classify --model "$MODEL" --mode fused --json "$INPUT" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["top"][0]["label"])')
other=$("$RAMSCLI" classify --model "$MODEL" --mode fused --json "$INPUT" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["top"][1]["label"])')
# Folder names need not match exactly: case and punctuation are ignored.
folder=$(printf '%s' "$label" | tr '[:lower:]' '[:upper:]' | tr -c '[:alnum:]' '_')
otherfolder=$(printf '%s' "$other" | tr -c '[:alnum:]' '-')
mkdir -p "$TMP/folder/$folder" "$TMP/folder/$otherfolder"
for i in 1 2 3; do cp "$INPUT" "$TMP/folder/$folder/$i.npy"; done
cp "$INPUT" "$TMP/folder/$otherfolder/x.npy"
run "eval --json" 0 "$RAMSCLI" eval --model "$MODEL" --json "$TMP/folder" &&
    expect "eval counts 3 of 4 right in fused mode" $CHECK eval "$TMP/out" 4 0.75
run "eval --limit 2" 0 "$RAMSCLI" eval --model "$MODEL" --json --limit 2 "$TMP/folder" &&
    expect "--limit takes one per class first" $CHECK eval "$TMP/out" 2 0.5
run "eval table" 0 "$RAMSCLI" eval --model "$MODEL" "$TMP/folder" &&
    expect "the table shows the confused pair" grep -q -- "-> " "$TMP/out"
mkdir -p "$TMP/folder/no_such_label_anywhere"
run "eval with a folder that matches no label" 1 "$RAMSCLI" eval --model "$MODEL" "$TMP/folder"
expect "it names the folder" grep -q "no_such_label_anywhere" "$TMP/err"

echo
if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all ramscli checks passed"
