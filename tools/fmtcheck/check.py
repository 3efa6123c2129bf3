#!/usr/bin/env python3
"""An independent reader of the knownpeers on-disk format (binary frame versions 1 and 2, JSON
envelope version 1), written from FORMAT.md alone.

It shares no code with the Rust implementation: CRC-32 from zlib, BLAKE2b from hashlib,
XChaCha20-Poly1305 (version 1) and ChaCha20-Poly1305 (version 2's STREAM chunks) from PyNaCl
(libsodium), Argon2id from argon2-cffi, MessagePack from the `msgpack` package. It reads one file the way FORMAT.md's reader must (same checks, same order,
same error classes) and prints or compares the entries; or, with --vectors, it runs every row of
a cases.json so the checker itself is validated against vectors of another implementation.

Usage:
  check.py FILE --realm R [--key-file K | --passphrase-env VAR | --passphrase-file P]
           [--expect-entries ENVELOPE_OR_LIST.json | --expect-case CASES.json:FILE]
           [--expect-error CLASS] [--expect-version N] [--strict-writer] [--mutations]
           [--print]
  check.py --vectors DIR

Error classes (FORMAT.md / cases.json): corrupt, wrong_key, realm_mismatch, unsupported,
bounds, policy, not_peer_file.  Exit status: 0 as expected, 1 not as expected, 2 usage.
"""

import argparse
import hashlib
import hmac
import ipaddress
import json
import os
import shutil
import stat
import struct
import sys
import tempfile
import zlib

import msgpack
from argon2.low_level import Type, hash_secret_raw
from nacl.bindings import (crypto_aead_chacha20poly1305_ietf_decrypt,
                           crypto_aead_xchacha20poly1305_ietf_decrypt)
from nacl.exceptions import CryptoError

MAGIC = b"\x89KNP\r\n\x1a\n"
VERSION = 1            # the JSON envelope's version
FRAME_VERSIONS = (1, 2)
CHUNK = 65536          # version 2: plaintext bytes per STREAM chunk
TAG = 16
MIN_V2_ENTRY = 13      # version 2: the smallest entry array
MAX_SKIP_DEPTH = 32
CODEC_MSGPACK = 1
CODEC_SEALED = 2
SEALED_EXTRA = 85
MAX_FILE_SIZE = 1 << 30
MAX_ENTRY_COUNT = 10_000_000
MAX_NODE_ID = 255
MAX_CAPS = 32
MAX_CAP_LEN = 64
SOURCES = ("Bootstrap", "Gossip", "Connected")
LEGACY_SOURCES = {"Bootstrap": "Bootstrap", "Handshake": "Connected", "Gossip": "Gossip",
                  "Manual": "Bootstrap"}
KEY_HEADER = "knownpeers-key-v1"
JSON_WS = b" \t\r\n"


class FormatError(Exception):
    """A classified read failure: `cls` is one of the cases.json error classes."""

    def __init__(self, cls, what):
        super().__init__(what)
        self.cls = cls
        self.what = what


def fail(cls, what):
    raise FormatError(cls, what)


# ---------------------------------------------------------------------------------------------
# Entries

def check_entry(obj, where):
    """An entry map/object -> normalized dict; unknown fields ignored (FORMAT.md "The entry")."""
    if not isinstance(obj, dict):
        fail("corrupt", f"{where}: entry is not a map")
    for k in obj:
        if not isinstance(k, str):
            fail("corrupt", f"{where}: non-string key")
    addr = obj.get("addr")
    if not isinstance(addr, str):
        fail("corrupt", f"{where}: addr missing or not a string")
    check_addr(addr, where)
    source = obj.get("source")
    if source not in SOURCES:
        fail("corrupt", f"{where}: bad source {source!r}")
    last_seen = obj.get("last_seen")
    if not is_u64(last_seen):
        fail("corrupt", f"{where}: last_seen missing or not an unsigned integer")
    out = {"addr": addr, "source": source, "last_seen": last_seen}
    if "node_id" in obj:
        node_id = obj["node_id"]
        if not isinstance(node_id, str):
            fail("corrupt", f"{where}: node_id is not a string")
        if len(node_id.encode("utf-8")) > MAX_NODE_ID:
            fail("corrupt", f"{where}: node_id longer than {MAX_NODE_ID} bytes")
        out["node_id"] = node_id
    if "capabilities" in obj:
        caps = obj["capabilities"]
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            fail("corrupt", f"{where}: capabilities is not an array of strings")
        if len(caps) > MAX_CAPS:
            fail("corrupt", f"{where}: more than {MAX_CAPS} capabilities")
        if any(len(c.encode("utf-8")) > MAX_CAP_LEN for c in caps):
            fail("corrupt", f"{where}: a capability longer than {MAX_CAP_LEN} bytes")
        out["capabilities"] = list(caps)
    return out


