"""docs/ramscli.1 (man ramscli) against ramscli's own help.

    /usr/bin/python3 tests/test_man.py RAMSCLI docs/ramscli.1          (ctest: man)

- every command `ramscli --help` lists has its section (.SS "ramscli COMMAND"), and no other;
- in each section, the option tags (the lines after .TP) are exactly those of
  `ramscli COMMAND --help` ("-m, --model PATH", "--json", ...), value names included; -h/--help
  may be documented where a command's help leaves it out (every command accepts it);
- the version in .TH is the one `ramscli version` prints;
- groff formats the page without a warning (when groff is installed).
"""

import os
import re
import shutil
import subprocess
import sys


def run(*args):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.decode()))
    return p.stdout.decode()


def help_commands(text):
    block = text.split("commands:", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  (\w+)\s{2,}", block, re.M)]


def help_tags(text):
    """Option tags of a --help text: '  -m, --model PATH   the model...' -> '-m, --model PATH'."""
    tags = []
    for line in text.split("\n"):
        m = re.match(r"^\s{2,}((?:-\w, )?--[\w-]+(?: [A-Z][\w.]*)?)(?:\s{2,}|$)", line)
        if m:
            tags.append(m.group(1))
    return tags


def unroff(line):
    """One line of roff as it reads: font macros' arguments joined, escapes resolved."""
    m = re.match(r"^\.(B|I|R|BR|RB|BI|IB|IR|RI)\s+(.*)$", line)
    if m:
        args = re.findall(r'"((?:[^"]|"")*)"|(\S+)', m.group(2))
        line = "".join(a if a else b for a, b in args)
    line = re.sub(r"\\f[BIRP]", "", line)
    return line.replace("\\-", "-").replace("\\(mu", "x").replace("\\e", "\\").strip()


def man_sections(page):
    """{command: [option tags]} from the .SS "ramscli COMMAND" sections."""
    sections, current, lines = {}, None, page.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r'^\.SS "ramscli (\w+)"', line)
        if m:
            current = m.group(1)
            sections[current] = []
        elif line.startswith((".SH", ".SS")):
            current = None
        elif current and line.startswith(".TP") and i + 1 < len(lines):
            sections[current].append(unroff(lines[i + 1]))
    return sections


def main():
    ramscli, manpage = sys.argv[1], sys.argv[2]
    with open(manpage, encoding="utf-8") as f:
        page = f.read()
    failures = []
    commands = help_commands(run(ramscli, "--help"))
    sections = man_sections(page)
    if sorted(commands) != sorted(sections):
        failures.append("commands: --help lists %s, the man page has %s" % (commands, sorted(sections)))
    for command in commands:
        tags = help_tags(run(ramscli, command, "--help"))
        documented = sections.get(command, [])
        extra = [t for t in documented if t not in tags and t != "-h, --help"]
        missing = [t for t in tags if t not in documented]
        if extra or missing:
            failures.append("ramscli %s: --help has %s; the man page lacks %s and has %s besides"
                            % (command, tags, missing, extra))
        else:
            print("ok: ramscli %s: %s" % (command, ", ".join(tags) or "(no options)"))
    version = re.search(r"\(libramstrans ([\w.]+)\)", run(ramscli, "version")).group(1)
    th = re.search(r"^\.TH .*$", page, re.M).group(0)
    if '"libramstrans %s"' % version not in th:
        failures.append("the man page's .TH (%s) is not libramstrans %s" % (th, version))
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-man", "-ww", "-z", manpage], stderr=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, timeout=60)
        if p.returncode or p.stderr:
            failures.append("groff: %s" % p.stderr.decode())
        else:
            print("ok: groff formats it without a warning")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
