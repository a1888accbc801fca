//! Criterion benchmarks for kaifang live in `benches/benches/`; run them with `cargo bench -p
//! kaifang-benches` or, with the side-by-side comparisons, `cargo xtask bench`.