def is_u64(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < (1 << 64)


def check_addr(addr, where):
    """A socket address as Rust's SocketAddr prints it: `a.b.c.d:port` or `[v6]:port`."""
    try:
        if addr.startswith("["):
            host, sep, port = addr[1:].partition("]:")
            if not sep:
                raise ValueError("no ]:")
            ipaddress.IPv6Address(host)
        else:
            host, sep, port = addr.rpartition(":")
            if not sep:
                raise ValueError("no port")
            ipaddress.IPv4Address(host)
        if not port.isdigit() or int(port) > 65535 or (len(port) > 1 and port[0] == "0"):
            raise ValueError("bad port")
    except ValueError:
        fail("corrupt", f"{where}: addr {addr!r} is not a socket address")


def addr_text(b, where):
    """A version-2 binary addr as Rust's SocketAddr prints it (FORMAT.md: 6, 18 or 22 bytes)."""
    if len(b) == 6:
        ip = ipaddress.IPv4Address(b[:4])
        return f"{ip}:{int.from_bytes(b[4:6], 'big')}"
    if len(b) in (18, 22):
        raw = b[:16]
        if raw[:10] == bytes(10) and raw[10:12] == b"\xff\xff":
            # Rust prints an IPv4-mapped address in dotted form (Python 3.11 does not).
            host = f"::ffff:{ipaddress.IPv4Address(raw[12:16])}"
        else:
            host = str(ipaddress.IPv6Address(raw))
        port = int.from_bytes(b[16:18], "big")
        scope = int.from_bytes(b[18:22], "big") if len(b) == 22 else 0
        return f"[{host}%{scope}]:{port}" if scope else f"[{host}]:{port}"
    fail("corrupt", f"{where}: addr is {len(b)} bytes (6, 18 or 22)")


def check_depth(value, where, depth=0):
    """A skipped value nested deeper than 32 levels is corrupt (FORMAT.md)."""
    if depth > MAX_SKIP_DEPTH:
        fail("corrupt", f"{where}: a skipped value nested deeper than {MAX_SKIP_DEPTH} levels")
    if isinstance(value, list):
        for v in value:
            check_depth(v, where, depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_depth(k, where, depth + 1)
            check_depth(v, where, depth + 1)


def v2_entry(arr, where):
    """A version-2 entry array -> the entry map of "The entry" (FORMAT.md "Compact body")."""
    if not isinstance(arr, list):
        fail("corrupt", f"{where}: entry is not an array")
    if len(arr) < 5:
        fail("corrupt", f"{where}: entry array of {len(arr)} elements (at least 5)")
    addr, source, last_seen, node_id, caps = arr[:5]
    for extra in arr[5:]:
        check_depth(extra, where)
    if not isinstance(addr, bytes):
        fail("corrupt", f"{where}: addr is not bin")
    out = {"addr": addr_text(addr, where)}
    if not is_u64(source) or source > 2:
        fail("corrupt", f"{where}: source {source!r} is not 0, 1 or 2")
    out["source"] = SOURCES[source]
    if not is_u64(last_seen):
        fail("corrupt", f"{where}: last_seen is not an unsigned integer")
    out["last_seen"] = last_seen
    if node_id is not None:
        if not isinstance(node_id, str):
            fail("corrupt", f"{where}: node_id is neither nil nor str")
        out["node_id"] = node_id
    if not isinstance(caps, list):
        fail("corrupt", f"{where}: capabilities is not an array")
    if caps:
        out["capabilities"] = caps
    return out


def check_entries(entries, where):
    if not isinstance(entries, list):
        fail("corrupt", f"{where}: entries is not an array")
    out = [check_entry(e, f"{where} entry {i}") for i, e in enumerate(entries)]
    seen = set()
    for e in out:
        if e["addr"] in seen:
            fail("corrupt", f"{where}: duplicate addr {e['addr']}")
        seen.add(e["addr"])
    return out


def writer_conformance(entries, where):
    """Writer rules a reader tolerates but a conforming writer keeps (`--strict-writer`)."""
    problems = []
    for i, e in enumerate(entries):
        if "capabilities" in e and not e["capabilities"]:
            problems.append(f"{where} entry {i}: empty capabilities written instead of omitted")
    return problems


# ---------------------------------------------------------------------------------------------
# Detection and the three readers

def detect(data):
    """FORMAT.md's table of first bytes."""
    if data.startswith(MAGIC):
        return "frame"
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    stripped = body.lstrip(JSON_WS)
    if stripped.startswith(b"{"):
        return "json"
    plain = data.lstrip(JSON_WS)
    if plain.startswith(b"["):
        return "legacy"
    fail("not_peer_file", "first bytes match no knownpeers format")


def read_json(data, realm):
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        fail("corrupt", f"invalid JSON: {e}")
    if not isinstance(doc, dict):
        fail("corrupt", "top level is not an object")
    version = doc.get("knownpeers")
    if not is_u64(version):
        fail("corrupt", "knownpeers version missing or not an unsigned integer")
    if version != VERSION:
        fail("unsupported", f"version {version}")
    if "codec" in doc and doc["codec"] != "json":
        fail("corrupt", f"codec {doc['codec']!r} in a JSON envelope")
    file_realm = doc.get("realm")
    if not isinstance(file_realm, str) or not 1 <= len(file_realm.encode("utf-8")) <= 255:
        fail("corrupt", "realm missing or not 1..255 bytes")
    if realm is not None and file_realm != realm:
        fail("realm_mismatch", f"file realm {file_realm!r}, expected {realm!r}")
    saved_at = doc.get("saved_at")
    if not is_u64(saved_at):
        fail("corrupt", "saved_at missing or not an unsigned integer")
    if not isinstance(doc.get("entries"), list):
        fail("corrupt", "entries missing or not an array")
    if len(doc["entries"]) > MAX_ENTRY_COUNT:
        fail("bounds", "more than 10,000,000 entries")
    entries = check_entries(doc["entries"], "json")
    return {"codec": "json", "realm": file_realm, "saved_at": saved_at, "entries": entries}


def read_legacy(data, realm, mtime):
    if realm is None:
        fail("usage", "a legacy file names no realm; one must be given")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        fail("corrupt", f"invalid JSON: {e}")
    if not isinstance(doc, list):
        fail("corrupt", "legacy top level is not an array")
    converted = []
    for i, rec in enumerate(doc):
        if not isinstance(rec, dict):
            fail("corrupt", f"legacy record {i} is not an object")
        src = rec.get("source")
        if src not in LEGACY_SOURCES:
            fail("corrupt", f"legacy record {i}: bad source {src!r}")
        epoch = rec.get("last_success_epoch")
        if epoch is not None and not is_u64(epoch):
            fail("corrupt", f"legacy record {i}: bad last_success_epoch")
        entry = {k: v for k, v in rec.items() if k in ("addr", "node_id", "capabilities")}
        entry["source"] = LEGACY_SOURCES[src]
        entry["last_seen"] = mtime if epoch is None else epoch
        converted.append(entry)
    entries = check_entries(converted, "legacy")
    for e in entries:
        if e.get("capabilities") == []:
            del e["capabilities"]
    return {"codec": "legacy", "realm": realm, "saved_at": None, "entries": entries}


def read_frame(data, realm, key):
    """The binary frame, checked in FORMAT.md's reader order."""
    # 1. magic, version, codec, flags; the file length against body_len.
    if len(data) < 13:
        fail("corrupt", "truncated before the realm length")
    (version,) = struct.unpack_from("<H", data, 8)
    if version not in FRAME_VERSIONS:
        fail("unsupported", f"version {version}")
    codec = data[10]
    if codec not in (CODEC_MSGPACK, CODEC_SEALED):
        fail("unsupported", f"codec byte {codec}")
    if data[11] != 0:
        fail("corrupt", f"flags {data[11]} (must be 0)")
    rlen = data[12]
    if rlen == 0:
        fail("corrupt", "realm length 0")
    hlen = 25 + rlen + 12 + (SEALED_EXTRA if codec == CODEC_SEALED else 0)
    if len(data) < hlen:
        fail("corrupt", "truncated header")
    (body_len,) = struct.unpack_from("<Q", data, hlen - 12)
    expected_len = hlen + body_len + (4 if codec == CODEC_MSGPACK else 0)
    if len(data) != expected_len:
        fail("corrupt", f"file length {len(data)}, header says {expected_len}")
    # 2. header_crc.
    (header_crc,) = struct.unpack_from("<I", data, hlen - 4)
    if zlib.crc32(data[:hlen - 4]) != header_crc:
        fail("corrupt", "header CRC mismatch")
    # 3. realm.
    try:
        file_realm = data[13:13 + rlen].decode("utf-8")
    except UnicodeDecodeError:
        fail("corrupt", "realm is not UTF-8")
    if realm is not None and file_realm != realm:
        fail("realm_mismatch", f"file realm {file_realm!r}, expected {realm!r}")
    saved_at, entry_count = struct.unpack_from("<QI", data, 13 + rlen)
    if entry_count > MAX_ENTRY_COUNT:
        fail("bounds", f"entry_count {entry_count} over 10,000,000")
    header = data[:hlen]
    body = data[hlen:hlen + body_len]
    info = {"version": version, "realm": file_realm, "saved_at": saved_at,
            "entry_count": entry_count}
    if codec == CODEC_MSGPACK:
        (body_crc,) = struct.unpack_from("<I", data, hlen + body_len)
        if zlib.crc32(body) != body_crc:
            fail("corrupt", "body CRC mismatch")
        if version == 2:
            check_v2_count(entry_count, len(body))
        plain = body
        info["codec"] = "msgpack"
    else:
        plain = open_sealed(data, rlen, header, body, key, info, version, entry_count)
        info["codec"] = "sealed"
    # 7. the MessagePack body.
    try:
        items = msgpack.unpackb(plain, raw=False, strict_map_key=False, use_list=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError,
            UnicodeDecodeError, TypeError) as e:
        fail("corrupt", f"body is not one MessagePack value: {e}")
    if not isinstance(items, list):
        fail("corrupt", "body is not an array")
    if len(items) != entry_count:
        fail("corrupt", f"entry_count {entry_count}, body has {len(items)}")
    if version == 1:
        for i, item in enumerate(items):
            if isinstance(item, dict):
                for k, v in item.items():
                    if k not in ("addr", "source", "last_seen", "node_id", "capabilities"):
                        check_depth(v, f"{info['codec']} entry {i}")
    else:
        items = [v2_entry(item, f"{info['codec']} entry {i}") for i, item in enumerate(items)]
    info["entries"] = check_entries(items, info["codec"])
    return info


def check_v2_count(entry_count, plain_len):
    """Version 2: an entry_count the plaintext cannot hold (13 bytes per entry) is corrupt."""
    if entry_count > plain_len // MIN_V2_ENTRY:
        fail("corrupt", f"entry_count {entry_count} exceeds a {plain_len}-byte body's "
                        f"{plain_len // MIN_V2_ENTRY}")


def open_stream(header, body, file_key, entry_count):
    """Version 2, step 6: the STREAM chunks in order (FORMAT.md "Sealed body (codec 2)")."""
    sealed_chunk = CHUNK + TAG
    n = max(1, -(-len(body) // sealed_chunk))
    last_len = len(body) - (n - 1) * sealed_chunk
    if last_len < TAG:
        fail("corrupt", "the body ends inside a chunk's tag")
    if last_len == TAG and n > 1:
        fail("corrupt", "an empty final chunk after others")
    check_v2_count(entry_count, len(body) - n * TAG)
    plain = []
    for i in range(n):
        chunk = body[i * sealed_chunk:(i + 1) * sealed_chunk]
        nonce = i.to_bytes(11, "big") + (b"\x01" if i == n - 1 else b"\x00")
        try:
            plain.append(crypto_aead_chacha20poly1305_ietf_decrypt(chunk, header, nonce,
                                                                   file_key))
        except CryptoError:
            fail("corrupt", f"chunk {i} of {n} does not open (damaged, reordered, truncated "
                            f"or extended)")
    return b"".join(plain)


def open_sealed(data, rlen, header, body, key, info, version, entry_count):
    """Steps 4-6 for a sealed frame: KDF bounds, key_check, AEAD open. Returns the plaintext."""
    off = 25 + rlen
    kdf = data[off]
    m_cost, t_cost, p_cost = struct.unpack_from("<III", data, off + 1)
    salt = data[off + 13:off + 29]
    nonce = data[off + 29:off + 53]
    key_check = data[off + 53:off + 85]
    if kdf == 0:
        if (m_cost, t_cost, p_cost) != (0, 0, 0) or salt != bytes(16):
            fail("corrupt", "kdf 0 with non-zero KDF fields")
        info["kdf"] = {"kind": "key_file"}
    elif kdf == 1:
        # 4. bounds before any work.
        if not (8 * p_cost <= m_cost <= 1048576 and 1 <= t_cost <= 10 and 1 <= p_cost <= 16):
            fail("bounds", f"KDF m={m_cost} t={t_cost} p={p_cost} outside FORMAT.md's bounds")
        info["kdf"] = {"kind": "argon2id", "m_cost_kib": m_cost, "t_cost": t_cost,
                       "p_cost": p_cost}
    else:
        fail("unsupported", f"kdf byte {kdf}")
    if len(body) < 16:
        fail("corrupt", "sealed body shorter than the 16-byte tag")
    # 5. master, key_check in constant time.
    if key is None:
        fail("wrong_key", "the file is sealed and no key was given")
    if kdf == 0:
        if key[0] != "raw":
            fail("wrong_key", "the file was sealed with a key file, a passphrase was given")
        master = key[1]
    else:
        if key[0] != "passphrase":
            fail("wrong_key", "the file was sealed with a passphrase, a key file was given")
        master = argon2id(key[1], salt, m_cost, t_cost, p_cost)
    kcv = hashlib.blake2b(nonce, digest_size=32, key=master, person=b"knownpeers.kcv1").digest()
    if not hmac.compare_digest(kcv, key_check):
        fail("wrong_key", "key_check mismatch")
    if version == 2:
        file_key = hashlib.blake2b(nonce, digest_size=32, key=master,
                                   person=b"knownpeers.str2").digest()
        return open_stream(header, body, file_key, entry_count)
    enc_key = hashlib.blake2b(b"", digest_size=32, key=master, person=b"knownpeers.enc1").digest()
    # 6. AEAD open with the whole header (header_crc included) as associated data.
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(body, header, nonce, enc_key)
    except CryptoError:
        fail("corrupt", "AEAD open failed (damaged or tampered)")


_ARGON2_CACHE = {}


def argon2id(passphrase, salt, m_cost, t_cost, p_cost):
    """Argon2id v1.3 (version 0x13 = 19), 32-byte output; memoized so that --mutations, which
    reads thousands of variants of one file, runs the KDF once per distinct header."""
    args = (passphrase, bytes(salt), m_cost, t_cost, p_cost)
    if args not in _ARGON2_CACHE:
        _ARGON2_CACHE[args] = hash_secret_raw(secret=passphrase, salt=bytes(salt),
                                              time_cost=t_cost, memory_cost=m_cost,
                                              parallelism=p_cost, hash_len=32, type=Type.ID,
                                              version=19)
    return _ARGON2_CACHE[args]


def read_bytes(data, realm, key, mtime=0):
    kind = detect(data)
    if kind == "frame":
        return read_frame(data, realm, key)
    if kind == "json":
        return read_json(data, realm)
    return read_legacy(data, realm, mtime)


def mutations(path, realm, key, baseline):
    """Every single-bit flip and every truncation of a binary file must be an error (FORMAT.md:
    CRCs cover the msgpack frame, the header CRC and the AEAD the sealed one). Returns the
    problems found."""
    with open(path, "rb") as f:
        data = f.read()
    problems = []
    if len(data) <= 16384:
        lengths = range(len(data))
        flips = [(i, bit) for i in range(len(data)) for bit in range(8)]
    else:
        # A large (multi-chunk) file: every truncation and every bit flip within 24 bytes of
        # the body's start, of every chunk boundary and of the end, and a stride through the
        # rest (every one would take hours here).
        hlen = frame_header_len(data)
        marks = list(range(hlen, len(data), CHUNK + TAG)) + [len(data)]
        near = sorted({p for m in marks for p in range(m - 24, m + 24) if 0 <= p < len(data)})
        lengths = sorted(set(near) | set(range(0, len(data), 997)))
        flips = [(i, bit) for i in near for bit in range(8)]
        flips += [(i, i % 8) for i in range(0, len(data), 1009)]
    variants = [(f"truncated to {n}", data[:n]) for n in lengths]
    for i, bit in flips:
        flipped = bytearray(data)
        flipped[i] ^= 1 << bit
        variants.append((f"bit {bit} of byte {i} flipped", bytes(flipped)))
    for what, variant in variants:
        try:
            res = read_bytes(variant, realm, key)
        except FormatError:
            continue
        same = res["entries"] == baseline["entries"]
        problems.append(f"{what}: read without error ({'same' if same else 'DIFFERENT'} entries)")
    return problems, len(variants)


def frame_header_len(data):
    """H of a binary frame whose header is intact."""
    return 25 + data[12] + 12 + (SEALED_EXTRA if data[10] == CODEC_SEALED else 0)


def read_file(path, realm, key, mtime=None):
    size = os.stat(path).st_size
    if size > MAX_FILE_SIZE:
        fail("bounds", "file larger than 1 GiB")
    with open(path, "rb") as f:
        data = f.read()
    if mtime is None:
        mtime = int(os.stat(path).st_mtime)
    return read_bytes(data, realm, key, mtime)


# ---------------------------------------------------------------------------------------------
# Keys

def read_key_file(path):
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        fail("wrong_key", f"key file mode {mode:04o} is open to group/others (chmod 600)")
    with open(path, "rb") as f:
        text = f.read()
    try:
        text = text.decode("ascii")
    except UnicodeDecodeError:
        fail("wrong_key", "key file is not ASCII")
    if text.endswith("\n"):
        text = text[:-1]
    lines = text.split("\n")
    if len(lines) != 2 or lines[0] != KEY_HEADER:
        fail("wrong_key", "key file is not two lines starting with knownpeers-key-v1")
    hexkey = lines[1]
    if len(hexkey) != 64 or any(c not in "0123456789abcdef" for c in hexkey):
        fail("wrong_key", "key line is not 64 lowercase hex digits")
    return ("raw", bytes.fromhex(hexkey))


def passphrase_key(text):
    if not text:
        fail("wrong_key", "empty passphrase")
    return ("passphrase", text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Comparing and the vector runner

def normalize(entries, mtime=None):
    out = []
    for e in entries:
        e = dict(e)
        if e.get("last_seen") == "mtime":
            e["last_seen"] = mtime
        if e.get("capabilities") == []:
            del e["capabilities"]
        if e.get("node_id") is None:
            e.pop("node_id", None)
        out.append({k: e[k] for k in ("addr", "source", "last_seen", "node_id", "capabilities")
                    if k in e})
    return out


def check_one(path, realm, key, expect, expected_entries, strict=False, mtime=None):
    """Reads one file and compares with the expectation. Returns (ok, message, result)."""
    try:
        res = read_file(path, realm, key, mtime)
    except FormatError as e:
        if expect == e.cls:
            return True, f"error as expected [{e.cls}]: {e.what}", None
        return False, f"expected {expect}, got error [{e.cls}]: {e.what}", None
    if expect != "ok":
        return False, f"expected error {expect}, but the file read fine", res
    problems = writer_conformance(res["entries"], res["codec"]) if strict else []
    if strict and res["codec"] == "json":
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        if not text.startswith("{\n  \""):
            problems.append("JSON is not pretty-printed with a two-space indent")
    if problems:
        return False, "; ".join(problems), res
    if expected_entries is not None:
        got = normalize(res["entries"])
        if got != expected_entries:
            return False, (f"entries differ:\n  got      {json.dumps(got)}\n"
                           f"  expected {json.dumps(expected_entries)}"), res
    return True, (f"ok: codec {res['codec']}, realm {res['realm']}, "
                  f"{len(res['entries'])} entries"), res


def run_vectors(vdir):
    with open(os.path.join(vdir, "cases.json")) as f:
        cases = json.load(f)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as keydir:
        for i, case in enumerate(cases):
            path = os.path.join(vdir, case["file"])
            key = None
            try:
                if "key_file" in case:
                    # Git does not keep modes: a 0600 copy, as the vectors' README says.
                    copy = os.path.join(keydir, f"{i}-{case['key_file']}")
                    shutil.copyfile(os.path.join(vdir, case["key_file"]), copy)
                    os.chmod(copy, 0o600)
                    key = read_key_file(copy)
                elif "passphrase" in case:
                    key = passphrase_key(case["passphrase"])
            except FormatError as e:
                print(f"FAIL {case['file']} ({case['expect']}): key: {e.what}")
                failed += 1
                continue
            mtime = int(os.stat(path).st_mtime)
            expected = (normalize(case["entries"], mtime)
                        if case["expect"] == "ok" and "entries" in case else None)
            ok, msg, res = check_one(path, case["realm"], key, case["expect"], expected,
                                     mtime=mtime)
            if ok and res is not None and "entries_sha256" in case:
                got = normalize(res["entries"])
                text = json.dumps(got, separators=(",", ":"), ensure_ascii=False)
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                if len(got) != case["entries_len"] or digest != case["entries_sha256"]:
                    ok, msg = False, (f"{len(got)} entries with SHA-256 {digest}, expected "
                                      f"{case['entries_len']} with {case['entries_sha256']}")
            if ok and res is not None and res["codec"] in ("msgpack", "sealed"):
                problems, count = mutations(path, case["realm"], key, res)
                if problems:
                    ok, msg = False, f"{len(problems)} of {count} mutations accepted: {problems[:3]}"
                else:
                    msg += f"; all {count} bit flips and truncations rejected"
            print(f"{'PASS' if ok else 'FAIL'} {case['file']} ({case['expect']}): {msg}")
            passed += ok
            failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def load_expected(spec_entries, spec_case):
    if spec_entries:
        with open(spec_entries) as f:
            doc = json.load(f)
        return normalize(doc["entries"] if isinstance(doc, dict) else doc)
    if spec_case:
        cases_path, _, name = spec_case.rpartition(":")
        with open(cases_path) as f:
            cases = json.load(f)
        for case in cases:
            if case["file"] == name and case["expect"] == "ok":
                vec = os.path.join(os.path.dirname(cases_path), name)
                return normalize(case["entries"], int(os.stat(vec).st_mtime))
        raise SystemExit(f"check.py: no ok case for {name} in {cases_path}")
    return None


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("file", nargs="?")
    p.add_argument("--vectors", metavar="DIR")
    p.add_argument("--realm")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--key-file")
    g.add_argument("--passphrase-env")
    g.add_argument("--passphrase-file")
    p.add_argument("--expect-entries", metavar="JSON")
    p.add_argument("--expect-case", metavar="CASES:FILE")
    p.add_argument("--expect-error", metavar="CLASS", default="ok")
    p.add_argument("--expect-version", metavar="N", type=int,
                   help="require a binary frame of this version")
    p.add_argument("--strict-writer", action="store_true")
    p.add_argument("--print", action="store_true", help="print the decoded file as JSON")
    p.add_argument("--mutations", action="store_true",
                   help="also require every bit flip and truncation of the file to be an error")
    a = p.parse_args(argv)
    if a.vectors:
        return run_vectors(a.vectors)
    if not a.file:
        p.error("FILE or --vectors is required")
    try:
        key = None
        if a.key_file:
            key = read_key_file(a.key_file)
        elif a.passphrase_env:
            key = passphrase_key(os.environ.get(a.passphrase_env, ""))
        elif a.passphrase_file:
            with open(a.passphrase_file, encoding="utf-8") as f:
                text = f.read()
            key = passphrase_key(text[:-1] if text.endswith("\n") else text)
    except FormatError as e:
        print(f"FAIL {a.file}: key: {e.what}")
        return 1
    expected = load_expected(a.expect_entries, a.expect_case)
    ok, msg, res = check_one(a.file, a.realm, key, a.expect_error, expected, a.strict_writer)
    if ok and a.expect_version is not None and res is not None:
        if res.get("version") != a.expect_version:
            ok, msg = False, f"binary frame version {res.get('version')}, expected " \
                             f"{a.expect_version}"
        else:
            msg += f"; binary frame version {a.expect_version}"
    if ok and a.mutations and res is not None:
        problems, count = mutations(a.file, a.realm, key, res)
        if problems:
            ok = False
            msg = f"{len(problems)} of {count} mutations read without error: {problems[:3]}"
        else:
            msg += f"; all {count} bit flips and truncations rejected"
    print(f"{'PASS' if ok else 'FAIL'} {a.file}: {msg}")
    if a.print and res is not None:
        print(json.dumps(res, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
