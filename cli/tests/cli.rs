//! The `knownpeers` binary end to end (issue 2, acceptance 1; DESIGN.md "CLI knownpeers"): every
//! vector of tests/vectors/cases.json through `verify` and `export` with its exit code, convert
//! roundtrips through every codec and key kind, legacy input and output, IN = OUT, keygen, key-file
//! permissions, usage errors, broken pipes, and that no error line carries a secret.
//!
//! Each test runs the real binary in its own temp dir; nothing here reads /work/shared, and no
//! test depends on another's files.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_knownpeers");
const REALM: &str = "example-realm";
/// The passphrase environment variable every test uses (set on the child only).
const PASS_VAR: &str = "KNOWNPEERS_TEST_PASSPHRASE";
/// The writer's minimum Argon2id costs, to keep passphrase writes fast.
const MIN_KDF: [&str; 6] = ["--kdf-m-kib", "19456", "--kdf-t", "2", "--kdf-p", "1"];

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn vector(name: &str) -> PathBuf {
    vectors().join(name)
}

/// What a run of the binary left.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args`, `envs` set on the child, and RUST_LOG cleared unless given.
fn run_env<I, S>(args: I, envs: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG").env_remove(PASS_VAR);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_env(args, &[])
}

/// argv from a mix of strings and paths.
fn argv(parts: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

/// Asserts a successful run and returns it.
fn ok(run: Run, what: &str) -> Run {
    assert_eq!(run.code, 0, "{what}: stderr: {}", run.stderr);
    run
}

/// Asserts a failed run: the exit code, nothing on stdout, and exactly one `error:` line.
fn failed(run: &Run, code: i32, what: &str) {
    assert_eq!(run.code, code, "{what}: stderr: {}", run.stderr);
    assert_eq!(run.stdout, "", "{what}: stdout must be empty on error");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: one stderr line, got {:?}",
        run.stderr
    );
    assert!(lines[0].starts_with("error: "), "{what}: {:?}", lines[0]);
}

/// A 0600 copy of a vector key file in `dir` (git does not keep modes).
fn private_key_copy(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(vector(name), &path).expect("copy key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    path
}

/// The 64 hex digits of a key file.
fn key_hex(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read key file");
    text.lines().nth(1).expect("key line").to_string()
}

fn mtime_secs(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A cases.json row.
#[derive(Debug, serde::Deserialize)]
struct Case {
    file: String,
    expect: String,
    realm: String,
    key_file: Option<String>,
    passphrase: Option<String>,
    entries: Option<Vec<Value>>,
    /// For a file too big to list (`v2-sealed-multichunk.kp`): the entry count only.
    entries_len: Option<usize>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(vector("cases.json")).expect("read cases.json");
    serde_json::from_str(&text).expect("parse cases.json")
}

/// DESIGN.md's exit code for a cases.json `expect`.
fn exit_code_for(expect: &str) -> i32 {
    match expect {
        "ok" => 0,
        "corrupt" => 3,
        "wrong_key" => 4,
        "realm_mismatch" => 5,
        "unsupported" => 6,
        "bounds" => 7,
        "not_peer_file" => 9,
        other => panic!("cases.json has an expect this test does not know: {other}"),
    }
}

/// Expected entries with `"last_seen": "mtime"` replaced by `mtime`.
fn resolve_entries(entries: &[Value], mtime: u64) -> Vec<Value> {
    entries
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if e["last_seen"] == "mtime" {
                e["last_seen"] = Value::from(mtime);
            }
            e
        })
        .collect()
}

/// The entries of an `export` output (a FORMAT.md JSON envelope), checking the envelope.
fn exported_entries(stdout: &str, realm: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(stdout).expect("export prints JSON");
    assert_eq!(doc["knownpeers"], 1, "{stdout}");
    assert_eq!(doc["codec"], "json", "{stdout}");
    assert_eq!(doc["realm"], realm, "{stdout}");
    assert!(doc["saved_at"].is_u64(), "{stdout}");
    doc["entries"].as_array().expect("entries array").clone()
}

