#!/bin/sh
# Reads the edge-case files that `cargo run -p knownpeers-codecs --example write_samples DIR`
# wrote (a non-ASCII realm, an IPv6 scope id, last_seen = u64::MAX, a 255-byte node_id, 32
# capabilities, JSON escapes; sealed under a key file and under a passphrase at the writer
# minimum) with the independent checker, each against the JSON file's entries; the binary
# files also with every bit flip and truncation.
set -eu
dir=$1
check="python3 $(dirname "$0")/check.py"
realm=sample-réalm
$check "$dir/sample.json" --realm "$realm" --expect-entries "$dir/sample.json" --strict-writer
$check "$dir/sample-msgpack.kp" --realm "$realm" --expect-entries "$dir/sample.json" \
    --strict-writer --mutations
$check "$dir/sample-sealed-key.kp" --realm "$realm" --key-file "$dir/sample.key" \
    --expect-entries "$dir/sample.json" --strict-writer --mutations
KNOWNPEERS_SAMPLE_PASS="sample passphrase" $check "$dir/sample-sealed-pass.kp" --realm "$realm" \
    --passphrase-env KNOWNPEERS_SAMPLE_PASS --expect-entries "$dir/sample.json" --strict-writer
KNOWNPEERS_SAMPLE_PASS="wrong" $check "$dir/sample-sealed-pass.kp" --realm "$realm" \
    --passphrase-env KNOWNPEERS_SAMPLE_PASS --expect-error wrong_key
