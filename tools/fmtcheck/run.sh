#!/usr/bin/env bash
# Issue 2, acceptance 2 (and issue 12 for binary frame version 2): files written by
# `knownpeers convert --to json|msgpack|sealed` (key file and passphrase, binary frame versions
# 1 and 2, one file of several STREAM chunks) are decodable by an independent implementation of
# FORMAT.md.
#
# 1. validates the Python checker against the independent vectors (tests/vectors/cases.json);
# 2. builds the binary and writes tests/vectors/json-basic.json (and the legacy vector) in
#    every codec and key kind into a temp dir;
# 3. reads each written file with the checker and compares the entries with the expected ones;
#    for the binary codecs it also requires every single-bit flip and every truncation of the
#    written file to be rejected (so the CRCs, header AD and AEAD really cover every byte).
# Exits non-zero on the first mismatch.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHECK=(python3 tools/fmtcheck/check.py)
VEC=tests/vectors
REALM=example-realm

if ! python3 -c 'import msgpack, nacl, argon2' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r tools/fmtcheck/requirements.txt
fi

echo "--- the checker against the independent vectors"
"${CHECK[@]}" --vectors "$VEC"

echo "--- files written by knownpeers convert"
cargo build --quiet --locked --bin knownpeers
BIN=target/debug/knownpeers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export FMTCHECK_PASSPHRASE='fmtcheck: a passphrase with spaces and ünïcode'
printf '%s\n' "$FMTCHECK_PASSPHRASE" >"$tmp/passphrase.txt"
chmod 600 "$tmp/passphrase.txt"   # knownpeers refuses a passphrase file others can read
"$BIN" keygen "$tmp/k.key"
MIN_KDF=(--kdf-m-kib 19456 --kdf-t 2 --kdf-p 1)

"$BIN" convert "$VEC/json-basic.json" "$tmp/out.json" --to json
"$BIN" convert "$VEC/json-basic.json" "$tmp/out-msgpack.kp" --to msgpack
"$BIN" convert "$VEC/json-basic.json" "$tmp/out-sealed-keyfile.kp" --to sealed --key-file "$tmp/k.key"
"$BIN" convert "$VEC/json-basic.json" "$tmp/out-sealed-pass-env.kp" --to sealed \
  --passphrase-env FMTCHECK_PASSPHRASE "${MIN_KDF[@]}"
"$BIN" convert "$VEC/json-basic.json" "$tmp/out-sealed-pass-default-kdf.kp" --to sealed \
  --passphrase-file "$tmp/passphrase.txt"
# A rekey (key file -> passphrase, same codec), then back to plaintext in place.
"$BIN" convert "$tmp/out-sealed-keyfile.kp" "$tmp/rekeyed.kp" --to sealed \
  --in-key-file "$tmp/k.key" --passphrase-env FMTCHECK_PASSPHRASE "${MIN_KDF[@]}"
cp "$tmp/rekeyed.kp" "$tmp/in-place.kp"
"$BIN" convert "$tmp/in-place.kp" "$tmp/in-place.kp" --to msgpack \
  --in-passphrase-env FMTCHECK_PASSPHRASE
"$BIN" convert "$VEC/legacy-thenodes.json" "$tmp/legacy.kp" --to msgpack --realm "$REALM"
# Both binary frame versions, every binary codec and key kind.
for v in 1 2; do
  "$BIN" convert "$VEC/json-basic.json" "$tmp/v$v-msgpack.kp" --to msgpack --format-version $v
  "$BIN" convert "$VEC/json-basic.json" "$tmp/v$v-sealed-keyfile.kp" --to sealed \
    --format-version $v --key-file "$tmp/k.key"
  "$BIN" convert "$VEC/json-basic.json" "$tmp/v$v-sealed-pass.kp" --to sealed \
    --format-version $v --passphrase-env FMTCHECK_PASSPHRASE "${MIN_KDF[@]}"
done
# A version-2 file of several STREAM chunks (and the same entries as version 1 and msgpack),
# from a generated envelope of 6000 entries with IPv4, IPv6, scoped and IPv4-mapped addresses.
python3 - "$tmp/big.json" <<'PY'
import json, sys
entries = []
for i in range(6000):
    kind = i % 4
    if kind == 0:
        addr = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:{1 + i % 60000}"
    elif kind == 1:
        addr = f"[2001:db8::{i:x}]:{7447}"
    elif kind == 2:
        addr = f"[fe80::{i:x}%{1 + i % 5}]:9000"
    else:
        addr = f"[::ffff:192.0.{i >> 8 & 255}.{i & 255}]:{i % 65536}"
    e = {"addr": addr, "source": ["Gossip", "Bootstrap", "Connected"][i % 3],
         "last_seen": 1764000000 - i}
    if i % 2:
        e["node_id"] = f"node-{i}"
    if i % 5 == 0:
        e["capabilities"] = ["relay", f"c{i % 7}"]
    entries.append(e)
