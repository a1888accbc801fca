//! The tianyi module (in progress).
