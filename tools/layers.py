#!/usr/bin/env python3
"""layers.py: enforces the layering of docs/ARCHITECTURE.md on every #include in src/ and
include/drrepo/.

The table between the markers `<!-- layers:begin -->` and `<!-- layers:end -->` in
docs/ARCHITECTURE.md is the rule: one row per folder of src/ with its level and the public headers
(include/drrepo/) it owns. A file may include headers of its own folder and of folders on a lower
level; an include that goes up a level, or sideways to another folder on the same level, fails.
Every folder of src/ and every public header must be in the table, so that nothing new escapes
the rule, and a public header must be used by some other folder (else it is private). The
fourth column names the libraries' headers a folder wraps: no other folder may include them. Private headers ("x_int.h", "../backend_int.h") belong to the folder they sit in.

Because every include goes strictly down a level (or stays inside its folder), the folder graph
has no cycles; C's -Werror=implicit-function-declaration means that a call needs a declaration
from an included header, so calls follow the same graph.

With BUILD (a build directory), the calls are checked too, from the objects the compiler wrote:
every symbol an object of drcore uses from another folder must be defined on a lower level. That
catches what includes cannot: a prototype written by hand in a .c file.

Usage: layers.py [TOP [BUILD]]   exit 0 when clean, 1 with one line per violation.
"""
import os
import re
import subprocess
import sys

top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
top = os.path.abspath(top)
build = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
doc = os.path.join(top, "docs", "ARCHITECTURE.md")

def fail_setup(msg):
    print("layers: " + msg)
    sys.exit(1)

try:
    text = open(doc, encoding="utf-8").read()
except OSError as e:
    fail_setup("cannot read '%s': %s" % (doc, e.strerror))
m = re.search(r"<!-- layers:begin -->(.*?)<!-- layers:end -->", text, re.S)
if not m:
    fail_setup("docs/ARCHITECTURE.md has no layers table (markers layers:begin/end)")

level = {}  # folder -> level
owner = {}  # public header -> folder
libs = {}   # library header ("sodium.h") -> folders that may include it
for line in m.group(1).splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 3 or not cells[0].isdigit():
        continue
    lv = int(cells[0])
    folder = cells[1].strip("`/ ")
    level[folder] = lv
    for h in re.findall(r"[a-z0-9_]+\.h", cells[2]):
        if h in owner:
            fail_setup("header '%s' is listed for both '%s' and '%s'" % (h, owner[h], folder))
        owner[h] = folder
    if len(cells) > 3:
        for h in re.findall(r"[a-z0-9_/.-]+\.h", cells[3]):
            libs.setdefault(h, set()).add(folder)

problems = []
used_by = {h: set() for h in owner}  # public header -> folders other than its owner that include it

def folder_of(path):
    """The layer folder a source path belongs to: src/<folder>/..., or 'main' for src/main.c."""
    rel = os.path.relpath(path, os.path.join(top, "src"))
    parts = rel.split(os.sep)
    return "main" if parts == ["main.c"] else parts[0]

def check_file(path, me):
    rel = os.path.relpath(path, top)
    if me not in level:
        problems.append("%s: folder '%s' is not in the layers table" % (rel, me))
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        for no, line in enumerate(f, 1):
            sysinc = re.match(r'\s*#\s*include\s+<([^>]+)>', line)
            if sysinc and sysinc.group(1) in libs and me not in libs[sysinc.group(1)]:
                problems.append("%s:%d: includes <%s>, which only %s may use (the library's "
                                "wrapper)" % (rel, no, sysinc.group(1),
                                              ", ".join(sorted(libs[sysinc.group(1)]))))
            inc = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not inc:
                continue
            name = inc.group(1)
            if name.startswith("drrepo/"):
                h = name[len("drrepo/"):]
                if h not in owner:
                    problems.append("%s:%d: includes '%s', which no folder owns in the layers "
                                    "table" % (rel, no, name))
                    continue
                them = owner[h]
                if them != me:
                    used_by[h].add(me)
            else:
                target = os.path.normpath(os.path.join(os.path.dirname(path), name))
                if not target.startswith(os.path.join(top, "src") + os.sep):
                    problems.append("%s:%d: includes '%s' outside src/" % (rel, no, name))
                    continue
                them = folder_of(target)
            if them == me:
                continue
            if them not in level:
                problems.append("%s:%d: includes '%s' of folder '%s', not in the layers table"
                                % (rel, no, name, them))
            elif level[them] >= level[me]:
                way = "up" if level[them] > level[me] else "sideways"
                problems.append("%s:%d: includes '%s' (%s, level %d): goes %s from %s (level %d)"
                                % (rel, no, name, them, level[them], way, me, level[me]))

