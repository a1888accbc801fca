//! The zhiyun module (in progress).
