#!/usr/bin/python3
"""Doxygen's INPUT_FILTER for include/ramstrans.h (docs/Doxyfile.in): the header documents itself
in plain C comments, and this turns them into Doxygen's without touching the header.

- the file's first comment becomes the file's documentation (its indented example a code block);
- a comment after code on the same line documents that member, enumerator or function (/**<);
- a comment on lines of its own documents the declaration right below it (/**), unless a blank
  line follows it (then it is a note about what follows, and stays a plain comment);
- a section banner "/* ---- Title ---- */" stays plain, except one that carries a paragraph,
  which is added to the file's documentation under its title.
Angle brackets in the prose are escaped (they are not HTML).  Line numbers are kept, so Doxygen's "Definition at line N" points into the real header.
"""

import re
import sys

COMMENT = re.compile(r"/\*.*?\*/", re.S)
BANNER = re.compile(r"/\* -+ (.*?) -+ ?\*")


def convert_first(comment):
    """The file comment: \\file, and its indented example (lines ' *   code') as a code block."""
    lines = comment.split("\n")
    lines[0] = lines[0].replace("/*", "/** \\file ramstrans.h", 1)
    code = [i for i, line in enumerate(lines) if line.startswith(" *   ")]
    if code and code[0] > 0 and lines[code[0] - 1].strip() == "*":
        lines[code[0] - 1] = " * \\code{.c}"
        end = code[-1] + 1
        lines[end] = lines[end].replace("*/", "\\endcode */", 1)
    return "\n".join(lines)


def convert(text):
    out, pos, first = [], 0, True
    for m in COMMENT.finditer(text):
        start, end = m.span()
        comment = m.group(0)
        line_start = text.rfind("\n", 0, start) + 1
        before = text[line_start:start]
        rest = text[end:]
        next_line = rest.split("\n", 2)[1] if rest.count("\n") >= 1 else ""
        if first:
            new = convert_first(comment)
            first = False
        elif before.strip():
            new = "/**<" + comment[2:]
        else:
            banner = BANNER.match(comment)
            if banner:
                body = comment[banner.end():]
                if "\n" in comment and body.strip(" *\n/"):
                    new = ("/** \\par " + banner.group(1) + body[:-2].rstrip(" ")
                           + " \\file ramstrans.h */")
                else:
                    new = comment
            elif next_line.strip():
                new = "/**" + comment[2:]
            else:
                new = comment
        if new.startswith("/**"):
            # "<the directory of ...>" is prose, not an HTML tag
            lead = 4 if new.startswith("/**<") else 3
            new = new[:lead] + re.sub(r"([<>])", r"\\\1", new[lead:-2]) + "*/"
        assert new.count("\n") == comment.count("\n")
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write(convert(f.read()))
