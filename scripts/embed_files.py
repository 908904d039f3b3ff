#!/usr/bin/env python3
"""Writes a C++ source that embeds files as string_views:
embed_files.py [--namespace NS] [--include HEADER] OUT.cpp SYMBOL FILE...

Produces `const std::vector<ftq::embedded_file>& NS::SYMBOL()` (src/core/embedded_file.hpp), each
entry named by the file's base name without extension, in argument order. NS defaults to ftq::cli
and HEADER, which must declare SYMBOL, to "cli/embedded_file.hpp"."""
import os
import sys


def literal(data: bytes) -> str:
    out = []
    for i in range(0, len(data), 64):
        chunk = data[i:i + 64]
        out.append('"' + "".join("\\x%02x" % b for b in chunk) + '"')
    return "\n    ".join(out) if out else '""'


def main():
    args = sys.argv[1:]
    namespace, include = "ftq::cli", "cli/embedded_file.hpp"
    while args and args[0].startswith("--"):
        if len(args) < 2 or args[0] not in ("--namespace", "--include"):
            sys.exit(__doc__)
        if args[0] == "--namespace":
            namespace = args[1]
        else:
            include = args[1]
        args = args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    out, symbol, files = args[0], args[1], args[2:]
    lines = ['#include "%s"' % include, "", "namespace %s {" % namespace, "",
             "const std::vector<embedded_file>& %s() {" % symbol,
             "  static const std::vector<embedded_file> files = {"]
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        name = os.path.splitext(os.path.basename(f))[0]
        lines.append('    {"%s", std::string_view(%s, %d)},' % (name, literal(data), len(data)))
    lines += ["  };", "  return files;", "}", "", "}  // namespace %s" % namespace, ""]
    with open(out, "w") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
