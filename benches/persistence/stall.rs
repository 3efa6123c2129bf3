//! Section `stall` of the persistence bench: the longest `observe` call and tokio ticker lateness
//! during a flush of the largest N, against the same probes with no flush and with a spinning
//! thread. Never asserts on time, only on results.

use super::*;

/// Section 5: while a flush of the largest N runs, the longest `observe` call of a concurrent
/// thread and the longest lateness of a 1 ms tokio ticker on the same runtime; the same two
/// probes run for the same time with no flush give the machine's own noise.
pub(crate) fn stall(ctx: &mut Ctx<'_>) {
    let n = ctx.opts.big();
    let flushes = if ctx.opts.quick { 1 } else { 3 };
    let mut table = Table::new(
        &format!("Stall during a {}-entry flush", human_n(n)),
        "An observer thread calls `observe_connected` every 50 µs and times each call; a tokio \
         task ticks every 1 ms on the flushing runtime (2 workers) and records how late each \
         tick is. Flush = during the flushes of each codec; idle = the same probes for the same \
         time with no flush (the machine's own scheduling noise); spin = the same probes while a \
         plain thread spins on the CPU for as long as the flush took, touching no store and no \
         runtime (what any CPU-bound work of that length costs the probes on this machine). \
         Max and 99.9th percentile.",
        &[
            "codec",
            "flush",
            "observe: flush",
            "observe: idle",
            "observe: spin",
            "ticker late: flush",
            "ticker late: idle",
            "ticker late: spin",
        ],
    );
    let entries = gen::entries(SEED ^ 5, n);
    let dir = ctx.subdir("stall");
    let mut worst = (Duration::ZERO, Duration::ZERO);
    let mut idle_worst = Duration::ZERO;
    let mut details = Vec::new();
    for kind in [CodecKind::Json, CodecKind::Msgpack, CodecKind::Sealed] {
        let clock = Arc::new(ManualClock::at_secs(gen::NOW));
        let realm = format!("bench-stall-{}", kind_name(kind));
        let path = dir.join(format!("{realm}.peers"));
        let config = ctx.config(&path, &realm, kind, KeySource::KeyFile, n);
        let ps = ctx.open(&config, &realm, &clock);
        ps.store().hydrate(entries.clone());
        let mut flush_time = Duration::ZERO;
        let mut busy = Probes::default();
        let mut idle = Probes::default();
        let mut spin = Probes::default();
        for i in 0..flushes {
            dirty(ps.store(), &clock, &entries, i);
            let (d, probes) = probe(ctx.rt, ps.store(), &entries, || {
                ctx.rt.block_on(ps.flush()).expect("a bench save succeeds");
            });
            flush_time = flush_time.max(d);
            busy.extend(probes);
            let (_, quiet) = probe(ctx.rt, ps.store(), &entries, || std::thread::sleep(d));
            idle.extend(quiet);
            let (_, spun) = probe(ctx.rt, ps.store(), &entries, || {
                std::thread::spawn(move || spin_for(d))
                    .join()
                    .expect("a spinning thread does not panic");
            });
            spin.extend(spun);
        }
        ctx.close(ps);
        let (bo, bt, io, it, so, st) = (
            Spread::of(&mut busy.observe),
            Spread::of(&mut busy.ticks),
            Spread::of(&mut idle.observe),
            Spread::of(&mut idle.ticks),
            Spread::of(&mut spin.observe),
            Spread::of(&mut spin.ticks),
        );
        table.row(vec![
            kind_name(kind).into(),
            human(flush_time),
            bo.to_string(),
            io.to_string(),
            so.to_string(),
            bt.to_string(),
            it.to_string(),
            st.to_string(),
        ]);
        worst = (worst.0.max(bo.max), worst.1.max(bt.max));
        idle_worst = idle_worst.max(io.max);
        details.push(format!(
            "{}: observe {}, ticker {} (idle {}, {}; spin {}, {})",
            kind_name(kind),
            human(bo.max),
            human(bt.max),
            human(io.max),
            human(it.max),
            human(so.max),
            human(st.max)
        ));
    }
    ctx.report.goals.push(Goal {
        what: format!(
            "{}-entry flush: longest concurrent observe call (target: the idle control's longest + 1 ms)",
            human_n(n)
        ),
        value: worst.0.as_secs_f64() * 1e3,
        cmp: Cmp::AtMost,
        target: idle_worst.as_secs_f64() * 1e3 + 1.0,
        unit: "ms",
        detail: details.join("; "),
        command: ctx.opts.command("stall"),
    });
    ctx.report.goals.push(Goal {
        what: format!(
            "{}-entry flush: longest lateness of a 1 ms tokio ticker",
            human_n(n)
        ),
        value: worst.1.as_secs_f64() * 1e3,
        cmp: Cmp::AtMost,
        target: 5.0,
        unit: "ms",
        detail: "same runs as the row above".into(),
        command: ctx.opts.command("stall"),
    });
    ctx.report.tables.push(table);
}

/// Keeps one core busy for `d` with work the optimiser cannot remove.
fn spin_for(d: Duration) {
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < d {
        for i in 0..1000u64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    black_box(x);
}

/// What the stall probes recorded: each observe call's duration, each tick's lateness.
#[derive(Default)]
struct Probes {
    observe: Vec<Duration>,
    ticks: Vec<Duration>,
}

impl Probes {
    fn extend(&mut self, other: Probes) {
        self.observe.extend(other.observe);
        self.ticks.extend(other.ticks);
    }
}

/// The maximum and the 99.9th percentile of some durations.
struct Spread {
    max: Duration,
    p999: Duration,
}

impl Spread {
    fn of(d: &mut [Duration]) -> Spread {
        d.sort_unstable();
        let at = |q: f64| {
            d.get(((d.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Spread {
            max: at(1.0),
            p999: at(0.999),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", human(self.max), human(self.p999))
    }
}

/// Runs `work` while an observer thread and a 1 ms ticker task probe `store` and the runtime.
/// Returns how long `work` took and what the probes recorded.
fn probe(
    rt: &tokio::runtime::Runtime,
    store: &PeerStore,
    entries: &[PeerEntry],
    work: impl FnOnce(),
) -> (Duration, Probes) {
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let stop = stop.clone();
        rt.spawn(async move {
            let mut late = Vec::with_capacity(8192);
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(Ordering::Relaxed) {
                let scheduled = interval.tick().await;
                late.push(tokio::time::Instant::now().saturating_duration_since(scheduled));
            }
            late
        })
    };
    let addrs: Vec<_> = entries.iter().take(4096).map(|e| e.addr).collect();
    let observer = {
        let (stop, store) = (stop.clone(), store.clone());
        std::thread::spawn(move || {
            let mut took = Vec::with_capacity(1 << 16);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                store
                    .observe_connected(addrs[i % addrs.len()], None, Vec::new())
                    .expect("empty metadata is within limits");
                took.push(t.elapsed());
                i += 1;
                // Paces the probe (about 20k calls/s) so it does not steal a core from the flush.
                std::thread::sleep(Duration::from_micros(50));
            }
            took
        })
    };
    // Let both probes start before the work.
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    work();
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let observe = observer.join().expect("the observer thread does not panic");
    let ticks = rt.block_on(ticker).expect("the ticker task does not panic");
    (took, Probes { observe, ticks })
}
