//! A quick pass of the benchmark harness: the lariat and raw TCP echo
//! servers run as child processes on 127.0.0.1:0, and the load generator
//! runs a fraction of a second of scenarios a, e, f (20 connections) and g
//! against them. Only correctness is asserted (every echo verified, a
//! nonzero count), never a rate or a latency.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// An echo server child, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts `bin` on an ephemeral port and reads the address it prints.
    fn start(bin: &str) -> Server {
        let mut child = Command::new(bin)
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the server's address");
        let addr = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .to_owned();
        Server { child, addr }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the load generator to completion; returns its result line as a map.
fn loadgen(server: &Server, args: &[&str]) -> HashMap<String, String> {
    let pid = server.pid();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "--addr",
            &server.addr,
            "--server-pid",
            &pid,
            "--warmup",
            "0",
        ])
        .args(args)
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "loadgen {args:?} failed ({}):\n{stderr}",
        out.status
    );
    let line = stdout.lines().last().unwrap_or_default();
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn count(result: &HashMap<String, String>, key: &str) -> u64 {
    result
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {result:?}"))
        .parse()
        .unwrap()
}

#[test]
fn echo_pipelined_text() {
    let server = Server::start(env!("CARGO_BIN_EXE_server_lariat"));
    let r = loadgen(
        &server,
        &[
            "--scenario",
            "a",
            "--conns",
            "4",
            "--inflight",
            "4",
            "--secs",
            "0.3",
        ],
    );
    assert!(count(&r, "messages") > 0, "{r:?}");
    assert_eq!(count(&r, "bytes"), 16 * count(&r, "messages"));
    assert!(r.contains_key("server_cpu_us_per_msg"), "{r:?}");
}

#[test]
fn echo_large_binary() {
    let server = Server::start(env!("CARGO_BIN_EXE_server_lariat"));
    let r = loadgen(
        &server,
        &[
            "--scenario",
            "d",
            "--conns",
            "1",
            "--size",
            "300000",
            "--secs",
            "0.3",
        ],
    );
    assert!(count(&r, "messages") > 0, "{r:?}");
}

#[test]
fn handshakes() {
    let server = Server::start(env!("CARGO_BIN_EXE_server_lariat"));
    let r = loadgen(
        &server,
        &["--scenario", "e", "--concurrency", "2", "--secs", "0.3"],
    );
    assert!(count(&r, "messages") > 0, "{r:?}");
}

#[test]
fn deflate_echo_is_compressed_and_verified() {
    let server = Server::start(env!("CARGO_BIN_EXE_server_lariat"));
    let r = loadgen(
        &server,
        &[
            "--scenario",
            "g",
            "--conns",
            "2",
            "--inflight",
            "2",
            "--secs",
            "0.3",
        ],
    );
    let messages = count(&r, "messages");
    assert!(messages > 0, "{r:?}");
    assert_eq!(count(&r, "compressed_replies"), messages, "{r:?}");
}

#[test]
fn idle_connections_report_memory() {
    let server = Server::start(env!("CARGO_BIN_EXE_server_lariat"));
    let r = loadgen(
        &server,
        &["--scenario", "f", "--conns", "20", "--settle", "0"],
    );
    assert_eq!(count(&r, "messages"), 20, "{r:?}");
    assert!(r.contains_key("rss_per_conn_bytes"), "{r:?}");
}

#[test]
fn raw_tcp_echo() {
    let server = Server::start(env!("CARGO_BIN_EXE_server_raw_tcp"));
    let r = loadgen(
        &server,
        &[
            "--scenario",
            "b",
            "--raw-tcp",
            "--conns",
            "3",
            "--secs",
            "0.3",
        ],
    );
    assert!(count(&r, "messages") > 0, "{r:?}");
}

#[test]
fn a_wrong_echo_fails_loudly() {
    // The raw TCP server sends the upgrade request back: not a 101.
    let server = Server::start(env!("CARGO_BIN_EXE_server_raw_tcp"));
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--scenario", "a", "--addr", &server.addr, "--conns", "1"])
        .args(["--warmup", "0", "--secs", "0.3"])
        .output()
        .expect("run loadgen");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAILED"), "{stderr}");
}

#[test]
fn report_makes_a_table() {
    let dir = std::env::temp_dir().join(format!("lariat-bench-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("raw.txt");
    std::fs::write(
        &raw,
        "server=lariat round=1 scenario=a messages=10 msg_per_s=200 p50_us=5 p99_us=9 server_cpu_us_per_msg=0.5 server_hwm_kib=2048\n\
         server=sockudo round=1 scenario=a messages=10 msg_per_s=100 p50_us=6 p99_us=9 server_cpu_us_per_msg=0.7 server_hwm_kib=4096\n\
         server=tungstenite round=1 scenario=a failed=1 reason=the_server_closed\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_report"))
        .arg(&raw)
        .output()
        .expect("run report");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| lariat | 200 msg/s | 5 µs / 9 µs | 0.50 µs | 2.0 MiB peak | 2.00× |"),
        "{table}"
    );
    assert!(table.contains("FAILED: the server closed"), "{table}");
}
