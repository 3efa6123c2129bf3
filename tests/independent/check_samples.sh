#!/bin/sh
# Checks the files `cargo run -p knownpeers-codecs --example write_samples DIR` wrote with the
# independent Python reader: each must read, and all must hold the same realm and entries.
set -eu
dir=$1
here=$(dirname "$0")
realm=sample-réalm
python3 "$here/kpcheck.py" "$dir/sample.json" --realm "$realm" > "$dir/out-json.txt"
python3 "$here/kpcheck.py" "$dir/sample-msgpack.kp" --realm "$realm" > "$dir/out-msgpack.txt"
python3 "$here/kpcheck.py" "$dir/sample-sealed-key.kp" --realm "$realm" --key-file "$dir/sample.key" > "$dir/out-sealed-key.txt"
python3 "$here/kpcheck.py" "$dir/sample-sealed-pass.kp" --realm "$realm" --passphrase "sample passphrase" > "$dir/out-sealed-pass.txt"
for c in msgpack sealed-key sealed-pass; do
    cmp "$dir/out-json.txt" "$dir/out-$c.txt"
done
if python3 "$here/kpcheck.py" "$dir/sample-sealed-pass.kp" --realm "$realm" --passphrase "wrong" 2>/dev/null; then
    echo "a wrong passphrase was accepted" >&2
    exit 1
fi
echo "independent reader: all 4 files read, identical entries ($(grep -c '"addr"' "$dir/out-json.txt") entries)"
