//! The test harness keeps its own promise: a test that could not reach its peer is named,
//! with what to install, after the binary's `test result:` line, where a person reading the
//! end of `cargo test` sees it (libtest hides a passing test's own output).

mod support;

/// Skips as a test with a missing peer does, but only when the outer test asks it to.
#[test]
fn a_test_whose_peer_is_missing() {
    if std::env::var_os("ROUNDS_HARNESS_SELF_TEST").is_none() {
        return;
    }
    let Some(_) = support::peer(&["/nonexistent/peer-of-the-harness-test"], "no-such-package") else { return };
    unreachable!("the peer cannot exist");
}

#[test]
fn skipped_tests_are_listed_after_the_result_line() {
    // This very test binary, running only the test above, as cargo would.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_test_whose_peer_is_missing", "--test-threads", "1"])
        .env("ROUNDS_HARNESS_SELF_TEST", "1")
        .env_remove("ROUNDS_REQUIRE_PEERS")
        .output()
        .unwrap();
    assert!(output.status.success(), "a skipped test passes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
    let listed = stderr.split("NOT TESTED:").nth(1).unwrap_or_else(|| panic!("no NOT TESTED list:\n{stderr}"));
    assert!(listed.contains("1 test(s) of harness"), "{listed}");
    assert!(
        listed.contains("a_test_whose_peer_is_missing: needs /nonexistent/peer-of-the-harness-test (apt-get install -y no-such-package)"),
        "{listed}"
    );

    // Under ROUNDS_REQUIRE_PEERS=1 (as .ci/run sets) the same test fails instead.
    let required = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_test_whose_peer_is_missing"])
        .env("ROUNDS_HARNESS_SELF_TEST", "1")
        .env("ROUNDS_REQUIRE_PEERS", "1")
        .output()
        .unwrap();
    assert!(!required.status.success(), "a missing peer fails under ROUNDS_REQUIRE_PEERS=1");
}