doc = {"knownpeers": 1, "codec": "json", "realm": "example-realm", "saved_at": 1764000000,
       "entries": entries}
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
"$BIN" convert "$tmp/big.json" "$tmp/big-v2-sealed.kp" --to sealed --key-file "$tmp/k.key"
"$BIN" convert "$tmp/big.json" "$tmp/big-v1-sealed.kp" --to sealed --key-file "$tmp/k.key" \
  --format-version 1
"$BIN" convert "$tmp/big.json" "$tmp/big-v2-msgpack.kp" --to msgpack

fail=0
check() { # FILE [checker flags...]
  local file=$1
  shift
  local mode
  mode=$(stat -c %a "$file")
  if [ "$mode" != 600 ]; then
    echo "FAIL $file: mode $mode, expected 600"
    fail=1
  fi
  "${CHECK[@]}" "$file" --realm "$REALM" --strict-writer "$@" || fail=1
}
check "$tmp/out.json" --expect-entries "$VEC/json-basic.json"
check "$tmp/out-msgpack.kp" --expect-entries "$VEC/json-basic.json" --mutations
check "$tmp/out-sealed-keyfile.kp" --key-file "$tmp/k.key" --expect-entries "$VEC/json-basic.json" \
  --mutations
check "$tmp/out-sealed-pass-env.kp" --passphrase-env FMTCHECK_PASSPHRASE \
  --expect-entries "$VEC/json-basic.json" --mutations
check "$tmp/out-sealed-pass-default-kdf.kp" --passphrase-file "$tmp/passphrase.txt" \
  --expect-entries "$VEC/json-basic.json"
check "$tmp/rekeyed.kp" --passphrase-env FMTCHECK_PASSPHRASE --expect-entries "$VEC/json-basic.json"
check "$tmp/in-place.kp" --expect-entries "$VEC/json-basic.json" --expect-version 2
for v in 1 2; do
  check "$tmp/v$v-msgpack.kp" --expect-entries "$VEC/json-basic.json" --expect-version $v \
    --mutations
  check "$tmp/v$v-sealed-keyfile.kp" --key-file "$tmp/k.key" \
    --expect-entries "$VEC/json-basic.json" --expect-version $v --mutations
  check "$tmp/v$v-sealed-pass.kp" --passphrase-env FMTCHECK_PASSPHRASE \
    --expect-entries "$VEC/json-basic.json" --expect-version $v --mutations
done
# The multi-chunk file: entries, and truncations and flips at every chunk boundary (sampled
# elsewhere, see check.py's mutations).
chunks=$(python3 -c 'import os,sys; print(-(-(os.path.getsize(sys.argv[1]) - 135) // 65552))  # H = 135 for this realm' \
  "$tmp/big-v2-sealed.kp")
if [ "$chunks" -lt 3 ]; then
  echo "FAIL big-v2-sealed.kp: $chunks chunks, expected at least 3"
  fail=1
fi
check "$tmp/big-v2-sealed.kp" --key-file "$tmp/k.key" --expect-entries "$tmp/big.json" \
  --expect-version 2 --mutations
check "$tmp/big-v1-sealed.kp" --key-file "$tmp/k.key" --expect-entries "$tmp/big.json" \
  --expect-version 1
check "$tmp/big-v2-msgpack.kp" --expect-entries "$tmp/big.json" --expect-version 2
# The legacy vector's null last_success_epoch becomes its mtime (copied by convert as read).
check "$tmp/legacy.kp" --expect-case "$VEC/cases.json:legacy-thenodes.json"
# A sealed file under a wrong key or a wrong realm must fail in the checker as well.
"$BIN" keygen "$tmp/other.key"
"${CHECK[@]}" "$tmp/out-sealed-keyfile.kp" --realm "$REALM" --key-file "$tmp/other.key" \
  --expect-error wrong_key || fail=1
"${CHECK[@]}" "$tmp/out-msgpack.kp" --realm other-realm --expect-error realm_mismatch || fail=1
# The KDF parameters the writer recorded are the ones it was asked for.
printed=$("${CHECK[@]}" "$tmp/out-sealed-pass-default-kdf.kp" --realm "$REALM" \
  --passphrase-file "$tmp/passphrase.txt" --print)
for want in '"m_cost_kib": 65536' '"t_cost": 3' '"p_cost": 4'; do
  case "$printed" in
    *"$want"*) ;;
    *) echo "FAIL default KDF parameters: no $want in the checker's reading"; fail=1 ;;
  esac
done

if [ "$fail" -ne 0 ]; then
  echo "fmtcheck: FAILED"
  exit 1
fi
echo "fmtcheck: every file knownpeers wrote decodes in the independent checker"
