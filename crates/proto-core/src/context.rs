//! Time and randomness as inputs: the [`Clock`] and [`Nonce`] traits and the [`Context`] that
//! carries them into every [`Exchange`](crate::exchange::Exchange).
//!
//! Nothing else in the workspace reads the system clock or the OS random source: tests freeze
//! both, firmware without an RTC supplies its own, and clock skew learned from a server's `Date`
//! header is applied by wrapping the clock in an [`OffsetClock`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use kaifang_proto_core::context::{Context, FrozenClock, SeqNonce};
//!
//! let clock = Arc::new(FrozenClock::from_unix_millis(1_700_000_000_000));
//! let ctx = Context::new(clock.clone(), Arc::new(SeqNonce::new(7)));
//! assert_eq!(ctx.now_millis(), 1_700_000_000_000);
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(ctx.now_millis(), 1_700_000_001_000);
//! assert_eq!(ctx.nonce(16).unwrap().len(), 16);
//! ```

use core::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use crate::error::Error;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// A cheaper reading that may lag by up to a few milliseconds; used only for cache freshness
    /// checks, never for signatures (use [`Clock::now`] for anything sent to a server).
    ///
    /// Why lagging is harmless there: a cached token's `refresh_at` is always a margin (seconds
    /// to minutes, see [`RefreshPolicy`](crate::lifecycle::RefreshPolicy)) before its expiry, so
    /// a reading a few milliseconds late at worst serves the token a few milliseconds past
    /// `refresh_at`, still long before it expires; the refresh itself (the slow path) decides on
    /// [`Clock::now`]. The default is [`Clock::now`] (exact); [`SystemClock`] overrides it with
    /// `CLOCK_REALTIME_COARSE` on Linux (the time of the last timer tick: a few ns instead of
    /// 15–25 ns), and [`OffsetClock`] forwards it to its inner clock.
    fn now_coarse(&self) -> SystemTime {
        self.now()
    }

    /// The current time as milliseconds since the Unix epoch (negative before 1970).
    fn now_millis(&self) -> i64 {
        to_unix_millis(self.now())
    }
}

/// Converts a `SystemTime` to signed milliseconds since the Unix epoch (saturating).
#[must_use]
pub fn to_unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
    }
}

/// Converts signed milliseconds since the Unix epoch to a `SystemTime`.
#[must_use]
pub fn from_unix_millis(millis: i64) -> SystemTime {
    let abs = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        UNIX_EPOCH.checked_add(abs).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(abs).unwrap_or(UNIX_EPOCH)
    }
}

/// Adds a signed millisecond offset to a time (saturating at the epoch on failure).
#[must_use]
pub fn add_signed_millis(t: SystemTime, offset_ms: i64) -> SystemTime {
    let d = Duration::from_millis(offset_ms.unsigned_abs());
    let shifted = if offset_ms >= 0 {
        t.checked_add(d)
    } else {
        t.checked_sub(d)
    };
    shifted.unwrap_or(t)
}

/// The operating system's clock (`SystemTime::now()`; [`Clock::now_coarse`] reads
/// `CLOCK_REALTIME_COARSE` on Linux).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    #[inline]
    fn now_coarse(&self) -> SystemTime {
        coarse_realtime()
    }
}

/// `CLOCK_REALTIME_COARSE` (vDSO, no syscall): the wall clock as of the last timer tick, so it
/// lags `CLOCK_REALTIME` by at most one tick (1–10 ms depending on the kernel's `HZ`).
#[cfg(target_os = "linux")]
#[inline]
fn coarse_realtime() -> SystemTime {
    use rustix::time::{ClockId, clock_gettime};
    let ts = clock_gettime(ClockId::RealtimeCoarse);
    match (u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
        (Ok(secs), Ok(nanos)) if nanos < 1_000_000_000 => UNIX_EPOCH
            .checked_add(Duration::new(secs, nanos))
            .unwrap_or_else(SystemTime::now),
        // Before 1970 (or a malformed reading): not worth a special case.
        _ => SystemTime::now(),
    }
}

/// No coarse clock elsewhere: the exact one.
#[cfg(not(target_os = "linux"))]
#[inline]
fn coarse_realtime() -> SystemTime {
    SystemTime::now()
}

