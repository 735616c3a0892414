#!/usr/bin/env python3
"""The layering, checked where the link checks of CMakeLists.txt cannot look.

The libraries' link lines in CMakeLists.txt are the dependency rules. This
script checks that
  - every file of a layer includes only headers of its own layer and of the
    layers its library links (directly or through them);
  - the README's table of layers (Design) says exactly what the link lines say.
Prints each violation; exits 1 if there is one.

    tests/layers/check_layers.py [REPO]
"""

import os
import re
import sys

# Where each file lives: the first matching prefix wins. "base" is the
# header-only utilities every layer may use; "program" is the executables.
PLACES = [
    ("include/smart/clock.hpp", "base"),
    ("include/smart/stop.hpp", "base"),
    ("include/smart/net.hpp", "base"),
    ("include/smart/build_info.hpp", "base"),
    ("include/smart/hex.hpp", "base"),
    ("include/smart/config.hpp", "smart_config"),
    ("src/config.cpp", "smart_config"),
    ("src/build_info.cpp.in", "smart_config"),
    ("include/smart/upstream/url.hpp", "smart_config"),
    ("src/upstream/url.cpp", "smart_config"),
    ("include/smart/hedge/timeline.hpp", "smart_policy"),
    ("include/smart/hedge/tuning.hpp", "smart_policy"),
    ("src/hedge/timeline.cpp", "smart_policy"),
    ("src/hedge/tuning.cpp", "smart_policy"),
    ("include/smart/trace/", "smart_trace"),
    ("src/trace/", "smart_trace"),
    ("include/smart/io/", "smart_io"),
    ("src/io/", "smart_io"),
    ("include/smart/upstream/", "smart_upstream"),
    ("src/upstream/", "smart_upstream"),
    ("include/smart/hedge/race.hpp", "smart_race"),
    ("include/smart/hedge/race_impl.hpp", "smart_race"),
    ("src/hedge/race.cpp", "smart_race"),
    ("include/smart/edge/", "smart_edge"),
    ("src/edge/", "smart_edge"),
    ("include/smart/metrics.hpp", "smart_metrics"),
    ("src/metrics/", "smart_metrics"),
    ("include/smart/service.hpp", "smart_service"),
    ("include/smart/logging.hpp", "smart_service"),
    ("src/service.cpp", "smart_service"),
    ("src/logging.cpp", "smart_service"),
    ("src/main.cpp", "program"),
    ("src/sim/", "program"),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"smart/([^"]+)"', re.M)
LINK = re.compile(r"target_link_libraries\(\s*(smart_\w+)(.*?)\)", re.S)
NOT_LAYERS = {"smart_options", "smart_documents"}


def place(path):
    for prefix, layer in PLACES:
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return layer
    return None


def link_lines(repo):
    """Library -> the project libraries its link line names."""
    with open(os.path.join(repo, "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    lines = {}
    for lib, rest in LINK.findall(text):
        if lib in NOT_LAYERS or lib.endswith("_links"):
            continue
        deps = {w for w in re.findall(r"\bsmart_\w+", rest) if w not in NOT_LAYERS}
        lines.setdefault(lib, set()).update(deps)
    return lines


def closure(lines, lib):
    seen, todo = set(), [lib]
    while todo:
        for dep in lines.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def readme_table(repo):
    """Library -> the libraries the README's table of layers says it links."""
    with open(os.path.join(repo, "README.md"), encoding="utf-8") as f:
        text = f.read()
    table = {}
    for m in re.finditer(r"^\| `(smart_\w+)` \|[^|]*\| ([^|]*) \|$", text, re.M):
        table[m.group(1)] = set(re.findall(r"`(smart_\w+)`", m.group(2)))
    return table


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    lines = link_lines(repo)
    problems = []

    table = readme_table(repo)
    for lib in sorted(set(lines) | set(table)):
        if lines.get(lib, set()) != table.get(lib, set()):
            problems.append(f"README's table of layers: {lib} links "
                            f"{sorted(table.get(lib, set()))}, CMakeLists.txt "
                            f"{sorted(lines.get(lib, set()))}")

    def may_use(layer, target):
        if target in (layer, "base"):
            return True
        if layer == "program":
            return True
        return layer in lines and target in closure(lines, layer)

    for top in ("include/smart", "src"):
        for root, _, files in os.walk(os.path.join(repo, top)):
            for name in files:
                if not name.endswith((".hpp", ".cpp", ".in")):
                    continue
                path = os.path.relpath(os.path.join(root, name), repo)
                layer = place(path)
                if layer is None:
                    problems.append(f"{path}: in no layer (add it to {os.path.basename(__file__)})")
                    continue
                with open(os.path.join(repo, path), encoding="utf-8") as f:
                    text = f.read()
                for header in INCLUDE.findall(text):
                    target = place("include/smart/" + header)
                    if target is None:
                        problems.append(f"{path}: includes smart/{header}, which is in no layer")
                    elif not may_use(layer, target):
                        problems.append(f"{path} ({layer}) includes smart/{header} ({target})")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"layers: {len(lines)} libraries; the includes keep to their link lines, "
          "and the README says the same")
    return 0


if __name__ == "__main__":
    sys.exit(main())
