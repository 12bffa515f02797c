//! QUIC decoding over real captures from `../shared/corpus`, checked against the trusted
//! tools' outputs recorded in `shared/corpus/MANIFEST.md` (nDPI `.out`, Zeek `quic.log`,
//! suricata-verify `test.yaml`, TShark as a second opinion).
//!
//! The capture reader below is a test-only stand-in (classic little-endian pcap or
//! little-endian pcapng, Ethernet, optional 802.1Q, IPv4 or IPv6, UDP) until the capture
//! stage lands. When the corpus is
//! not beside the worktree the tests fail loudly rather than pass vacuously.

use std::collections::BTreeMap;
use std::net::IpAddr;
use tunscope::Timestamp;
use tunscope::analyzers::quic::{QuicFlow, QuicSummary, looks_like_quic};
use tunscope::flow::Direction;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/");

struct Datagram {
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    ts: Timestamp,
    payload: Vec<u8>,
}

fn u16be(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// UDP datagrams of a little-endian Ethernet capture: classic pcap (microsecond
/// timestamps) or pcapng (Enhanced Packet Blocks, default microsecond resolution).
fn read_pcap(rel: &str) -> Vec<Datagram> {
    let path = format!("{CORPUS}{rel}");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("corpus file {path}: {e}"));
    let mut out = Vec::new();
    let mut push = |frame: &[u8], ts: Timestamp| {
        if let Some(d) = udp_of_ethernet(frame, ts) {
            out.push(d);
        }
    };
    if data.get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a][..]) {
        assert_eq!(
            u32le(&data, 8),
            Some(0x1a2b3c4d),
            "{rel}: not a little-endian pcapng"
        );
        let mut off = 0;
        let mut ns_per_tick = 1000i64; // if_tsresol default: microseconds
        while let (Some(ty), Some(len)) = (u32le(&data, off), u32le(&data, off + 4)) {
            let body = data
                .get(off + 8..off + len as usize - 4)
                .unwrap_or_else(|| panic!("{rel}: bad block at {off}"));
            match ty {
                1 => {
                    assert_eq!(
                        body.get(..2),
                        Some(&[1, 0][..]),
                        "{rel}: interface is not Ethernet"
                    );
                    // Options: code u16, length u16, value padded to 4; if_tsresol is code 9.
                    let mut o = 8;
                    while let (Some(code), Some(olen)) = (u16le(body, o), u16le(body, o + 2)) {
                        if code == 9 {
                            let r = body[o + 4];
                            assert!(r & 0x80 == 0 && r <= 9, "{rel}: unsupported if_tsresol {r}");
                            ns_per_tick = 10i64.pow(9 - u32::from(r));
                        }
                        if code == 0 {
                            break;
                        }
                        o += 4 + usize::from(olen).div_ceil(4) * 4;
                    }
                }
                6 => {
                    let (hi, lo, cap) = (
                        u32le(body, 4).unwrap(),
                        u32le(body, 8).unwrap(),
                        u32le(body, 12).unwrap(),
                    );
                    let ticks = (u64::from(hi) << 32 | u64::from(lo)) as i64;
                    push(&body[20..20 + cap as usize], Timestamp(ticks * ns_per_tick));
                }
                _ => {}
            }
            off += len as usize;
        }
        return out;
    }
    assert_eq!(
        data.get(..4),
        Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]),
        "{rel}: not a LE usec pcap"
    );
    assert_eq!(
        u32le(&data, 20),
        Some(1),
        "{rel}: link type is not Ethernet"
    );
    let mut off = 24;
    while let (Some(sec), Some(usec), Some(incl)) = (
        u32le(&data, off),
        u32le(&data, off + 4),
        u32le(&data, off + 8),
    ) {
        let start = off + 16;
        let end = start + incl as usize;
        let frame = data
            .get(start..end)
            .unwrap_or_else(|| panic!("{rel}: truncated record at {off}"));
        off = end;
        push(
            frame,
            Timestamp::from_secs_nanos(i64::from(sec), i64::from(usec) * 1000),
        );
    }
    out
}

fn udp_of_ethernet(f: &[u8], ts: Timestamp) -> Option<Datagram> {
    let mut et = u16be(f, 12)?;
    let mut l3 = 14;
    if et == 0x8100 {
        et = u16be(f, 16)?;
        l3 = 18;
    }
    let ip = f.get(l3..)?;
    let (src, dst, l4) = match et {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16be(ip, 2)?);
            let frag = u16be(ip, 6)? & 0x3fff;
            if *ip.get(9)? != 17 || frag != 0 {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::from(s),
                IpAddr::from(d),
                ip.get(ihl..total.min(ip.len()))?,
            )
        }
        0x86dd => {
            if *ip.get(6)? != 17 {
                return None;
            }
            let plen = usize::from(u16be(ip, 4)?);
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                IpAddr::from(s),
                IpAddr::from(d),
                ip.get(40..(40 + plen).min(ip.len()))?,
            )
        }
        _ => return None,
    };
    let ulen = usize::from(u16be(l4, 4)?);
    let payload = l4.get(8..ulen.min(l4.len()))?.to_vec();
    Some(Datagram {
        src: (src, u16be(l4, 0)?),
        dst: (dst, u16be(l4, 2)?),
        ts,
        payload,
    })
}