/// One cases.json row through `verify` and `export`: the exit code, and for `ok` the verdict and
/// the entries; for an error one line naming the file and no secret.
fn check_case(index: usize, file: &str, expect: &str) {
    let all = cases();
    let case = &all[index];
    assert_eq!(
        (case.file.as_str(), case.expect.as_str()),
        (file, expect),
        "cases.json row {index} moved; update the test list"
    );
    let dir = TempDir::new().expect("temp dir");
    let path = vector(&case.file);
    let mut key_args: Vec<OsString> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();
    let mut envs: Vec<(&str, &str)> = Vec::new();
    if let Some(key_file) = &case.key_file {
        let key = private_key_copy(dir.path(), key_file);
        secrets.push(key_hex(&key));
        key_args = argv(&[&"--key-file", &key]);
    }
    if let Some(pass) = &case.passphrase {
        secrets.push(pass.clone());
        envs.push((PASS_VAR, pass));
        key_args = argv(&[&"--passphrase-env", &PASS_VAR]);
    }
    let code = exit_code_for(&case.expect);
    for command in ["verify", "export"] {
        let mut args = argv(&[&command, &path, &"--realm", &case.realm]);
        args.extend(key_args.iter().cloned());
        let r = run_env(&args, &envs);
        let what = format!("{command} {} ({})", case.file, case.expect);
        if code == 0 {
            assert_eq!(r.code, 0, "{what}: stderr: {}", r.stderr);
            assert_eq!(r.stderr, "", "{what}");
            let expected =
                resolve_entries(case.entries.as_deref().unwrap_or(&[]), mtime_secs(&path));
            let count = case.entries_len.unwrap_or(expected.len());
            if command == "verify" {
                let name = case.file.strip_prefix("v2-").unwrap_or(&case.file);
                let codec = name.split(['-', '.']).next().expect("file prefix");
                let codec = if codec == "legacy" { "legacy" } else { codec };
                assert_eq!(
                    r.stdout,
                    format!(
                        "ok: {}: codec {codec}, realm {}, {count} entries\n",
                        path.display(),
                        case.realm,
                    ),
                    "{what}"
                );
            } else if case.entries.is_some() {
                assert_eq!(exported_entries(&r.stdout, &case.realm), expected, "{what}");
            } else {
                assert_eq!(
                    exported_entries(&r.stdout, &case.realm).len(),
                    count,
                    "{what}"
                );
            }
        } else {
            failed(&r, code, &what);
            assert!(
                r.stderr.contains(&case.file),
                "{what}: names the file: {}",
                r.stderr
            );
            for secret in &secrets {
                assert!(
                    !r.stderr.contains(secret.as_str()),
                    "{what}: leaks a secret"
                );
            }
        }
    }
}

macro_rules! vector_cases {
    ($($name:ident: $index:expr, $file:expr, $expect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check_case($index, $file, $expect);
            }
        )*

        #[test]
        fn every_cases_json_row_has_a_test() {
            let listed: &[usize] = &[$($index),*];
            assert_eq!(listed.len(), cases().len(), "a cases.json row has no test");
        }
    };
}

vector_cases! {
    vector_00_json_basic_ok: 0, "json-basic.json", "ok";
    vector_01_json_empty_ok: 1, "json-empty.json", "ok";
    vector_02_msgpack_basic_ok: 2, "msgpack-basic.kp", "ok";
    vector_03_sealed_keyfile_ok: 3, "sealed-keyfile.kp", "ok";
    vector_04_sealed_passphrase_ok: 4, "sealed-passphrase.kp", "ok";
    vector_05_legacy_thenodes_ok: 5, "legacy-thenodes.json", "ok";
    vector_06_sealed_keyfile_wrong_key: 6, "sealed-keyfile.kp", "wrong_key";
    vector_07_sealed_passphrase_wrong_key: 7, "sealed-passphrase.kp", "wrong_key";
    vector_08_json_realm_mismatch: 8, "json-basic.json", "realm_mismatch";
    vector_09_msgpack_realm_mismatch: 9, "msgpack-basic.kp", "realm_mismatch";
    vector_10_sealed_tampered_realm_corrupt: 10, "sealed-tampered-realm.kp", "corrupt";
    vector_11_sealed_flipped_body_corrupt: 11, "sealed-flipped-body.kp", "corrupt";
    vector_12_msgpack_bad_body_crc_corrupt: 12, "msgpack-bad-body-crc.kp", "corrupt";
    vector_13_msgpack_bad_header_crc_corrupt: 13, "msgpack-bad-header-crc.kp", "corrupt";
    vector_14_msgpack_truncated_corrupt: 14, "msgpack-truncated.kp", "corrupt";
    vector_15_msgpack_future_version_unsupported: 15, "msgpack-future-version.kp", "unsupported";
    vector_16_json_future_version_unsupported: 16, "json-future-version.json", "unsupported";
    vector_17_sealed_kdf_bomb_bounds: 17, "sealed-kdf-bomb.kp", "bounds";
    vector_18_not_a_peer_file: 18, "not-a-peer-file.bin", "not_peer_file";
    vector_19_v2_msgpack_basic_ok: 19, "v2-msgpack-basic.kp", "ok";
    vector_20_v2_sealed_keyfile_ok: 20, "v2-sealed-keyfile.kp", "ok";
    vector_21_v2_sealed_passphrase_ok: 21, "v2-sealed-passphrase.kp", "ok";
    vector_22_v2_msgpack_empty_ok: 22, "v2-msgpack-empty.kp", "ok";
    vector_23_v2_sealed_multichunk_ok: 23, "v2-sealed-multichunk.kp", "ok";
    vector_24_v2_sealed_truncated_chunk_corrupt: 24, "v2-sealed-truncated-chunk.kp", "corrupt";
    vector_25_v2_sealed_reordered_chunks_corrupt: 25, "v2-sealed-reordered-chunks.kp", "corrupt";
    vector_26_v2_msgpack_bad_addr_len_corrupt: 26, "v2-msgpack-bad-addr-len.kp", "corrupt";
    vector_27_v2_msgpack_bad_source_corrupt: 27, "v2-msgpack-bad-source.kp", "corrupt";
    vector_28_v2_msgpack_extra_fields_ok: 28, "v2-msgpack-extra-fields.kp", "ok";
}

