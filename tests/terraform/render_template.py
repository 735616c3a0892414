#!/usr/bin/env python3
"""Render a Terraform template file the way templatefile() does, for the subset
the deployment's templates use: ${name} interpolations of plain variables and
the escapes $${ and %%{. Any other expression or a %{ directive is an error, so
a template that grows beyond this subset fails here instead of being rendered
wrongly. check.sh compares the result with Terraform's own rendering when
Terraform is installed.

    render_template.py TEMPLATE VARS.json > OUT        # VARS: {"name": "value", ...}
"""

import json
import re
import sys

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def render(text: str, values: dict) -> str:
    out = []
    used = set()
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("$${", i):
            out.append("${")
            i += 3
        elif text.startswith("%%{", i):
            out.append("%{")
            i += 3
        elif text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise ValueError(f"unterminated interpolation at offset {i}")
            expr = text[i + 2 : end].strip()
            if not IDENT.fullmatch(expr):
                raise ValueError(f"unsupported template expression ${{{expr}}} at offset {i}")
            if expr not in values:
                raise ValueError(f"no value for template variable '{expr}'")
            used.add(expr)
            value = values[expr]
            out.append(value if isinstance(value, str) else json.dumps(value))
            i = end + 1
        elif text.startswith("%{", i):
            raise ValueError(f"template directives (%{{...}}) are not supported, at offset {i}")
        else:
            out.append(text[i])
            i += 1
    unused = sorted(set(values) - used)
    if unused:
        raise ValueError(f"values given for variables the template does not use: {', '.join(unused)}")
    return "".join(out)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    with open(sys.argv[2], encoding="utf-8") as f:
        values = json.load(f)
    try:
        sys.stdout.write(render(text, values))
    except ValueError as e:
        print(f"{sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
