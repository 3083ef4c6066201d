"""The API reference (CMake target api-docs): Doxygen on include/ramstrans.h through
docs/doxygen_filter.py documents every function of the header with its own comment.

    /usr/bin/python3 tests/test_api_docs.py DOXYGEN BUILD/Doxyfile HEADER FILTER
                                                       (ctest: api_docs, only when doxygen is found)

Doxygen runs into a temporary folder (the Doxyfile as configured, its OUTPUT_DIRECTORY replaced);
for every RAMS_API function and every struct field with a comment, the comment's first words must
be in the HTML, the file's own comment must be the file's page, and Doxygen must not warn.
"""

import html
import os
import re
import subprocess
import sys
import tempfile


def words(text):
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def main():
    doxygen, doxyfile, header, filt = sys.argv[1:5]
    tmp = tempfile.mkdtemp()
    with open(doxyfile) as f:
        config = f.read() + "\nOUTPUT_DIRECTORY = %s\nWARN_LOGFILE = %s/warnings.txt\n" % (tmp, tmp)
    p = subprocess.run([doxygen, "-"], input=config.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    if p.returncode:
        sys.exit("doxygen failed:\n" + p.stdout.decode())
    failures = []
    with open(os.path.join(tmp, "warnings.txt")) as f:
        warnings = f.read().strip()
    if warnings:
        failures.append("doxygen warns:\n" + warnings)

    pages = []
    for root, _, files in os.walk(os.path.join(tmp, "html")):
        for name in files:
            if name.endswith(".html"):
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    pages.append(html.unescape(re.sub(r"<[^>]+>", " ", f.read())))
    text = words(" ".join(pages))

    filtered = subprocess.run([sys.executable, filt, header], check=True, stdout=subprocess.PIPE,
                              timeout=60).stdout.decode()
    checked = 0
    # A doc comment and what it documents: "/** ... */" above a declaration, "/**< ... */" after.
    for m in re.finditer(r"/\*\*(<?)(.*?)\*/", filtered, re.S):
        body = re.sub(r"\\(file ramstrans\.h|code\{\.c\}|endcode|par)", " ", m.group(2))
        first = " ".join(words(body).split()[:8])
        if len(first.split()) < 3:
            continue
        checked += 1
        if first not in text:
            line = filtered.count("\n", 0, m.start()) + 1
            failures.append("line %d: '%s' is not in the reference" % (line, first))
    functions = re.findall(r"RAMS_API[^;{]*?\b(rams_\w+)\s*\(", filtered)
    for name in functions:
        if words(name) not in text:
            failures.append("function %s is not in the reference" % name)
    print("checked %d doc comments and %d functions in %s" % (checked, len(functions), tmp))
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
