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

/// One HTTP request as a loopback OTLP collector saw it.
struct Received {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A loopback OTLP/HTTP collector: answers 200 to every request and hands each one to the test.
fn fake_collector() -> (u16, mpsc::Receiver<Received>) {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let (mut length, mut content_type) = (0, String::new());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            if tx
                .send(Received {
                    path,
                    content_type,
                    body,
                })
                .is_err()
            {
                break;
            }
        }
    });
    (port, rx)
}

/// Sends one request and returns the status line and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
    token: Option<&str>,
) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = json.unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

fn json_field(body: &str, field: &str) -> String {
    let marker = format!("\"{field}\":\"");
    body.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

#[cfg(unix)]
#[test]
fn traces_reach_the_otlp_collector_and_no_secret_reaches_the_logs() {
    const PASSWORD: &str = "swordfish-hunter2-password";
    const SECRET_KEY: &str = "a-very-secret-signing-key-0123456789-abcdef";
    const OPENAI_KEY: &str = "sk-do-not-log-this-key";
    let dir = tempfile::tempdir().unwrap();
    let (collector_port, received) = fake_collector();
    let mut child = switchboard(dir.path())
        .env("PORT", "0")
        .env("HTTP_WORKERS", "1")
        .env("RUST_LOG", "debug")
        .env("LOG_FORMAT", "json")
        .env("SECRET_KEY", SECRET_KEY)
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{collector_port}"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    for output in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines_tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(lines_tx);
    let mut log = Vec::new();
    let port = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server output");
        let port = line
            .split("listening on http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse::<u16>().ok());
        log.push(line);
        if let Some(port) = port {
            break port;
        }
    };

    let credentials = format!(r#"{{"email":"ops@example.com","password":"{PASSWORD}"}}"#);
    let (status, registered) = http(port, "POST", "/auth/register", Some(&credentials), None);
    assert!(status.contains("201"), "{status} {registered}");
    let (status, logged_in) = http(port, "POST", "/auth/login", Some(&credentials), None);
    assert!(status.contains("200"), "{status}");
    let access = json_field(&logged_in, "access_token");
    let refresh = json_field(&logged_in, "refresh_token");
    assert!(!access.is_empty() && !refresh.is_empty());
    let refresh_body = format!(r#"{{"refresh_token":"{refresh}"}}"#);
    let (status, _) = http(port, "POST", "/auth/refresh", Some(&refresh_body), None);
    assert!(status.contains("200"), "{status}");
    let (status, _) = http(port, "GET", "/users/me", None, Some(&access));
    assert!(
        status.contains("200"),
        "a rotation keeps the session's access tokens: {status}"
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    log.extend(lines_rx.iter());
    let log = log.join("\n");
    assert!(log.contains("http.request"), "spans are logged: {log}");
    for secret in [
        PASSWORD,
        SECRET_KEY,
        OPENAI_KEY,
        access.as_str(),
        refresh.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret reached the log: {secret}");
    }

    // Shutdown flushed the spans to the collector as OTLP protobuf.
    let exports: Vec<Received> = received.try_iter().collect();
    let traces: Vec<&Received> = exports.iter().filter(|r| r.path == "/v1/traces").collect();
    assert!(!traces.is_empty(), "no trace export reached the collector");
    assert!(
        traces
            .iter()
            .all(|r| r.content_type == "application/x-protobuf")
    );
    let bytes: Vec<u8> = traces.iter().flat_map(|r| r.body.clone()).collect();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"http.request"), "the request span was exported");
    assert!(contains(b"/auth/login"), "the route is a span field");
    assert!(contains(b"switchboard"), "the service is named");
}
