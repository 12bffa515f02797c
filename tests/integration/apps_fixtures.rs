//! Application facts of the lab's own fixtures (`fixtures/pcaps/app-*`) through the whole
//! tool, against the truth their generator wrote (`fixtures/pcaps/README.md`, "Truth
//! files"): what the peers sent and when, never tunscope's output.

use crate::util::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// The truth's send/receive times are taken by the peers at their socket calls: they agree
/// with the capture's timestamps within about 1 ms (README).
const TIME_TOLERANCE_S: f64 = 0.001;

struct Fixture {
    report: Report,
    truth: Value,
    /// Connection id (`http1`, `socks2`, ...) -> client endpoint.
    clients: HashMap<String, String>,
}

impl Fixture {
    fn load(name: &str) -> Fixture {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
        let truth: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.truth.json"))).expect("truth file"),
        )
        .expect("truth JSON");
        let pcap = dir.join(s(&truth["pcap"]).expect("pcap name"));
        let report = Report::of(&pcap);
        let clients = list(&truth["connections"])
            .iter()
            .map(|c| {
                (
                    s(&c["id"]).expect("id").to_string(),
                    s(&c["client"]).expect("client").to_string(),
                )
            })
            .collect();
        Fixture {
            report,
            truth,
            clients,
        }
    }

    fn client(&self, conn: &Value) -> &str {
        let id = s(conn).expect("a connection id");
        self.clients
            .get(id)
            .unwrap_or_else(|| panic!("truth connection {id} not listed"))
    }

    /// Every truth connection is reported with the server the truth names.
    fn check_connections(&self) {
        for c in list(&self.truth["connections"]) {
            let client = s(&c["client"]).expect("client");
            let ours = self.report.conn(client);
            assert_eq!(ours["server"], c["server"], "{client}");
            assert_eq!(ours["proto"], "tcp", "{client}");
        }
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn secs(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a time: {v}"))
}

fn near(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() <= tolerance
}

/// HTTP exchanges as the client recorded them (`exchanges` / `http_inside`) against one
/// `http[]` record: method, target, Host, status, body length, request time, and the
/// request -> first response byte latency.
fn check_http(what: &str, ours: &Value, exchanges: &[Value]) {
    let txs = list(&ours["transactions"]);
    assert_eq!(txs.len(), exchanges.len(), "{what}: {ours}");
    assert_eq!(ours["gap_bytes"], 0, "{what}");
    assert!(list(&ours["anomalies"]).is_empty(), "{what}: {ours}");
    for (t, x) in txs.iter().zip(exchanges) {
        let ctx = format!("{what} {}", x["path"]);
        assert_eq!(t["method"], x["method"], "{ctx}");
        assert_eq!(t["target"], x["path"], "{ctx}");
        assert_eq!(t["host"], x["host"], "{ctx}");
        assert_eq!(t["status"], x["status"], "{ctx}");
        assert_eq!(t["response_body_len"], x["body_len"], "{ctx}");
        assert_eq!(t["body_incomplete"], false, "{ctx}");
        let (req, head) = (secs(&x["time_request"]), secs(&x["time_response_head"]));
        let got_req = secs(&t["request_ts"]);
        assert!(
            near(got_req, req, TIME_TOLERANCE_S),
            "{ctx}: request at {got_req}, truth {req}"
        );
        let latency = t["latency_ms"].as_f64().expect("latency_ms") / 1e3;
        assert!(
            near(latency, head - req, TIME_TOLERANCE_S),
            "{ctx}: latency {latency} s, truth {} s",
            head - req
        );
    }
}

#[test]
fn http1_transactions_match_the_client_log() {
    let f = Fixture::load("app-http1");
    f.check_connections();
    let conns = list(&f.truth["http"]);
    assert_eq!(conns.len(), 3);
    for c in conns {
        let client = f.client(&c["conn"]);
        assert_eq!(f.report.chain(client), ["http"], "{client}");
        let ours = f.report.record("http", client);
        check_http(client, ours, list(&c["exchanges"]));
        // The truth gives whole request lengths (head and body): a body was seen exactly
        // on the POST.
        for (t, x) in list(&ours["transactions"])
            .iter()
            .zip(list(&c["exchanges"]))
        {
            let has_body = x["method"] == "POST";
            assert_eq!(
                t["request_body_len"].as_u64().is_some_and(|n| n > 0),
                has_body,
                "{client} {}",
                x["path"]
            );
        }
    }
}

#[test]
fn max_records_lists_that_many_connections_with_their_records_and_counts_the_rest() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("app-http1.truth.json")).expect("truth file"),
    )
    .expect("truth JSON");
    let truth_clients: Vec<&str> = list(&truth["connections"])
        .iter()
        .map(|c| s(&c["client"]).expect("client"))
        .collect();
    assert_eq!(truth_clients.len(), 3);
    let pcap = dir.join(s(&truth["pcap"]).expect("pcap name"));
    for limit in [0usize, 1, 2, 3] {
        let run = run_analyze([
            pcap.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
            "--max-records".as_ref(),
            limit.to_string().as_ref(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let doc = run.json();
        let listed: Vec<&str> = list(&doc["connections"])
            .iter()
            .map(|c| s(&c["client"]).expect("client"))
            .collect();
        assert_eq!(listed.len(), limit, "--max-records {limit}");
        assert_eq!(
            doc["connections_omitted"].as_u64(),
            Some((truth_clients.len() - limit) as u64),
            "--max-records {limit}"
        );
        assert!(
            listed.iter().all(|c| truth_clients.contains(c)),
            "{listed:?}"
        );
        // An omitted connection's application records are omitted with it.
        let http: Vec<&str> = list(&doc["http"])
            .iter()
            .map(|h| s(&h["client"]).expect("client"))
            .collect();
        assert_eq!(http.len(), limit, "--max-records {limit}");
        assert!(
            http.iter().all(|c| listed.contains(c)),
            "{http:?} vs {listed:?}"
        );
    }
}

/// rustls names TLS 1.3 suites `TLS13_*`; IANA (and tunscope) `TLS_*`.
fn iana_cipher(rustls: &str) -> String {
    match rustls.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => rustls.to_string(),
    }
}

fn check_tls(name: &str, version: &str) {
    let f = Fixture::load(name);
    f.check_connections();
    let conns = list(&f.truth["tls"]);
    assert_eq!(conns.len(), 2);
    for c in conns {
        let client = f.client(&c["conn"]);
        assert_eq!(f.report.chain(client), ["tls"], "{client}");
        let t = f.report.record("tls", client);
        assert_eq!(s(&t["version"]), Some(version), "{client}");
        let want_cipher = iana_cipher(s(&c["cipher_suite"]).expect("cipher_suite"));
        assert_eq!(s(&t["cipher"]), Some(want_cipher.as_str()), "{client}");
        assert_eq!(t["sni"], c["sni"], "{client}");
        assert_eq!(t["alpn"], c["alpn_offered"], "{client}");
        // The chosen protocol is in clear only before TLS 1.3.
        if version == "TLSv13" {
            assert!(t["alpn_selected"].is_null(), "{client}");
        } else {
            assert_eq!(t["alpn_selected"], c["alpn"], "{client}");
        }
        assert_eq!(t["mid_stream"], false, "{client}");
        assert!(list(&t["anomalies"]).is_empty(), "{client}: {t}");
        // Handshake: from the ClientHello to the first client application data; the
        // client finished its handshake (truth `handshake_done`) before sending any.
        let hs = t["handshake_ms"].as_f64().expect("handshake_ms") / 1e3;
        let want = secs(&c["handshake_done"]) - secs(&c["connect_time"]);
        assert!(hs + TIME_TOLERANCE_S >= want, "{client}: {hs} < {want}");
    }
    // The server saw the same SNI and chose the same ALPN.
    for v in list(&f.truth["server_view"]) {
        let t = f.report.record("tls", f.client(&v["conn"]));
        assert_eq!(t["sni"], v["sni"]);
        assert!(list(&t["alpn"]).contains(&v["alpn"]));
    }
}

#[test]
fn tls12_handshakes_match_the_truth() {
    check_tls("app-tls12", "TLSv12");
}

#[test]
fn tls13_handshakes_match_the_truth() {
    check_tls("app-tls13", "TLSv13");
}

#[test]
fn socks5_requests_and_the_http_inside_match_the_truth() {
    let f = Fixture::load("app-socks5-http");
    f.check_connections();
    let views: HashMap<&str, &Value> = list(&f.truth["proxy_view"])
        .iter()
        .map(|v| (s(&v["conn"]).expect("conn"), v))
        .collect();
    let conns = list(&f.truth["socks"]);
    assert_eq!(conns.len(), 2);
    for c in conns {
        let client = f.client(&c["conn"]);
        assert_eq!(f.report.chain(client), ["socks5", "http"], "{client}");
        let x = f.report.record("socks", client);
        assert_eq!(x["version"], 5, "{client}");
        assert_eq!(x["command"], "connect", "{client}");
        assert_eq!(x["destination"], c["dst_host"], "{client}");
        assert_eq!(x["destination_port"], c["dst_port"], "{client}");
        assert_eq!(x["destination_is_name"], c["atyp"] == "domain", "{client}");
        let method = |m: &Value| match m.as_u64() {
            Some(0) => "none",
            Some(2) => "username_password",
            other => panic!("method {other:?} not in this fixture"),
        };
        let offered: Vec<&str> = list(&c["methods_offered"]).iter().map(method).collect();
        assert_eq!(strs(&x["auth_methods_offered"]), offered, "{client}");
        assert_eq!(s(&x["auth_method"]), Some(method(&c["method_chosen"])));
        assert_eq!(x["user"], c["user"], "{client}");
        if c["user"].is_string() {
            assert_eq!(x["auth_succeeded"], true, "{client}");
        }
        assert_eq!(x["reply_code"], c["reply"], "{client}");
        assert_eq!(s(&x["status"]), Some("succeeded"), "{client}");
        // The password is a credential: never reported without --show-secrets.
        assert!(!x.to_string().contains("fixture-pass"), "{client}");
        // BND.ADDR:BND.PORT is the proxy's upstream socket (its own log).
        let view = views[s(&c["conn"]).expect("conn")];
        let bound = format!("{}:{}", s(&x["bound"]).unwrap_or("-"), x["bound_port"]);
        assert_eq!(Some(bound.as_str()), s(&view["bound"]), "{client}");
        // HTTP inside the SOCKS connection, as the client saw it ...
        check_http(
            client,
            f.report.record("http", client),
            list(&c["http_inside"]),
        );
        // ... and on the proxy's upstream connection to the HTTP server.
        let upstream = f.client(&view["upstream_conn"]);
        assert_eq!(f.report.chain(upstream), ["http"], "{upstream}");
        let up = f.report.record("http", upstream);
        let log: Vec<&Value> = list(&f.truth["http_server_log"])
            .iter()
            .filter(|l| l["conn"] == view["upstream_conn"])
            .collect();
        let txs = list(&up["transactions"]);
        assert_eq!(txs.len(), log.len(), "{upstream}");
        for (t, l) in txs.iter().zip(log) {
            assert_eq!(t["method"], l["method"], "{upstream}");
            assert_eq!(t["target"], l["path"], "{upstream}");
            assert_eq!(t["status"], l["status"], "{upstream}");
            assert_eq!(t["response_body_len"], l["body_len"], "{upstream}");
        }
    }
}

/// A RESP reply as tunscope reports it, in the truth's notation (`+OK`, `:2`, `ada`,
/// `$-1 (nil)`, `-ERR ...`, `[a, b]`).
fn redis_reply(r: &Value) -> String {
    let v = s(&r["value"]).unwrap_or_default();
    match s(&r["kind"]) {
        Some("simple") => format!("+{v}"),
        Some("error") => format!("-{v}"),
        Some("integer") => format!(":{v}"),
        Some("bulk") if r["nil"] == true => "$-1 (nil)".into(),
        Some("bulk") => v.to_string(),
        other => panic!("reply kind {other:?}: {r}"),
    }
}

#[test]
fn redis_commands_and_replies_match_the_truth() {
    let f = Fixture::load("app-redis");
    f.check_connections();
    let conns = list(&f.truth["redis"]);
    assert_eq!(conns.len(), 2);
    for c in conns {
        let client = f.client(&c["conn"]);
        assert_eq!(f.report.chain(client), ["redis"], "{client}");
        let r = f.report.record("redis", client);
        assert_eq!(r["unmatched_replies"], 0, "{client}");
        assert!(list(&r["anomalies"]).is_empty(), "{client}: {r}");
        let cmds = list(&r["commands"]);
        let want = list(&c["commands"]);
        assert_eq!(cmds.len(), want.len(), "{client}");
        for (got, w) in cmds.iter().zip(want) {
            let words = strs(&w["command"]);
            let ctx = format!("{client} {words:?}");
            assert_eq!(s(&got["name"]), words.first().copied(), "{ctx}");
            assert_eq!(strs(&got["args"]), words[1..], "{ctx}");
            let want_reply = s(&w["reply"]).expect("reply");
            if let Some(inner) = want_reply
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
            {
                // An array: its element count and first element.
                let items: Vec<&str> = inner.split(", ").collect();
                assert_eq!(got["reply"]["kind"], "array", "{ctx}");
                assert_eq!(got["reply"]["elements"], items.len(), "{ctx}");
                assert_eq!(s(&got["reply"]["value"]), items.first().copied(), "{ctx}");
            } else {
                assert_eq!(redis_reply(&got["reply"]), want_reply, "{ctx}");
                assert_eq!(got["reply"]["error"], want_reply.starts_with('-'), "{ctx}");
            }
            let (req, rep) = (secs(&w["time_request"]), secs(&w["time_reply"]));
            assert!(
                near(secs(&got["ts"]), req, TIME_TOLERANCE_S),
                "{ctx}: sent at {}, truth {req}",
                got["ts"]
            );
            let latency = got["latency_ms"].as_f64().expect("latency_ms") / 1e3;
            assert!(
                near(latency, rep - req, TIME_TOLERANCE_S),
                "{ctx}: latency {latency} s, truth {} s",
                rep - req
            );
        }
    }
}

#[test]
fn ssh_banners_and_kexinit_match_the_truth() {
    let f = Fixture::load("app-ssh-banner");
    f.check_connections();
    let client = f.client(&f.truth["conn"]);
    assert_eq!(f.report.chain(client), ["ssh"]);
    let x = f.report.record("ssh", client);
    let (cb, sb) = (
        s(&f.truth["client"]["banner"]).expect("client banner"),
        s(&f.truth["server_side"]["banner"]).expect("server banner"),
    );
    assert_eq!(s(&x["client_banner"]), Some(cb));
    assert_eq!(s(&x["server_banner"]), Some(sb));
    // Each side saw the other's banner as sent.
    assert_eq!(f.truth["client_saw_server_banner"], sb);
    assert_eq!(f.truth["server_side"]["recorded"]["client_banner_seen"], cb);
    // RFC 4253 §4.2: SSH-protoversion-softwareversion SP comments.
    let software = |b: &str| {
        b.splitn(3, '-')
            .nth(2)
            .and_then(|rest| rest.split(' ').next())
            .map(str::to_owned)
    };
    assert_eq!(x["version"], "2.0");
    assert_eq!(s(&x["client_software"]).map(str::to_owned), software(cb));
    assert_eq!(s(&x["server_software"]).map(str::to_owned), software(sb));
    // KEXINIT lists as each side sent them, and what they negotiated.
    assert_eq!(
        x["client_kex_algorithms"],
        f.truth["client"]["algorithms"]["kex_algorithms"]
    );
    assert_eq!(
        x["server_kex_algorithms"],
        f.truth["server_side"]["algorithms"]["kex_algorithms"]
    );
    let n = &f.truth["negotiated"];
    assert_eq!(x["kex_alg"], n["kex_algorithms"]);
    assert_eq!(x["host_key_alg"], n["server_host_key_algorithms"]);
    assert_eq!(x["cipher_alg"], n["encryption_algorithms_client_to_server"]);
    assert_eq!(
        x["cipher_alg_s2c"],
        n["encryption_algorithms_server_to_client"]
    );
    assert_eq!(x["mac_alg"], n["mac_algorithms_client_to_server"]);
    assert_eq!(
        x["compression_alg"],
        n["compression_algorithms_client_to_server"]
    );
    // No key exchange followed: nothing was encrypted.
    assert_eq!(
        (&x["encrypted_bytes_c2s"], &x["encrypted_bytes_s2c"]),
        (&0.into(), &0.into())
    );
    assert!(list(&x["anomalies"]).is_empty(), "{x}");
}

/// A capture hole inside a chunked response (issue 17): the real `app-http1` exchange with
/// the segment carrying `/chunked/b.js`'s response cut to its first 150 payload bytes (as
/// a short snap length would). The response after it begins the next segment; it is read
/// with the status and body length the generator wrote (tunscope used to give it
/// `status: null`).
#[test]
fn http_resyncs_after_a_hole_in_a_chunked_response() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("app-http1.truth.json")).expect("truth file"),
    )
    .expect("truth JSON");
    let bytes = std::fs::read(dir.join("app-http1.pcap")).expect("fixture");
    // Classic little-endian pcap (the generator's tcpdump): walk the records.
    let mut out = bytes[..24].to_vec();
    let mut pos = 24;
    let mut cut = 0;
    while pos + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().expect("4")) as usize;
        let data = &bytes[pos + 16..pos + 16 + caplen];
        let head = data.windows(12).position(|w| w == b"HTTP/1.1 200");
        let chunked = data.windows(26).any(|w| w == b"Transfer-Encoding: chunked");
        let keep = match head {
            Some(h) if chunked && cut == 0 && h + 150 < data.len() => {
                cut += 1;
                h + 150
            }
            _ => data.len(),
        };
        out.extend_from_slice(&bytes[pos..pos + 8]);
        out.extend_from_slice(&(keep as u32).to_le_bytes());
        out.extend_from_slice(&bytes[pos + 12..pos + 16]);
        out.extend_from_slice(&data[..keep]);
        pos += 16 + caplen;
    }
    assert_eq!(cut, 1, "the fixture has a chunked response to cut");
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("cut.pcap");
    std::fs::write(&path, &out).expect("write");
    let run = run_analyze([path.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    // The connection whose exchanges include the first chunked response.
    let conn = list(&truth["http"])
        .iter()
        .find(|c| list(&c["exchanges"]).iter().any(|x| x["chunked"] == true))
        .expect("a chunked exchange");
    let client = list(&truth["connections"])
        .iter()
        .find(|c| c["id"] == conn["conn"])
        .and_then(|c| c["client"].as_str())
        .expect("client");
    let rec = list(&doc["http"])
        .iter()
        .find(|r| r["client"] == client)
        .expect("http record");
    let want = list(&conn["exchanges"]);
    let got = list(&rec["transactions"]);
    assert_eq!(got.len(), want.len());
    let cut_at = want
        .iter()
        .position(|x| x["chunked"] == true)
        .expect("chunked");
    assert_eq!(got[cut_at]["body_incomplete"], true);
    for (i, (t, x)) in got.iter().zip(want).enumerate() {
        assert_eq!(t["target"], x["path"], "{i}");
        assert_eq!(t["status"], x["status"], "{i}");
        if i != cut_at {
            assert_eq!(t["response_body_len"], x["body_len"], "{i}");
        }
    }
    assert!(cut_at + 1 < got.len(), "a response follows the hole");
    assert_eq!(rec["resyncs"], 1);
    assert_eq!(
        rec["anomalies"][0],
        "s2c: resynchronised after a gap, 0 bytes skipped"
    );
}
