//! Config: a whole TheNodes config file loads (unknown tables ignored), the defaults match
//! TheNodes', `[realm]` gives the default realm, and every validation error names its key.

use std::path::PathBuf;

use knownpeers::{realm_code, CodecKind, Config, OnCorrupt, PersistenceConfig, PersistenceMode};

const EXAMPLE: &str = include_str!("../examples/thenodes.toml");

#[test]
fn the_thenodes_example_loads() {
    let c = Config::from_toml_str(EXAMPLE).expect("the example is valid");
    assert_eq!(c.mode(), PersistenceMode::ReadWrite);
    let p = c.persistence.as_ref().expect("the table is there");
    assert_eq!(p.enabled, Some(true));
    assert_eq!(
        p.path.as_deref(),
        Some("data/example-app/peers-{realm}.json")
    );
    assert_eq!(
        (p.max_entries, p.ttl_secs, p.save_interval_secs),
        (1024, 604_800, 60)
    );
    assert_eq!(p.codec, CodecKind::Json);
    assert_eq!(p.on_corrupt, OnCorrupt::Quarantine);
    assert_eq!(p.max_gossip_batch, 1000);
    assert_eq!(c.default_realm.as_deref(), Some("example-realm"));
    assert_eq!(c.state_dir, Some(PathBuf::from("data/example-app")));
    let realms: Vec<&str> = p.realms.keys().map(String::as_str).collect();
    assert_eq!(realms, ["example-realm", "lab-realm", "private-realm"]);
    let private = &p.realms["private-realm"];
    assert_eq!(private.codec, Some(CodecKind::Sealed));
    assert_eq!(
        private.passphrase_env.as_deref(),
        Some("KNOWNPEERS_PRIVATE_REALM_PASSPHRASE")
    );
    assert_eq!(
        (private.kdf_m_kib, private.kdf_t, private.kdf_p),
        (Some(65536), Some(3), Some(4))
    );
    assert_eq!(
        p.realms["lab-realm"].key_file,
        Some(PathBuf::from("data/example-app/lab-realm.key"))
    );
}

#[test]
fn the_example_loads_from_a_file() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/thenodes.toml");
    let c = Config::from_file(&path).expect("loads");
    assert_eq!(c, Config::from_toml_str(EXAMPLE).expect("same text"));
    let err = Config::from_file(&path.with_file_name("absent.toml")).expect_err("missing");
    assert!(err.to_string().contains("absent.toml"), "{err}");
}

#[test]
fn thenodes_defaults_apply() {
    // No [network.persistence]: off, as TheNodes' default.
    let c = Config::from_toml_str("port = 50000\n").expect("valid");
    assert_eq!(c.persistence, None);
    assert_eq!(c.mode(), PersistenceMode::Off);
    assert_eq!(c.default_realm, None);
    // The table alone: read-only (TheNodes loads but never saves), TheNodes' numbers, json,
    // quarantine.
    let c = Config::from_toml_str("[network.persistence]\n").expect("valid");
    assert_eq!(c.mode(), PersistenceMode::ReadOnly);
    let p = c.persistence.as_ref().expect("the table is there");
    assert_eq!(p.enabled, None);
    assert_eq!(p.path, None);
    assert_eq!(
        (
            p.max_entries,
            p.ttl_secs,
            p.save_interval_secs,
            p.max_gossip_batch
        ),
        (1024, 604_800, 60, 1000)
    );
    assert_eq!(
        (p.codec, p.on_corrupt),
        (CodecKind::Json, OnCorrupt::Quarantine)
    );
    assert_eq!(c.table(), &PersistenceConfig::default());
    let c = Config::from_toml_str("[network.persistence]\nenabled = false\n").expect("valid");
    assert_eq!(c.mode(), PersistenceMode::ReadOnly);
    let c = Config::from_toml_str("[network.persistence]\nenabled = true\n").expect("valid");
    assert_eq!(c.mode(), PersistenceMode::ReadWrite);
}