/// Run every UDP flow of a capture through `QuicFlow`. The server is the endpoint with
/// the lower port (443 or 4443 in every capture used here). Returns `(client, summary)`.
fn flows_by_client(rel: &str) -> Vec<(String, QuicSummary)> {
    type Key = ((IpAddr, u16), (IpAddr, u16));
    let mut table: BTreeMap<Key, QuicFlow> = BTreeMap::new();
    for d in read_pcap(rel) {
        let (client, server, dir) = if d.src.1 > d.dst.1 {
            (d.src, d.dst, Direction::ClientToServer)
        } else {
            (d.dst, d.src, Direction::ServerToClient)
        };
        table
            .entry((client, server))
            .or_default()
            .on_datagram(dir, &d.payload, d.ts);
    }
    table
        .iter()
        .map(|((c, _), f)| {
            let ep = match c.0 {
                IpAddr::V4(a) => format!("{a}:{}", c.1),
                IpAddr::V6(a) => format!("[{a}]:{}", c.1),
            };
            (ep, f.summarize())
        })
        .collect()
}

fn flows(rel: &str) -> Vec<QuicSummary> {
    flows_by_client(rel).into_iter().map(|(_, s)| s).collect()
}

fn only_flow(rel: &str) -> QuicSummary {
    let mut f = flows(rel);
    assert_eq!(f.len(), 1, "{rel}: expected one UDP flow");
    f.remove(0)
}

#[test]
fn ndpi_quic_29() {
    // ndpi/result/quic-29.pcap.out: QUIC ver Draft-29, SNI localhost, ALPN h3-29,
    // 6 pkts c2s / 9 pkts s2c, JA4 q13d0512.._d55e91d5c3b2_cd318bf3b157.
    // TShark: L4 payload 4303 B c2s / 4453 B s2c; long types include one Retry.
    let s = only_flow("ndpi/pcap/quic-29.pcap");
    assert_eq!(s.version.as_deref(), Some("draft-29"));
    assert_eq!(s.sni.as_deref(), Some("localhost"));
    assert_eq!(s.alpn, vec!["h3-29".to_string()]);
    assert_eq!((s.packets_c2s, s.packets_s2c), (6, 9));
    assert_eq!((s.bytes_c2s, s.bytes_s2c), (4303, 4453));
    assert!(s.retry, "the capture holds a Retry");
    assert_eq!(s.retry_tag_valid, Some(true));
    let ja4 = s.ja4.unwrap();
    // nDPI 4.11's ALPN characters differ from FoxIO's rule (it prints "h3" for "h3-29",
    // FoxIO's first+last alphanumeric gives "h9"); compare the rest.
    assert!(ja4.starts_with("q13d0512"), "{ja4}");
    assert!(ja4.ends_with("_d55e91d5c3b2_cd318bf3b157"), "{ja4}");
    assert_eq!(&ja4[8..10], "h9");
    assert_eq!(s.anomalies, 0, "{:?}", s.anomaly_reasons);
}

#[test]
fn zeek_chromium_115() {
    // zeek Baseline quic.log: version 1, client_initial_dcid 95412c47018cdfe8,
    // client_scid (empty), server_scid d5412c47018cdfe8, api.cirrus-ci.com, h3.
    // ssl.log: TLS_AES_128_GCM_SHA256, TLSv13.
    let s = only_flow("zeek/Traces/quic/chromium-115.0.5790.110-api-cirrus-com.pcap");
    assert_eq!(s.version.as_deref(), Some("1"));
    assert_eq!(s.client_dcid.as_deref(), Some("95412c47018cdfe8"));
    assert_eq!(s.client_scid.as_deref(), Some(""));
    assert_eq!(s.server_scid.as_deref(), Some("d5412c47018cdfe8"));
    assert_eq!(s.sni.as_deref(), Some("api.cirrus-ci.com"));
    assert_eq!(s.alpn.first().map(String::as_str), Some("h3"));
    assert_eq!(s.tls_cipher.as_deref(), Some("0x1301"));
    assert_eq!(s.tls_version.as_deref(), Some("0x0304"));
    assert!(s.handshake_ms.is_some());
    assert!(s.ja4.as_deref().unwrap().starts_with("q13d"));
}

