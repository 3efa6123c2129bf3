#!/usr/bin/env bash
# Lines of code of Rust files: every line that is not blank and not only a comment (`//`, `///`,
# `//!`, or inside a `/* ... */` block). A line with code and a trailing comment counts.
# usage: loc.sh FILE...   (prints "<count> <file>" per file)
set -euo pipefail
for f in "$@"; do
  awk '
    {
      line = $0
      sub(/^[ \t]+/, "", line)
      if (in_block) {
        if (index(line, "*/")) { in_block = 0; line = substr(line, index(line, "*/") + 2); sub(/^[ \t]+/, "", line) }
        else next
      }
      if (substr(line, 1, 2) == "/*") {
        if (index(substr(line, 3), "*/")) { line = substr(line, index(substr(line, 3), "*/") + 4); sub(/^[ \t]+/, "", line) }
        else { in_block = 1; next }
      }
      if (line == "" || substr(line, 1, 2) == "//") next
      n++
    }
    END { printf "%d %s\n", n, FILENAME }' "$f"
done
