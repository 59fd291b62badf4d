#!/usr/bin/env python3
"""jsondoc.py DOC SECTION FILE: every field of the JSON in FILE is documented in SECTION of DOC.

DOC is docs/JSON.md; SECTION names a "### `cmd`" heading ("error" checks an error object
against the "## Errors" section). FILE holds one JSON document, or JSON lines (ls, diff).
A field is documented when its name appears quoted ("name") or as code (`name`) in the
section, or in "How values are written"; NAME_bytes is allowed beside a documented NAME (the
exact bytes of a name that is not UTF-8). A field the section shows as a map of free keys
("meta": {KEY: VALUE}) is not descended into. Prints each undocumented field with its path and
exits 1, so that the output and the document cannot drift apart in the direction scripts
suffer from: a field they see but cannot look up.
"""
import json
import re
import sys


def section(doc, name):
    if name == "error":
        m = re.search(r"^## Errors\n(.*?)(?=^## |^### )", doc, re.S | re.M)
    else:
        m = re.search(r"^### `" + re.escape(name) + r"`\n(.*?)(?=^## |^### |\Z)", doc, re.S | re.M)
    if not m:
        sys.exit(f"jsondoc: docs/JSON.md has no section for '{name}'")
    return m.group(1)


def names(text):
    found = set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', text))
    found |= set(re.findall(r"`([a-z_][a-z0-9_.]*)`", text))
    # error.message and the like name nested fields by their path
    for n in list(found):
        found |= set(n.split("."))
    maps = set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)":\s*\{(?:KEY|NAME)', text))
    return found, maps


def walk(v, path, ok, maps, bad):
    if isinstance(v, dict):
        for k, sub in v.items():
            base = k[:-6] if k.endswith("_bytes") and k[:-6] in ok else k
            if base not in ok:
                bad.add(f"{path}.{k}" if path else k)
            if k not in maps:
                walk(sub, f"{path}.{k}" if path else k, ok, maps, bad)
    elif isinstance(v, list):
        for sub in v:
            walk(sub, path + "[]", ok, maps, bad)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    doc = open(sys.argv[1], encoding="utf-8").read()
    ok, maps = names(section(doc, sys.argv[2]))
    general = re.search(r"^## How values are written\n(.*?)(?=^## )", doc, re.S | re.M)
    ok |= names(general.group(1))[0] if general else set()
    text = open(sys.argv[3], encoding="utf-8", errors="strict").read()
    docs = []
    try:
        docs.append(json.loads(text))
    except json.JSONDecodeError:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not docs:
        sys.exit(f"jsondoc: {sys.argv[3]} holds no JSON")
    bad = set()
    for d in docs:
        walk(d, "", ok, maps, bad)
    for b in sorted(bad):
        print(f"# undocumented in docs/JSON.md ({sys.argv[2]}): {b}")
    sys.exit(1 if bad else 0)


main()
