//! `tunscope live` on a real interface: the loopback of a network namespace each test
//! creates, with traffic the test makes itself inside it (127.0.0.1 only, bounded in count
//! and time): a NAT tunnel (server, client, visitors) in front of an HTTP service, plus
//! plain HTTP requests. The live report must find what was made, and re-analysing the
//! `-w` file offline must give the same report (but for `capture.live` and
//! `capture.files`, which say where the packets came from).
//!
//! Needs root (CI runs as root), `ip` (iproute2), `python3` and `setpriv`: without them
//! these tests fail with the reason, they never skip. Namespaces and child processes are
//! removed by guards, also when an assertion fails.

use crate::util::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The traffic generator (Python, standard library only). Arguments: visitors, direct
/// requests, seconds to spread the direct requests over.
const GEN: &str = r#""""Traffic for the live-capture tests, run inside a private network namespace (127.0.0.1
only): a local HTTP service, a NAT tunnel server and client speaking the tunnel protocol
(shared/specs/tunnel-control.md) with VISITORS visitors served through it, and DIRECT plain
HTTP requests to the service. Prints what it made as one JSON line."""
import json, socket, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VISITORS, DIRECT = int(sys.argv[1]), int(sys.argv[2])
# Seconds over which the direct requests are spread (0: back to back).
SPREAD = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
socket.setdefaulttimeout(10)
H = "127.0.0.1"
CTRL, TUN, EXPOSED, SVC = 18007, 18008, 16000, 18080
UID = 7

def frame(mid, data=b""):
    return struct.pack(">II", len(data), mid) + data

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def read_frame(s):
    n, mid = struct.unpack(">II", recv_exact(s, 8))
    return mid, recv_exact(s, n)

def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def relay(a, b):
    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join(10)
    a.close()
    b.close()

class Svc(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("hello " + self.path + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((H, port))
    s.listen(16)
    s.settimeout(10)
    return s

svc = ThreadingHTTPServer((H, SVC), Svc)
threading.Thread(target=svc.serve_forever, daemon=True).start()
ctrl_l, tun_l, exp_l = listener(CTRL), listener(TUN), listener(EXPOSED)

# Server side of the control connection.
def server():
    c, _ = ctrl_l.accept()
    mid, _ = read_frame(c)
    assert mid == 60001
    c.sendall(frame(10001))
    c.sendall(frame(20002, struct.pack(">qi", UID, EXPOSED)))
    for _ in range(VISITORS):
        v, _ = exp_l.accept()
        c.sendall(frame(20001, b"new connection"))
        t, _ = tun_l.accept()
        mid, info = read_frame(t)
        assert mid == 20002 and struct.unpack(">qi", info) == (UID, EXPOSED)
        threading.Thread(target=relay, args=(v, t), daemon=True).start()
        c.sendall(frame(20003, b"ping"))
    try:
        c.recv(1)  # until the client closes
    except OSError:
        pass
    c.close()

def client():
    c = socket.create_connection((H, CTRL))
    name, pw = b"livetest", b"secret-pass"
    c.sendall(frame(60001, struct.pack(">i", len(name)) + name + struct.pack(">i", len(pw)) + pw + struct.pack(">q", int(time.time()) + 3600)))
    assert read_frame(c)[0] == 10001
    mid, info = read_frame(c)
    assert mid == 20002
    served = 0
    relays = []
    while served < VISITORS:
        mid, _ = read_frame(c)
        if mid != 20001:
            continue
        t = socket.create_connection((H, TUN))
        t.sendall(frame(20002, struct.pack(">qi", UID, EXPOSED)))
        local = socket.create_connection((H, SVC))
        th = threading.Thread(target=relay, args=(t, local), daemon=True)
        th.start()
        relays.append(th)
        served += 1
    for th in relays:
        th.join(10)
    c.close()

st = threading.Thread(target=server, daemon=True); st.start()
ct = threading.Thread(target=client, daemon=True); ct.start()
time.sleep(0.2)

def get(port, path):
    s = socket.create_connection((H, port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: live.test\r\nConnection: close\r\n\r\n".encode())
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    assert b" 200 " in data, data

for i in range(VISITORS):
    get(EXPOSED, f"/visitor/{i}")
for i in range(DIRECT):
    get(SVC, f"/direct/{i}")
    if SPREAD:
        time.sleep(SPREAD / DIRECT)
ct.join(10); st.join(10)
svc.shutdown()
print(json.dumps({"visitors": VISITORS, "direct": DIRECT, "exposed_port": EXPOSED, "control_port": CTRL}))
"#;

const EXPOSED_PORT: u64 = 16000;
const CONTROL_PORT: u64 = 18007;
const TUNNEL_PORT: u64 = 18008;
const SERVICE_PORT: u64 = 18080;

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    assert_eq!(
        uid, "0",
        "the live-capture tests create a network namespace and capture on it: they need root \
         (CI runs as root); run them with sudo"
    );
}

/// A private network namespace with its loopback up (MTU 1500 as in the lab), deleted on
/// drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        require_root();
        let name = format!("tslive{}{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let ns = Netns(name);
        ns.ip(&["netns", "add", &ns.0]);
        ns.ip(&[
            "netns", "exec", &ns.0, "ip", "link", "set", "lo", "mtu", "1500", "up",
        ]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running `ip` (iproute2 must be installed): {e}"));
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A command run inside the namespace.
    fn exec(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A child process killed on drop (`ip netns exec` execs the program: the pid is its own).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Guard {
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {}", self.0.id());
    }

    /// Waits for the exit at most `limit`; the guard kills it past that.
    fn wait(&mut self, limit: Duration) -> i32 {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < until, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn tunscope_bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("tunscope")
}

/// A running `tunscope live`: stdout and stderr are read by threads as they come (a
/// full pipe must never stall it); stderr lines also go to a channel.
struct Live {
    guard: Guard,
    stderr: mpsc::Receiver<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

/// `tunscope live` inside `ns`.
fn start_live(ns: &Netns, args: &[&str]) -> Live {
    let mut child = ns
        .exec(&tunscope_bin())
        .arg("live")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tunscope live");
    let stderr = child.stderr.take().expect("stderr");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // The receiver may be gone; keep draining.
            let _ = tx.send(line);
        }
    });
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    Live {
        guard: Guard(child),
        stderr: rx,
        stdout: Some(out),
    }
}

impl Live {
    /// Waits for the exit (at most `limit`); returns the exit code, stdout, all stderr.
    fn finish(&mut self, limit: Duration, seen: &mut Vec<String>) -> (i32, String) {
        let code = self.guard.wait(limit);
        let out = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
        (code, out)
    }
}

/// Waits (at most `limit`) for a stderr line containing `needle`; returns the lines read.
fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, limit: Duration, seen: &mut Vec<String>) {
    let until = Instant::now() + limit;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!(
        "no stderr line with {needle:?} within {limit:?}; stderr so far:\n{}",
        seen.join("\n")
    );
}

/// Runs the generator inside `ns` (at most 30 s) and returns what it says it made.
fn generate(ns: &Netns, visitors: u32, direct: u32, spread_s: f64) -> Guard {
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0, "python3", "-c", GEN])
        .args([
            visitors.to_string(),
            direct.to_string(),
            spread_s.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 must be installed: {e}"));
    Guard(child)
}

fn finish_generator(mut traffic: Guard) -> Value {
    let code = traffic.wait(Duration::from_secs(30));
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut s) = traffic.0.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = traffic.0.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    assert_eq!(code, 0, "traffic generator failed: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("generator output {out:?}: {e}"))
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("live stdout is not JSON ({e}): {out}"))
}

/// The report without what says where the packets came from.
fn comparable(mut doc: Value) -> Value {
    if let Some(c) = doc["capture"].as_object_mut() {
        c.remove("live");
        c.remove("files");
    }
    doc
}

/// Offline analysis of the `-w` file gives the live report, exactly.
fn assert_offline_agrees(live: &Value, pcap: &Path) {
    let run = run_analyze([pcap.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(
        run.code, 0,
        "offline analysis of the -w file: {}",
        run.stderr
    );
    let offline = run.json();
    assert_eq!(offline["capture"]["complete"], true);
    assert_eq!(offline["capture"]["files"][0]["error"], Value::Null);
    let (a, b) = (comparable(live.clone()), comparable(offline));
    if a != b {
        let obj = a.as_object().expect("object");
        let differing: Vec<&String> = obj
            .keys()
            .filter(|k| a[k.as_str()] != b[k.as_str()])
            .collect();
        panic!(
            "live and offline reports differ in {differing:?}\nlive: {}\noffline: {}",
            serde_json::to_string(&a["capture"]).unwrap_or_default(),
            serde_json::to_string(&b["capture"]).unwrap_or_default()
        );
    }
}

fn server_port(c: &Value) -> u64 {
    c["server"]
        .as_str()
        .and_then(|s| s.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

#[test]
fn live_finds_the_tunnel_and_connections_it_saw_and_offline_agrees() {
    let ns = Netns::new("a");
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("live.pcap");
    let pcap_s = pcap.to_str().expect("utf-8 path");
    let mut live = start_live(
        &ns,
        &[
            "-i",
            "lo",
            "-w",
            pcap_s,
            "--format",
            "json",
            "--interval",
            "0.5",
            "-B",
            "16384",
            "--duration",
            "40",
            "tcp",
        ],
    );
    let mut stderr = Vec::new();
    wait_for(
        &live.stderr,
        "capturing on lo",
        Duration::from_secs(10),
        &mut stderr,
    );

    let (visitors, direct) = (3, 4);
    let made = finish_generator(generate(&ns, visitors, direct, 0.0));
    assert_eq!(made["exposed_port"], EXPOSED_PORT);
    // The rolling summary shows the tunnel session while the capture runs.
    wait_for(
        &live.stderr,
        "ports exposed 16000",
        Duration::from_secs(10),
        &mut stderr,
    );
    wait_for(
        &live.stderr,
        "drops       kernel 0, interface 0",
        Duration::from_secs(10),
        &mut stderr,
    );
    live.guard.signal("TERM");
    let (code, out) = live.finish(Duration::from_secs(20), &mut stderr);
    let doc = json_of(&out);
    assert_eq!(code, 0, "stderr:\n{}", stderr.join("\n"));

    let info = &doc["capture"]["live"];
    assert_eq!(info["interface"], "lo");
    assert_eq!(info["stopped_by"], "sigterm");
    assert_eq!(info["dropped_kernel"], 0, "{info}");
    assert_eq!(info["dropped_interface"], 0, "{info}");
    assert_eq!(info["analysed"], doc["capture"]["packets"]);
    assert_eq!(doc["capture"]["complete"], true);

    // Connections: 1 control, per visitor: the visitor's, the tunnel's, the client's to
    // its local service; and the direct requests.
    let conns = doc["connections"].as_array().expect("connections");
    let to = |port: u64| conns.iter().filter(|c| server_port(c) == port).count();
    assert_eq!(to(CONTROL_PORT), 1, "control connections");
    assert_eq!(to(EXPOSED_PORT), visitors as usize, "visitor connections");
    assert_eq!(to(TUNNEL_PORT), visitors as usize, "tunnel connections");
    assert_eq!(
        to(SERVICE_PORT),
        (visitors + direct) as usize,
        "service connections"
    );
    assert_eq!(conns.len(), 1 + 3 * visitors as usize + direct as usize);
    for c in conns {
        let app = c["app"].as_str().unwrap_or("");
        let want = if server_port(c) == CONTROL_PORT {
            "tunnel-control"
        } else {
            "http"
        };
        assert_eq!(app, want, "{c}");
        assert!(c["tcp"]["handshake"]["syn_ts"].is_number(), "{c}");
    }

    // The tunnel session, with every visitor served through a tunnel connection.
    let sessions = doc["tunnel"]["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{}", doc["tunnel"]);
    let s = &sessions[0];
    assert_eq!(s["auth"], "ok");
    assert_eq!(s["port"], EXPOSED_PORT);
    assert_eq!(s["password_present"], true);
    let served = s["visitors"].as_array().expect("visitors");
    assert_eq!(served.len(), visitors as usize, "{s}");
    for v in served {
        assert!(
            v["tunnel"].is_string(),
            "visitor not paired with a tunnel: {v}"
        );
        assert_eq!(v["app"], "http", "{v}");
    }
    // HTTP: each visitor's request (seen on the visitor's and on the tunnel's connection)
    // and the direct ones, on the service connections too.
    let paths: Vec<String> = doc["http"]
        .as_array()
        .expect("http")
        .iter()
        .flat_map(|h| h["transactions"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["target"].as_str().map(String::from))
        .collect();
    for i in 0..visitors {
        assert!(
            paths.iter().any(|p| p == &format!("/visitor/{i}")),
            "{paths:?}"
        );
    }
    for i in 0..direct {
        assert!(
            paths.iter().any(|p| p == &format!("/direct/{i}")),
            "{paths:?}"
        );
    }

    assert_offline_agrees(&doc, &pcap);
}

#[test]
fn sigint_mid_capture_prints_the_full_report_and_a_complete_w_file() {
    let ns = Netns::new("b");
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("cut.pcap");
    let pcap_s = pcap.to_str().expect("utf-8 path");
    let mut live = start_live(
        &ns,
        &[
            "-i",
            "lo",
            "-w",
            pcap_s,
            "--format",
            "json",
            "-B",
            "16384",
            "--duration",
            "40",
        ],
    );
    let mut stderr = Vec::new();
    wait_for(
        &live.stderr,
        "capturing on lo",
        Duration::from_secs(10),
        &mut stderr,
    );
    // 40 direct requests over 4 s: the capture is stopped while they flow.
    let traffic = generate(&ns, 1, 40, 4.0);
    std::thread::sleep(Duration::from_millis(1500));
    live.guard.signal("INT");
    let (code, out) = live.finish(Duration::from_secs(20), &mut stderr);
    let doc = json_of(&out);
    finish_generator(traffic);
    assert_eq!(code, 0, "stderr:\n{}", stderr.join("\n"));

    let info = &doc["capture"]["live"];
    assert_eq!(info["stopped_by"], "sigint");
    assert_eq!(doc["capture"]["complete"], true);
    let packets = doc["capture"]["packets"].as_u64().expect("packets");
    assert!(packets > 20, "only {packets} packets before SIGINT");
    assert_eq!(info["analysed"], packets);
    // Flows still open at the stop are reported, ended by the end of the capture.
    let conns = doc["connections"].as_array().expect("connections");
    assert!(
        conns.iter().any(|c| c["end"] == "end_of_capture"),
        "no open flow at the stop"
    );
    assert!(
        conns
            .iter()
            .filter(|c| server_port(c) == SERVICE_PORT)
            .count()
            >= 3
    );
    assert_eq!(doc["tunnel"]["sessions"].as_array().map(Vec::len), Some(1));

    // The -w file holds every packet of the report, and reads to its end.
    assert_offline_agrees(&doc, &pcap);
}

#[test]
fn count_stops_with_the_text_report_and_its_drop_counters() {
    let ns = Netns::new("c");
    let mut live = start_live(
        &ns,
        &[
            "-i",
            "lo",
            "-c",
            "25",
            "--interval",
            "0",
            "-f",
            "tcp port 18080",
        ],
    );
    let mut stderr = Vec::new();
    wait_for(
        &live.stderr,
        "capturing on lo",
        Duration::from_secs(10),
        &mut stderr,
    );
    // Far more than 25 packets, spread over two seconds: the count must be reached even
    // if the machine is slow to start reading the capture.
    let traffic = generate(&ns, 1, 30, 2.0);
    let (code, out) = live.finish(Duration::from_secs(30), &mut stderr);
    finish_generator(traffic);
    assert_eq!(code, 0, "stderr:\n{}", stderr.join("\n"));
    assert!(
        out.starts_with("Capture\n  interface   lo (EN10MB"),
        "{out}"
    );
    assert!(out.contains("filter \"tcp port 18080\""), "{out}");
    assert!(out.contains("  packets     25\n"), "{out}");
    // The counters are read when the count is reached, while the generator still sends:
    // on a loaded machine the kernel may already have dropped a few of the later packets,
    // so the line is checked for its shape (two counts), not for zeros.
    let drops = out
        .lines()
        .find_map(|l| l.strip_prefix("  drops       kernel "))
        .unwrap_or_else(|| panic!("no drops line:\n{out}"));
    let (kernel, interface) = drops
        .split_once(", interface ")
        .unwrap_or_else(|| panic!("drops line {drops:?}"));
    assert!(kernel.parse::<u64>().is_ok(), "{drops:?}");
    assert!(
        interface
            .split_whitespace()
            .next()
            .is_some_and(|n| n.parse::<u64>().is_ok()),
        "{drops:?}"
    );
    assert!(out.contains("analysed 25; stopped by count"), "{out}");
}

#[test]
fn without_capture_permission_one_line_says_how_to_grant_it() {
    require_root();
    // Root without CAP_NET_RAW/CAP_NET_ADMIN (dropped from the bounding set).
    let out = Command::new("setpriv")
        .args(["--bounding-set", "-net_raw,-net_admin"])
        .arg(tunscope_bin())
        .args(["live", "-i", "lo", "-c", "1"])
        .output()
        .unwrap_or_else(|e| panic!("setpriv (util-linux) must be installed: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    assert!(
        stderr.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{stderr}"
    );
}
