#!/usr/bin/env python3
"""Checks the library's normal dependency tree (issue 9): no CLI or demo crate reaches a library
user, and no dependency declares a rust-version above the workspace's MSRV.

Usage: tools/lean-deps.py  (from the repository root; runs cargo itself, offline-safe with
--locked). Prints the offenders and exits 1, or prints a one-line summary and exits 0.
"""
import json
import subprocess
import sys

FORBIDDEN = {"clap", "indicatif", "tracing-subscriber"}


def version_tuple(v):
    return tuple(int(x) for x in v.split(".")[:3] if x.isdigit())


def main():
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "-p", "knownpeers", "-e", "normal",
         "--prefix", "none", "--format", "{p}"],
        check=True, capture_output=True, text=True).stdout
    deps = set()
    for line in tree.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            deps.add((parts[0], parts[1].lstrip("v")))
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1"],
        check=True, capture_output=True, text=True).stdout)
    msrv = None
    problems = []
    for p in meta["packages"]:
        if p["name"] == "knownpeers" and p["source"] is None:
            msrv = p["rust_version"]
    for p in meta["packages"]:
        if (p["name"], p["version"]) not in deps:
            continue
        if p["name"] in FORBIDDEN:
            problems.append(f"{p['name']} {p['version']}: a CLI dependency reaches the library")
        rv = p.get("rust_version")
        if rv and version_tuple(rv) > version_tuple(msrv):
            problems.append(f"{p['name']} {p['version']}: rust-version {rv} > MSRV {msrv};"
                            f" cargo update -p {p['name']} (MSRV-aware, .cargo/config.toml)")
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"library: {len(deps)} normal dependencies, none from the CLI, all within Rust {msrv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