/// The entries of json-basic.json, the source of every convert test.
fn basic_entries() -> Vec<Value> {
    cases()[0].entries.clone().expect("json-basic has entries")
}

/// `export`s `file` with `key` args and returns its entries.
fn export_entries(file: &Path, key: &[OsString], envs: &[(&str, &str)]) -> Vec<Value> {
    let mut args = argv(&[&"export", &file]);
    args.extend(key.iter().cloned());
    let r = ok(run_env(&args, envs), &format!("export {}", file.display()));
    exported_entries(&r.stdout, REALM)
}

/// `inspect --json` of `file`.
fn inspect_json(file: &Path) -> Value {
    let r = ok(run(argv(&[&"inspect", &file, &"--json"])), "inspect --json");
    serde_json::from_str(&r.stdout).expect("inspect --json prints JSON")
}

/// One convert in a chain: OUT's name, the codec, the extra convert flags, the flags that read
/// OUT back.
struct Step {
    out: &'static str,
    to: &'static str,
    convert_args: Vec<OsString>,
    read_args: Vec<OsString>,
}

#[test]
fn convert_chain_through_every_codec_and_key_kind_preserves_entries() {
    let dir = TempDir::new().expect("temp dir");
    let d = dir.path();
    let key = d.join("k.key");
    ok(run(argv(&[&"keygen", &key])), "keygen");
    let pass_env = [(PASS_VAR, "a chain passphrase")];
    let key_args = argv(&[&"--key-file", &key]);
    let pass_args = argv(&[&"--passphrase-env", &PASS_VAR]);

    let min_kdf: Vec<OsString> = MIN_KDF.iter().map(OsString::from).collect();
    let steps = [
        Step {
            out: "a.kp",
            to: "msgpack",
            convert_args: vec![],
            read_args: vec![],
        },
        Step {
            out: "b.kp",
            to: "sealed",
            convert_args: key_args.clone(),
            read_args: key_args.clone(),
        },
        Step {
            // Rekey: same codec, from the key file to a passphrase.
            out: "c.kp",
            to: "sealed",
            convert_args: [argv(&[&"--in-key-file", &key]), pass_args.clone(), min_kdf].concat(),
            read_args: pass_args.clone(),
        },
        Step {
            out: "d.json",
            to: "json",
            convert_args: argv(&[&"--in-passphrase-env", &PASS_VAR]),
            read_args: vec![],
        },
    ];
    let mut input = vector("json-basic.json");
    for step in steps {
        let out = d.join(step.out);
        let to = step.to;
        let mut args = argv(&[&"convert", &input, &out, &"--to", &to]);
        args.extend(step.convert_args);
        let r = ok(run_env(&args, &pass_env), &format!("convert to {to}"));
        assert!(r.stdout.starts_with("converted "), "{}", r.stdout);
        let mode = std::fs::metadata(&out).expect("out").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is written 0600", out.display());
        assert_eq!(inspect_json(&out)["codec"], to);
        assert_eq!(
            export_entries(&out, &step.read_args, &pass_env),
            basic_entries(),
            "{}",
            out.display()
        );
        input = out;
    }
    // The rekeyed file records the KDF costs it was asked for, and the old key no longer opens it.
    let c = d.join("c.kp");
    assert_eq!(
        inspect_json(&c)["kdf"],
        serde_json::json!({"kind": "argon2id", "m_cost_kib": 19456, "t_cost": 2, "p_cost": 1})
    );
    let r = run(argv(&[&"verify", &c, &"--key-file", &key]));
    failed(&r, 4, "old key on the rekeyed file");
}