#[test]
fn a_host_embeds_the_table_in_its_own_config() {
    #[derive(serde::Deserialize)]
    struct HostConfig {
        network: Option<HostNetwork>,
    }
    #[derive(serde::Deserialize)]
    struct HostNetwork {
        persistence: Option<PersistenceConfig>,
    }
    let text = "[network.persistence]\nenabled = true\ncodec = \"msgpack\"\nttl_secs = 60\n\
                path = \"state/{realm}.json\"\n\
                [network.persistence.realms.lab]\ncodec = \"sealed\"\nkey_file = \"lab.key\"\n";
    let host: HostConfig = toml::from_str(text).expect("valid");
    let table = host.network.and_then(|n| n.persistence);
    let c = Config::from_persistence(table, Some(realm_code("Café Net")), Some("state".into()))
        .expect("valid");
    assert_eq!(c.mode(), PersistenceMode::ReadWrite);
    assert_eq!(c.table().codec, CodecKind::Msgpack);
    assert_eq!(c.table().ttl_secs, 60);
    assert_eq!(
        c.table().realms["lab"].key_file,
        Some(PathBuf::from("lab.key"))
    );
    assert_eq!(c.default_realm.as_deref(), Some("cafe-net"));
    // The same values through the TheNodes-file path give the same config.
    let file = format!(
        "[realm]\nname = \"Café Net\"\nversion = \"1\"\n[node]\nstate_dir = \"state\"\n{text}"
    );
    assert_eq!(Config::from_toml_str(&file).expect("valid"), c);
    // A host's values are validated like a file's.
    let bad = PersistenceConfig {
        save_interval_secs: 0,
        ..PersistenceConfig::default()
    };
    let err = Config::from_persistence(Some(bad), None, None).expect_err("0 s");
    assert_eq!(err.key, "network.persistence.save_interval_secs");
    let err = Config::from_persistence(None, Some("../etc".into()), None).expect_err("unsafe");
    assert_eq!(err.key, "realm");
}

/// TheNodes 0.4.0's `to_kebab_ascii_strict` cases (its tests/utils_naming.rs) and more.
#[test]
fn realm_codes_match_thenodes() {
    for (name, code) in [
        ("My Cool Realm", "my-cool-realm"),
        ("hello_world", "hello-world"),
        ("Foo-Bar", "foo-bar"),
        ("--Hello__World--", "hello-world"),
        ("  A   B  C  ", "a-b-c"),
        ("こんにちは", "default"),
        ("Déjà Vu!", "deja-vu"),
        ("", "default"),
        ("ÅÄÖ", "aao"),
        ("åäö", "aao"),
        ("Smörgåsbord", "smorgasbord"),
        ("BRÄNNVIN", "brannvin"),
        ("für", "fuer"),
        ("Café Net", "cafe-net"),
        ("Œuvre ß", "oeuvre-ss"),
        ("a→b", "a-b"),
        ("Zürich 2", "zuerich-2"),
        ("x\u{0301}y", "x-y"),
    ] {
        assert_eq!(realm_code(name), code, "{name:?}");
    }
}

/// The default realm derived from `[realm]`.
fn check_realm(table: &str, expected: &str) {
    let text = format!("[realm]\n{table}\nversion = \"1.0\"\n");
    let c = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{table}: {e}"));
    assert_eq!(c.default_realm.as_deref(), Some(expected), "{table}");
}

#[test]
fn the_default_realm_is_thenodes_canonical_code() {
    check_realm("name = \"example-realm\"", "example-realm");
    check_realm("name = \"My Realm!\"", "my-realm");
    check_realm("name = \"A__B  c\"", "a-b-c");
    check_realm("name = \"--x--\"", "x");
    check_realm("name = \"!!!\"", "default");
    check_realm("name = \"Main Net\"\ncode = \"mainnet\"", "mainnet");
    check_realm("name = \"Zürich\"\ncode = \"zurich\"", "zurich");
    // A non-ASCII name without a code gets TheNodes' transliterated code.
    check_realm("name = \"Café Net\"", "cafe-net");
    check_realm("name = \"Zürich\"", "zuerich");
}

