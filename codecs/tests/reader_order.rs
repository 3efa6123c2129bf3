//! FORMAT.md's reader order, one failure at a time: each test builds a file that fails at a
//! chosen step (and often at later steps too) and asserts that the first failing step is the
//! one reported. Also the policy checks of `read` and the sniffing of `detect`.

mod common;

use common::{basic_entries, fix_header_crc, sealed_block, vector, SAVED_AT};
use knownpeers_codecs::{
    detect, read, Codec, Error, ErrorKind, Format, JsonCodec, KdfParams, Key, MsgpackCodec,
    ReadPolicy, SealedCodec, SecretString,
};

const REALM: &str = "example-realm";

fn key(byte: u8) -> SealedCodec {
    SealedCodec::with_key(Key::from_bytes([byte; 32]))
}

fn sealed_file(codec: &SealedCodec) -> Vec<u8> {
    codec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("encode")
}

/// Reads `bytes` as `realm` with `codec` and asserts the error kind.
fn check(bytes: &[u8], realm: &str, codec: Option<&SealedCodec>, want: ErrorKind) -> Error {
    let policy = ReadPolicy {
        realm: Some(realm),
        require_encryption: false,
        sealed: codec,
        legacy_mtime: 0,
        check_duplicates: true,
    };
    let err = read(bytes, &policy).expect_err("the read must fail");
    assert_eq!(err.kind(), want, "{err}");
    err
}

#[test]
fn wrong_key_corrupt_body_and_tampered_realm_are_told_apart() {
    let right = key(1);
    let file = sealed_file(&right);
    // Step 5: another key fails the key check.
    assert!(matches!(
        check(&file, REALM, Some(&key(2)), ErrorKind::WrongKey),
        Error::WrongKey
    ));
    // Step 6: the right key, a flipped body byte: the AEAD fails.
    let mut flipped = file.clone();
    let last = flipped.len() - 20;
    flipped[last] ^= 0x40;
    check(&flipped, REALM, Some(&right), ErrorKind::Corrupt);
    // Step 6 again: the realm edited and the header CRC recomputed. The key check (over the
    // nonce) passes, the AEAD (over the header) does not.
    let mut tampered = file.clone();
    tampered[13 + REALM.len() - 1] = b'n';
    fix_header_crc(&mut tampered);
    check(&tampered, "example-realn", Some(&right), ErrorKind::Corrupt);
    // Step 3 precedes both: the tampered file loaded as the original realm is a mismatch.
    check(&tampered, REALM, Some(&key(2)), ErrorKind::RealmMismatch);
    // Step 2 precedes step 3: without the CRC fix the header is corrupt, whatever the realm.
    let mut damaged = file.clone();
    damaged[13] ^= 0x01;
    check(&damaged, "other-realm", Some(&key(2)), ErrorKind::Corrupt);
    // The intact file opens.
    let policy = ReadPolicy::sealed(Some(REALM), &right, true);
    assert_eq!(
        read(&file, &policy).expect("opens").file.entries,
        basic_entries()
    );
}

/// The sealed passphrase vector with its header edited to `m_cost` = `m`, `t_cost` = `t`,
/// `p_cost` = `p` and its header CRC recomputed.
fn with_kdf_params(m: u32, t: u32, p: u32) -> Vec<u8> {
    let mut file = vector("sealed-passphrase.kp");
    let s = sealed_block(REALM.len());
    file[s + 1..s + 5].copy_from_slice(&m.to_le_bytes());
    file[s + 5..s + 9].copy_from_slice(&t.to_le_bytes());
    file[s + 9..s + 13].copy_from_slice(&p.to_le_bytes());
    fix_header_crc(&mut file);
    file
}

#[test]
fn kdf_bombs_are_refused_before_argon2_runs() {
    let cases = [
        (u32::MAX, 1, 1),     // 4 TiB of memory
        (1_048_577, 1, 1),    // just over 1 GiB
        (1024, 11, 1),        // t over 10
        (1024, 1_000_000, 1), // far too many passes
        (1024, 0, 1),         // t = 0
        (1024, 1, 0),         // p = 0
        (1024, 1, 17),        // p over 16
        (64, 1, 16),          // m under 8 * p
    ];
    for (m, t, p) in cases {
        let codec = SealedCodec::reader_with_passphrase(SecretString::from("pass"));
        let err = check(
            &with_kdf_params(m, t, p),
            REALM,
            Some(&codec),
            ErrorKind::LimitExceeded,
        );
        assert!(
            matches!(err, Error::Key(knownpeers_keys::Error::KdfBounds { .. })),
            "{m} {t} {p}: {err}"
        );
        assert_eq!(codec.kdf_runs(), 0, "{m} {t} {p}");
    }
    // Bounds need no key: a bomb is refused even when none is given.
    check(
        &with_kdf_params(u32::MAX, 1, 1),
        REALM,
        None,
        ErrorKind::LimitExceeded,
    );
    // And the realm check still comes first.
    check(
        &with_kdf_params(u32::MAX, 1, 1),
        "other",
        None,
        ErrorKind::RealmMismatch,
    );
}