/// `convert --format-version` writes each binary frame version for msgpack and both key kinds;
/// `inspect` shows it; the entries survive; without the flag a binary OUT is version 2; the
/// flag is refused for JSON.
#[test]
fn convert_writes_either_binary_frame_version() {
    let dir = TempDir::new().expect("temp dir");
    let d = dir.path();
    let key = d.join("k.key");
    ok(run(argv(&[&"keygen", &key])), "keygen");
    let pass_env = [(PASS_VAR, "a version passphrase")];
    let key_args = argv(&[&"--key-file", &key]);
    let pass_args = argv(&[&"--passphrase-env", &PASS_VAR]);
    let min_kdf: Vec<OsString> = MIN_KDF.iter().map(OsString::from).collect();
    let kinds: [(&str, Vec<OsString>, Vec<OsString>); 3] = [
        ("msgpack", vec![], vec![]),
        ("sealed", key_args.clone(), key_args.clone()),
        (
            "sealed",
            [pass_args.clone(), min_kdf].concat(),
            pass_args.clone(),
        ),
    ];
    for (i, (to, convert_args, read_args)) in kinds.iter().enumerate() {
        for version in [None, Some("1"), Some("2")] {
            let out = d.join(format!("{i}-{}.kp", version.unwrap_or("default")));
            let mut args = argv(&[&"convert", &vector("json-basic.json"), &out, &"--to", to]);
            if let Some(v) = version {
                args.extend(argv(&[&"--format-version", &v]));
            }
            args.extend(convert_args.iter().cloned());
            let r = ok(
                run_env(&args, &pass_env),
                &format!("convert {i} {version:?}"),
            );
            let want = version.unwrap_or("2");
            assert!(
                r.stdout.contains(&format!("version {want})")),
                "{}",
                r.stdout
            );
            let header = inspect_json(&out);
            assert_eq!(header["codec"], *to);
            assert_eq!(header["version"], want.parse::<u64>().expect("1 or 2"));
            let lines = ok(run(argv(&[&"inspect", &out])), "inspect");
            assert!(
                lines
                    .stdout
                    .contains(&format!("version:  {want} (binary frame)")),
                "{}",
                lines.stdout
            );
            assert_eq!(
                export_entries(&out, read_args, &pass_env),
                basic_entries(),
                "{}",
                out.display()
            );
        }
    }
    // A version-1 file converted in place without the flag becomes version 2.
    let v1 = d.join("0-1.kp");
    let args = argv(&[&"convert", &v1, &v1, &"--to", &"msgpack"]);
    ok(run(&args), "convert v1 in place");
    assert_eq!(inspect_json(&v1)["version"], 2);
    let out = d.join("x.json");
    let args = argv(&[
        &"convert",
        &vector("json-basic.json"),
        &out,
        &"--to",
        &"json",
        &"--format-version",
        &"1",
    ]);
    failed(&run(&args), 2, "--format-version with --to json");
    let args = argv(&[
        &"convert",
        &vector("json-basic.json"),
        &out,
        &"--to",
        &"msgpack",
        &"--format-version",
        &"3",
    ]);
    failed(&run(&args), 2, "--format-version 3");
}

#[test]
fn convert_from_sealed_to_plaintext_warns_and_says_so() {
    let dir = TempDir::new().expect("temp dir");
    let key = private_key_copy(dir.path(), "key-basic.key");
    let out = dir.path().join("plain.kp");
    let r = ok(
        run(argv(&[
            &"convert",
            &vector("sealed-keyfile.kp"),
            &out,
            &"--to",
            &"msgpack",
            &"--in-key-file",
            &key,
        ])),
        "sealed to msgpack",
    );
    assert!(r.stderr.starts_with("warning: "), "{}", r.stderr);
    assert!(r.stderr.contains("plaintext"), "{}", r.stderr);
    assert_eq!(export_entries(&out, &[], &[]), basic_entries());
}

#[test]
fn convert_reads_legacy_input_into_the_named_realm() {
    let dir = TempDir::new().expect("temp dir");
    let legacy = vector("legacy-thenodes.json");
    let expected = resolve_entries(
        cases()[5].entries.as_deref().expect("legacy entries"),
        mtime_secs(&legacy),
    );
    for to in ["json", "msgpack"] {
        let out = dir.path().join(format!("from-legacy.{to}"));
        let r = run(argv(&[&"convert", &legacy, &out, &"--to", &to]));
        failed(&r, 2, "legacy without --realm");
        assert!(r.stderr.contains("--realm"), "{}", r.stderr);
        assert!(!out.exists(), "nothing written on a usage error");

        ok(
            run(argv(&[
                &"convert", &legacy, &out, &"--to", &to, &"--realm", &REALM,
            ])),
            "legacy with --realm",
        );
        assert_eq!(inspect_json(&out)["realm"], REALM);
        assert_eq!(export_entries(&out, &[], &[]), expected);
    }
}

