#!/usr/bin/env python3
"""Writes a C++ source that embeds files as string_views: embed_files.py OUT.cpp SYMBOL FILE...

Produces `const std::vector<ftq::embedded_file>& SYMBOL()` (see src/cli/embedded_file.hpp),
each entry named by the file's base name without extension, in argument order."""
import os
import sys


def literal(data: bytes) -> str:
    out = []
    for i in range(0, len(data), 64):
        chunk = data[i:i + 64]
        out.append('"' + "".join("\\x%02x" % b for b in chunk) + '"')
    return "\n    ".join(out) if out else '""'


def main():
    out, symbol, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    lines = ['#include "cli/embedded_file.hpp"', "", "namespace ftq::cli {", "",
             "const std::vector<embedded_file>& %s() {" % symbol,
             "  static const std::vector<embedded_file> files = {"]
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        name = os.path.splitext(os.path.basename(f))[0]
        lines.append('    {"%s", std::string_view(%s, %d)},' % (name, literal(data), len(data)))
    lines += ["  };", "  return files;", "}", "", "}  // namespace ftq::cli", ""]
    with open(out, "w") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
