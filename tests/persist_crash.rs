//! Crash safety with real processes. A child (this test binary re-executed with a role) opens a
//! store and saves distinct snapshots in a loop: snapshot `g` is the same N peers, all with
//! `last_seen = saved_at = T0 + g`. The parent SIGKILLs it at random points, at least 200
//! times, and after every kill checks that the file decodes completely to the last snapshot the
//! child finished or the one it was writing, never a mix; the next child's open must remove the
//! killed one's temp files and get the lock. Each child writes a different codec (json,
//! msgpack, sealed), so codec switches are crash-tested too.

mod common;
#[path = "common/store.rs"]
mod util;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use knownpeers::codecs::{read, ReadPolicy, SealedCodec};
use knownpeers::{ManualClock, PeerSource, PersistentStore};
use util::{addr, T0};

/// Peers per snapshot.
const N: u32 = 1500;
const REALM: &str = "crash";
const DIR_ENV: &str = "KNOWNPEERS_TEST_DIR";
const CODEC_ENV: &str = "KNOWNPEERS_TEST_CODEC";
const KILLS: usize = 220;

fn config(dir: &Path, codec: &str) -> knownpeers::Config {
    util::config(
        dir,
        &format!(
            "save_interval_secs = 3600\nmax_entries = 100000\nttl_secs = 100000000\n\
             [network.persistence.realms.{REALM}]\ncodec = \"{codec}\"\nkey_file = \"{}\"\n\
             require_encryption = false\n",
            dir.join("crash.key").display()
        ),
    )
}

/// The writer: opens the store, then for g = loaded + 1, +2, ... sets every peer's last_seen
/// to T0 + g and flushes, announcing `saving g` before and `saved g` after. Stops after
/// `limit` snapshots if given (else runs until killed).
async fn writer(dir: &Path, codec: &str, limit: Option<u64>) -> u64 {
    let clock = Arc::new(ManualClock::at_secs(T0));
    let s = PersistentStore::open(&config(dir, codec), REALM, clock.clone())
        .await
        .expect("the writer opens the store");
    let loaded = s
        .store()
        .snapshot()
        .to_vec()
        .iter()
        .map(|e| e.last_seen - T0)
        .max()
        .unwrap_or(0);
    println!(
        "\nRESULT opened {} {} {loaded}",
        s.load_report().in_file,
        s.load_report().stale_temps_removed
    );
    let mut g = loaded;
    loop {
        g += 1;
        clock.set_ms((T0 + g) * 1000);
        for i in 0..N {
            s.store()
                .observe_connected(addr(i), Some(format!("node-{i}")), vec![])
                .expect("metadata within limits");
        }
        println!("saving {g}");
        s.flush().await.expect("the save succeeds");
        println!("saved {g}");
        if limit.is_some_and(|l| g >= loaded + l) {
            s.close().await.expect("close");
            return g;
        }
    }
}

/// Checks the file holds exactly snapshot `g` for one of `allowed`; returns that `g`.
fn check_file(dir: &Path, allowed: &[u64], sealed: &SealedCodec) -> Option<u64> {
    let path = dir.join(format!("{REALM}.peers"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("reading the file: {e}"),
    };
    let policy = ReadPolicy {
        realm: Some(REALM),
        require_encryption: false,
        sealed: Some(sealed),
        legacy_mtime: 0,
        check_duplicates: true,
    };
    let decoded = read(&bytes, &policy).expect("the file decodes completely after a kill");
    let g = decoded.file.saved_at - T0;
    assert!(
        allowed.contains(&g),
        "file holds snapshot {g}, allowed {allowed:?}"
    );
    let mut entries = decoded.file.entries;
    entries.sort_by_key(|e| e.addr);
    assert_eq!(entries.len(), N as usize, "snapshot {g} is whole");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.addr, addr(i as u32));
        assert_eq!(e.last_seen, T0 + g, "entry {i} is from snapshot {g}");
        assert_eq!(e.source, PeerSource::Connected);
        assert_eq!(e.node_id.as_deref(), Some(format!("node-{i}").as_str()));
    }
    Some(g)
}

/// Child entry. With the role `writer`, runs the writer until killed. Run directly, it writes
/// five snapshots in a fresh directory and checks the file holds the fifth.
#[test]
fn child_writer() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if common::role().as_deref() == Some("writer") {
        let dir = std::path::PathBuf::from(std::env::var_os(DIR_ENV).expect("dir given"));
        let codec = std::env::var(CODEC_ENV).expect("codec given");
        runtime.block_on(writer(&dir, &codec, None));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let key = knownpeers::keys::Key::generate().expect("key");
    knownpeers::keys::write_key_file(&dir.path().join("crash.key"), &key).expect("key file");
    let last = runtime.block_on(writer(dir.path(), "msgpack", Some(5)));
    assert_eq!(last, 5);
    let sealed = SealedCodec::with_key(
        knownpeers::keys::read_key_file(&dir.path().join("crash.key")).expect("key"),
    );
    assert_eq!(check_file(dir.path(), &[5], &sealed), Some(5));
}

