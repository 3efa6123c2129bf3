#!/usr/bin/env python3
"""An independent reader of the knownpeers format v1, written from docs/FORMAT.md alone.

It shares no code with the Rust implementation: Python's zlib (CRC-32), hashlib (BLAKE2b),
PyNaCl (XChaCha20-Poly1305), argon2-cffi (Argon2id) and msgpack. It reads one file and prints
its realm, saved_at and entries as JSON, or the class of error and exits non-zero.

    python3 tests/independent/kpcheck.py FILE [--realm R] [--key-file K | --passphrase P]

Needs: pip install msgpack pynacl argon2-cffi
"""
import argparse
import hashlib
import ipaddress
import json
import struct
import sys
import zlib

MAGIC = bytes([0x89, 0x4B, 0x4E, 0x50, 0x0D, 0x0A, 0x1A, 0x0A])


class Bad(Exception):
    """A failure of one FORMAT.md class: corrupt, wrong_key, realm_mismatch, unsupported,
    bounds, not_peer_file."""

    def __init__(self, kind, what):
        super().__init__(f"{kind}: {what}")
        self.kind = kind


def check_entry(e, i):
    if not isinstance(e, dict):
        raise Bad("corrupt", f"entry {i} is not a map")
    for field, kind in (("addr", str), ("source", str), ("last_seen", int)):
        if not isinstance(e.get(field), kind) or isinstance(e.get(field), bool):
            raise Bad("corrupt", f"entry {i}: {field}")
    if e["source"] not in ("Bootstrap", "Gossip", "Connected"):
        raise Bad("corrupt", f"entry {i}: source")
    if not 0 <= e["last_seen"] < 2**64:
        raise Bad("corrupt", f"entry {i}: last_seen")
    host, _, port = e["addr"].rpartition(":")
    if host.startswith("["):
        ipaddress.IPv6Address(host[1:-1].split("%")[0])
    else:
        ipaddress.IPv4Address(host)
    if not 0 <= int(port) < 65536:
        raise Bad("corrupt", f"entry {i}: port")
    if "node_id" in e and len(e["node_id"].encode()) > 255:
        raise Bad("bounds", f"entry {i}: node_id")
    caps = e.get("capabilities", [])
    if len(caps) > 32 or any(len(c.encode()) > 64 for c in caps):
        raise Bad("bounds", f"entry {i}: capabilities")
    out = {k: e[k] for k in ("addr", "source", "last_seen")}
    if "node_id" in e:
        out["node_id"] = e["node_id"]
    if caps:
        out["capabilities"] = caps
    return out


def check_entries(entries):
    out = [check_entry(e, i) for i, e in enumerate(entries)]
    addrs = [e["addr"] for e in out]
    if len(set(addrs)) != len(addrs):
        raise Bad("corrupt", "duplicate addr")
    return out


def read_json(data, realm):
    doc = json.loads(data.decode("utf-8-sig"))
    if doc.get("knownpeers") != 1:
        raise Bad("unsupported", f"version {doc.get('knownpeers')!r}")
    if doc.get("codec", "json") != "json":
        raise Bad("corrupt", "codec")
    if realm is not None and doc["realm"] != realm:
        raise Bad("realm_mismatch", doc["realm"])
    return doc["realm"], doc["saved_at"], check_entries(doc["entries"])


def blake2b_32(master, person, msg):
    return hashlib.blake2b(msg, digest_size=32, key=master, person=person).digest()


