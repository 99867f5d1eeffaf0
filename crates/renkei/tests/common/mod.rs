//! Helpers shared by the binary's integration tests: run the real `renkei` executable.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

pub fn renkei(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        .env_remove("RENKEI_CONFIG")
        .output()
        .expect("run renkei")
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("renkei-cli-{}", renkei_domain::ids::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Reads the server's standard output up to its ready line; returns every line read.
pub fn wait_ready(child: &mut Child) -> Vec<String> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "server exited before ready"
        );
        let ready = line.starts_with("renkei ready on");
        lines.push(line.trim_end().to_string());
        if ready {
            // Keep draining so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                    sink.clear();
                }
            });
            return lines;
        }
    }
}

/// Starts `renkei demo` on free ports with extra arguments; returns the child and the
/// lines printed up to the ready line.
pub fn start_demo(dir: &std::path::Path, extra: &[&str]) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args([
            "demo",
            "--data-dir",
            dir.to_str().unwrap(),
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_remove("RENKEI_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = wait_ready(&mut child);
    (child, lines)
}

/// A data directory holding the demo network (created by starting demo mode once).
pub fn demo_data_dir() -> PathBuf {
    let dir = temp_dir();
    let (mut child, _) = start_demo(&dir, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    dir
}
