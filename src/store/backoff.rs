//! Dial backoff: the runtime-only dial state of one entry (consecutive failures and the earliest
//! next attempt) and the delay schedule `min(base * 2^(k-1), cap)` minus jitter. It owns the
//! arithmetic only; it never reads a clock (callers pass `now`) and is never persisted.

use super::Backoff;

/// Bits of [`DialState`] holding the next-attempt time; the top 8 hold the failure count.
const TIME_BITS: u32 = 56;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// Consecutive dial failures (saturating at 255) and the unix-ms time before which the address is
/// not offered, packed in one `u64` so a tier node stays 24 bytes (issue 6's memory goal).
/// 2^56 ms is two million years, so clamping the time to 56 bits loses nothing real.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DialState(u64);

impl DialState {
    /// No failure since the last success: dialable now (the state of a new entry).
    pub(crate) const NEVER_FAILED: DialState = DialState(0);

    /// Consecutive failures since the last success.
    pub(crate) fn failures(self) -> u8 {
        (self.0 >> TIME_BITS) as u8
    }

    /// Unix ms before which the address is in backoff (0 = never failed).
    pub(crate) fn next_dial_ms(self) -> u64 {
        self.0 & TIME_MASK
    }

    /// Whether the address may be dialed at `now_ms`.
    pub(crate) fn ready(self, now_ms: u64) -> bool {
        now_ms >= self.next_dial_ms()
    }

    /// The state after one more failure at `now_ms`; `draw(max)` returns a jitter in `0..=max`.
    pub(crate) fn after_failure(
        self,
        now_ms: u64,
        backoff: &Backoff,
        draw: impl FnOnce(u64) -> u64,
    ) -> DialState {
        let failures = self.failures().saturating_add(1);
        let delay = jittered(delay_ms(backoff, failures), backoff.jitter_permille, draw);
        let next = now_ms.saturating_add(delay).min(TIME_MASK);
        DialState((u64::from(failures) << TIME_BITS) | next)
    }
}

/// `min(base * 2^(k-1), cap)` for `k >= 1` consecutive failures, saturating instead of
/// overflowing.
pub(crate) fn delay_ms(backoff: &Backoff, failures: u8) -> u64 {
    let exp = u32::from(failures.max(1) - 1);
    let factor = 1u64.checked_shl(exp).unwrap_or(u64::MAX);
    backoff.base_ms.saturating_mul(factor).min(backoff.cap_ms)
}

/// `delay` minus a jitter of at most `jitter_permille`/1000 of it (clamped to the whole delay),
/// so jitter only ever shortens a wait and never exceeds the cap.
pub(crate) fn jittered(delay: u64, jitter_permille: u32, draw: impl FnOnce(u64) -> u64) -> u64 {
    let permille = u128::from(jitter_permille.min(1000));
    let max = u64::try_from(u128::from(delay) * permille / 1000)
        .expect("at most `delay`, which is a u64");
    if max == 0 {
        return delay;
    }
    delay - draw(max).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(base_ms: u64, cap_ms: u64, jitter_permille: u32) -> Backoff {
        Backoff {
            base_ms,
            cap_ms,
            jitter_permille,
        }
    }

    #[test]
    fn delay_schedule() {
        let check = |base, cap, k, expected| {
            assert_eq!(
                delay_ms(&backoff(base, cap, 0), k),
                expected,
                "base {base} cap {cap} k {k}"
            );
        };
        check(1000, 600_000, 1, 1000);
        check(1000, 600_000, 2, 2000);
        check(1000, 600_000, 10, 512_000);
        check(1000, 600_000, 11, 600_000);
        check(1000, 600_000, 255, 600_000);
        check(1000, u64::MAX, 64, 1000u64.saturating_mul(1 << 63));
        check(1000, u64::MAX, 65, u64::MAX);
        check(0, 600_000, 200, 0);
        check(5000, 1000, 1, 1000);
        // k = 0 is treated as the first failure rather than underflowing.
        check(1000, 600_000, 0, 1000);
    }

    #[test]
    fn jitter_bounds() {
        let check = |delay, permille, draw: u64, expected| {
            assert_eq!(
                jittered(delay, permille, |_| draw),
                expected,
                "{delay} {permille}‰ {draw}"
            );
        };
        check(1000, 0, 999, 1000);
        check(1000, 200, 0, 1000);
        check(1000, 200, 200, 800);
        check(1000, 200, 5000, 800); // a draw past the bound is clamped
        check(1000, 1000, 1000, 0);
        check(1000, 7000, 1000, 0); // over 1000‰ is clamped to the whole delay
        check(u64::MAX, 1000, u64::MAX, 0);
        check(3, 200, 1, 3); // 0.6 ms of jitter rounds to none
    }

    #[test]
    fn dial_state_packs_failures_and_time() {
        let b = backoff(1000, 600_000, 0);
        let mut s = DialState::default();
        assert_eq!((s.failures(), s.next_dial_ms()), (0, 0));
        assert!(s.ready(0));
        for k in 1..=300u32 {
            s = s.after_failure(10_000, &b, |_| 0);
            assert_eq!(u32::from(s.failures()), k.min(255));
        }
        assert_eq!(s.next_dial_ms(), 610_000);
        assert!(!s.ready(609_999) && s.ready(610_000));
        let far = DialState::default().after_failure(u64::MAX - 5, &b, |_| 0);
        assert_eq!((far.failures(), far.next_dial_ms()), (1, TIME_MASK));
    }
}
