//! Section `store` of the persistence bench: gossip ingest and connected observe at the cap and
//! `dial_candidates`, against a plain `HashMap`. Never asserts on time, only on results.

use super::*;

/// Section 4: gossip ingest and connected-observe at the cap, and `dial_candidates`, against a
/// plain `HashMap` insert loop (and a naive rank-and-take for the candidates).
pub(crate) fn store_ops(ctx: &mut Ctx<'_>) {
    let cap = ctx.opts.cap();
    let reps = ctx.opts.reps(cap).max(if ctx.opts.quick { 1 } else { 5 });
    let clock = Arc::new(ManualClock::at_secs(gen::NOW));
    let mut table = Table::new(
        &format!("Store operations at the {} cap", human_n(cap)),
        "Per address, in CPU time of the measuring thread (all single-threaded), medians. Gossip \
         ingest: a full store of Gossip entries takes batches of 1000 new addresses (each insert \
         evicts the least recently seen Gossip entry). Connected observe: a full store of mixed \
         entries sees a reconnect of every entry. The baseline is a plain \
         `HashMap<SocketAddr, PeerEntry>` insert loop into an empty map, fed either the same \
         borrowed gossip batch (so it copies the strings, as the store must) or owned entries \
         built beforehand (no copy: the bare insert). `dial_candidates(16)` is compared with \
         ranking a `HashMap`'s entries and taking 16.",
        &["operation", "knownpeers", "baseline", "ratio"],
    );
    // Three disjoint sets: the prefill and two alternating sets of fresh gossip, so every timed
    // address is new to the store (set B evicts set A, then A is new again).
    let all = gen::entries(SEED ^ 4, 3 * cap);
    let prefill = gen::with_source(all[..cap].to_vec(), PeerSource::Gossip);
    let fresh = [
        gen::as_gossip(&all[cap..2 * cap]),
        gen::as_gossip(&all[2 * cap..]),
    ];
    let fresh_entries = all[cap..2 * cap].to_vec();
    let store = filled_store(cap, &clock, prefill);
    let round = Cell::new(0usize);
    let s = {
        let mut competitors: Vec<Competitor<'_>> = vec![
            Box::new(|| {
                let batch = &fresh[round.get() % 2];
                round.set(round.get() + 1);
                let mut inserted = 0;
                let d = cpu_time(|| {
                    for chunk in batch.chunks(1000) {
                        inserted += store.observe_gossip(chunk).inserted;
                    }
                });
                assert_eq!(inserted, cap, "every fresh gossip address is stored");
                d
            }),
            Box::new(|| {
                let mut map = None;
                let d =
                    cpu_time(|| map = Some(baseline::hashmap_inserts_from(&fresh[0], gen::NOW)));
                black_box(map);
                d
            }),
            Box::new(|| {
                let owned = fresh_entries.clone();
                let mut map = None;
                let d = cpu_time(|| map = Some(baseline::hashmap_inserts(owned)));
                black_box(map);
                d
            }),
        ];
        interleaved(reps, &mut competitors)
    };
    let per = |s: &Sample| s.ns() / cap as f64;
    let gossip_ratio = ratio(&s[0], &s[1]);
    table.row(vec![
        "gossip ingest (new addresses, full store) vs insert loop fed the same batch".into(),
        human_ns(per(&s[0])),
        human_ns(per(&s[1])),
        format!("{gossip_ratio:.2}x"),
    ]);
    table.row(vec![
        "gossip ingest vs insert loop of entries built beforehand".into(),
        human_ns(per(&s[0])),
        human_ns(per(&s[2])),
        format!("{:.2}x", ratio(&s[0], &s[2])),
    ]);
    ctx.report.goals.push(Goal {
        what: format!(
            "{}: gossip ingest at the cap / plain HashMap insert loop of the same batch (ns/op)",
            human_n(cap)
        ),
        value: gossip_ratio,
        cmp: Cmp::AtMost,
        target: 2.0,
        unit: "x",
        detail: format!(
            "store {}, map {} per address (map of entries built beforehand {})",
            human_ns(per(&s[0])),
            human_ns(per(&s[1])),
            human_ns(per(&s[2]))
        ),
        command: ctx.opts.command("store"),
    });
    drop(store);

    // Connected observe of every entry of a full mixed store.
    let mixed = all[..cap].to_vec();
    let store = filled_store(cap, &clock, mixed.clone());
    let s = {
        let mut competitors: Vec<Competitor<'_>> = vec![
            Box::new(|| {
                let calls: Vec<_> = mixed
                    .iter()
                    .map(|e| (e.addr, e.node_id.clone(), e.capabilities.clone()))
                    .collect();
                clock.advance_ms(1000);
                cpu_time(|| {
                    for (addr, node_id, caps) in calls {
                        store
                            .observe_connected(addr, node_id, caps)
                            .expect("generated metadata is within limits");
                    }
                })
            }),
            Box::new(|| {
                let owned = mixed.clone();
                let mut map = None;
                let d = cpu_time(|| map = Some(baseline::hashmap_inserts(owned)));
                black_box(map);
                d
            }),
        ];
        interleaved(reps, &mut competitors)
    };
    table.row(vec![
        "connected observe (existing addresses, full store)".into(),
        human_ns(per(&s[0])),
        human_ns(per(&s[1])),
        format!("{:.2}x", ratio(&s[0], &s[1])),
    ]);
    drop(store);

    // dial_candidates on a full mixed store without failures.
    let store = filled_store(cap, &clock, mixed.clone());
    let map: HashMap<_, _> = mixed.iter().map(|e| (e.addr, e.clone())).collect();
    let calls = if ctx.opts.quick { 10 } else { 200 };
    let s = {
        let mut competitors: Vec<Competitor<'_>> = vec![
            Box::new(|| {
                let d = cpu_time(|| {
                    for _ in 0..calls {
                        let c = store.dial_candidates(16);
                        assert_eq!(c.len(), 16, "a full store offers 16 candidates");
                        black_box(c);
                    }
                });
                d / calls
            }),
            Box::new(|| {
                let d = cpu_time(|| {
                    for _ in 0..calls.div_ceil(10) {
                        black_box(baseline::naive_dial_candidates(&map, 16));
                    }
                });
                d / calls.div_ceil(10)
            }),
        ];
        interleaved(reps, &mut competitors)
    };
    table.row(vec![
        "dial_candidates(16), per call".into(),
        human(s[0].median),
        human(s[1].median),
        format!("{:.4}x", ratio(&s[0], &s[1])),
    ]);
    ctx.report.tables.push(table);
}
