//! Compile-time behaviour of `#[derive(SessionData)]`: what it accepts, and the errors it reports
//! for each mistake (`tests/ui/fail/*.stderr`; regenerate with `TRYBUILD=overwrite`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