/// `text` must fail validation naming `key`, with `hint` in the message.
fn check_error(text: &str, key: &str, hint: &str) {
    let err = Config::from_toml_str(text).expect_err(text);
    assert_eq!(err.key, key, "{text}\n=> {err}");
    let msg = err.to_string();
    assert!(msg.contains(key), "{msg}");
    assert!(msg.contains(hint), "{text}\n=> {msg} (wanted {hint:?})");
}

const P: &str = "[network.persistence]\n";

#[test]
fn save_interval_zero_is_an_error() {
    check_error(
        &format!("{P}save_interval_secs = 0\n"),
        "network.persistence.save_interval_secs",
        "at least 1",
    );
}

#[test]
fn save_interval_over_a_year_is_an_error() {
    check_error(
        &format!("{P}save_interval_secs = 31536001\n"),
        "network.persistence.save_interval_secs",
        "maximum",
    );
    check_error(
        &format!("{P}save_interval_secs = 9223372036854775807\n"),
        "network.persistence.save_interval_secs",
        "maximum",
    );
    // Past TOML's 64-bit signed integers the parser refuses the number itself.
    check_error(
        &format!("{P}save_interval_secs = 18446744073709551615\n"),
        "network.persistence.save_interval_secs",
        "too large",
    );
    Config::from_toml_str(&format!("{P}save_interval_secs = 31536000\n")).expect("a year");
}

#[test]
fn max_entries_outside_the_format_limits_is_an_error() {
    check_error(
        &format!("{P}max_entries = 0\n"),
        "network.persistence.max_entries",
        "at least 1",
    );
    check_error(
        &format!("{P}max_entries = 10000001\n"),
        "network.persistence.max_entries",
        "10000000",
    );
    Config::from_toml_str(&format!("{P}max_entries = 10000000\n")).expect("the limit");
}

#[test]
fn unsafe_realms_are_errors() {
    for code in ["../etc", ".hidden", "a/b", "a b", "realm\\x", "é", ""] {
        let text = format!("{P}[network.persistence.realms.{code:?}]\ncodec = \"json\"\n");
        check_error(
            &text,
            &format!("network.persistence.realms.{code}"),
            "not a safe file-name component",
        );
    }
    let long = "r".repeat(256);
    check_error(
        &format!("{P}[network.persistence.realms.{long}]\n"),
        &format!("network.persistence.realms.{long}"),
        "not a safe file-name component",
    );
    for code in ["../up", ".x", "with/slash"] {
        check_error(
            &format!("[realm]\nname = \"n\"\ncode = {code:?}\nversion = \"1\"\n{P}"),
            "realm",
            "not a safe file-name component",
        );
    }
    check_error("[realm]\nversion = \"1\"\n", "realm.name", "missing");
}

