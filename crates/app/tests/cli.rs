//! The `switchboard` binary as an operator meets it: settings errors, `migrate`, `--help`, and a
//! graceful stop on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn switchboard(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    // A clean environment: only what each test sets, so a developer's .env or shell cannot leak in.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "compact")
        .current_dir(data_dir);
    command
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("PORT", "eighty"),
        ("OPENAI_BASE_URL", "nowhere"),
        ("RUST_LOG", "chatty"),
        ("SWITCHBOARD_ENV", "staging"),
    ] {
        let output = switchboard(dir.path()).env(name, value).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].starts_with(&format!("configuration error: {name}: ")),
            "{stderr}"
        );
    }
}

#[test]
fn production_refuses_to_start_without_a_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = switchboard(dir.path())
        .env("SWITCHBOARD_ENV", "production")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("SECRET_KEY: required when SWITCHBOARD_ENV=production"),
        "{stderr}"
    );
    assert!(!dir.path().join("secret.key").exists());
}

#[test]
fn migrate_creates_and_migrates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for _ in 0..2 {
        let output = switchboard(dir.path())
            .env("DATA_DIR", &data)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(data.join("switchboard.db").exists());
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let output = switchboard(dir.path()).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("serve") && help.contains("migrate"), "{help}");
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[cfg(unix)]
#[test]
fn serve_announces_its_url_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = switchboard(dir.path())
        .env("PORT", "0")
        .env("HTTP_WORKERS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut port = None;
    let mut providers = 0;
    while port.is_none() || providers < 8 {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server output");
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            port = rest
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok());
        }
        if line.contains("provider ") {
            providers += 1;
        }
    }
    let port = port.unwrap();
    assert!(http_get(port, "/health").starts_with("HTTP/1.1 200"));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("stopped")
        .unwrap();
    assert!(status.success(), "{status}");
    // The reader ends at end of output, which the exit has closed.
    let stopped = lines_rx
        .iter()
        .any(|line| line.contains("Switchboard stopped"));
    assert!(stopped, "no stop message");
}
