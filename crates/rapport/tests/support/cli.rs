//! Running the `rapport` binary from a test: `rapport --data-dir DIR ARGS…`, raw or as JSON that must succeed.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `rapport --data-dir data_dir args…` and returns its output, whatever its exit status.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

/// Runs it, requires success, and parses standard output as JSON.
pub fn ok_json(data_dir: &Path, args: &[&str]) -> Value {
    let output = run(data_dir, args);
    assert!(output.status.success(), "rapport {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}
