//! The `rust-version` that Cargo.toml declares is true of the locked dependency graph: no
//! dependency of the library (any feature, build dependencies included) declares a newer one.
//!
//! Older toolchains cannot be installed on every machine that runs the tests, so the claim is
//! checked against what the locked dependencies declare (`cargo metadata --locked`).

use std::{
    collections::{BTreeSet, HashMap},
    process::Command,
};

use serde_json::Value;

/// `1.89` or `1.88.0` as comparable numbers.
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[test]
fn the_declared_rust_version_is_at_least_every_locked_dependencys() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--all-features",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let packages: HashMap<&str, &Value> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = packages
        .values()
        .find(|p| p["name"] == env!("CARGO_PKG_NAME"))
        .expect("the library's package");
    let declared = root["rust_version"]
        .as_str()
        .expect("Cargo.toml declares a rust-version");
    assert_eq!(declared, env!("CARGO_PKG_RUST_VERSION"));

    // Everything the library needs to build: normal and build dependencies, transitively.
    let mut seen = BTreeSet::new();
    let mut stack = vec![root["id"].as_str().unwrap()];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let needed = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if needed {
                stack.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    assert!(seen.len() > 50, "the walk found the dependency graph");
    let newer: Vec<String> = seen
        .iter()
        .filter_map(|id| {
            let package = packages[id];
            let wanted = package["rust_version"].as_str()?;
            (version(wanted) > version(declared)).then(|| {
                format!(
                    "{} {} needs Rust {wanted}",
                    package["name"].as_str().unwrap(),
                    package["version"].as_str().unwrap()
                )
            })
        })
        .collect();
    assert!(
        newer.is_empty(),
        "Cargo.toml declares rust-version {declared}, but locked dependencies need more:\n{}",
        newer.join("\n")
    );
}
