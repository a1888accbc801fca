//! The ilab module (in progress).
