//! Runnable examples for kaifang live in `examples/examples/`; run one with
//! `cargo run -p kaifang-examples --example <name>`.
