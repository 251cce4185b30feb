//! Turns the result lines `bench/run.sh` collects (one `key=value` line per
//! server, scenario and round: the load generator's line plus `server`,
//! `round` and `server_hwm_kib`) into the Markdown table of the benchmark.
//!
//! ```sh
//! report target/bench/raw.txt > target/bench/results.md
//! ```
//!
//! Every number is the median over the rounds, column by column. "vs best
//! peer" divides by the best server that is neither lariat nor raw TCP:
//! throughput for scenarios a-e and g (higher is better), memory per idle
//! connection for scenario f (lower is better).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Display order of the servers.
const SERVERS: [&str; 6] = [
    "lariat",
    "sockudo",
    "tungstenite",
    "fastwebsockets",
    "node",
    "raw_tcp",
];

fn server_label(name: &str) -> &str {
    match name {
        "lariat" => "lariat",
        "sockudo" => "sockudo-ws",
        "tungstenite" => "tokio-tungstenite",
        "fastwebsockets" => "fastwebsockets",
        "node" => "Node ws",
        "raw_tcp" => "raw TCP echo",
        other => other,
    }
}

fn scenario_label(s: &str) -> &str {
    match s {
        "a" => "a: 64 conns × 16 in flight × 16 B text",
        "b" => "b: 256 conns × 1 in flight × 128 B binary",
        "c" => "c: 8 conns × 4 in flight × 64 KiB binary",
        "d" => "d: 2 conns × 1 in flight × 1 MiB binary",
        "e" => "e: handshakes (connect, upgrade, close), 16 loops",
        "f" => "f: 10,000 idle connections",
        "g" => "g: permessage-deflate, 64 conns × 4 in flight × 1 KiB JSON",
        other => other,
    }
}

type Line = BTreeMap<String, String>;

fn parse_line(line: &str) -> Line {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    v.get((v.len() - 1) / 2).copied()
}

/// The rounds of one server in one scenario.
struct Runs<'a> {
    ok: Vec<&'a Line>,
    failures: Vec<&'a Line>,
}

impl Runs<'_> {
    fn med(&self, key: &str) -> Option<f64> {
        median(
            self.ok
                .iter()
                .filter_map(|l| l.get(key)?.parse().ok())
                .collect(),
        )
    }
}

fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn latency(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn cpu(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0} µs")
    } else if us >= 10.0 {
        format!("{us:.1} µs")
    } else {
        format!("{us:.2} µs")
    }
}

/// The figure the scenario is ranked by, and whether higher is better.
fn key_of(scenario: &str) -> (&'static str, bool) {
    match scenario {
        "f" => ("rss_per_conn_bytes", false),
        "c" | "d" => ("bytes_per_s", true),
        _ => ("msg_per_s", true),
    }
}

fn row(scenario: &str, server: &str, runs: &Runs<'_>, best_peer: Option<f64>) -> String {
    let label = server_label(server);
    if !runs.failures.is_empty() && runs.ok.is_empty() {
        let why = runs
            .failures
            .first()
            .and_then(|l| l.get("reason"))
            .map(|r| r.replace('_', " "))
            .unwrap_or_default();
        return format!(
            "| {} | {label} | FAILED: {why} | | | | |",
            scenario_label(scenario)
        );
    }
    let throughput = match scenario {
        "c" | "d" => match (runs.med("bytes_per_s"), runs.med("msg_per_s")) {
            (Some(b), Some(m)) => {
                format!("{:.2} GiB/s ({} msg/s)", b / f64::from(1u32 << 30), rate(m))
            }
            _ => String::new(),
        },
        "e" => runs
            .med("msg_per_s")
            .map(|m| format!("{} handshakes/s", rate(m)))
            .unwrap_or_default(),
        "f" => runs
            .med("msg_per_s")
            .map(|m| format!("({} conns/s while opening)", rate(m)))
            .unwrap_or_default(),
        _ => runs
            .med("msg_per_s")
            .map(|m| format!("{} msg/s", rate(m)))
            .unwrap_or_default(),
    };
    let lat = match (runs.med("p50_us"), runs.med("p99_us")) {
        (Some(a), Some(b)) if scenario != "f" => format!("{} / {}", latency(a), latency(b)),
        _ => String::new(),
    };
    let cpu_col = runs
        .med("server_cpu_us_per_msg")
        .map(cpu)
        .unwrap_or_default();
    let mem = if scenario == "f" {
        runs.med("rss_per_conn_bytes")
            .map(|b| format!("{:.1} KiB/conn", b / 1024.0))
            .unwrap_or_default()
    } else {
        runs.med("server_hwm_kib")
            .map(|k| format!("{:.1} MiB peak", k / 1024.0))
            .unwrap_or_default()
    };
    let (key, _) = key_of(scenario);
    let ratio = match (runs.med(key), best_peer) {
        (Some(v), Some(best)) if best > 0.0 => format!("{:.2}×", v / best),
        _ => String::new(),
    };
    let note = if runs.failures.is_empty() {
        String::new()
    } else {
        format!(" ({} failed rounds)", runs.failures.len())
    };
    format!(
        "| {} | {label}{note} | {throughput} | {lat} | {cpu_col} | {mem} | {ratio} |",
        scenario_label(scenario)
    )
}

fn main() {
    let path = std::env::args().nth(1);
    let text = match &path {
        Some(p) => std::fs::read_to_string(p),
        None => std::io::read_to_string(std::io::stdin()),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "report: reading {}: {e}",
                path.as_deref().unwrap_or("stdin")
            );
            std::process::exit(1);
        }
    };
    let lines: Vec<Line> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(parse_line)
        .collect();

    let mut by: BTreeMap<(String, String), Runs<'_>> = BTreeMap::new();
    for l in &lines {
        let (Some(sc), Some(sv)) = (l.get("scenario"), l.get("server")) else {
            continue;
        };
        let runs = by.entry((sc.clone(), sv.clone())).or_insert(Runs {
            ok: Vec::new(),
            failures: Vec::new(),
        });
        if l.contains_key("failed") {
            runs.failures.push(l);
        } else {
            runs.ok.push(l);
        }
    }

    let mut out = String::new();
    out.push_str(
        "| scenario | server | throughput | p50 / p99 latency | server CPU per message | server memory | vs best peer |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    let mut scenarios: Vec<&String> = by.keys().map(|(s, _)| s).collect();
    scenarios.dedup();
    for scenario in scenarios {
        let (key, higher) = key_of(scenario);
        let best_peer = by
            .iter()
            .filter(|((s, sv), _)| s == scenario && sv != "lariat" && sv != "raw_tcp")
            .filter_map(|(_, runs)| runs.med(key))
            .reduce(|a, b| if (a > b) == higher { a } else { b });
        let mut names: Vec<&String> = by
            .keys()
            .filter(|(s, _)| s == scenario)
            .map(|(_, sv)| sv)
            .collect();
        names.sort_by_key(|n| SERVERS.iter().position(|s| s == n).unwrap_or(SERVERS.len()));
        for server in names {
            if let Some(runs) = by.get(&(scenario.clone(), server.clone())) {
                let _ = writeln!(out, "{}", row(scenario, server, runs, best_peer));
            }
        }
    }
    print!("{out}");
}
