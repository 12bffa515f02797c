//! QUIC over real captures from `../shared/corpus`, through the whole tool (`tunscope
//! analyze --format json`: capture, flow table, QUIC probe and decoder), checked against
//! the trusted tools' outputs recorded in `shared/corpus/MANIFEST.md` (nDPI `.out`, Zeek
//! `quic.log`, suricata-verify `test.yaml`, TShark as a second opinion). The tests fail
//! loudly when the corpus is missing.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// QUIC records by client endpoint.
fn by_client(r: &Report) -> BTreeMap<String, &Value> {
    r.quic()
        .iter()
        .map(|q| (s(&q["client"]).unwrap_or_default().to_string(), q))
        .collect()
}

/// The capture's one UDP flow, which must be QUIC.
fn only_flow(r: &Report) -> &Value {
    let udp = r
        .connections()
        .iter()
        .filter(|c| c["proto"] == "udp")
        .count();
    assert_eq!(udp, 1, "{}: expected one UDP flow", r.name);
    assert_eq!(
        r.quic().len(),
        1,
        "{}: expected one QUIC connection",
        r.name
    );
    &r.quic()[0]
}

fn ja4(q: &Value) -> String {
    s(&q["ja4"]).expect("a JA4").to_string()
}

#[test]
fn ndpi_quic_29() {
    need_corpus!();
    // ndpi/result/quic-29.pcap.out: QUIC ver Draft-29, SNI localhost, ALPN h3-29,
    // 6 pkts c2s / 9 pkts s2c, JA4 q13d0512.._d55e91d5c3b2_cd318bf3b157.
    // TShark: L4 payload 4303 B c2s / 4453 B s2c; long types include one Retry.
    let r = Report::corpus("ndpi/pcap/quic-29.pcap");
    let q = only_flow(&r);
    assert_eq!(s(&q["version"]), Some("draft-29"));
    assert_eq!(s(&q["sni"]), Some("localhost"));
    assert_eq!(strs(&q["alpn"]), ["h3-29"]);
    assert_eq!(
        (&q["packets_c2s"], &q["packets_s2c"]),
        (&6.into(), &9.into())
    );
    assert_eq!(
        (&q["bytes_c2s"], &q["bytes_s2c"]),
        (&4303.into(), &4453.into())
    );
    assert_eq!(q["retry"], true, "the capture holds a Retry");
    assert_eq!(q["retry_tag_valid"], true);
    let ja4 = ja4(q);
    // nDPI 4.11's ALPN characters differ from FoxIO's rule (it prints "h3" for "h3-29",
    // FoxIO's first+last alphanumeric gives "h9"); compare the rest.
    assert!(ja4.starts_with("q13d0512"), "{ja4}");
    assert!(ja4.ends_with("_d55e91d5c3b2_cd318bf3b157"), "{ja4}");
    assert_eq!(&ja4[8..10], "h9");
    assert_eq!(q["anomalies"], 0, "{}", q["anomaly_reasons"]);
}

#[test]
fn zeek_chromium_115() {
    need_corpus!();
    // zeek Baseline quic.log: version 1, client_initial_dcid 95412c47018cdfe8,
    // client_scid (empty), server_scid d5412c47018cdfe8, api.cirrus-ci.com, h3.
    // ssl.log: TLS_AES_128_GCM_SHA256, TLSv13.
    let r = Report::corpus("zeek/Traces/quic/chromium-115.0.5790.110-api-cirrus-com.pcap");
    let q = only_flow(&r);
    assert_eq!(s(&q["version"]), Some("1"));
    assert_eq!(s(&q["client_dcid"]), Some("95412c47018cdfe8"));
    assert_eq!(s(&q["client_scid"]), Some(""));
    assert_eq!(s(&q["server_scid"]), Some("d5412c47018cdfe8"));
    assert_eq!(s(&q["sni"]), Some("api.cirrus-ci.com"));
    assert_eq!(strs(&q["alpn"]).first(), Some(&"h3"));
    assert_eq!(s(&q["tls_cipher"]), Some("0x1301"));
    assert_eq!(s(&q["tls_version"]), Some("0x0304"));
    assert!(q["handshake_ms"].is_number());
    assert!(ja4(q).starts_with("q13d"));
}

