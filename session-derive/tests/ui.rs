//! Compile-time behaviour of `#[derive(SessionData)]`: what it accepts (`tests/ui/pass`), and the
//! errors it reports for each mistake (`tests/ui/fail/*.stderr`; regenerate with
//! `TRYBUILD=overwrite`).
//!
//! The accepted cases are modules of this test, so they compile with the rest of the workspace's
//! tests: a case that stops compiling fails the build of this test. Passed to trybuild, they made it
//! build (not only check) every dependency of the main crate a second time in its own target
//! directory.

// Each case is written as a program of its own: its `main`, the fields only the derive reads and
// the `pub` items of its modules are unused here.
#[allow(dead_code, unreachable_pub)]
#[path = "ui/pass/attributes.rs"]
mod pass_attributes;
#[allow(dead_code, unreachable_pub)]
#[path = "ui/pass/generics.rs"]
mod pass_generics;
#[allow(dead_code, unreachable_pub)]
#[path = "ui/pass/hygiene.rs"]
mod pass_hygiene;

/// The flags trybuild passes to rustc for the cases (trybuild's `rustflags.rs`): its own, then
/// `--diagnostic-width=140`, which it adds only when it checks the cases.
const TRYBUILD_RUSTFLAGS: [&str; 6] = [
    "--cfg",
    "trybuild",
    "--verbose",
    "-A",
    "dead_code",
    "--diagnostic-width=140",
];

#[test]
fn ui() {
    // trybuild checks the dependencies first, then the cases with one more flag; cargo checks
    // every dependency again when the flags change. Cargo takes CARGO_ENCODED_RUSTFLAGS over the
    // flags that trybuild passes with `--config`, so both steps run with the cases' flags and the
    // dependencies are checked once. A RUSTFLAGS of the caller's (coverage) is left to trybuild.
    if std::env::var_os("RUSTFLAGS").is_none()
        && std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_none()
    {
        std::env::set_var("CARGO_ENCODED_RUSTFLAGS", TRYBUILD_RUSTFLAGS.join("\x1f"));
    }
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
