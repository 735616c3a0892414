#!/usr/bin/env python3
"""The layering, checked on the includes (the link checks in CMakeLists.txt
check the symbols): every file of a layer may include the project's headers of
its own layer and of the layers below it, as the libraries' link lines say,
and nothing else. Prints each violation; exits 1 if there is one.

    tests/layers/check_includes.py [REPO]
"""

import os
import re
import sys

# Layer -> the layers it may use: the link lines of CMakeLists.txt, closed
# transitively. "base" is the header-only utilities every layer may use.
USES = {
    "base": [],
    "config": ["base"],
    "policy": ["base"],
    "io": ["base"],
    "upstream": ["base", "io", "config"],
    "race": ["base", "io", "config", "policy", "upstream"],
    "edge": ["base", "io", "config", "policy", "upstream", "race"],
    "metrics": ["base", "io", "config", "policy", "upstream", "race", "edge"],
    "service": ["base", "io", "config", "policy", "upstream", "race", "edge", "metrics"],
    "program": ["base", "io", "config", "policy", "upstream", "race", "edge", "metrics",
                "service"],
}

# Where each file lives (the first matching prefix wins).
PLACES = [
    ("include/smart/clock.hpp", "base"),
    ("include/smart/stop.hpp", "base"),
    ("include/smart/net.hpp", "base"),
    ("include/smart/build_info.hpp", "base"),
    ("include/smart/config.hpp", "config"),
    ("src/config.cpp", "config"),
    ("src/build_info.cpp.in", "config"),
    ("include/smart/upstream/url.hpp", "config"),
    ("src/upstream/url.cpp", "config"),
    ("include/smart/hedge/timeline.hpp", "policy"),
    ("include/smart/hedge/tuning.hpp", "policy"),
    ("src/hedge/timeline.cpp", "policy"),
    ("src/hedge/tuning.cpp", "policy"),
    ("include/smart/io/", "io"),
    ("src/io/", "io"),
    ("include/smart/upstream/", "upstream"),
    ("src/upstream/", "upstream"),
    ("include/smart/hedge/race.hpp", "race"),
    ("src/hedge/race.cpp", "race"),
    ("include/smart/edge/", "edge"),
    ("src/edge/", "edge"),
    ("include/smart/metrics.hpp", "metrics"),
    ("src/metrics/", "metrics"),
    ("include/smart/service.hpp", "service"),
    ("include/smart/logging.hpp", "service"),
    ("src/service.cpp", "service"),
    ("src/logging.cpp", "service"),
    ("include/smart/thread_cache.hpp", "program"),
    ("src/thread_cache.cpp", "program"),
    ("src/main.cpp", "program"),
    ("src/sim/", "program"),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"smart/([^"]+)"', re.M)


def place(path):
    for prefix, layer in PLACES:
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return layer
    return None


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    repo = os.path.abspath(repo)
    problems = []
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
                    elif target != layer and target not in USES[layer]:
                        problems.append(f"{path} ({layer}) includes smart/{header} ({target})")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"layers: the includes of include/smart and src keep to {len(USES)} layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
