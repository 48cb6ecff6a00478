#![cfg(unix)]
//! `scripts/test` on machines without `apt-get`: when the tools the tests need are missing, it
//! stops before building anything and names what to install (on macOS: `brew install redis node`,
//! and `openssl` and `postgresql` when they are missing too).

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// Where `name` is on this machine's `PATH`.
fn which(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").expect("a PATH");
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is on the PATH"))
}

/// Runs `scripts/test` with a `PATH` that holds only `dirname` and a `uname` answering `os`: no
/// redis-server, openssl, node, npm, initdb, apt-get or cargo.
fn run_scripts_test_on(os: &str) -> Output {
    let bin = std::env::temp_dir().join(format!(
        "actix-typed-session-scripts-{os}-{}",
        std::process::id()
    ));
    fs::create_dir_all(&bin).unwrap();
    let uname = bin.join("uname");
    fs::write(&uname, format!("#!/bin/sh\necho {os}\n")).unwrap();
    fs::set_permissions(&uname, fs::Permissions::from_mode(0o755)).unwrap();
    let dirname = bin.join("dirname");
    if !dirname.exists() {
        std::os::unix::fs::symlink(which("dirname"), &dirname).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test");
    let output = Command::new(which("bash"))
        .arg(script)
        .env_clear()
        .env("PATH", &bin)
        .output()
        .expect("run scripts/test");
    fs::remove_dir_all(&bin).unwrap();
    output
}

#[test]
fn on_macos_without_redis_and_node_it_stops_and_says_brew_install_redis_node() {
    let output = run_scripts_test_on("Darwin");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("redis-server redis-cli openssl node npm initdb not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Install them with: brew install redis node openssl postgresql"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing installed or run");
}

#[test]
fn elsewhere_without_apt_get_it_stops_and_names_the_tools() {
    let output = run_scripts_test_on("FreeBSD");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "Install Redis (redis-server, redis-cli), OpenSSL, Node.js (node, npm) and the \
             PostgreSQL server (initdb, postgres)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("brew"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing installed or run");
}
