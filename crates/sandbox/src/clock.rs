//! The sandbox clock: system time, frozen, or offset, changed at run time by the controls.

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use kaifang_proto_core::context::{Clock, from_unix_millis, to_unix_millis};
use serde::{Deserialize, Serialize};

/// How the sandbox clock derives its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ClockMode {
    /// The operating system's clock.
    #[default]
    System,
    /// Stands still at `at_ms` (Unix milliseconds) until moved.
    Frozen {
        /// The frozen time, Unix milliseconds.
        at_ms: i64,
    },
    /// The system clock plus `offset_ms` (negative goes back in time).
    Offset {
        /// Milliseconds added to the system clock.
        offset_ms: i64,
    },
}

/// A snapshot of the clock, as `GET /__sandbox/clock` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    /// The sandbox's current time, Unix milliseconds.
    pub now_ms: i64,
    /// The mode and its parameter.
    #[serde(flatten)]
    pub mode: ClockMode,
}

/// The controllable clock every module reads (through
/// [`ModuleContext::clock`](crate::ModuleContext::clock)). It implements proto-core's [`Clock`],
/// so a module can hand it to the server halves of the proto crates.
#[derive(Debug, Default)]
pub struct SandboxClock {
    mode: RwLock<ClockMode>,
}

fn system_millis() -> i64 {
    to_unix_millis(SystemTime::now())
}

impl SandboxClock {
    /// A clock in the given mode.
    #[must_use]
    pub fn new(mode: ClockMode) -> Self {
        Self {
            mode: RwLock::new(mode),
        }
    }

    fn get(&self) -> ClockMode {
        *self
            .mode
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, mode: ClockMode) {
        *self
            .mode
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mode;
    }

    /// The current mode.
    #[must_use]
    pub fn mode(&self) -> ClockMode {
        self.get()
    }

    /// The current mode and time.
    #[must_use]
    pub fn state(&self) -> ClockState {
        ClockState {
            now_ms: self.now_millis(),
            mode: self.get(),
        }
    }

    /// Freezes the clock at `at_ms` (Unix milliseconds).
    pub fn freeze_at_millis(&self, at_ms: i64) {
        self.set(ClockMode::Frozen { at_ms });
    }

    /// Freezes the clock at its current time.
    pub fn freeze(&self) {
        let now = Clock::now_millis(self);
        self.freeze_at_millis(now);
    }

    /// Runs on the system clock shifted by `offset_ms` (replaces a freeze).
    pub fn set_offset_millis(&self, offset_ms: i64) {
        self.set(ClockMode::Offset { offset_ms });
    }

    /// Moves the clock forward by `d`: a frozen clock stays frozen at the later time; a running
    /// clock gains an offset.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let mut guard = self
            .mode
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = match *guard {
            ClockMode::System => ClockMode::Offset { offset_ms: ms },
            ClockMode::Frozen { at_ms } => ClockMode::Frozen {
                at_ms: at_ms.saturating_add(ms),
            },
            ClockMode::Offset { offset_ms } => ClockMode::Offset {
                offset_ms: offset_ms.saturating_add(ms),
            },
        };
    }

    /// Back to the system clock (no freeze, no offset).
    pub fn unfreeze(&self) {
        self.set(ClockMode::System);
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> SystemTime {
        from_unix_millis(self.now_millis())
    }

    fn now_millis(&self) -> i64 {
        match self.get() {
            ClockMode::System => system_millis(),
            ClockMode::Frozen { at_ms } => at_ms,
            ClockMode::Offset { offset_ms } => system_millis().saturating_add(offset_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let c = SandboxClock::default();
        c.freeze_at_millis(1_000);
        assert_eq!(c.now_millis(), 1_000);
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now_millis(), 3_000);
        c.set_offset_millis(-60_000);
        let diff = system_millis() - c.now_millis();
        assert!((59_000..=61_000).contains(&diff), "{diff}");
        c.advance(Duration::from_secs(60));
        assert!((system_millis() - c.now_millis()).abs() < 1_000);
        c.unfreeze();
        assert_eq!(c.mode(), ClockMode::System);
        c.advance(Duration::from_millis(5));
        assert_eq!(c.mode(), ClockMode::Offset { offset_ms: 5 });
    }
}