#[test]
fn convert_to_legacy_writes_thenodes_array_and_reads_back() {
    let dir = TempDir::new().expect("temp dir");
    let out = dir.path().join("peers.json");
    let r = ok(
        run(argv(&[
            &"convert",
            &vector("json-basic.json"),
            &out,
            &"--to",
            &"legacy",
        ])),
        "convert --to legacy",
    );
    assert!(r.stdout.contains("(legacy)"), "{}", r.stdout);
    assert!(
        r.stderr.is_empty(),
        "a plaintext input needs no warning: {}",
        r.stderr
    );

    // TheNodes 0.4's PeerRecord array, most recent first: Connected is Handshake, last_seen is
    // last_success_epoch, failures 0, absent metadata omitted, no realm anywhere.
    let text = std::fs::read_to_string(&out).expect("out");
    let written: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        written,
        serde_json::json!([
            {"addr": "[2001:db8::1]:9000", "source": "Handshake", "failures": 0,
             "last_success_epoch": 1763999940u64, "node_id": "node-v6"},
            {"addr": "203.0.113.10:7447", "source": "Gossip", "failures": 0,
             "last_success_epoch": 1763996400u64, "node_id": "node-abc",
             "capabilities": ["relay"]},
            {"addr": "198.51.100.7:50001", "source": "Bootstrap", "failures": 0,
             "last_success_epoch": 1763913600u64},
        ])
    );
    assert!(!text.contains(REALM), "the array names no realm");
    assert_eq!(inspect_json(&out)["codec"], "legacy");

    // And forward again: the same entries as the knownpeers file it came from.
    let back = dir.path().join("back.json");
    ok(
        run(argv(&[
            &"convert", &out, &back, &"--to", &"json", &"--realm", &REALM,
        ])),
        "legacy back to json",
    );
    // Same entries; the order is the array's (most recent first).
    let by_addr = |mut v: Vec<Value>| {
        v.sort_by_key(|e| e["addr"].as_str().map(str::to_owned));
        v
    };
    assert_eq!(
        by_addr(export_entries(&back, &[], &[])),
        by_addr(basic_entries())
    );
}

#[test]
fn convert_sealed_to_legacy_warns_and_kdf_flags_are_refused() {
    let dir = TempDir::new().expect("temp dir");
    let key = private_key_copy(dir.path(), "key-basic.key");
    let out = dir.path().join("peers.json");
    let sealed = vector("sealed-keyfile.kp");
    let r = run(argv(&[
        &"convert",
        &sealed,
        &out,
        &"--to",
        &"legacy",
        &"--in-key-file",
        &key,
        &MIN_KDF[0],
        &MIN_KDF[1],
    ]));
    failed(&r, 2, "--kdf-* with --to legacy");
    assert!(!out.exists(), "nothing written on a usage error");

    let r = ok(
        run(argv(&[
            &"convert",
            &sealed,
            &out,
            &"--to",
            &"legacy",
            &"--key-file",
            &key,
        ])),
        "sealed to legacy",
    );
    assert!(r.stderr.starts_with("warning: "), "{}", r.stderr);
    assert!(r.stderr.contains("plaintext"), "{}", r.stderr);
    let records: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("out")).expect("array");
    assert_eq!(records.len(), basic_entries().len());
}

#[test]
fn convert_in_place_replaces_the_file_atomically() {
    let dir = TempDir::new().expect("temp dir");
    let file = dir.path().join("peers.json");
    std::fs::copy(vector("json-basic.json"), &file).expect("copy");
    let key = private_key_copy(dir.path(), "key-basic.key");
    let key_args = argv(&[&"--key-file", &key]);
    // (--to, extra args, args that read the result)
    let steps: Vec<(&str, Vec<OsString>, Vec<OsString>)> = vec![
        ("msgpack", vec![], vec![]),
        ("sealed", key_args.clone(), key_args.clone()),
        ("json", argv(&[&"--in-key-file", &key]), vec![]),
    ];
    for (to, extra, read_args) in steps {
        let mut args = argv(&[&"convert", &file, &file, &"--to", &to]);
        args.extend(extra);
        ok(run(&args), &format!("in place to {to}"));
        assert_eq!(inspect_json(&file)["codec"], to);
        assert_eq!(export_entries(&file, &read_args, &[]), basic_entries());
    }
    // No temp file is left beside the target (only the file and its lock file).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["key-basic.key", "peers.json", "peers.json.lock"]);
}

#[test]
fn convert_replaces_an_existing_peer_file_but_not_another_file() {
    let dir = TempDir::new().expect("temp dir");
    let out = dir.path().join("out.kp");
    std::fs::copy(vector("json-empty.json"), &out).expect("copy");
    ok(
        run(argv(&[
            &"convert",
            &vector("json-basic.json"),
            &out,
            &"--to",
            &"msgpack",
        ])),
        "replace a peer file",
    );
    assert_eq!(export_entries(&out, &[], &[]), basic_entries());

    let precious = dir.path().join("id_ed25519");
    std::fs::write(&precious, b"not a peer file").expect("write");
    let r = run(argv(&[
        &"convert",
        &vector("json-basic.json"),
        &precious,
        &"--to",
        &"json",
    ]));
    failed(&r, 9, "OUT is not a peer file");
    assert!(r.stderr.contains("refusing to replace"), "{}", r.stderr);
    assert_eq!(std::fs::read(&precious).expect("read"), b"not a peer file");
}

