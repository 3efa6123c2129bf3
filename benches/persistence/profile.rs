//! The `profile` mode of the persistence bench: loops over the hot paths of save, load and gossip
//! ingest for a sampling profiler. It measures no goal and writes nothing to the report.

use super::*;

/// Not a section of the report: the hot paths of save, load and gossip ingest at the largest N,
/// looped for a sampling profiler, e.g. `perf record -e cpu-clock --call-graph dwarf -- cargo
/// bench --bench persistence -- --only profile`. Each phase prints its own time; `perf report`
/// attributes the samples to the callers (`body::encode`, `body::decode`, `State::hydrate`,
/// `State::observe_gossip`).
pub(crate) fn profile(ctx: &mut Ctx<'_>) {
    let n = ctx.opts.big();
    let loops = if ctx.opts.quick { 1 } else { 5 };
    let entries = gen::entries(SEED, n);
    let clock = Arc::new(ManualClock::at_secs(gen::NOW));
    let store = filled_store(n, &clock, entries.clone());
    let mut buf = Vec::new();
    let phase = |name: &str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..loops {
            f();
        }
        eprintln!(
            "   profile: {name}: {} per loop",
            human(t.elapsed() / loops)
        );
    };
    phase("snapshot + msgpack encode", &mut || {
        let snap = store.snapshot();
        MsgpackCodec
            .encode_into("bench-profile", gen::NOW, &snap, &mut buf)
            .expect("generated entries encode");
    });
    // As the load at open reads into a fresh store: the hydrate applies the duplicate rule.
    let policy = ReadPolicy::plaintext(Some("bench-profile")).defer_duplicate_check();
    phase("msgpack decode + hydrate", &mut || {
        let decoded = knownpeers::codecs::read(&buf, &policy).expect("the buffer was just encoded");
        let fresh = PeerStore::new(
            StoreConfig {
                max_entries: n,
                ..StoreConfig::default()
            },
            clock.clone(),
        );
        fresh.hydrate(decoded.file.entries);
    });
    drop(store);
    let cap = ctx.opts.cap();
    let all = gen::entries(SEED ^ 4, 3 * cap);
    let store = filled_store(
        cap,
        &clock,
        gen::with_source(all[..cap].to_vec(), PeerSource::Gossip),
    );
    let fresh = [
        gen::as_gossip(&all[cap..2 * cap]),
        gen::as_gossip(&all[2 * cap..]),
    ];
    let mut round = 0;
    phase("gossip ingest at the cap", &mut || {
        for chunk in fresh[round % 2].chunks(1000) {
            black_box(store.observe_gossip(chunk));
        }
        round += 1;
    });
}
