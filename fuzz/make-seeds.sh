#!/usr/bin/env bash
# Regenerates fuzz/corpus/<target>/ (the committed seed corpus) from tests/vectors and from
# files the knownpeers CLI writes. Run from anywhere after `cargo build`; it replaces the
# corpus directories wholesale. Seeds are named by content hash, as libFuzzer names its own.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/knownpeers}
VEC=tests/vectors
OUT=fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Files the CLI writes: every codec and key kind, from the basic vector and the legacy one.
install -m 600 "$VEC/key-basic.key" "$tmp/k.key"
printf 'correct horse battery staple\n' >"$tmp/pass" && chmod 600 "$tmp/pass"
MIN_KDF=(--kdf-m-kib 19456 --kdf-t 2 --kdf-p 1)
"$BIN" convert "$VEC/json-basic.json" "$tmp/cli.json" --to json >/dev/null
"$BIN" convert "$VEC/json-basic.json" "$tmp/cli.kp" --to msgpack >/dev/null
"$BIN" convert "$VEC/json-basic.json" "$tmp/cli-key.kp" --to sealed --key-file "$tmp/k.key" >/dev/null
"$BIN" convert "$VEC/json-basic.json" "$tmp/cli-pass.kp" --to sealed \
  --passphrase-file "$tmp/pass" "${MIN_KDF[@]}" >/dev/null
"$BIN" convert "$VEC/legacy-thenodes.json" "$tmp/cli-legacy.json" --to json --realm example-realm >/dev/null
"$BIN" convert "$VEC/legacy-thenodes.json" "$tmp/cli-legacy.kp" --to msgpack --realm example-realm >/dev/null
"$BIN" convert "$VEC/json-empty.json" "$tmp/cli-empty.kp" --to msgpack >/dev/null

seed() { # seed TARGET FILE...
  mkdir -p "$OUT/$1"
  local t=$1; shift
  for f in "$@"; do cp "$f" "$OUT/$t/$(sha1sum "$f" | cut -c1-40)"; done
}
rm -rf "$OUT"
all=("$VEC"/*.json "$VEC"/*.kp "$VEC"/*.bin "$tmp"/cli*.json "$tmp"/cli*.kp)
all=("${all[@]/*cases.json/}")
all=($(printf '%s\n' "${all[@]}" | grep .))
seed read "${all[@]}"
seed read_owned "${all[@]}"
seed json_envelope "$VEC"/json-*.json "$tmp"/cli*.json
seed legacy "$VEC/legacy-thenodes.json"
# The msgpack targets' seeds are bodies: a frame without its header and trailing body CRC.
python3 - "$OUT/msgpack_body" "$VEC"/msgpack-basic.kp "$tmp"/cli.kp "$tmp"/cli-legacy.kp "$tmp"/cli-empty.kp <<'PY'
import hashlib, os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    h = 25 + data[12] + 12          # magic..realm, saved_at, entry_count, body_len, header_crc
    body = data[h:-4]
    open(os.path.join(out, hashlib.sha1(body).hexdigest()), "wb").write(body)
PY
# The config target's seeds: the shapes the docs and tests use.
mkdir -p "$tmp/cfg"
cat >"$tmp/cfg/thenodes.toml" <<'TOML'
[realm]
name = "Café Net"
code = "cafe-net"
[node]
state_dir = "data"
[network.persistence]
enabled = true
path = "data/{realm}.peers"
max_entries = 1024
ttl_secs = 604800
save_interval_secs = 60
codec = "json"
on_corrupt = "quarantine"
max_gossip_batch = 1000
TOML
cat >"$tmp/cfg/sealed.toml" <<'TOML'
[network.persistence]
path = "/var/lib/node/{realm}.kp"
codec = "msgpack"
[network.persistence.realms.mainnet]
codec = "sealed"
key_file = "/etc/node/mainnet.key"
[network.persistence.realms.testnet]
codec = "sealed"
passphrase_env = "TESTNET_PASSPHRASE"
kdf_m_kib = 19456
kdf_t = 2
kdf_p = 1
kdf_max_m_kib = 65536
kdf_max_t = 3
kdf_max_p = 4
require_encryption = true
path = "/var/lib/node/testnet.kp"
TOML
printf '[network.persistence]\nenabled = false\n' >"$tmp/cfg/off.toml"
printf '[node]\nname = "x"\n' >"$tmp/cfg/none.toml"
seed config "$tmp"/cfg/*.toml
for d in "$OUT"/*; do echo "$(basename "$d"): $(ls "$d" | wc -l) seeds, $(du -sk "$d" | cut -f1) KiB"; done
