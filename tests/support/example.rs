//! The examples' binaries, for tests that check an example's contract from outside.

use std::{path::PathBuf, process::Command};

/// Builds example `name` with every feature and the `test` profile, as `cargo test
/// --all-features` builds the examples (then this only finds it up to date; `cargo build` with the
/// `dev` profile would build the proc macros, and everything that uses them, a second time), and
/// answers its path.
pub(crate) fn build(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = dir.join("examples").join(name);
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--profile", "test", "--example", name])
        .arg("--all-features")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // What `cargo test` sets for this test could make build scripts run again.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        if (var.starts_with("CARGO_") && var != "CARGO_HOME" && var != "CARGO_TARGET_DIR")
            || var == "OUT_DIR"
        {
            build.env_remove(var.as_ref());
        }
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "building the {name} example failed");
    assert!(binary.is_file(), "no {}", binary.display());
    binary
}
