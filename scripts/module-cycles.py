#!/usr/bin/env python3
"""Lists import cycles between the top-level modules of a crate.

Usage: scripts/module-cycles.py [SRC_DIR]   (default: host/src)

A module is a file `SRC/x.rs` or a folder `SRC/x/`; it depends on module `y` when its code names
`crate::y` (in a `use` line, a `use crate::{y, ...}` group or a path). Prints each strongly
connected group of two or more modules and exits 1 if there is one, else prints "no cycles".
"""
import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "host/src")
modules = {}
for path in sorted(src.rglob("*.rs")):
    rel = path.relative_to(src)
    name = rel.parts[0].removesuffix(".rs")
    if name in ("main", "lib"):
        continue
    modules.setdefault(name, "")
    modules[name] += path.read_text()

deps = {}
for name, text in modules.items():
    found = set(re.findall(r"\bcrate::(\w+)", text))
    for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
        found.update(re.findall(r"\b(\w+)\b", group))
    deps[name] = sorted(d for d in found if d in modules and d != name)

# Tarjan's strongly connected components.
index, low, stack, on_stack, groups = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in deps[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        group = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            group.append(w)
            if w == v:
                break
        if len(group) > 1:
            groups.append(sorted(group))


for v in sorted(deps):
    if v not in index:
        visit(v)
for name in sorted(deps):
    print(f"{name} -> {', '.join(deps[name]) or '-'}")
if groups:
    for group in groups:
        print("cycle:", " <-> ".join(group))
    sys.exit(1)
print("no cycles")