for dirpath, _, files in os.walk(os.path.join(top, "src")):
    for fn in sorted(files):
        if fn.endswith((".c", ".h")):
            p = os.path.join(dirpath, fn)
            check_file(p, folder_of(p))

incdir = os.path.join(top, "include", "drrepo")
for fn in sorted(os.listdir(incdir)):
    if not fn.endswith(".h"):
        continue
    if fn not in owner:
        problems.append("include/drrepo/%s: no folder owns it in the layers table" % fn)
        continue
    check_file(os.path.join(incdir, fn), owner[fn])

# A header that no other folder includes is the owner's private business: it belongs in the
# owner's folder (x_int.h), not in the public include/drrepo/.
for h in sorted(owner):
    if not used_by[h] and os.path.exists(os.path.join(incdir, h)):
        problems.append("include/drrepo/%s: only '%s' uses it; keep it private in src/%s/"
                        % (h, owner[h], owner[h]))

for folder in sorted(level):
    if folder != "main" and not os.path.isdir(os.path.join(top, "src", folder)):
        problems.append("layers table: folder '%s' does not exist in src/" % folder)

def check_calls():
    """Undefined symbols of each drcore object, resolved to the folder that defines them."""
    objroot = os.path.join(build, "CMakeFiles", "drcore.dir", "src")
    objs = []
    for dirpath, _, files in os.walk(objroot):
        for fn in files:
            if fn.endswith(".c.o"):
                o = os.path.join(dirpath, fn)
                src = os.path.join(top, "src", os.path.relpath(o, objroot)[:-2])
                if os.path.exists(src):  # objects of files since moved or deleted are stale
                    objs.append((o, folder_of(src), os.path.relpath(src, top)))
    if not objs:
        problems.append("no drcore objects under '%s' (build first)" % objroot)
        return 0
    defined, undefined = {}, []
    # one nm for every object (-A prefixes each line with its file): a process per object cost
    # seconds
    byobj = {o: (folder, src) for o, folder, src in objs}
    out = subprocess.run(["nm", "-A", "-P"] + list(byobj), capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        head, _, rest = line.partition(": ")
        f = rest.split()
        if head not in byobj or len(f) < 2:
            continue
        folder, src = byobj[head]
        if f[1] == "U":
            undefined.append((f[0], folder, src))
        elif f[1] in "TDBRC":
            defined[f[0]] = (folder, src)
    calls = 0
    for sym, me, src in undefined:
        if sym not in defined:
            continue  # a library's (libc, libsodium, ...)
        them, where = defined[sym]
        if them == me:
            continue
        calls += 1
        if level[them] >= level[me]:
            way = "up" if level[them] > level[me] else "sideways"
            problems.append("%s uses %s from %s (%s, level %d): goes %s from %s (level %d)"
                            % (src, sym, where, them, level[them], way, me, level[me]))
    return calls

ncalls = check_calls() if build else None

for p in problems:
    print("layers: " + p)
if problems:
    print("layers: %d violations of the table in docs/ARCHITECTURE.md" % len(problems))
    sys.exit(1)
print("layers: ok (%d folders, %d public headers%s)"
      % (len(level), len(owner), "" if ncalls is None else ", %d calls between folders" % ncalls))
