//! kaifang's project automation (`cargo xtask <command>`).
fn main() {}