#[test]
fn convert_refuses_an_output_a_running_store_holds() {
    let dir = TempDir::new().expect("temp dir");
    let out = dir.path().join("held.json");
    let _held = knownpeers::StoreLock::acquire(&out).expect("lock");
    let r = run(argv(&[
        &"convert",
        &vector("json-basic.json"),
        &out,
        &"--to",
        &"json",
    ]));
    failed(&r, 10, "locked OUT");
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn keygen_writes_a_private_key_file_and_never_overwrites() {
    let dir = TempDir::new().expect("temp dir");
    let key = dir.path().join("new.key");
    let r = ok(run(argv(&[&"keygen", &key])), "keygen");
    assert!(r.stdout.contains("new.key"), "{}", r.stdout);
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&key).expect("read key");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("knownpeers-key-v1"));
    let hex = lines.next().expect("key line");
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "64 lowercase hex digits"
    );
    assert!(!r.stdout.contains(hex), "keygen never prints the key");

    let r = run(argv(&[&"keygen", &key]));
    failed(&r, 1, "keygen over an existing file");
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&key).expect("read key"), text);

    // Two fresh keys differ, and the new key seals a file it alone opens.
    let other = dir.path().join("other.key");
    ok(run(argv(&[&"keygen", &other])), "keygen other");
    assert_ne!(key_hex(&other), hex);
}

#[test]
fn a_key_file_others_can_read_is_refused_with_a_chmod_hint() {
    let dir = TempDir::new().expect("temp dir");
    let key = private_key_copy(dir.path(), "key-basic.key");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).expect("chmod");
        for command in ["verify", "export"] {
            let r = run(argv(&[
                &command,
                &vector("sealed-keyfile.kp"),
                &"--key-file",
                &key,
            ]));
            failed(&r, 4, &format!("{command} with key mode {mode:o}"));
            assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
            assert!(
                !r.stderr.contains(&key_hex(&key)),
                "no key hex in {}",
                r.stderr
            );
        }
    }
}

#[test]
fn a_sealed_file_without_a_key_names_the_key_flags() {
    for (args, flag) in [
        (
            argv(&[&"verify", &vector("sealed-keyfile.kp")]),
            "--key-file",
        ),
        (
            argv(&[
                &"convert",
                &vector("sealed-keyfile.kp"),
                &"/nonexistent-dir/x",
                &"--to",
                &"json",
            ]),
            "--in-key-file",
        ),
    ] {
        let r = run(&args);
        failed(&r, 4, "sealed without a key");
        assert!(r.stderr.contains(flag), "{}", r.stderr);
    }
}

#[test]
fn a_passphrase_file_opens_a_sealed_file() {
    let dir = TempDir::new().expect("temp dir");
    let pass = dir.path().join("pass.txt");
    std::fs::write(&pass, "correct horse battery staple\n").expect("write");
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let r = ok(
        run(argv(&[
            &"verify",
            &vector("sealed-passphrase.kp"),
            &"--passphrase-file",
            &pass,
        ])),
        "passphrase file",
    );
    assert!(r.stdout.starts_with("ok: "), "{}", r.stdout);
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = TempDir::new().expect("temp dir");
    let basic = vector("json-basic.json");
    let out = dir.path().join("out.kp");
    let key = private_key_copy(dir.path(), "key-basic.key");
    let legacy = vector("legacy-thenodes.json");
    let cases: Vec<(Vec<OsString>, &str)> = vec![
        (argv(&[&"frobnicate"]), "unrecognized subcommand"),
        (argv(&[&"verify"]), "<FILE>"),
        (argv(&[&"inspect", &basic, &"--bogus"]), "--bogus"),
        (argv(&[&"convert", &basic, &out]), "--to"),
        (argv(&[&"convert", &basic, &out, &"--to", &"yaml"]), "yaml"),
        (
            argv(&[
                &"verify",
                &basic,
                &"--key-file",
                &key,
                &"--passphrase-env",
                &"X",
            ]),
            "cannot be used with",
        ),
        (
            argv(&[
                &"convert",
                &basic,
                &out,
                &"--to",
                &"sealed",
                &"--in-key-file",
                &key,
                &"--in-passphrase-file",
                &key,
            ]),
            "cannot be used with",
        ),
        (
            argv(&[&"convert", &basic, &out, &"--to", &"sealed"]),
            "--to sealed needs a key",
        ),
        (
            argv(&[&"convert", &basic, &out, &"--to", &"json", &"--kdf-t", &"3"]),
            "--kdf",
        ),
        (
            argv(&[
                &"convert",
                &basic,
                &out,
                &"--to",
                &"sealed",
                &"--key-file",
                &key,
                &"--kdf-t",
                &"3",
            ]),
            "--kdf",
        ),
        (
            argv(&[
                &"convert",
                &basic,
                &out,
                &"--to",
                &"sealed",
                &"--passphrase-env",
                &PASS_VAR,
                &"--kdf-m-kib",
                &"1024",
            ]),
            "--kdf-m-kib 19456",
        ),
        (
            argv(&[
                &"convert",
                &basic,
                &out,
                &"--to",
                &"sealed",
                &"--passphrase-env",
                &PASS_VAR,
                &"--kdf-t",
                &"1",
            ]),
            "--kdf-t 2",
        ),
        (
            argv(&[&"convert", &basic, &out, &"--to", &"json", &"--realm", &""]),
            "--realm",
        ),
        (
            argv(&[&"convert", &basic, &out, &"--to", &"json", &"--kdf-t", &"x"]),
            "invalid value",
        ),
        (argv(&[&"export", &legacy]), "--realm"),
        (argv(&[&"verify", &legacy]), "--realm"),
    ];
    for (args, needle) in cases {
        let r = run(&args);
        failed(&r, 2, &format!("{args:?}"));
        assert!(
            r.stderr.contains(needle),
            "{args:?}: {:?} lacks {needle:?}",
            r.stderr
        );
        assert!(!out.exists(), "{args:?}: a usage error writes nothing");
    }
    // No subcommand at all: clap's help on stderr, exit 2; --help itself is success.
    assert_eq!(run(Vec::<&str>::new()).code, 2);
    let help = ok(run(["--help"]), "--help");
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
}