#[test]
fn zeek_curl_http3() {
    need_corpus!();
    // zeek Baseline quic.log + TShark ALPN list.
    let r = Report::corpus("zeek/Traces/quic/curl-8.1.2-dev-http3-www-google-de.pcap");
    let q = only_flow(&r);
    assert_eq!(s(&q["version"]), Some("1"));
    assert_eq!(
        s(&q["client_dcid"]),
        Some("815d62c70884f4b51e8ccadd5beed372")
    );
    assert_eq!(
        s(&q["client_scid"]),
        Some("e5ec6b26584229be98a164349ae910351c40d10b")
    );
    assert_eq!(s(&q["server_scid"]), Some("c15d62c70884f4b5"));
    assert_eq!(s(&q["sni"]), Some("www.google.de"));
    assert_eq!(strs(&q["alpn"]), ["h3", "h3-29", "h3-28", "h3-27"]);
}

#[test]
fn zeek_quicv2() {
    need_corpus!();
    let r = Report::corpus("zeek/Traces/quic/quicv2-http3-443.pcap");
    let q = only_flow(&r);
    assert_eq!(s(&q["version"]), Some("2"));
    assert_eq!(s(&q["client_dcid"]), Some("bdf0c5b27927cc667e58d95b"));
    assert_eq!(s(&q["client_scid"]), Some("71b8f3f4"));
    assert_eq!(s(&q["server_scid"]), Some("cdc8b6e6"));
    assert!(q["sni"].is_null(), "{}", q["sni"]);
    assert_eq!(strs(&q["alpn"]).first(), Some(&"h3"));
    assert_eq!(s(&q["tls_cipher"]), Some("0x1301"));
}

#[test]
fn zeek_fragmented_crypto_over_initials_with_0rtt() {
    need_corpus!();
    // quic.log.cut: googleads.g.doubleclick.net, history with Z (0-RTT).
    let r = Report::corpus("zeek/Traces/quic/quic-multiple-initial-fragmented-crypto.pcap");
    let q = only_flow(&r);
    assert_eq!(s(&q["sni"]), Some("googleads.g.doubleclick.net"));
    assert_eq!(q["zero_rtt"], true);
}

#[test]
fn ndpi_t051() {
    need_corpus!();
    // ndpi/result/quic_t51.pcap.out: T051, www.google.com, ALPN h3-T051,
    // JA4 q13d0308h3_55b375c5d22e_e7bc1e4f333e (ALPN chars: see ndpi_quic_29).
    let r = Report::corpus("ndpi/pcap/quic_t51.pcap");
    let q = only_flow(&r);
    assert_eq!(s(&q["version"]), Some("T051"));
    assert_eq!(s(&q["sni"]), Some("www.google.com"));
    assert_eq!(strs(&q["alpn"]), ["h3-T051"]);
    let ja4 = ja4(q);
    assert!(ja4.starts_with("q13d0308"), "{ja4}");
    assert!(ja4.ends_with("_55b375c5d22e_e7bc1e4f333e"), "{ja4}");
}

#[test]
fn suricata_quic_ietf() {
    need_corpus!();
    // test.yaml: server_name msquic.net, alpn h3-29.
    let r = Report::corpus("suricata-verify/tests/quic-ietf/input.pcap");
    let q = only_flow(&r);
    assert_eq!(s(&q["sni"]), Some("msquic.net"));
    assert!(strs(&q["alpn"]).contains(&"h3-29"), "{}", q["alpn"]);
}