def read_frame(data, realm, key, passphrase):
    if len(data) > 1 << 30:
        raise Bad("bounds", "file size")
    version, codec, flags, rlen = struct.unpack_from("<HBBB", data, 8)
    if version != 1:
        raise Bad("unsupported", f"version {version}")
    if codec not in (1, 2) or flags != 0:
        raise Bad("unsupported", f"codec {codec} flags {flags}")
    h = 25 + rlen + (85 if codec == 2 else 0) + 12
    if len(data) < h:
        raise Bad("corrupt", "truncated header")
    (body_len,) = struct.unpack_from("<Q", data, h - 12)
    if len(data) != h + body_len + (4 if codec == 1 else 0):
        raise Bad("corrupt", "file length")
    (header_crc,) = struct.unpack_from("<I", data, h - 4)
    if zlib.crc32(data[: h - 4]) != header_crc:
        raise Bad("corrupt", "header crc")
    file_realm = data[13 : 13 + rlen].decode("utf-8")
    if not 1 <= rlen <= 255:
        raise Bad("bounds", "realm length")
    if realm is not None and file_realm != realm:
        raise Bad("realm_mismatch", file_realm)
    saved_at, entry_count = struct.unpack_from("<QI", data, 13 + rlen)
    if entry_count > 10_000_000:
        raise Bad("bounds", "entry_count")
    body = data[h : h + body_len]
    if codec == 1:
        (body_crc,) = struct.unpack_from("<I", data, h + body_len)
        if zlib.crc32(body) != body_crc:
            raise Bad("corrupt", "body crc")
        plain = body
    else:
        s = 25 + rlen
        kdf, m, t, p = struct.unpack_from("<BIII", data, s)
        salt = data[s + 13 : s + 29]
        nonce = data[s + 29 : s + 53]
        key_check = data[s + 53 : s + 85]
        if kdf == 0:
            if key is None:
                raise Bad("wrong_key", "a key file is needed")
            master = key
        elif kdf == 1:
            if not (8 * p <= m <= 1048576 and 1 <= t <= 10 and 1 <= p <= 16):
                raise Bad("bounds", f"kdf m={m} t={t} p={p}")
            if passphrase is None:
                raise Bad("wrong_key", "a passphrase is needed")
            import argon2.low_level as a2

            master = a2.hash_secret_raw(
                passphrase.encode(), salt, time_cost=t, memory_cost=m, parallelism=p,
                hash_len=32, type=a2.Type.ID, version=19,
            )
        else:
            raise Bad("unsupported", f"kdf {kdf}")
        enc_key = blake2b_32(master, b"knownpeers.enc1", b"")
        if blake2b_32(master, b"knownpeers.kcv1", nonce) != key_check:
            raise Bad("wrong_key", "key check")
        from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
        from nacl.exceptions import CryptoError

        try:
            plain = crypto_aead_xchacha20poly1305_ietf_decrypt(body, data[:h], nonce, enc_key)
        except CryptoError:
            raise Bad("corrupt", "aead")
    import msgpack

    entries = msgpack.unpackb(plain, raw=False, strict_map_key=False)
    if not isinstance(entries, list) or len(entries) != entry_count:
        raise Bad("corrupt", "entry_count")
    return file_realm, saved_at, check_entries(entries)


def read_key_file(path):
    text = open(path, "rb").read()
    lines = text.split(b"\n")
    if text.endswith(b"\n"):
        lines.pop()
    if len(lines) != 2 or lines[0] != b"knownpeers-key-v1" or len(lines[1]) != 64:
        raise Bad("wrong_key", "malformed key file")
    if lines[1] != lines[1].lower():
        raise Bad("wrong_key", "uppercase hex")
    return bytes.fromhex(lines[1].decode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--realm")
    ap.add_argument("--key-file")
    ap.add_argument("--passphrase")
    args = ap.parse_args()
    data = open(args.file, "rb").read()
    key = read_key_file(args.key_file) if args.key_file else None
    try:
        if data.startswith(MAGIC):
            realm, saved_at, entries = read_frame(data, args.realm, key, args.passphrase)
        elif data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            realm, saved_at, entries = read_json(data, args.realm)
        else:
            raise Bad("not_peer_file", "first bytes")
    except Bad as e:
        print(f"error {e.kind}: {e}", file=sys.stderr)
        sys.exit(3)
    json.dump({"realm": realm, "saved_at": saved_at, "entries": entries}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