#[test]
fn errors_name_the_file_and_carry_no_secret() {
    let dir = TempDir::new().expect("temp dir");
    let right = "correct horse battery staple";
    let wrong = "Correct horse battery staple";
    let other_key = private_key_copy(dir.path(), "key-other.key");
    let sealed_pass = vector("sealed-passphrase.kp");
    let out = dir.path().join("out.json");
    // (args, env passphrase, exit code)
    let cases: Vec<(Vec<OsString>, &str, i32)> = vec![
        (
            argv(&[&"verify", &sealed_pass, &"--passphrase-env", &PASS_VAR]),
            wrong,
            4,
        ),
        (
            argv(&[&"export", &sealed_pass, &"--passphrase-env", &PASS_VAR]),
            wrong,
            4,
        ),
        (
            argv(&[
                &"convert",
                &sealed_pass,
                &out,
                &"--to",
                &"json",
                &"--in-passphrase-env",
                &PASS_VAR,
            ]),
            wrong,
            4,
        ),
        (
            argv(&[
                &"verify",
                &sealed_pass,
                &"--passphrase-env",
                &PASS_VAR,
                &"--realm",
                &"x",
            ]),
            right,
            5,
        ),
        (
            argv(&[
                &"verify",
                &vector("sealed-keyfile.kp"),
                &"--key-file",
                &other_key,
            ]),
            right,
            4,
        ),
    ];
    let secrets = [
        right.to_string(),
        wrong.to_string(),
        key_hex(&other_key),
        key_hex(&vector("key-basic.key")),
    ];
    for (args, pass, code) in cases {
        for log in [None, Some("trace")] {
            let mut envs = vec![(PASS_VAR, pass)];
            if let Some(level) = log {
                envs.push(("RUST_LOG", level));
            }
            let r = run_env(&args, &envs);
            assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
            let last = r.stderr.lines().last().expect("an error line");
            assert!(last.starts_with("error: "), "{last}");
            assert!(last.contains(".kp"), "names the file: {last}");
            for secret in &secrets {
                assert!(
                    !r.stderr.contains(secret.as_str()),
                    "{args:?} (RUST_LOG={log:?}) leaks"
                );
            }
            if log.is_none() {
                failed(&r, code, &format!("{args:?}"));
            }
        }
    }
    assert!(!out.exists());
}

#[test]
fn logs_at_trace_never_show_the_peers_of_a_sealed_file() {
    let dir = TempDir::new().expect("temp dir");
    let key = private_key_copy(dir.path(), "key-basic.key");
    let out = dir.path().join("resealed.kp");
    let r = ok(
        run_env(
            argv(&[
                &"convert",
                &vector("sealed-keyfile.kp"),
                &out,
                &"--to",
                &"sealed",
                &"--key-file",
                &key,
            ]),
            &[("RUST_LOG", "trace")],
        ),
        "reseal with tracing",
    );
    for needle in ["203.0.113.10", "2001:db8::1", "node-abc", &key_hex(&key)] {
        assert!(
            !r.stderr.contains(needle),
            "log shows {needle}: {}",
            r.stderr
        );
    }
}

#[test]
fn export_into_a_closed_pipe_exits_0() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let status = Command::new(BIN)
        .args(argv(&[&"export", &vector("json-basic.json")]))
        .env_remove("RUST_LOG")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(status.stderr, b"");
}

