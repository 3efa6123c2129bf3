#!/usr/bin/env bash
# Issue 2, acceptance 2: files written by `knownpeers convert --to json|msgpack|sealed` (key
# file and passphrase) are decodable by an independent implementation of FORMAT.md.
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
check "$tmp/in-place.kp" --expect-entries "$VEC/json-basic.json"
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