/// A small xorshift generator: the kill points need randomness, not quality.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigkill_during_saves_never_leaves_a_torn_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = knownpeers::keys::Key::generate().expect("key");
    knownpeers::keys::write_key_file(&dir.path().join("crash.key"), &key).expect("key file");
    let sealed = SealedCodec::with_key(
        knownpeers::keys::read_key_file(&dir.path().join("crash.key")).expect("key"),
    );
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
        | 1;
    println!("kill-point seed {seed}");
    let mut rng = Rng(seed);
    let codecs = ["json", "msgpack", "sealed"];

    let mut file_g: Option<u64> = None; // what the file holds after the last kill
    let mut stale_seen = 0usize; // temps the last killed child left
    let (mut kept_old, mut took_new, mut mid_write, mut saves) = (0, 0, 0, 0u64);
    // Running estimate of one save's duration (from `saving` to `saved`), in microseconds.
    let mut save_us: u64 = 5000;
    for kill in 0..KILLS {
        let codec = codecs[kill % codecs.len()];
        let mut cmd = common::child_command("child_writer", "writer", &[]);
        cmd.env(DIR_ENV, dir.path())
            .env(CODEC_ENV, codec)
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the writer");
        let pid = child.id();
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let opened = lines
            .by_ref()
            .map(|l| l.expect("child stdout"))
            .find_map(|l| l.split_once("RESULT opened ").map(|(_, r)| r.to_owned()))
            .expect("the writer opened the store (so the lock was free)");
        let fields: Vec<u64> = opened
            .split(' ')
            .map(|f| f.parse().expect("numbers"))
            .collect();
        let expected_in_file = if file_g.is_some() { N as u64 } else { 0 };
        assert_eq!(fields[0], expected_in_file, "kill {kill}: loaded count");
        assert_eq!(
            fields[1], stale_seen as u64,
            "kill {kill}: stale temps removed at open"
        );
        assert_eq!(
            fields[2],
            file_g.unwrap_or(0),
            "kill {kill}: loaded snapshot"
        );

        // Let it finish 0..=2 saves, wait for the next one to start, then kill it at a random
        // point within the time a save has been taking. The sleep only chooses where SIGKILL
        // lands; nothing waits for an effect.
        let wait_saves = rng.below(3);
        let mut saving: u64;
        let mut saved = file_g.unwrap_or(0);
        let mut seen = 0;
        let mut started = std::time::Instant::now();
        loop {
            let line = lines.next().expect("writer alive").expect("stdout");
            if let Some(g) = line.strip_prefix("saving ") {
                saving = g.parse().expect("g");
                started = std::time::Instant::now();
                if seen == wait_saves {
                    break;
                }
            } else if let Some(g) = line.strip_prefix("saved ") {
                saved = g.parse().expect("g");
                seen += 1;
                let took = started.elapsed().as_micros() as u64;
                save_us = (save_us * 3 + took) / 4;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(save_us * 5 / 4 + 1)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        // Everything the child printed before it died.
        for line in lines {
            let line = line.expect("stdout");
            if let Some(g) = line.strip_prefix("saving ") {
                saving = g.parse().expect("g");
            } else if let Some(g) = line.strip_prefix("saved ") {
                saved = g.parse().expect("g");
            }
        }
        saves += saved - file_g.unwrap_or(0);

        let temps = common::temp_files(dir.path());
        let own_prefix = format!(".{REALM}.peers.tmp.{pid}.");
        assert!(
            temps.iter().all(|t| t.starts_with(&own_prefix)),
            "{temps:?}"
        );
        stale_seen = temps.len();
        if stale_seen > 0 {
            mid_write += 1;
        }
        let g = check_file(dir.path(), &[saved, saving], &sealed);
        match g {
            Some(g) if g == saved => kept_old += 1,
            Some(_) => took_new += 1,
            None => assert_eq!(saved, 0, "kill {kill}: no file though a save finished"),
        }
        file_g = g.or(file_g);
    }
    // A last, clean open cleans up and loads the final snapshot.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = rt
        .block_on(PersistentStore::open(
            &config(dir.path(), "json"),
            REALM,
            Arc::new(ManualClock::at_secs(T0)),
        ))
        .expect("open after the last kill");
    assert_eq!(s.load_report().stale_temps_removed, stale_seen);
    assert_eq!(s.store().len(), N as usize);
    rt.block_on(s.close()).expect("close");
    assert_eq!(common::temp_files(dir.path()), Vec::<String>::new());
    println!(
        "crash test: {KILLS} SIGKILLs, {saves} completed saves; after a kill the file held the \
         last finished snapshot {kept_old} times and the in-flight one {took_new} times; \
         {mid_write} kills left a temp file (removed by the next open); 0 torn files; \
         a save took about {save_us} us"
    );
    assert!(saves > 0);
}