#[test]
fn zeek_curl_http3() {
    // zeek Baseline quic.log + TShark ALPN list.
    let s = only_flow("zeek/Traces/quic/curl-8.1.2-dev-http3-www-google-de.pcap");
    assert_eq!(s.version.as_deref(), Some("1"));
    assert_eq!(
        s.client_dcid.as_deref(),
        Some("815d62c70884f4b51e8ccadd5beed372")
    );
    assert_eq!(
        s.client_scid.as_deref(),
        Some("e5ec6b26584229be98a164349ae910351c40d10b")
    );
    assert_eq!(s.server_scid.as_deref(), Some("c15d62c70884f4b5"));
    assert_eq!(s.sni.as_deref(), Some("www.google.de"));
    assert_eq!(s.alpn, vec!["h3", "h3-29", "h3-28", "h3-27"]);
}

#[test]
fn zeek_quicv2() {
    let s = only_flow("zeek/Traces/quic/quicv2-http3-443.pcap");
    assert_eq!(s.version.as_deref(), Some("2"));
    assert_eq!(s.client_dcid.as_deref(), Some("bdf0c5b27927cc667e58d95b"));
    assert_eq!(s.client_scid.as_deref(), Some("71b8f3f4"));
    assert_eq!(s.server_scid.as_deref(), Some("cdc8b6e6"));
    assert_eq!(s.sni, None);
    assert_eq!(s.alpn.first().map(String::as_str), Some("h3"));
    assert_eq!(s.tls_cipher.as_deref(), Some("0x1301"));
}

#[test]
fn zeek_fragmented_crypto_over_initials_with_0rtt() {
    // quic.log.cut: googleads.g.doubleclick.net, history with Z (0-RTT).
    let s = only_flow("zeek/Traces/quic/quic-multiple-initial-fragmented-crypto.pcap");
    assert_eq!(s.sni.as_deref(), Some("googleads.g.doubleclick.net"));
    assert!(s.zero_rtt);
}

#[test]
fn ndpi_t051() {
    // ndpi/result/quic_t51.pcap.out: T051, www.google.com, ALPN h3-T051,
    // JA4 q13d0308h3_55b375c5d22e_e7bc1e4f333e (ALPN chars: see ndpi_quic_29).
    let s = only_flow("ndpi/pcap/quic_t51.pcap");
    assert_eq!(s.version.as_deref(), Some("T051"));
    assert_eq!(s.sni.as_deref(), Some("www.google.com"));
    assert_eq!(s.alpn, vec!["h3-T051".to_string()]);
    let ja4 = s.ja4.unwrap();
    assert!(ja4.starts_with("q13d0308"), "{ja4}");
    assert!(ja4.ends_with("_55b375c5d22e_e7bc1e4f333e"), "{ja4}");
}

#[test]
fn suricata_quic_ietf() {
    // test.yaml: server_name msquic.net, alpn h3-29.
    let s = only_flow("suricata-verify/tests/quic-ietf/input.pcap");
    assert_eq!(s.sni.as_deref(), Some("msquic.net"));
    assert!(s.alpn.iter().any(|a| a == "h3-29"), "{:?}", s.alpn);
}

#[test]
fn suricata_initial_not_first() {
    // TShark: SNI scontent-ams4-1.xx.fbcdn.net, ALPN h3.
    let all = flows("suricata-verify/tests/quic-initial-not-first/input.pcap");
    assert!(
        all.iter()
            .any(|s| s.sni.as_deref() == Some("scontent-ams4-1.xx.fbcdn.net")),
        "{:?}",
        all.iter().map(|s| &s.sni).collect::<Vec<_>>()
    );
}

#[test]
fn detector_accepts_first_datagrams_and_rejects_the_rest_of_udp() {
    for rel in [
        "ndpi/pcap/quic-29.pcap",
        "zeek/Traces/quic/chromium-115.0.5790.110-api-cirrus-com.pcap",
        "zeek/Traces/quic/quicv2-http3-443.pcap",
        "ndpi/pcap/quic_t51.pcap",
    ] {
        let first = read_pcap(rel).into_iter().next().unwrap();
        assert!(looks_like_quic(&first.payload), "{rel}");
    }
}