/// A clock that only moves when told to. Share it (`Arc<FrozenClock>`) between the test and the
/// code under test.
#[derive(Debug)]
pub struct FrozenClock {
    millis: AtomicI64,
}

impl FrozenClock {
    /// A clock frozen at `t` (millisecond resolution).
    #[must_use]
    pub fn new(t: SystemTime) -> Self {
        Self::from_unix_millis(to_unix_millis(t))
    }

    /// A clock frozen at `millis` since the Unix epoch.
    #[must_use]
    pub fn from_unix_millis(millis: i64) -> Self {
        Self {
            millis: AtomicI64::new(millis),
        }
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: SystemTime) {
        self.millis.store(to_unix_millis(t), Ordering::SeqCst);
    }

    /// Moves the clock forward by `d` (millisecond resolution, saturating).
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(ms))
            });
    }
}

impl Clock for FrozenClock {
    fn now(&self) -> SystemTime {
        from_unix_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// Another clock plus a signed offset in milliseconds, updatable atomically while shared.
///
/// Used to apply the skew between this machine and a platform's server, learned with
/// [`skew_from_date_header`] or from a server-time API, so signatures carry the server's time.
#[derive(Debug)]
pub struct OffsetClock {
    inner: Arc<dyn Clock>,
    offset_ms: AtomicI64,
}

impl OffsetClock {
    /// Wraps `inner` with an initial offset (server minus local, in ms).
    #[must_use]
    pub fn new(inner: Arc<dyn Clock>, offset_ms: i64) -> Self {
        Self {
            inner,
            offset_ms: AtomicI64::new(offset_ms),
        }
    }

    /// The current offset in milliseconds.
    #[must_use]
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Replaces the offset.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// Learns the offset from a response's `Date` header received at `local_now` (read from the
    /// *inner* clock). The offset changes only when the measured skew differs from the current
    /// offset by more than `threshold` (the header has one-second resolution, so use at least
    /// 2 s). Returns the new offset when it changed; on a missing or malformed header nothing
    /// changes.
    pub fn learn_from_date(
        &self,
        local_now: SystemTime,
        date: &HeaderValue,
        threshold: Duration,
    ) -> Option<i64> {
        let skew = skew_from_date_header(local_now, date)?;
        let threshold_ms = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
        if skew.saturating_sub(self.offset_ms()).saturating_abs() > threshold_ms {
            self.set_offset_ms(skew);
            Some(skew)
        } else {
            None
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        add_signed_millis(self.inner.now(), self.offset_ms())
    }

    fn now_coarse(&self) -> SystemTime {
        add_signed_millis(self.inner.now_coarse(), self.offset_ms())
    }
}

/// Server time minus local time in milliseconds, from an HTTP `Date` header value
/// (`Sun, 06 Nov 1994 08:49:37 GMT`). `None` when the header is not a valid HTTP date.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use http::HeaderValue;
/// use kaifang_proto_core::context::skew_from_date_header;
///
/// let local = UNIX_EPOCH + Duration::from_secs(784_111_717); // 08:48:37, one minute behind
/// let date = HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT");
/// assert_eq!(skew_from_date_header(local, &date), Some(60_000));
/// ```
#[must_use]
pub fn skew_from_date_header(local_now: SystemTime, date: &HeaderValue) -> Option<i64> {
    let text = date.to_str().ok()?;
    let server = httpdate::parse_http_date(text.trim()).ok()?;
    Some(to_unix_millis(server).saturating_sub(to_unix_millis(local_now)))
}

/// The failure of a random source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceError;

impl fmt::Display for NonceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("random source failed")
    }
}

impl std::error::Error for NonceError {}

const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A source of random bytes, with helpers for the values protocols need (OAuth `state`, Aliyun
/// `random`, backoff jitter).
pub trait Nonce: Send + Sync + fmt::Debug {
    /// Fills `buf` with random bytes.
    ///
    /// # Errors
    /// [`NonceError`] when the source is unavailable; `buf` content is then unspecified.
    fn try_fill(&self, buf: &mut [u8]) -> Result<(), NonceError>;

    /// A random string of `len` characters from `[A-Za-z0-9]`, uniformly distributed.
    ///
    /// # Errors
    /// [`NonceError`] when the source fails.
    fn alphanumeric(&self, len: usize) -> Result<String, NonceError> {
        let mut out = String::with_capacity(len);
        let mut buf = [0u8; 64];
        while out.len() < len {
            self.try_fill(&mut buf)?;
            for &b in &buf {
                // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
                if b < 248 && out.len() < len {
                    out.push(char::from(ALPHANUMERIC[usize::from(b % 62)]));
                }
            }
        }
        Ok(out)
    }

    /// A uniform value in `[0, 1)`, for jitter. Falls back to `0.5` if the source fails (jitter is
    /// not a security property).
    fn unit_f64(&self) -> f64 {
        let mut b = [0u8; 8];
        match self.try_fill(&mut b) {
            // 53 random bits scaled into [0, 1).
            Ok(()) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
            Err(NonceError) => 0.5,
        }
    }
}

/// The operating system's random source (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsNonce;

impl Nonce for OsNonce {
    fn try_fill(&self, buf: &mut [u8]) -> Result<(), NonceError> {
        getrandom::fill(buf).map_err(|_| NonceError)
    }
}

/// A deterministic pseudo-random source (SplitMix64 from a seed). Different seeds give different
/// sequences; the same seed always gives the same one. For tests and reproducible examples only.
#[derive(Debug)]
pub struct SeqNonce {
    state: AtomicU64,
}

impl SeqNonce {
    /// A sequence starting from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    fn next_u64(&self) -> u64 {
        let s = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Nonce for SeqNonce {
    fn try_fill(&self, buf: &mut [u8]) -> Result<(), NonceError> {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// A source that always answers the same: [`Nonce::alphanumeric`] returns the configured string
/// (cycled or cut to the requested length) and [`Nonce::unit_f64`] returns the configured
/// fraction. For tests that need one exact value.
#[derive(Debug, Clone)]
pub struct FixedNonce {
    text: String,
    unit: f64,
}

impl FixedNonce {
    /// `alphanumeric(n)` yields `text` cycled to `n` characters; `unit_f64()` yields `0.5`.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            unit: 0.5,
        }
    }

    /// `unit_f64()` yields `unit` (clamped to `[0, 1)`), e.g. `0.0` for "no jitter".
    #[must_use]
    pub fn with_unit(mut self, unit: f64) -> Self {
        self.unit = if unit.is_finite() {
            unit.clamp(0.0, 0.999_999_999)
        } else {
            0.0
        };
        self
    }
}

impl Nonce for FixedNonce {
    fn try_fill(&self, buf: &mut [u8]) -> Result<(), NonceError> {
        let src = if self.text.is_empty() {
            b"0".as_slice()
        } else {
            self.text.as_bytes()
        };
        for (b, s) in buf.iter_mut().zip(src.iter().cycle()) {
            *b = *s;
        }
        Ok(())
    }

    fn alphanumeric(&self, len: usize) -> Result<String, NonceError> {
        if self.text.is_empty() {
            return Ok("0".repeat(len));
        }
        Ok(self.text.chars().cycle().take(len).collect())
    }

    fn unit_f64(&self) -> f64 {
        self.unit
    }
}

/// What an exchange may read from the outside world: the time and random values. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Context {
    clock: Arc<dyn Clock>,
    nonce: Arc<dyn Nonce>,
}

impl Context {
    /// A context from explicit sources.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>, nonce: Arc<dyn Nonce>) -> Self {
        Self { clock, nonce }
    }

    /// The real clock and the OS random source.
    #[must_use]
    pub fn system() -> Self {
        Self::new(Arc::new(SystemClock), Arc::new(OsNonce))
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The random source.
    #[must_use]
    pub fn nonce_source(&self) -> &Arc<dyn Nonce> {
        &self.nonce
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// A cheaper reading of the current time that may lag by a few milliseconds
    /// ([`Clock::now_coarse`]): for cache freshness checks only, never for signatures.
    #[must_use]
    pub fn now_coarse(&self) -> SystemTime {
        self.clock.now_coarse()
    }

    /// The current time in milliseconds since the Unix epoch.
    #[must_use]
    pub fn now_millis(&self) -> i64 {
        self.clock.now_millis()
    }

    /// A random alphanumeric string of `len` characters.
    ///
    /// # Errors
    /// [`Error::Config`] when the random source fails.
    pub fn nonce(&self, len: usize) -> Result<String, Error> {
        self.nonce
            .alphanumeric(len)
            .map_err(|e| Error::Config(format!("cannot draw a nonce: {e}")))
    }

    /// A context with the same random source and another clock (e.g. an [`OffsetClock`]).
    #[must_use]
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        Self::new(clock, Arc::clone(&self.nonce))
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::system()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_roundtrip_including_negative() {
        for ms in [0, 1, -1, 1_700_000_000_123, -86_400_000] {
            assert_eq!(to_unix_millis(from_unix_millis(ms)), ms);
        }
    }

    #[test]
    fn frozen_clock_set_and_advance() {
        let c = FrozenClock::from_unix_millis(1000);
        c.advance(Duration::from_millis(500));
        assert_eq!(c.now_millis(), 1500);
        c.set(UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(c.now_millis(), 10_000);
    }

    #[test]
    fn offset_clock_applies_and_learns_skew() {
        let base = Arc::new(FrozenClock::from_unix_millis(784_111_717_000));
        let off = OffsetClock::new(base.clone(), 0);
        let date = HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            off.learn_from_date(base.now(), &date, Duration::from_secs(2)),
            Some(60_000)
        );
        assert_eq!(off.now_millis(), 784_111_777_000);
        // A second measurement within the threshold does not move the offset.
        assert_eq!(
            off.learn_from_date(base.now(), &date, Duration::from_secs(2)),
            None
        );
        off.set_offset_ms(-5);
        assert_eq!(off.now_millis(), 784_111_716_995);
        let junk = HeaderValue::from_static("yesterday");
        assert_eq!(skew_from_date_header(base.now(), &junk), None);
    }

    #[test]
    fn coarse_clocks() {
        // FrozenClock keeps the exact default; OffsetClock forwards to its inner clock.
        let base = Arc::new(FrozenClock::from_unix_millis(1_000_000));
        assert_eq!(base.now_coarse(), base.now());
        let off = OffsetClock::new(base.clone(), 250);
        assert_eq!(to_unix_millis(off.now_coarse()), 1_000_250);
        off.set_offset_ms(-1_000);
        assert_eq!(to_unix_millis(off.now_coarse()), 999_000);
        let ctx = Context::new(Arc::new(off), Arc::new(SeqNonce::new(1)));
        assert_eq!(ctx.now_coarse(), ctx.now());

        // SystemClock: the coarse reading is close to the exact one (the time of the last tick).
        let coarse = SystemClock.now_coarse();
        let exact = SystemClock.now();
        let gap = exact
            .duration_since(coarse)
            .unwrap_or_else(|e| e.duration());
        assert!(
            gap < Duration::from_millis(100),
            "coarse clock off by {gap:?}"
        );
        // Through an OffsetClock over the system clock.
        let off = OffsetClock::new(Arc::new(SystemClock), 60_000);
        let skewed = off.now_coarse();
        let lag = (SystemClock.now() + Duration::from_secs(60))
            .duration_since(skewed)
            .unwrap_or(Duration::ZERO);
        assert!(
            lag < Duration::from_millis(100),
            "offset coarse clock lags {lag:?}"
        );
    }

    #[test]
    fn nonces() {
        let s = SeqNonce::new(1);
        let a = s.alphanumeric(40).unwrap();
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, s.alphanumeric(40).unwrap());
        assert_eq!(
            SeqNonce::new(9).alphanumeric(8).unwrap(),
            SeqNonce::new(9).alphanumeric(8).unwrap()
        );
        let u = s.unit_f64();
        assert!((0.0..1.0).contains(&u));
        let os = OsNonce.alphanumeric(200).unwrap();
        assert_eq!(os.len(), 200);
        assert!(os.bytes().all(|b| b.is_ascii_alphanumeric()));
        let f = FixedNonce::new("abc").with_unit(0.25);
        assert_eq!(f.alphanumeric(7).unwrap(), "abcabca");
        assert_eq!(f.unit_f64(), 0.25);
        assert_eq!(FixedNonce::new("").alphanumeric(2).unwrap(), "00");
    }
}
