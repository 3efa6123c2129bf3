//! The benchmarks' timing loop: every closure times its own measured part (so setup and drops
//! stay outside), competitors run interleaved (A B C, A B C, ...) so a burst of load from the
//! shared machine hits all of them alike, and the median is reported. It never asserts on time.

use std::time::Duration;

/// The durations of several repetitions of one measurement.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Median repetition.
    pub median: Duration,
    /// Fastest repetition: for CPU-bound work on a shared machine, the run least disturbed.
    pub min: Duration,
}

impl Sample {
    /// The summary of `runs` (at least one).
    pub fn of(mut runs: Vec<Duration>) -> Sample {
        assert!(!runs.is_empty(), "a sample needs at least one repetition");
        runs.sort_unstable();
        let mid = runs.len() / 2;
        let median = if runs.len() % 2 == 1 {
            runs[mid]
        } else {
            (runs[mid - 1] + runs[mid]) / 2
        };
        Sample {
            median,
            min: runs[0],
        }
    }
    /// Median in nanoseconds, as a float for ratios.
    pub fn ns(&self) -> f64 {
        self.median.as_secs_f64() * 1e9
    }
    /// Fastest repetition in nanoseconds.
    pub fn min_ns(&self) -> f64 {
        self.min.as_secs_f64() * 1e9
    }
}

/// CPU time of the calling thread (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`: user and kernel
/// time, page faults included). For single-threaded CPU-bound work it leaves out the time the
/// scheduler gave other processes, which is most of the noise on a shared machine.
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `f` and returns the CPU time it took on this thread.
pub fn cpu_time(f: impl FnOnce()) -> Duration {
    let before = thread_cpu();
    f();
    thread_cpu().saturating_sub(before)
}

/// A measured competitor: runs once and returns the duration of its timed part.
pub type Competitor<'a> = Box<dyn FnMut() -> Duration + 'a>;

/// Runs every competitor `reps` times, interleaved, and returns one sample per competitor in
/// the order given.
pub fn interleaved(reps: usize, competitors: &mut [Competitor<'_>]) -> Vec<Sample> {
    let mut runs: Vec<Vec<Duration>> = vec![Vec::with_capacity(reps); competitors.len()];
    for _ in 0..reps.max(1) {
        for (i, c) in competitors.iter_mut().enumerate() {
            runs[i].push(c());
        }
    }
    runs.into_iter().map(Sample::of).collect()
}

/// [`interleaved`], with the order reversed every other repetition (A B C, C B A, ...), so that
/// no competitor always runs right after the same one (a save's after-effects, such as the
/// previous file's blocks being freed and discarded, land on whoever follows).
pub fn interleaved_alternating(reps: usize, competitors: &mut [Competitor<'_>]) -> Vec<Sample> {
    let mut runs: Vec<Vec<Duration>> = vec![Vec::with_capacity(reps); competitors.len()];
    for rep in 0..reps.max(1) {
        let n = competitors.len();
        for k in 0..n {
            let i = if rep % 2 == 0 { k } else { n - 1 - k };
            runs[i].push(competitors[i]());
        }
    }
    runs.into_iter().map(Sample::of).collect()
}

/// `a / b` of the medians.
pub fn ratio(a: &Sample, b: &Sample) -> f64 {
    a.ns() / b.ns().max(1.0)
}

/// A duration for people: ns, µs, ms or s with three significant digits.
pub fn human(d: Duration) -> String {
    human_ns(d.as_secs_f64() * 1e9)
}

/// Nanoseconds for people.
pub fn human_ns(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if v < 10.0 {
        format!("{v:.2} {unit}")
    } else if v < 100.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

/// Bytes for people (decimal units, as file managers show).
pub fn human_bytes(b: f64) -> String {
    if b < 1e3 {
        format!("{b:.0} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// An entry count for people: 1k, 100k, 1M.
pub fn human_n(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
