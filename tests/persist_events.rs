//! The tracing events of the persistent store, captured by a global subscriber: load (count,
//! expired, capped, codec, ms), save (bytes, ms, kdf_runs), quarantine, refusals and failed
//! saves are logged; a passphrase realm runs Argon2id once for all its saves; and no line
//! carries a passphrase, a node id or a peer address. One test function: it installs the
//! global subscriber and sets an environment variable.

#[path = "common/store.rs"]
mod util;

use std::io::Write;
use std::sync::{Arc, Mutex};

use knownpeers::PersistentStore;
use util::{addr, clock, config};

const PASS_VAR: &str = "KNOWNPEERS_TEST_EVENTS_PASS";
const PASSPHRASE: &str = "events passphrase do not log";
const NODE_ID: &str = "node-secret-id";

/// A writer into a shared buffer.
#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_logged_without_secrets() {
    std::env::set_var(PASS_VAR, PASSPHRASE);
    let captured = Captured(Arc::new(Mutex::new(Vec::new())));
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        dir.path(),
        &format!(
            "[network.persistence.realms.p]\ncodec = \"sealed\"\npassphrase_env = \"{PASS_VAR}\"\n\
             kdf_m_kib = 19456\nkdf_t = 2\nkdf_p = 1\n"
        ),
    );
    // Three saves, then a reopen (decode adopts the file's salt) and a fourth save.
    let s = PersistentStore::open(&cfg, "p", clock())
        .await
        .expect("open");
    for i in 0..3 {
        s.store()
            .observe_connected(addr(i), Some(NODE_ID.into()), vec!["relay".into()])
            .expect("ok");
        s.flush().await.expect("save");
    }
    s.close().await.expect("close");
    let s = PersistentStore::open(&cfg, "p", clock())
        .await
        .expect("reopen");
    s.store().observe_bootstrap(addr(9));
    s.close().await.expect("close");

    // Quarantine.
    std::fs::write(dir.path().join("q.peers"), b"{ broken").expect("corrupt");
    let s = PersistentStore::open(&cfg, "q", clock())
        .await
        .expect("quarantined");
    s.close().await.expect("close");
    // Refusal: p's file at r's path.
    std::fs::copy(dir.path().join("p.peers"), dir.path().join("r.peers")).expect("copy");
    PersistentStore::open(&cfg, "r", clock())
        .await
        .expect_err("realm mismatch (and no key)");
    // A failing save.
    let s = PersistentStore::open(&cfg, "f", clock())
        .await
        .expect("open");
    std::fs::create_dir(dir.path().join("f.peers")).expect("dir at the target");
    s.store().observe_bootstrap(addr(1));
    s.flush().await.expect_err("cannot save over a directory");
    drop(s);

    let log = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
    let lines: Vec<&str> = log.lines().collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    for needle in [
        "loaded peer file",
        "saved peer file",
        "moved aside",
        "refused",
        "saving the peer file failed",
    ] {
        assert!(has(needle), "no {needle:?} event in:\n{log}");
    }
    let loads: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("loaded peer file"))
        .collect();
    for field in ["count=", "expired=", "capped=", "codec=", "ms="] {
        assert!(
            loads.iter().all(|l| l.contains(field)),
            "{field} missing: {loads:?}"
        );
    }
    let p_saves: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("saved peer file") && l.contains("realm=p"))
        .collect();
    assert_eq!(p_saves.len(), 4, "{log}");
    for line in &p_saves {
        assert!(line.contains("bytes=") && line.contains("ms="), "{line}");
        assert!(
            line.contains("kdf_runs=1"),
            "Argon2id ran more than once per store: {line}"
        );
    }
    for secret in [PASSPHRASE, NODE_ID, "10.0.0.", ":7447", "relay"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}