/// `(client endpoint, field)` pairs of an nDPI `.out` flow list, e.g. field "Hostname/SNI".
fn ndpi_flows(rel: &str, field: &str) -> Vec<(String, Option<String>)> {
    let text = std::fs::read_to_string(format!("{CORPUS}{rel}")).unwrap();
    let tag = format!("[{field}: ");
    text.lines()
        .filter(|l| l.contains("\tUDP "))
        .map(|l| {
            let client = l
                .split("\tUDP ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .unwrap()
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
    // ndpi/result/...craziness.pcapng.out: 113 client-only draft-29 flows whose ClientHello
    // CRYPTO fragments are split, reordered and mixed inside Initials; every one has an SNI,
    // ALPN h3-29, and a JA4 (compared outside nDPI's ALPN characters, see ndpi_quic_29).
    let rel = "ndpi/pcap/quic_frags_ch_out_of_order_same_packet_craziness.pcapng";
    let ours: BTreeMap<String, QuicSummary> = flows_by_client(rel).into_iter().collect();
    let out = "ndpi/result/quic_frags_ch_out_of_order_same_packet_craziness.pcapng.out";
    let sni = ndpi_flows(out, "Hostname/SNI");
    let ja4 = ndpi_flows(out, "JA4");
    assert_eq!(sni.len(), 113);
    assert_eq!(ours.len(), 113);
    for ((client, want_sni), (_, want_ja4)) in sni.iter().zip(&ja4) {
        let s = ours
            .get(client)
            .unwrap_or_else(|| panic!("no flow for {client}"));
        assert_eq!(s.sni.as_ref(), want_sni.as_ref(), "{client}");
        assert!(want_sni.is_some(), "{client}");
        assert_eq!(s.version.as_deref(), Some("draft-29"), "{client}");
        assert_eq!(s.alpn, vec!["h3-29".to_string()], "{client}");
        let (got, want) = (s.ja4.as_deref().unwrap(), want_ja4.as_deref().unwrap());
        assert_eq!(
            (&got[..8], &got[10..]),
            (&want[..8], &want[10..]),
            "{client}"
        );
        assert_eq!(s.anomalies, 0, "{client}: {:?}", s.anomaly_reasons);
    }
}

#[test]
fn ndpi_client_hello_in_two_initials_without_sni() {
    // ndpi .out: no SNI; ALPN list of 18 recovered only after reassembling two Initials.
    // (This capture is IPv6 over Ethernet.)
    let s = only_flow("ndpi/pcap/quic_frags_ch_in_multiple_packets.pcapng");
    assert_eq!(s.version.as_deref(), Some("1"));
    assert_eq!(s.sni, None);
    let want = "h3-34;hq-34;h3-33;hq-33;h3-32;hq-32;h3-31;hq-31;h3-29;hq-29;h3-30;hq-30;h3-28;hq-28;h3-27;hq-27;h3;hq-interop";
    assert_eq!(s.alpn.join(";"), want);
    // nDPI: JA4 q00d0307h3_55b375c5d22e_af0a630e9e67. "00": supported_versions holds
    // 0x7f1c (a TLS 1.3 draft), numerically the highest, as FoxIO's rule says. nDPI's "d"
    // and "h3" are its quirks: FoxIO gives "i" without SNI and "h4" for "h3-34".
    let ja4 = s.ja4.unwrap();
    assert_eq!(
        (&ja4[..3], &ja4[4..8], &ja4[10..]),
        ("q00", "0307", "_55b375c5d22e_af0a630e9e67")
    );
    assert_eq!((&ja4[3..4], &ja4[8..10]), ("i", "h4"));
}

#[test]
fn ndpi_interop_version_negotiation() {
    // ndpi .out: 63 flows, all "QUIC ver: Ver-Negotiation", no SNI; 32 have a reply.
    // The clients offer a reserved (greased) version, for which no Initial salt exists, so
    // tunscope reports the header only (no SNI), like nDPI and unlike TShark's guess.
    let rel = "ndpi/pcap/quic_interop_V.pcapng";
    let ours: BTreeMap<String, QuicSummary> = flows_by_client(rel).into_iter().collect();
    let text =
        std::fs::read_to_string(format!("{CORPUS}ndpi/result/quic_interop_V.pcapng.out")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("\tUDP ")).collect();
    assert_eq!((lines.len(), ours.len()), (63, 63));
    for l in lines {
        let client = l
            .split("\tUDP ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap();
        let s = ours
            .get(client)
            .unwrap_or_else(|| panic!("no flow for {client}"));
        let v = s.version.as_deref().unwrap();
        let n = u32::from_str_radix(v.trim_start_matches("0x"), 16).unwrap();
        assert_eq!(
            n & 0x0f0f0f0f,
            0x0a0a0a0a,
            "{client}: {v} is not a reserved version"
        );
        assert_eq!(s.sni, None);
        assert_eq!(s.version_negotiation, l.contains(" <-> "), "{client}");
    }
}

#[test]
fn detector_rejects_wireguard() {
    // ndpi/result/wireguard.pcap.out: the one UDP flow is WireGuard, not QUIC.
    let all = read_pcap("ndpi/pcap/wireguard.pcap");
    assert!(all.len() > 10);
    assert!(all.iter().all(|d| !looks_like_quic(&d.payload)));
}
