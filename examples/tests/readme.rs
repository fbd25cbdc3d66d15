//! The root README's usage section shows the quickstart program: keep them the same.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[test]
fn readme_shows_the_quickstart_source() {
    let readme = include_str!("../../README.md");
    let source = include_str!("../src/bin/quickstart.rs");
    let start = source
        .find("use std::sync::Arc;")
        .expect("the quickstart's first `use`");
    let body = source[start..].trim_end();
    let block = format!("```rust\n{body}\n```");
    assert!(
        readme.contains(&block),
        "README.md's usage block differs from examples/src/bin/quickstart.rs (from its first \
         `use` to the end); copy the file's body into the README"
    );
}
