#![cfg(unix)]
//! `scripts/test` on machines without `apt-get`: when the tools the tests need are missing, it
//! stops before building anything and names what to install (on macOS: `brew install redis node`,
//! and `openssl` and `postgresql` when they are missing too). `scripts/valkey` and
//! `scripts/redis8`: which Valkey and Redis servers they take, and what they say where they cannot
//! get one.

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

/// A script that prints the path of a server program of a least version (`scripts/valkey`,
/// `scripts/redis8`): what it is called, the variable it takes a program from, what the program
/// prints on `--version`, and the directory variable it unpacks into.
struct ServerScript {
    script: &'static str,
    variable: &'static str,
    version_line: fn(&str) -> String,
    dir_variable: &'static str,
}

const VALKEY: ServerScript = ServerScript {
    script: "valkey",
    variable: "VALKEY_SERVER",
    version_line: |version| format!("Valkey server v={version} sha=00000000:0 malloc=jemalloc"),
    dir_variable: "VALKEY_DIR",
};

const REDIS8: ServerScript = ServerScript {
    script: "redis8",
    variable: "REDIS8_SERVER",
    version_line: |version| format!("Redis server v={version} sha=00000000:0 malloc=jemalloc"),
    dir_variable: "REDIS8_DIR",
};

/// Runs `scripts/<script>` with a `PATH` that holds only the few programs its version check uses,
/// a `uname` answering `os`, and, in the script's variable, a program that prints `version` as
/// the server's `--version` does.
fn run_server_script(which_script: &ServerScript, os: &str, version: &str) -> (Output, PathBuf) {
    let bin = std::env::temp_dir().join(format!(
        "actix-typed-session-{}-{os}-{version}-{}",
        which_script.script,
        std::process::id()
    ));
    fs::create_dir_all(&bin).unwrap();
    let write_program = |name: &str, text: String| {
        let path = bin.join(name);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    write_program("uname", format!("#!/bin/sh\necho {os}\n"));
    let server = write_program(
        "fake-server",
        format!(
            "#!/bin/sh\necho '{}'\n",
            (which_script.version_line)(version)
        ),
    );
    for program in ["bash", "dirname", "sed"] {
        let link = bin.join(program);
        if !link.exists() {
            std::os::unix::fs::symlink(which(program), &link).unwrap();
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(which_script.script);
    let output = Command::new(which("bash"))
        .arg(script)
        .env_clear()
        .env("PATH", &bin)
        .env(which_script.variable, &server)
        // Not the repository's target directory, which may hold a server from an earlier run.
        .env(which_script.dir_variable, bin.join("unpacked"))
        .output()
        .expect("run the script");
    fs::remove_dir_all(&bin).unwrap();
    (output, server)
}

/// The script prints each of `versions`' programs that it is given.
fn takes(script: &ServerScript, versions: &[&str]) {
    for version in versions {
        let (output, server) = run_server_script(script, "Darwin", version);
        assert!(
            output.status.success(),
            "{version}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim_end(),
            server.to_str().unwrap(),
            "{version}"
        );
    }
}

/// The script refuses each of `versions`' programs and, on a machine where it cannot unpack
/// Debian's packages, says `what` (a message) and how to install one (`brew`).
fn refuses(script: &ServerScript, versions: &[&str], what: &str, brew: &str) {
    for version in versions {
        let (output, _) = run_server_script(script, "Darwin", version);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{version}: {stderr}");
        assert!(output.stdout.is_empty(), "{version}: no server printed");
        assert!(
            stderr.contains(what) && stderr.contains(brew),
            "{version}: {stderr}"
        );
    }
}

#[test]
fn scripts_valkey_prints_a_valkey_server_of_8_1_or_later_that_it_is_given() {
    takes(&VALKEY, &["8.1.0", "8.1.1", "9.0.0", "10.0.2"]);
}

#[test]
fn scripts_valkey_refuses_a_valkey_server_older_than_8_1_and_says_what_to_install() {
    refuses(
        &VALKEY,
        &["8.0.1", "7.2.4"],
        "no valkey-server 8.1 or later found",
        "brew install valkey",
    );
}

#[test]
fn scripts_redis8_prints_a_redis_server_of_8_4_or_later_that_it_is_given() {
    takes(&REDIS8, &["8.4.0", "8.6.3", "9.0.0", "10.0.2"]);
}

#[test]
fn scripts_redis8_refuses_a_redis_server_older_than_8_4_and_says_what_to_install() {
    refuses(
        &REDIS8,
        &["8.2.1", "8.0.6", "7.0.15"],
        "no redis-server 8.4 or later found",
        "brew install redis",
    );
}
