//! Dial backoff: the runtime-only dial state of one entry (consecutive failures and the earliest
//! next attempt) and the delay schedule `min(base * 2^(k-1), cap)` minus jitter. It owns the
//! arithmetic only; it never reads a clock (callers pass `now`) and is never persisted.

use super::Backoff;

/// Bits of [`DialState`] holding the next-attempt time; the top 8 hold the failure count.
const TIME_BITS: u32 = 56;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// Consecutive dial failures (saturating at 255) and the unix-ms time before which the address is
/// not offered, packed in one `u64` so a tier node stays 32 bytes (issue 6's memory goal).
/// 2^56 ms is two million years, so clamping the time to 56 bits loses nothing real.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DialState(u64);

impl DialState {
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