#[test]
fn inspect_reads_headers_without_a_key() {
    // (file, exit code, lines the human output must contain)
    let cases: &[(&str, i32, &[&str])] = &[
        (
            "json-basic.json",
            0,
            &["codec:    json", "realm:    example-realm", "entries:  3"],
        ),
        ("json-empty.json", 0, &["codec:    json", "entries:  0"]),
        (
            "msgpack-basic.kp",
            0,
            &[
                "codec:    msgpack",
                "version:  1 (binary frame)",
                "saved_at: 1764000000 (2025-11-24T16:00:00Z)",
            ],
        ),
        (
            "sealed-keyfile.kp",
            0,
            &["codec:    sealed", "kdf:      none (raw 32-byte key file)"],
        ),
        (
            "sealed-passphrase.kp",
            0,
            &[
                "codec:    sealed",
                "kdf:      argon2id v1.3, m_cost 1024 KiB, t_cost 1, p_cost 1",
            ],
        ),
        (
            "legacy-thenodes.json",
            0,
            &["codec:    legacy", "entries:  3"],
        ),
        (
            "sealed-kdf-bomb.kp",
            0,
            &[
                "kdf:      argon2id v1.3, m_cost 4194304 KiB, t_cost 1, p_cost 1 (outside \
               FORMAT.md's reader bounds: every reader refuses this file)",
            ],
        ),
        (
            "v2-msgpack-basic.kp",
            0,
            &["codec:    msgpack", "version:  2 (binary frame)"],
        ),
        (
            "v2-sealed-multichunk.kp",
            0,
            &[
                "codec:    sealed",
                "version:  2 (binary frame)",
                "entries:  3000",
            ],
        ),
        ("json-basic.json", 0, &["version:  1 (JSON envelope)"]),
        ("msgpack-bad-header-crc.kp", 3, &[]),
        ("msgpack-truncated.kp", 3, &[]),
        ("msgpack-future-version.kp", 6, &[]),
        ("json-future-version.json", 6, &[]),
        ("not-a-peer-file.bin", 9, &[]),
    ];
    for (file, code, lines) in cases {
        let path = vector(file);
        let r = run(argv(&[&"inspect", &path]));
        if *code == 0 {
            assert_eq!(r.code, 0, "{file}: {}", r.stderr);
            for line in *lines {
                assert!(
                    r.stdout.lines().any(|l| l == *line),
                    "{file}: no {line:?} in\n{}",
                    r.stdout
                );
            }
        } else {
            failed(&r, *code, file);
            assert!(r.stderr.contains(file), "{}", r.stderr);
        }
    }
    let header = inspect_json(&vector("sealed-passphrase.kp"));
    assert_eq!(header["codec"], "sealed");
    assert_eq!(header["realm"], REALM);
    assert_eq!(header["saved_at"], 1_764_000_000u64);
    assert_eq!(header["entry_count"], 3);
    assert_eq!(header["kdf"]["m_cost_kib"], 1024);
}

#[test]
fn missing_or_malformed_key_material_exits_4() {
    let dir = TempDir::new().expect("temp dir");
    let empty_pass = dir.path().join("empty.txt");
    std::fs::write(&empty_pass, "").expect("write");
    std::fs::set_permissions(&empty_pass, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let malformed = dir.path().join("malformed.key");
    std::fs::write(&malformed, "knownpeers-key-v1\nnot hex\n").expect("write");
    std::fs::set_permissions(&malformed, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let missing = dir.path().join("missing.key");
    let sealed_pass = vector("sealed-passphrase.kp");
    let sealed_key = vector("sealed-keyfile.kp");
    // (args, env passphrase or none, exit code, a word the line must contain)
    let cases: Vec<(Vec<OsString>, Option<&str>, i32, &str)> = vec![
        (
            argv(&[&"verify", &sealed_pass, &"--passphrase-env", &PASS_VAR]),
            None,
            4,
            "not set or empty",
        ),
        (
            argv(&[&"verify", &sealed_pass, &"--passphrase-env", &PASS_VAR]),
            Some(""),
            4,
            "not set or empty",
        ),
        (
            argv(&[&"verify", &sealed_pass, &"--passphrase-file", &empty_pass]),
            None,
            4,
            "empty",
        ),
        (
            argv(&[&"verify", &sealed_key, &"--key-file", &malformed]),
            None,
            4,
            "keygen",
        ),
        // A key file that is not there is an I/O error naming it.
        (
            argv(&[&"verify", &sealed_key, &"--key-file", &missing]),
            None,
            1,
            "missing.key",
        ),
        // A passphrase where a key file sealed the file (and the reverse): wrong key.
        (
            argv(&[&"verify", &sealed_key, &"--passphrase-env", &PASS_VAR]),
            Some("x"),
            4,
            "wrong key",
        ),
    ];
    for (args, pass, code, needle) in cases {
        let envs: Vec<(&str, &str)> = pass.map(|p| (PASS_VAR, p)).into_iter().collect();
        let r = run_env(&args, &envs);
        failed(&r, code, &format!("{args:?}"));
        assert!(
            r.stderr.contains(needle),
            "{args:?}: {:?} lacks {needle:?}",
            r.stderr
        );
    }
}