#[test]
fn suricata_initial_not_first() {
    need_corpus!();
    // TShark: SNI scontent-ams4-1.xx.fbcdn.net, ALPN h3.
    let r = Report::corpus("suricata-verify/tests/quic-initial-not-first/input.pcap");
    let snis: Vec<Option<&str>> = r.quic().iter().map(|q| s(&q["sni"])).collect();
    assert!(
        snis.contains(&Some("scontent-ams4-1.xx.fbcdn.net")),
        "{snis:?}"
    );
}

#[test]
fn detector_accepts_first_datagrams() {
    need_corpus!();
    // The first datagram of each of these captures is a QUIC Initial (TShark): the flow
    // is recognised there, so the QUIC record counts every datagram of the flow.
    for rel in [
        "ndpi/pcap/quic-29.pcap",
        "zeek/Traces/quic/chromium-115.0.5790.110-api-cirrus-com.pcap",
        "zeek/Traces/quic/quicv2-http3-443.pcap",
        "ndpi/pcap/quic_t51.pcap",
    ] {
        let r = Report::corpus(rel);
        let q = only_flow(&r);
        let c = r
            .connections()
            .iter()
            .find(|c| c["proto"] == "udp")
            .expect("the UDP flow");
        assert_eq!(c["first_packet"], 0, "{rel}");
        assert_eq!(q["first_ts"], c["first_ts"], "{rel}");
        assert_eq!(
            (&q["packets_c2s"], &q["packets_s2c"]),
            (&c["packets_c2s"], &c["packets_s2c"]),
            "{rel}"
        );
    }
}