#[test]
fn the_bounds_themselves_are_accepted() {
    // 8 * p = m, the smallest memory the bounds allow, opens (with the right key check this
    // would be a wrong key; here it is the vector's key check, so WrongKey proves Argon2 ran).
    // p = 16 is over the default ceiling (p 4): the reader must raise it to FORMAT.md's bound.
    let codec =
        SealedCodec::reader_with_passphrase(SecretString::from("correct horse battery staple"))
            .with_kdf_ceiling(KdfParams {
                m_cost_kib: KdfParams::MAX_M_KIB,
                t_cost: KdfParams::MAX_T,
                p_cost: KdfParams::MAX_P,
            })
            .expect("the bounds are a valid ceiling");
    check(
        &with_kdf_params(128, 1, 16),
        REALM,
        Some(&codec),
        ErrorKind::WrongKey,
    );
    assert_eq!(codec.kdf_runs(), 1);
}

/// Issue #10 finding 9, as SECURITY.md states it: header fields that feed the key check
/// (nonce, key_check, salt, KDF costs), edited behind a recomputed header CRC, read as a wrong
/// key, not as corrupt; nothing is decrypted.
#[test]
fn tampering_with_what_the_key_check_covers_reads_as_wrong_key() {
    let s = sealed_block(REALM.len());
    // (file, offset in the sealed block: kdf 0, m 1, t 5, p 9, salt 13, nonce 29, key_check 53)
    let keyed = sealed_file(&key(1));
    for at in [29, 40, 53, 84] {
        let mut file = keyed.clone();
        file[s + at] ^= 0x02;
        fix_header_crc(&mut file);
        check(&file, REALM, Some(&key(1)), ErrorKind::WrongKey);
    }
    let pass =
        SealedCodec::reader_with_passphrase(SecretString::from("correct horse battery staple"));
    for at in [5, 13, 28, 29, 53] {
        let mut file = vector("sealed-passphrase.kp");
        file[s + at] ^= 0x02;
        fix_header_crc(&mut file);
        check(&file, REALM, Some(&pass), ErrorKind::WrongKey);
    }
}

/// Issue #10 finding 7: costs within FORMAT.md's bounds but over the reader's ceiling (by
/// default its own writer costs, at least RFC 9106's m = 64 MiB, t = 3, p = 4) are refused
/// before Argon2id runs; at the ceiling the KDF runs.
#[test]
fn kdf_costs_over_the_readers_ceiling_are_refused_before_any_work() {
    use ErrorKind::*;
    let pass = || SecretString::from("correct horse battery staple");
    let reader = SealedCodec::reader_with_passphrase(pass());
    assert_eq!(reader.kdf_ceiling(), Some(KdfParams::DEFAULT));
    for (m, t, p) in [
        (KdfParams::MAX_M_KIB, KdfParams::MAX_T, KdfParams::MAX_P),
        (65_537, 1, 1),
        (1024, 4, 1),
        (1024, 1, 5),
    ] {
        let err = check(
            &with_kdf_params(m, t, p),
            REALM,
            Some(&reader),
            LimitExceeded,
        );
        assert!(err.to_string().contains("ceiling"), "{err}");
    }
    assert_eq!(reader.kdf_runs(), 0);
    // At the ceiling (and under it) the KDF runs: the key check then fails.
    check(&with_kdf_params(1024, 3, 4), REALM, Some(&reader), WrongKey);
    assert_eq!(reader.kdf_runs(), 1);

    // A writer's own costs raise its default ceiling: it can always read what it writes.
    let strong = KdfParams {
        m_cost_kib: 131_072,
        t_cost: 4,
        p_cost: 8,
    };
    let writer = SealedCodec::with_passphrase(pass(), strong).expect("strong params");
    assert_eq!(writer.kdf_ceiling(), Some(strong));
    check(&with_kdf_params(1024, 4, 8), REALM, Some(&writer), WrongKey);
    check(
        &with_kdf_params(1024, 5, 8),
        REALM,
        Some(&writer),
        LimitExceeded,
    );

    // A configured ceiling replaces the default, and must itself be within the bounds.
    let low = SealedCodec::reader_with_passphrase(pass())
        .with_kdf_ceiling(KdfParams {
            m_cost_kib: 1024,
            t_cost: 1,
            p_cost: 1,
        })
        .expect("a valid ceiling");
    check(
        &with_kdf_params(1024, 2, 1),
        REALM,
        Some(&low),
        LimitExceeded,
    );
    let too_high = SealedCodec::reader_with_passphrase(pass()).with_kdf_ceiling(KdfParams {
        m_cost_kib: KdfParams::MAX_M_KIB + 1,
        t_cost: 1,
        p_cost: 1,
    });
    assert!(too_high.is_err());
    // Without a key the ceiling is not reached: a missing key is reported, no KDF runs.
    check(&with_kdf_params(65_537, 1, 1), REALM, None, WrongKey);
}

