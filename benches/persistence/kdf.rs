//! Section `kdf` of the persistence bench: a passphrase realm's periodic save against a key-file
//! realm's. Never asserts on time, only on results.

use super::*;

/// Section 3: a periodic save of a passphrase realm against a key-file realm (Argon2id with the
/// default parameters must run once per process, not once per save).
pub(crate) fn kdf(ctx: &mut Ctx<'_>) {
    let mut table = Table::new(
        "Key derivation",
        "Two sealed realms with the same entries, one keyed by a passphrase (Argon2id, default \
         m = 64 MiB, t = 3, p = 4), one by a key file. First save = the first flush after open \
         (the passphrase realm derives its key there); periodic save = the median of later \
         flushes, interleaved.",
        &[
            "N",
            "first save, passphrase",
            "first save, key file",
            "periodic, passphrase",
            "periodic, key file",
            "passphrase / key file",
        ],
    );
    let sizes = if ctx.opts.quick {
        vec![1024]
    } else {
        vec![1024, ctx.opts.cap()]
    };
    let dir = ctx.subdir("kdf");
    for n in sizes {
        // Small saves are dominated by two fsyncs, whose time varies most: more repetitions.
        let reps = ctx.opts.reps(n) * if n <= 10_000 { 2 } else { 1 };
        let entries = gen::entries(SEED ^ 3, n);
        let clock = Arc::new(ManualClock::at_secs(gen::NOW));
        let mut stores = Vec::new();
        let mut first = Vec::new();
        for key in [KeySource::Passphrase, KeySource::KeyFile] {
            let realm = format!(
                "bench-kdf-{}",
                if key == KeySource::KeyFile {
                    "file"
                } else {
                    "pass"
                }
            );
            let path = dir.join(format!("{realm}-{n}.peers"));
            let config = ctx.config(&path, &realm, CodecKind::Sealed, key, n);
            let ps = ctx.open(&config, &realm, &clock);
            ps.store().hydrate(entries.clone());
            let t = Instant::now();
            ctx.rt.block_on(ps.flush()).expect("a bench save succeeds");
            first.push(t.elapsed());
            stores.push(ps);
        }
        let counter = Cell::new(0usize);
        let s = {
            let mut competitors: Vec<Competitor<'_>> = Vec::new();
            for ps in &stores {
                let (clock, entries, counter, rt) = (&clock, &entries, &counter, ctx.rt);
                competitors.push(Box::new(move || {
                    counter.set(counter.get() + 1);
                    dirty(ps.store(), clock, entries, counter.get());
                    let t = Instant::now();
                    rt.block_on(ps.flush()).expect("a bench save succeeds");
                    t.elapsed()
                }));
            }
            interleaved(reps, &mut competitors)
        };
        for ps in stores {
            ctx.close(ps);
        }
        let r = ratio(&s[0], &s[1]);
        table.row(vec![
            human_n(n),
            human(first[0]),
            human(first[1]),
            human(s[0].median),
            human(s[1].median),
            format!("{r:.2}x"),
        ]);
        ctx.report.goals.push(Goal {
            what: format!(
                "{}: passphrase-realm periodic save / key-file-realm periodic save",
                human_n(n)
            ),
            value: r,
            cmp: Cmp::AtMost,
            target: 1.1,
            unit: "x",
            detail: format!(
                "passphrase {}, key file {} (first save {} and {})",
                human(s[0].median),
                human(s[1].median),
                human(first[0]),
                human(first[1])
            ),
            command: ctx.opts.command("kdf"),
        });
    }
    ctx.report.tables.push(table);
}