/// `(client endpoint, field)` pairs of an nDPI `.out` flow list, e.g. field "Hostname/SNI".
fn ndpi_flows(rel: &str, field: &str) -> Vec<(String, Option<String>)> {
    let text = std::fs::read_to_string(corpus_dir().join(rel)).expect("nDPI .out file");
    let tag = format!("[{field}: ");
    text.lines()
        .filter(|l| l.contains("\tUDP "))
        .map(|l| {
            let client = l
                .split("\tUDP ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .expect("flow endpoints")
                .to_string();
            let value = l
                .split(&tag)
                .nth(1)
                .and_then(|r| r.split(']').next())
                .map(str::to_string);
            (client, value)
        })
        .collect()
}

#[test]
fn ndpi_chrome_chaos_protection_113_flows() {
    need_corpus!();
    // ndpi/result/...craziness.pcapng.out: 113 client-only draft-29 flows whose ClientHello
    // CRYPTO fragments are split, reordered and mixed inside Initials; every one has an SNI,
    // ALPN h3-29, and a JA4 (compared outside nDPI's ALPN characters, see ndpi_quic_29).
    let r = Report::corpus("ndpi/pcap/quic_frags_ch_out_of_order_same_packet_craziness.pcapng");
    let ours = by_client(&r);
    let out = "ndpi/result/quic_frags_ch_out_of_order_same_packet_craziness.pcapng.out";
    let sni = ndpi_flows(out, "Hostname/SNI");
    let ja4s = ndpi_flows(out, "JA4");
    assert_eq!(sni.len(), 113);
    assert_eq!(ours.len(), 113);
    for ((client, want_sni), (_, want_ja4)) in sni.iter().zip(&ja4s) {
        let q = ours
            .get(client)
            .unwrap_or_else(|| panic!("no QUIC connection from {client}"));
        assert!(want_sni.is_some(), "{client}");
        assert_eq!(s(&q["sni"]), want_sni.as_deref(), "{client}");
        assert_eq!(s(&q["version"]), Some("draft-29"), "{client}");
        assert_eq!(strs(&q["alpn"]), ["h3-29"], "{client}");
        let (got, want) = (ja4(q), want_ja4.clone().expect("nDPI JA4"));
        assert_eq!(
            (&got[..8], &got[10..]),
            (&want[..8], &want[10..]),
            "{client}"
        );
        assert_eq!(q["anomalies"], 0, "{client}: {}", q["anomaly_reasons"]);
    }
}

#[test]
fn ndpi_client_hello_in_two_initials_without_sni() {
    need_corpus!();
    // ndpi .out: no SNI; ALPN list of 18 recovered only after reassembling two Initials.
    // (This capture is IPv6 over Ethernet.)
    let r = Report::corpus("ndpi/pcap/quic_frags_ch_in_multiple_packets.pcapng");
    let q = only_flow(&r);
    assert_eq!(s(&q["version"]), Some("1"));
    assert!(q["sni"].is_null());
    let want = "h3-34;hq-34;h3-33;hq-33;h3-32;hq-32;h3-31;hq-31;h3-29;hq-29;h3-30;hq-30;h3-28;hq-28;h3-27;hq-27;h3;hq-interop";
    assert_eq!(strs(&q["alpn"]).join(";"), want);
    // nDPI: JA4 q00d0307h3_55b375c5d22e_af0a630e9e67. "00": supported_versions holds
    // 0x7f1c (a TLS 1.3 draft), numerically the highest, as FoxIO's rule says. nDPI's "d"
    // and "h3" are its quirks: FoxIO gives "i" without SNI and "h4" for "h3-34".
    let ja4 = ja4(q);
    assert_eq!(
        (&ja4[..3], &ja4[4..8], &ja4[10..]),
        ("q00", "0307", "_55b375c5d22e_af0a630e9e67")
    );
    assert_eq!((&ja4[3..4], &ja4[8..10]), ("i", "h4"));
}

#[test]
fn ndpi_interop_version_negotiation() {
    need_corpus!();
    // ndpi .out: 63 flows, all "QUIC ver: Ver-Negotiation", no SNI; 32 have a reply.
    // The clients offer a reserved (greased) version, for which no Initial salt exists, so
    // tunscope reports the header only (no SNI), like nDPI and unlike TShark's guess.
    let r = Report::corpus("ndpi/pcap/quic_interop_V.pcapng");
    let ours = by_client(&r);
    let text = std::fs::read_to_string(corpus_dir().join("ndpi/result/quic_interop_V.pcapng.out"))
        .expect("nDPI .out file");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("\tUDP ")).collect();
    assert_eq!((lines.len(), ours.len()), (63, 63));
    for l in lines {
        let client = l
            .split("\tUDP ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .expect("flow endpoints");
        let q = ours
            .get(client)
            .unwrap_or_else(|| panic!("no QUIC connection from {client}"));
        let v = s(&q["version"]).expect("version");
        let n = u32::from_str_radix(v.trim_start_matches("0x"), 16).expect("hex version");
        assert_eq!(
            n & 0x0f0f0f0f,
            0x0a0a0a0a,
            "{client}: {v} is not a reserved version"
        );
        assert!(q["sni"].is_null(), "{client}");
        assert_eq!(q["version_negotiation"], l.contains(" <-> "), "{client}");
    }
}

#[test]
fn detector_rejects_wireguard() {
    need_corpus!();
    // ndpi/result/wireguard.pcap.out: the UDP flows are WireGuard, not QUIC: the tool
    // reports no QUIC connection ...
    let r = Report::corpus("ndpi/pcap/wireguard.pcap");
    assert!(r.quic().is_empty(), "{:?}", r.quic());
    assert!(r.connections().iter().all(|c| c["app"] == "wireguard"));
    // ... and the probe (which sees only a flow's first datagrams) rejects every one of
    // the capture's datagrams, read with the library's own capture reader and decoder.
    use tunscope::analyzers::quic::looks_like_quic;
    use tunscope::capture::{CaptureSet, PacketSource};
    use tunscope::decode::{Decoded, Decoder};
    let mut set = CaptureSet::new(vec![corpus_dir().join("ndpi/pcap/wireguard.pcap")]);
    let mut dec = Decoder::default();
    let mut n = 0;
    while let Some(p) = set.next_packet().expect("readable") {
        if let Decoded::Udp { payload, .. } = dec.decode(&p) {
            n += 1;
            assert!(!looks_like_quic(payload), "datagram {}", p.index);
        }
    }
    assert_eq!(n, 52);
}