#[test]
fn a_sealed_file_needs_a_key_of_its_kind() {
    let file = sealed_file(&key(1));
    check(&file, REALM, None, ErrorKind::WrongKey);
    assert!(matches!(
        check(&file, REALM, None, ErrorKind::WrongKey),
        Error::MissingKey
    ));
    let pass = SealedCodec::reader_with_passphrase(SecretString::from("pass"));
    let err = check(&file, REALM, Some(&pass), ErrorKind::WrongKey);
    assert!(matches!(err, Error::KeyKindMismatch { .. }), "{err}");
    assert_eq!(pass.kdf_runs(), 0);
    let err = check(
        &vector("sealed-passphrase.kp"),
        REALM,
        Some(&key(1)),
        ErrorKind::WrongKey,
    );
    assert!(matches!(err, Error::KeyKindMismatch { .. }), "{err}");
}

#[test]
fn unknown_header_bytes_are_unsupported_when_the_header_is_intact() {
    let file = sealed_file(&key(1));
    // An unknown flags bit (checked at step 1, before the CRC).
    let mut flags = file.clone();
    flags[11] = 0x01;
    check(&flags, REALM, Some(&key(1)), ErrorKind::Unsupported);
    // An unknown kdf byte behind a valid CRC.
    let mut kdf = file.clone();
    kdf[sealed_block(REALM.len())] = 7;
    fix_header_crc(&mut kdf);
    check(&kdf, REALM, Some(&key(1)), ErrorKind::Unsupported);
    // kdf = 0 with a nonzero parameter: no writer does this.
    let mut params = file.clone();
    params[sealed_block(REALM.len()) + 1] = 1;
    fix_header_crc(&mut params);
    check(&params, REALM, Some(&key(1)), ErrorKind::Corrupt);
    // An unknown codec byte.
    let mut codec = file.clone();
    codec[10] = 3;
    check(&codec, REALM, Some(&key(1)), ErrorKind::Unsupported);
}

#[test]
fn the_realm_check_precedes_the_policy_check() {
    let key = key(1);
    let strict = |realm| ReadPolicy::sealed(Some(realm), &key, true);
    let json = JsonCodec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("json");
    let msgpack = MsgpackCodec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("msgpack");
    for file in [&json, &msgpack] {
        let err = read(file, &strict("other")).expect_err("mismatch");
        assert_eq!(err.kind(), ErrorKind::RealmMismatch, "{err}");
        let err = read(file, &strict(REALM)).expect_err("policy");
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
        assert!(
            err.to_string().contains("knownpeers convert --to sealed"),
            "{err}"
        );
        // Without require_encryption a sealed realm reads plaintext.
        let lax = ReadPolicy::sealed(Some(REALM), &key, false);
        assert_eq!(read(file, &lax).expect("lax").file.entries, basic_entries());
    }
}

#[test]
fn a_legacy_file_needs_a_realm_and_a_plaintext_policy() {
    let legacy = vector("legacy-thenodes.json");
    let err = read(&legacy, &ReadPolicy::plaintext(None)).expect_err("no realm");
    assert!(matches!(err, Error::RealmRequired), "{err}");
    let key = key(1);
    let err = read(&legacy, &ReadPolicy::sealed(Some(REALM), &key, true)).expect_err("policy");
    assert_eq!(err.kind(), ErrorKind::PolicyViolation);
    let decoded = read(&legacy, &ReadPolicy::plaintext(Some("any-realm"))).expect("reads");
    assert_eq!(decoded.format, Format::Legacy);
    assert_eq!(decoded.file.realm, "any-realm");
}

#[test]
fn without_a_realm_a_file_is_read_as_the_realm_it_names() {
    let file = MsgpackCodec
        .encode("named", SAVED_AT, &basic_entries())
        .expect("encode");
    let decoded = read(&file, &ReadPolicy::plaintext(None)).expect("reads");
    assert_eq!(decoded.file.realm, "named");
}