#[test]
fn realms_sharing_a_path_without_the_placeholder_are_an_error() {
    // Two realm tables on the table's path.
    check_error(
        &format!("{P}path = \"d/peers.json\"\n[network.persistence.realms.a]\n[network.persistence.realms.b]\n"),
        "network.persistence.path",
        "{realm}",
    );
    // The default realm and a table on TheNodes' default path.
    check_error(
        &format!(
            "[realm]\nname = \"main\"\nversion = \"1\"\n{P}[network.persistence.realms.other]\n"
        ),
        "network.persistence.path",
        "share the file",
    );
    // A realm's own path equal to another realm's resolved path.
    check_error(
        &format!("{P}path = \"d/{{realm}}.json\"\n[network.persistence.realms.a]\n[network.persistence.realms.b]\npath = \"d/a.json\"\n"),
        "network.persistence.realms.b.path",
        "share the file",
    );
    // With the placeholder, or own paths, it is fine.
    for ok in [
        format!("{P}path = \"d/{{realm}}.json\"\n[network.persistence.realms.a]\n[network.persistence.realms.b]\n"),
        format!("{P}[network.persistence.realms.a]\npath = \"a.json\"\n[network.persistence.realms.b]\npath = \"b.json\"\n"),
    ] {
        Config::from_toml_str(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn a_sealed_realm_needs_exactly_one_key_source() {
    check_error(
        &format!("{P}[network.persistence.realms.r]\ncodec = \"sealed\"\n"),
        "network.persistence.realms.r.codec",
        "key source",
    );
    check_error(
        &format!("{P}codec = \"sealed\"\n"),
        "network.persistence.codec",
        "key source",
    );
    check_error(
        &format!("{P}[network.persistence.realms.r]\ncodec = \"sealed\"\nkey_file = \"k\"\npassphrase_env = \"V\"\n"),
        "network.persistence.realms.r",
        "not both",
    );
    check_error(
        &format!("{P}[network.persistence.realms.r]\ncodec = \"sealed\"\npassphrase_env = \"\"\n"),
        "network.persistence.realms.r.passphrase_env",
        "environment variable",
    );
}

#[test]
fn kdf_parameters_below_the_writer_minimum_are_errors() {
    let realm = |extra: &str| {
        format!("{P}[network.persistence.realms.r]\ncodec = \"sealed\"\npassphrase_env = \"V\"\n{extra}")
    };
    check_error(
        &realm("kdf_m_kib = 19455\nkdf_t = 2\nkdf_p = 1\n"),
        "network.persistence.realms.r.kdf_m_kib",
        "minimum",
    );
    check_error(
        &realm("kdf_m_kib = 65536\nkdf_t = 1\n"),
        "network.persistence.realms.r.kdf_t",
        "minimum",
    );
    check_error(
        &realm("kdf_p = 0\n"),
        "network.persistence.realms.r.kdf_p",
        "outside",
    );
    check_error(
        &realm("kdf_p = 17\n"),
        "network.persistence.realms.r.kdf_p",
        "outside",
    );
    // The minimum itself is accepted.
    Config::from_toml_str(&realm("kdf_m_kib = 19456\nkdf_t = 2\nkdf_p = 1\n")).expect("minimum");
    // KDF parameters with a key file mean nothing: refused rather than ignored.
    check_error(
        &format!(
            "{P}[network.persistence.realms.r]\ncodec = \"sealed\"\nkey_file = \"k\"\nkdf_t = 4\n"
        ),
        "network.persistence.realms.r",
        "passphrase",
    );
}

#[test]
fn a_policy_that_refuses_its_own_files_is_an_error() {
    check_error(
        &format!(
            "{P}[network.persistence.realms.r]\ncodec = \"json\"\nrequire_encryption = true\n"
        ),
        "network.persistence.realms.r.require_encryption",
        "refuse its own file",
    );
}

#[test]
fn unknown_or_mistyped_keys_in_our_tables_are_errors() {
    check_error(
        &format!("{P}save_intervall_secs = 5\n"),
        "network.persistence.save_intervall_secs",
        "unknown field",
    );
    check_error(
        &format!("{P}[network.persistence.realms.r]\nkeyfile = \"k\"\n"),
        "network.persistence.realms.r.keyfile",
        "unknown field",
    );
    check_error(
        &format!("{P}max_entries = \"many\"\n"),
        "network.persistence.max_entries",
        "line 2",
    );
    check_error(
        &format!("{P}codec = \"rot13\"\n"),
        "network.persistence.codec",
        "rot13",
    );
    check_error(
        &format!("{P}on_corrupt = \"ignore\"\n"),
        "network.persistence.on_corrupt",
        "ignore",
    );
    check_error(
        &format!("{P}path = \"\"\n"),
        "network.persistence.path",
        "empty",
    );
    // Unknown keys elsewhere belong to TheNodes and are ignored.
    Config::from_toml_str("[future]\nthing = 1\n[network.other]\nx = 2\n").expect("ignored");
}
