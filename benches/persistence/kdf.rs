//! Section `kdf` of the persistence bench: a passphrase realm's periodic save against a key-file
//! realm's, with two controls that say how much of a difference is the machine's: a second
//! key-file realm (the same code twice) and the encode alone in CPU time. Never asserts on
//! time, only on results.

use super::*;

/// Section 3: a periodic save of a passphrase realm against a key-file realm (Argon2id with the
/// default parameters must run once per process, not once per save).
///
/// The two realms run the same save code once the passphrase realm holds its master key
/// (`SealedCodec::seal_material` differs only by a mutex and the header's KDF fields; the
/// `encode CPU` column measures it), so a ratio away from 1 is the machine: each save is
/// dominated by two fsyncs and the rename's freeing of the old file's blocks (discarded on
/// commit on an ext4 `discard` mount), whose time varies from save to save. With nine
/// repetitions in a fixed order (passphrase, key file) the same code gave anything from 0.91x
/// to 1.72x between runs. The comparison is now fair and its noise visible: the order
/// alternates every repetition (A B C, C B A), the periodic saves start only after both
/// realms' flush tasks had their chance at their own first save (a flush task saves the first
/// change after open within a second, which could land among the passphrase realm's
/// repetitions), and the control column shows the spread the machine alone gives.
pub(crate) fn kdf(ctx: &mut Ctx<'_>) {
    let mut table = Table::new(
        "Key derivation",
        "Two sealed realms with the same entries, one keyed by a passphrase (Argon2id, default \
         m = 64 MiB, t = 3, p = 4), one by a key file, and a second key-file realm as a \
         control. First save = the first flush after open (the passphrase realm derives its key \
         there); periodic save = the median of later flushes, interleaved in alternating order \
         after the flush tasks' own first saves. `control` = key file / second key file (the \
         same code: the machine's spread); `encode CPU` = the sealed encode alone, passphrase \
         codec / key-file codec, in thread CPU time.",
        &[
            "N",
            "first save, passphrase",
            "first save, key file",
            "periodic, passphrase",
            "periodic, key file",
            "passphrase / key file",
            "control",
            "encode CPU",
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
        let realms = [
            (KeySource::Passphrase, "pass"),
            (KeySource::KeyFile, "file"),
            (KeySource::KeyFile, "file2"),
        ];
        for (key, name) in realms {
            let realm = format!("bench-kdf-{name}");
            let path = dir.join(format!("{realm}-{n}.peers"));
            let config = ctx.config(&path, &realm, CodecKind::Sealed, key, n);
            let ps = ctx.open(&config, &realm, &clock);
            ps.store().hydrate(entries.clone());
            let t = Instant::now();
            ctx.rt.block_on(ps.flush()).expect("a bench save succeeds");
            first.push(t.elapsed());
            stores.push(ps);
        }
        // Each flush task saves the first change after open within a second (here: nothing
        // left to save, but it takes the save lock); let that pass before measuring.
        std::thread::sleep(Duration::from_millis(1200));
        let counter = Cell::new(0usize);
        let s = {
            let mut competitors: Vec<Competitor<'_>> = Vec::new();
            for ps in &stores {
                let (clock, entries, counter, rt) = (&clock, &entries, &counter, ctx.rt);
                competitors.push(Box::new(move || {
                    counter.set(counter.get() + 1);
                    timed_save(rt, ps, clock, entries, counter.get())
                }));
            }
            interleaved_alternating(reps, &mut competitors)
        };
        // The encode alone, in CPU time: the passphrase codec (its key derived before) against
        // the key-file codec, on one snapshot.
        let encode_cpu = {
            let snapshot = stores[1].store().snapshot();
            let pass = SealedCodec::with_passphrase(
                knownpeers::keys::passphrase_from_env(PASS_ENV).expect("main sets it"),
                knownpeers::codecs::KdfParams::DEFAULT,
            )
            .expect("the default parameters are accepted");
            let key = knownpeers::keys::read_key_file(&ctx.key_file).expect("the key file reads");
            let file = SealedCodec::with_key(key);
            pass.encode("bench-kdf", gen::NOW, &snapshot)
                .expect("generated entries encode");
            let mut bufs = (Vec::new(), Vec::new());
            let mut competitors: Vec<Competitor<'_>> = vec![
                Box::new(|| {
                    cpu_time(|| {
                        pass.encode_into("bench-kdf", gen::NOW, &snapshot, &mut bufs.0)
                            .expect("generated entries encode")
                    })
                }),
                Box::new(|| {
                    cpu_time(|| {
                        file.encode_into("bench-kdf", gen::NOW, &snapshot, &mut bufs.1)
                            .expect("generated entries encode")
                    })
                }),
            ];
            let c = interleaved_alternating(reps.max(9), &mut competitors);
            ratio(&c[0], &c[1])
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
            format!("{:.2}x", ratio(&s[1], &s[2])),
            format!("{encode_cpu:.2}x"),
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
                "passphrase {}, key file {} (first save {} and {}; control {:.2}x, encode CPU \
                 {encode_cpu:.2}x)",
                human(s[0].median),
                human(s[1].median),
                human(first[0]),
                human(first[1]),
                ratio(&s[1], &s[2])
            ),
            command: ctx.opts.command("kdf"),
        });
    }
    ctx.report.tables.push(table);
}
