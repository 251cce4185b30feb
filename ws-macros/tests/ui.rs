//! The macro's contract as trybuild cases: `pass/` compiles and runs,
//! `ui/` fails to compile with the error in its `.stderr` snapshot.
//!
//! Snapshots are blessed on the pinned toolchain with
//! `TRYBUILD=overwrite cargo test -p ws-macros --test ui`, and read like code.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/pass/*.rs");
    cases.compile_fail("tests/ui/*.rs");
}
