//! The device module (in progress).