#[test]
fn a_codec_refuses_another_codecs_file() {
    let json = JsonCodec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("json");
    let msgpack = MsgpackCodec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("msgpack");
    let sealed = sealed_file(&key(1));
    let codecs: [&dyn Codec; 3] = [&JsonCodec, &MsgpackCodec, &key(1)];
    let files = [&json, &msgpack, &sealed];
    for (i, codec) in codecs.iter().enumerate() {
        for (j, file) in files.iter().enumerate() {
            let result = codec.decode(file, Some(REALM));
            if i == j {
                assert_eq!(result.expect("own format").entries, basic_entries());
            } else {
                assert_eq!(
                    result.expect_err("other format").kind(),
                    ErrorKind::Unsupported
                );
            }
        }
    }
}

#[test]
fn detect_sniffs_the_first_bytes() {
    let check = |bytes: &[u8], want: Result<Format, ErrorKind>| {
        assert_eq!(detect(bytes).map_err(|e| e.kind()), want, "{bytes:?}");
    };
    use ErrorKind::*;
    check(b"{}", Ok(Format::Json));
    check(b"  \n\t\r{", Ok(Format::Json));
    check(b"\xEF\xBB\xBF{", Ok(Format::Json));
    check(b"\xEF\xBB\xBF \n{", Ok(Format::Json));
    check(b"[]", Ok(Format::Legacy));
    check(b"\n[", Ok(Format::Legacy));
    check(b"\xEF\xBB\xBF[", Ok(Format::Legacy));
    check(b"", Err(NotPeerFile));
    check(b"   ", Err(NotPeerFile));
    check(b"\xEF\xBB\xBF", Err(NotPeerFile));
    check(b"GIF89a", Err(NotPeerFile));
    check(b"\x0b{", Err(NotPeerFile)); // vertical tab is not JSON whitespace
    check(b"\xEF\xBB{", Err(NotPeerFile)); // half a BOM
    check(b"\x89KNP\r\n\x1a", Err(NotPeerFile)); // seven magic bytes
    check(b"\x89KNP\r\n\x1a\n", Err(Corrupt));
    check(b"\x89KNP\r\n\x1a\n\x01", Err(Corrupt));
    check(b"\x89KNP\r\n\x1a\n\x01\x00", Err(Corrupt));
    check(b"\x89KNP\r\n\x1a\n\x03\x00\x01", Err(Unsupported));
    check(b"\x89KNP\r\n\x1a\n\x00\x00\x01", Err(Unsupported));
    check(b"\x89KNP\r\n\x1a\n\x02\x00\x01", Ok(Format::Msgpack));
    check(b"\x89KNP\r\n\x1a\n\x02\x00\x02", Ok(Format::Sealed));
    check(b"\x89KNP\r\n\x1a\n\x01\x00\x01", Ok(Format::Msgpack));
    check(b"\x89KNP\r\n\x1a\n\x01\x00\x02", Ok(Format::Sealed));
    check(b"\x89KNP\r\n\x1a\n\x01\x00\x00", Err(Unsupported));
    check(b"\x89KNP\r\n\x1a\n\x01\x00\x03", Err(Unsupported));
}

#[test]
fn a_frame_must_be_exactly_as_long_as_its_header_says() {
    let file = MsgpackCodec
        .encode(REALM, SAVED_AT, &basic_entries())
        .expect("encode");
    let mut longer = file.clone();
    longer.push(0);
    check(&longer, REALM, None, ErrorKind::Corrupt);
    check(&file[..file.len() - 1], REALM, None, ErrorKind::Corrupt);
    // A body_len near u64::MAX must not overflow the length arithmetic.
    let mut huge = file.clone();
    let h = 25 + REALM.len() + 12;
    huge[h - 12..h - 4].copy_from_slice(&u64::MAX.to_le_bytes());
    check(&huge, REALM, None, ErrorKind::Corrupt);
}

#[test]
fn kdf_params_of_a_writer_are_checked_at_construction() {
    let weak = KdfParams {
        m_cost_kib: 1024,
        t_cost: 1,
        p_cost: 1,
    };
    let err = SealedCodec::with_passphrase(SecretString::from("p"), weak).expect_err("weak");
    assert!(
        matches!(err, Error::Key(knownpeers_keys::Error::WeakKdf { .. })),
        "{err}"
    );
    let bomb = KdfParams {
        m_cost_kib: u32::MAX,
        ..KdfParams::DEFAULT
    };
    let err = SealedCodec::with_passphrase(SecretString::from("p"), bomb).expect_err("bomb");
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
}
