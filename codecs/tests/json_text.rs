//! The text formats' reading rules, case by case: the JSON envelope (BOM, whitespace, unknown
//! keys, version and number forms, `codec`, `realm`) and the legacy TheNodes array (source
//! mapping, null times, ignored `failures`).

mod common;

use knownpeers_codecs::{read, ErrorKind, Format, PeerSource, ReadPolicy};

const MTIME: u64 = 1_700_000_000;

/// Reads `text` as realm `r` (legacy mtime = MTIME) and compares the entry count or error kind.
fn check(text: &str, want: Result<usize, ErrorKind>) {
    let policy = ReadPolicy {
        legacy_mtime: MTIME,
        ..ReadPolicy::plaintext(Some("r"))
    };
    let got = read(text.as_bytes(), &policy);
    assert_eq!(
        got.as_ref()
            .map(|d| d.file.entries.len())
            .map_err(|e| e.kind()),
        want,
        "{text}: {got:?}"
    );
}

/// A JSON envelope for realm `r` around `entries`, with `extra` top-level members first.
fn envelope(extra: &str, entries: &str) -> String {
    format!(
        r#"{{{extra}"knownpeers": 1, "codec": "json", "realm": "r", "saved_at": 5, "entries": [{entries}]}}"#
    )
}

const E: &str = r#"{"addr": "192.0.2.1:7", "source": "Gossip", "last_seen": 3}"#;

#[test]
fn json_envelope_cases() {
    use ErrorKind::*;
    check(&envelope("", E), Ok(1));
    check(&envelope("", ""), Ok(0));
    check(&format!("\u{feff}{}", envelope("", E)), Ok(1));
    check(&format!(" \n\t\r\n{}\n\n  ", envelope("", E)), Ok(1));
    check(&format!("\u{feff}\n {}", envelope("", E)), Ok(1));
    // Unknown keys are ignored, top-level and per entry, whatever their shape.
    check(&envelope(r#""comment": {"a": [1, null]}, "#, E), Ok(1));
    check(
        &envelope(
            "",
            r#"{"addr": "192.0.2.1:7", "source": "Gossip", "last_seen": 3, "rtt_ms": 1.5, "x": null}"#,
        ),
        Ok(1),
    );
    // Optional fields may be null (absent).
    check(
        &envelope(
            "",
            r#"{"addr": "192.0.2.1:7", "source": "Gossip", "last_seen": 3, "node_id": null, "capabilities": null}"#,
        ),
        Ok(1),
    );
    // The version: only the unsigned integer 1.
    check(E, Err(NotPeerFile)); // an entry object alone has no version
    check(r#"{"realm": "r", "entries": []}"#, Err(NotPeerFile));
    check(
        &envelope("", E).replace(r#""knownpeers": 1"#, r#""knownpeers": 2"#),
        Err(Unsupported),
    );
    check(
        &envelope("", E).replace(r#""knownpeers": 1"#, r#""knownpeers": 0"#),
        Err(Unsupported),
    );
    check(
        &envelope("", E).replace(r#""knownpeers": 1"#, r#""knownpeers": "1""#),
        Err(Corrupt),
    );
    check(
        &envelope("", E).replace(r#""knownpeers": 1"#, r#""knownpeers": 1.0"#),
        Err(Corrupt),
    );
    check(
        &envelope("", E).replace(r#""knownpeers": 1"#, r#""knownpeers": -1"#),
        Err(Corrupt),
    );
    // A future version may reshape everything else: the version is judged first.
    check(
        r#"{"knownpeers": 2, "realm": 7, "entries": {"a": 1}}"#,
        Err(Unsupported),
    );
    // codec must say json when present; realm and saved_at are required.
    check(
        &envelope("", E).replace(r#""codec": "json""#, r#""codec": "msgpack""#),
        Err(Corrupt),
    );
    check(&envelope("", E).replace(r#""codec": "json", "#, ""), Ok(1));
    check(
        &envelope("", E).replace(r#""realm": "r", "#, ""),
        Err(Corrupt),
    );
    check(
        &envelope("", E).replace(r#""realm": "r""#, r#""realm": "other""#),
        Err(RealmMismatch),
    );
    check(
        &envelope("", E).replace(r#""realm": "r""#, r#""realm": """#),
        Err(LimitExceeded),
    );
    check(
        &envelope("", E).replace(r#""saved_at": 5, "#, ""),
        Err(Corrupt),
    );
    check(
        &envelope("", E).replace(r#""saved_at": 5"#, r#""saved_at": 5e3"#),
        Err(Corrupt),
    );
    check(
        r#"{"knownpeers": 1, "realm": "r", "saved_at": 5}"#,
        Err(Corrupt),
    );
    check(
        r#"{"knownpeers": 1, "realm": "r", "saved_at": 5, "entries": {}}"#,
        Err(Corrupt),
    );
    // Entry fields.
    check(
        &envelope("", &E.replace(r#""last_seen": 3"#, r#""last_seen": 3.0"#)),
        Err(Corrupt),
    );
    check(
        &envelope("", &E.replace(r#""last_seen": 3"#, r#""last_seen": -3"#)),
        Err(Corrupt),
    );
    check(
        &envelope(
            "",
            &E.replace(r#""last_seen": 3"#, r#""last_seen": 18446744073709551615"#),
        ),
        Ok(1),
    );
    check(
        &envelope(
            "",
            &E.replace(r#""last_seen": 3"#, r#""last_seen": 18446744073709551616"#),
        ),
        Err(Corrupt),
    );
    check(&envelope("", &E.replace("Gossip", "gossip")), Err(Corrupt));
    check(
        &envelope("", &E.replace("Gossip", "Handshake")),
        Err(Corrupt),
    );
    check(
        &envelope("", &E.replace("192.0.2.1:7", "192.0.2.1")),
        Err(Corrupt),
    );
    check(
        &envelope("", &E.replace("192.0.2.1:7", "example.com:7")),
        Err(Corrupt),
    );
    check(
        &envelope("", &E.replace(r#", "last_seen": 3"#, "")),
        Err(Corrupt),
    );
    check(&envelope("", &format!("{E}, {E}")), Err(Corrupt));
    // Escaped strings decode.
    check(
        &envelope("", &E.replace("192.0.2.1:7", r"192.0.2.1\u003a7")),
        Ok(1),
    );
    // Syntax.
    check(&envelope("", E)[..40], Err(Corrupt));
    check(&format!("{} x", envelope("", E)), Err(Corrupt));
    check("{", Err(Corrupt));
}

#[test]
fn legacy_cases() {
    use ErrorKind::*;
    let rec = |source: &str, epoch: &str| {
        format!(
            r#"{{"addr": "192.0.2.1:7", "source": "{source}", "failures": 4, "last_success_epoch": {epoch}}}"#
        )
    };
    let read_one = |text: &str| {
        let policy = ReadPolicy {
            legacy_mtime: MTIME,
            ..ReadPolicy::plaintext(Some("r"))
        };
        let d = read(text.as_bytes(), &policy).expect("reads");
        assert_eq!(d.format, Format::Legacy);
        assert_eq!(d.file.saved_at, MTIME);
        d.file.entries.into_iter().next().expect("one entry")
    };
    for (theirs, ours) in [
        ("Bootstrap", PeerSource::Bootstrap),
        ("Manual", PeerSource::Bootstrap),
        ("Handshake", PeerSource::Connected),
        ("Gossip", PeerSource::Gossip),
    ] {
        let e = read_one(&format!("[{}]", rec(theirs, "12")));
        assert_eq!((e.source, e.last_seen), (ours, 12), "{theirs}");
    }
    assert_eq!(
        read_one(&format!("[{}]", rec("Gossip", "null"))).last_seen,
        MTIME
    );
    assert_eq!(
        read_one(r#"[{"addr": "192.0.2.1:7", "source": "Gossip"}]"#).last_seen,
        MTIME
    );
    check("[]", Ok(0));
    check(&format!("\u{feff}[{}]", rec("Manual", "1")), Ok(1));
    check(&format!("[{}]", rec("Connected", "1")), Err(Corrupt));
    check(&format!("[{}]", rec("Gossip", "-1")), Err(Corrupt));
    check(
        &format!("[{}, {}]", rec("Gossip", "1"), rec("Manual", "2")),
        Err(Corrupt),
    );
    check(&format!("[{}", rec("Gossip", "1")), Err(Corrupt));
    check("[1]", Err(Corrupt));
}

#[test]
fn a_json_envelope_over_the_entry_limit_is_refused_before_its_entries_are_parsed() {
    // 10,000,001 elements that are not even entries: the count alone refuses the file.
    let mut text = String::from(r#"{"knownpeers": 1, "realm": "r", "saved_at": 5, "entries": ["#);
    text.push_str(&"0,".repeat(10_000_000));
    text.push_str("0]}");
    check(&text, Err(ErrorKind::LimitExceeded));
}

#[test]
fn a_legacy_file_over_the_entry_limit_is_refused_before_its_records_are_parsed() {
    let mut text = String::from("[");
    text.push_str(&"0,".repeat(10_000_000));
    text.push_str("0]");
    check(&text, Err(ErrorKind::LimitExceeded));
}
