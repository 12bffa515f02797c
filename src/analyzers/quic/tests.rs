//! Known-answer tests from RFC 9001 App. A, RFC 9369 App. A and draft-ietf-quic-tls-29
//! App. A (`shared/specs/quic-vectors.txt`), end-to-end flow tests over those packets, and
//! property tests (no panic on any input).
//!
//! Every expected value below is copied from the RFC/draft text; the hex constants at the
//! bottom are the RFC blocks with whitespace removed.

use super::conn::QuicFlow;
use super::header::{LongHeader, Packet, parse_packet};
use super::initial::{Frame, Frames, open_long, open_packet, unprotect_header};
use super::keys::{
    DirectionalKeys, InitialKeys, InitialSecrets, KeyMaterial, Suite, retry_integrity_tag,
    verify_retry,
};
use super::version::{Labels, Version};
use crate::analyzers::tls::{parse_client_hello, parse_server_hello};
use crate::flow::Direction;
use crate::timestamp::Timestamp;

/// Hex text (whitespace ignored) to bytes, for test vectors.
pub(crate) fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const DCID: &str = "8394c8f03e515708";

fn long(packet: &[u8]) -> LongHeader<'_> {
    match parse_packet(packet, None).unwrap().0 {
        Packet::Long(l) => l,
        other => panic!("not a long header: {other:?}"),
    }
}

struct KeyVector {
    version: Version,
    initial: &'static str,
    client: &'static str,
    server: &'static str,
    /// (key, iv, hp) client then server.
    c: [&'static str; 3],
    s: [&'static str; 3],
}

fn check_keys(v: &KeyVector) {
    let sec = InitialSecrets::derive(v.version, &h(DCID)).unwrap();
    assert_eq!(sec.initial.to_vec(), h(v.initial), "initial_secret");
    assert_eq!(sec.client.to_vec(), h(v.client), "client_initial_secret");
    assert_eq!(sec.server.to_vec(), h(v.server), "server_initial_secret");
    for (secret, want) in [(&sec.client, &v.c), (&sec.server, &v.s)] {
        let m = KeyMaterial::from_secret(secret, sec.labels, Suite::Aes128Gcm).unwrap();
        assert_eq!(m.key(), h(want[0]).as_slice(), "key");
        assert_eq!(m.iv.to_vec(), h(want[1]), "iv");
        assert_eq!(m.hp(), h(want[2]).as_slice(), "hp");
    }
}

#[test]
fn rfc9001_a1_keys_v1() {
    check_keys(&KeyVector {
        version: Version::V1,
        initial: "7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44",
        client: "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
        server: "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b",
        c: [
            "1f369613dd76d5467730efcbe3b1a22d",
            "fa044b2f42a3fd3b46fb255c",
            "9f50449e04a0e810283a1e9933adedd2",
        ],
        s: [
            "cf3a5331653c364c88f0f379b6067e37",
            "0ac1493ca1905853b0bba03e",
            "c206b8d9b9f0f37644430b490eeaa314",
        ],
    });
}

#[test]
fn rfc9369_a1_keys_v2() {
    check_keys(&KeyVector {
        version: Version::V2,
        initial: "2062e8b3cd8d52092614b8071d0aa1fb7c2e3ac193f78b280e72d8f5751f6aba",
        client: "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
        server: "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1",
        c: [
            "8b1a0bc121284290a29e0971b5cd045d",
            "91f73e2351d8fa91660e909f",
            "45b95e15235d6f45a6b19cbcb0294ba9",
        ],
        s: [
            "82db637861d55e1d011f19ea71d5d2a7",
            "dd13c276499c0249d3310652",
            "edf6d05c83121201b436e16877593c3a",
        ],
    });
}

#[test]
fn draft29_a1_keys() {
    check_keys(&KeyVector {
        version: Version::DRAFT_29,
        initial: "1e7e7764529715b1e0ddc8e9753c61576769605187793ed366f8bbf8c9e986eb",
        client: "0088119288f1d866733ceeed15ff9d50902cf82952eee27e9d4d4918ea371d87",
        server: "006f881359244dd9ad1acf85f595bad67c13f9f5586f5e64e1acae1d9ea8f616",
        c: [
            "175257a31eb09dea9366d8bb79ad80ba",
            "6b26114b9cba2b63a9e8dd4f",
            "9ddd12c994c0698b89374a9c077a3077",
        ],
        s: [
            "149d0b1662ab871fbe63c49b5e655a5d",
            "bab2b12a4c76016ace47856d",
            "c0c499a65a60024a18a250974ea01dfa",
        ],
    });
}

/// One Initial vector: the protected packet, the RFC's sample/mask, unprotected header, payload.
struct InitialVector {
    version: Version,
    client: bool,
    packet: &'static str,
    sample: &'static str,
    mask: &'static str,
    header: &'static str,
    pn: u64,
}

fn open_vector(v: &InitialVector) -> Vec<u8> {
    let pkt = h(v.packet);
    let hdr = long(&pkt);
    assert_eq!(hdr.version, v.version);
    let keys = InitialKeys::derive(v.version, &h(DCID)).unwrap();
    let dk = if v.client { &keys.client } else { &keys.server };
    // Sample position and mask (RFC: sample = 16 bytes at pn_offset + 4).
    let sample = &pkt[hdr.pn_offset + 4..hdr.pn_offset + 20];
    assert_eq!(sample, h(v.sample).as_slice(), "sample");
    assert_eq!(dk.hp_mask(sample).unwrap().to_vec(), h(v.mask), "mask");
    let want_header = h(v.header);
    let (first, pn_len, pn) = unprotect_header(dk, hdr.bytes, hdr.pn_offset, true).unwrap();
    assert_eq!(
        (first, pn_len, pn),
        (want_header[0], want_header.len() - hdr.pn_offset, v.pn)
    );
    let o = open_long(dk, &hdr, None).unwrap();
    assert_eq!(o.header, want_header, "unprotected header (AAD)");
    assert_eq!(o.pn, v.pn);
    assert_eq!(o.reserved_bits, 0);
    o.payload
}

fn check_client_payload(payload: &[u8], crypto_frame: &str) {
    let frame = h(crypto_frame);
    assert_eq!(payload.len(), 1162, "RFC: 1162-byte payload");
    assert_eq!(&payload[..frame.len()], frame.as_slice());
    assert!(
        payload[frame.len()..].iter().all(|&b| b == 0),
        "rest is PADDING"
    );
}

fn client_hello_of(payload: &[u8]) -> crate::analyzers::tls::ClientHello {
    let mut frames = Frames::new(payload, false);
    let Some(Ok(Frame::Crypto { offset: 0, data })) = frames.next() else {
        panic!("first frame is not CRYPTO@0")
    };
    assert!(matches!(frames.next(), Some(Ok(Frame::Padding { .. }))));
    assert!(frames.next().is_none());
    parse_client_hello(data).unwrap()
}

#[test]
fn rfc9001_a2_client_initial_v1() {
    let payload = open_vector(&InitialVector {
        version: Version::V1,
        client: true,
        packet: V1_CLIENT_PACKET,
        sample: "d1b1c98dd7689fb8ec11d242b123dc9b",
        mask: "437b9aec36",
        header: "c300000001088394c8f03e5157080000449e00000002",
        pn: 2,
    });
    check_client_payload(&payload, V1_CLIENT_PAYLOAD_CRYPTO);
    let ch = client_hello_of(&payload);
    // quic-vectors.txt "Handy numbers": SNI example.com, ALPN "alpn", suites 1301 1302,
    // supported_versions 0304, transport parameters 50 bytes.
    assert_eq!(ch.sni.as_deref(), Some("example.com"));
    assert_eq!(ch.alpn, vec!["alpn".to_string()]);
    assert_eq!(ch.cipher_suites, vec![0x1301, 0x1302]);
    assert_eq!(ch.supported_versions, vec![0x0304]);
    assert_eq!(ch.quic_transport_parameters_len, Some(50));
    // From the RFC bytes: 000a 0008 0006 001d 0017 0018; 0033 ... 001d; 000d 0010 000e 0403 ...
    assert_eq!(ch.supported_groups, vec![0x001d, 0x0017, 0x0018]);
    assert_eq!(ch.key_share_groups, vec![0x001d]);
    assert_eq!(
        ch.signature_algorithms,
        vec![0x0403, 0x0503, 0x0603, 0x0203, 0x0804, 0x0805, 0x0806]
    );
    assert_eq!(
        ch.extensions,
        vec![
            0x0000, 0xff01, 0x000a, 0x0010, 0x0005, 0x0033, 0x002b, 0x000d, 0x002d, 0x001c, 0x0039
        ]
    );
}

#[test]
fn rfc9369_a2_client_initial_v2() {
    let payload = open_vector(&InitialVector {
        version: Version::V2,
        client: true,
        packet: V2_CLIENT_PACKET,
        sample: "ffe67b6abcdb4298b485dd04de806071",
        mask: "94a0c95e80",
        header: "d36b3343cf088394c8f03e5157080000449e00000002",
        pn: 2,
    });
    check_client_payload(&payload, V2_CLIENT_PAYLOAD_CRYPTO);
    assert_eq!(
        client_hello_of(&payload).sni.as_deref(),
        Some("example.com")
    );
}

#[test]
fn draft29_a2_client_initial() {
    let payload = open_vector(&InitialVector {
        version: Version::DRAFT_29,
        client: true,
        packet: D29_CLIENT_PACKET,
        sample: "fb66bc5f93032b7ddd89fe0ff15d9c4f",
        mask: "d64a952459",
        header: "c3ff00001d088394c8f03e5157080000449e00000002",
        pn: 2,
    });
    check_client_payload(&payload, D29_CLIENT_PAYLOAD_CRYPTO);
    let ch = client_hello_of(&payload);
    assert_eq!(ch.sni.as_deref(), Some("server"));
}

fn check_server_hello(payload: &[u8]) {
    let mut frames = Frames::new(payload, false);
    assert!(matches!(
        frames.next(),
        Some(Ok(Frame::Ack { largest: 0, .. }))
    ));
    let Some(Ok(Frame::Crypto { offset: 0, data })) = frames.next() else {
        panic!("no CRYPTO")
    };
    assert!(frames.next().is_none());
    let sh = parse_server_hello(data).unwrap();
    // RFC bytes: cipher 1301, supported_versions 0304, key_share x25519.
    assert_eq!(sh.cipher_suite, 0x1301);
    assert_eq!(sh.selected_version(), 0x0304);
    assert_eq!(sh.key_share_group, Some(0x001d));
}

#[test]
fn rfc9001_a3_server_initial_v1() {
    let payload = open_vector(&InitialVector {
        version: Version::V1,
        client: false,
        packet: V1_SERVER_PACKET,
        sample: "2cd0991cd25b0aac406a5816b6394100",
        mask: "2ec0d8356a",
        header: "c1000000010008f067a5502a4262b50040750001",
        pn: 1,
    });
    assert_eq!(payload, h(V1_SERVER_PAYLOAD));
    check_server_hello(&payload);
}

#[test]
fn rfc9369_a3_server_initial_v2() {
    let payload = open_vector(&InitialVector {
        version: Version::V2,
        client: false,
        packet: V2_SERVER_PACKET,
        sample: "6f05d8a4398c47089698baeea26b91eb",
        mask: "4dd92e91ea",
        header: "d16b3343cf0008f067a5502a4262b50040750001",
        pn: 1,
    });
    assert_eq!(payload, h(V2_SERVER_PAYLOAD));
    check_server_hello(&payload);
}

#[test]
fn draft29_a3_server_initial() {
    // The draft-29 server payload still uses draft-13 frame codes: compare bytes only.
    let payload = open_vector(&InitialVector {
        version: Version::DRAFT_29,
        client: false,
        packet: D29_SERVER_PACKET,
        sample: "823a5d3a1207c86ee49132824f046524",
        mask: "abaaf34fdc",
        header: "c1ff00001d0008f067a5502a4262b50040740001",
        pn: 1,
    });
    assert_eq!(payload, h(D29_SERVER_PAYLOAD));
}

#[test]
fn wrong_keys_fail_authentication() {
    let pkt = h(V1_CLIENT_PACKET);
    let keys = InitialKeys::derive(Version::V1, &h("0000000000000000")).unwrap();
    assert!(open_long(&keys.client, &long(&pkt), None).is_err());
    // Right DCID but v2 keys on a v1 packet.
    let keys = InitialKeys::derive(Version::V2, &h(DCID)).unwrap();
    assert!(open_long(&keys.client, &long(&pkt), None).is_err());
}

fn check_retry(version: Version, retry_hex: &str) {
    let pkt = h(retry_hex);
    let Packet::Retry(r) = parse_packet(&pkt, None).unwrap().0 else {
        panic!("not a Retry")
    };
    assert_eq!(r.token, b"token");
    let body = &pkt[..pkt.len() - 16];
    let tag = retry_integrity_tag(version, &h(DCID), body).unwrap();
    assert_eq!(
        tag.as_slice(),
        r.tag,
        "computed tag equals the packet's last 16 bytes"
    );
    assert!(verify_retry(version, &h(DCID), &pkt));
    assert!(
        !verify_retry(version, &h("8394c8f03e515709"), &pkt),
        "other ODCID"
    );
    let mut bad = pkt.clone();
    bad[20] ^= 1;
    assert!(!verify_retry(version, &h(DCID), &bad), "tampered token");
}

#[test]
fn rfc9001_a4_retry_v1() {
    check_retry(Version::V1, V1_RETRY);
}

#[test]
fn rfc9369_a4_retry_v2() {
    check_retry(Version::V2, V2_RETRY);
}

#[test]
fn draft29_a4_retry() {
    check_retry(Version::DRAFT_29, D29_RETRY);
}

struct ChachaVector {
    labels: Labels,
    key: &'static str,
    iv: &'static str,
    hp: &'static str,
    nonce: &'static str,
    mask: &'static str,
    packet: &'static str,
}

fn check_chacha(v: &ChachaVector) {
    let secret = h("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
    let m = KeyMaterial::from_secret(&secret, v.labels, Suite::ChaCha20Poly1305).unwrap();
    assert_eq!(m.key(), h(v.key).as_slice());
    assert_eq!(m.iv.to_vec(), h(v.iv));
    assert_eq!(m.hp(), h(v.hp).as_slice());
    let dk = DirectionalKeys::new(&m).unwrap();
    const PN: u64 = 654_360_564;
    assert_eq!(dk.nonce(PN).to_vec(), h(v.nonce));
    let pkt = h(v.packet);
    assert_eq!(pkt.len(), 21);
    // "One byte is skipped to produce the sample": pn_offset 1 (empty DCID), sample at 5.
    assert_eq!(dk.hp_mask(&pkt[5..21]).unwrap().to_vec(), h(v.mask));
    let o = open_packet(&dk, &pkt, 1, false, Some(PN - 1)).unwrap();
    assert_eq!(o.header, h("4200bff4"), "unprotected header");
    assert_eq!((o.pn_len, o.pn), (3, PN));
    assert_eq!(o.payload, vec![0x01], "a single PING frame");
}

#[test]
fn rfc9001_a5_chacha20_short_header() {
    check_chacha(&ChachaVector {
        labels: Labels::V1,
        key: "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8",
        iv: "e0459b3474bdd0e44a41c144",
        hp: "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4",
        nonce: "e0459b3474bdd0e46d417eb0",
        mask: "aefefe7d03",
        packet: "4cfe4189655e5cd55c41f69080575d7999c25a5bfb",
    });
}

#[test]
fn rfc9369_a5_chacha20_short_header() {
    check_chacha(&ChachaVector {
        labels: Labels::V2,
        key: "3bfcddd72bcf02541d7fa0dd1f5f9eeea817e09a6963a0e6c7df0f9a1bab90f2",
        iv: "a6b5bc6ab7dafce30ffff5dd",
        hp: "d659760d2ba434a226fd37b35c69e2da8211d10c4f12538787d65645d5d1b8e2",
        nonce: "a6b5bc6ab7dafce328ff4a29",
        mask: "97580e32bf",
        packet: "5558b1c60ae7b6b932bc27d786f4bc2bb20f2162ba",
    });
}

fn ts(ms: i64) -> Timestamp {
    Timestamp(ms * 1_000_000)
}

#[test]
fn flow_over_rfc_v1_exchange() {
    let mut f = QuicFlow::new();
    f.on_datagram(Direction::ClientToServer, &h(V1_CLIENT_PACKET), ts(0));
    f.on_datagram(Direction::ServerToClient, &h(V1_SERVER_PACKET), ts(5));
    let s = f.summarize();
    assert_eq!(s.version.as_deref(), Some("1"));
    assert_eq!(s.client_dcid.as_deref(), Some(DCID));
    assert_eq!(s.client_scid.as_deref(), Some(""));
    assert_eq!(s.server_scid.as_deref(), Some("f067a5502a4262b5"));
    assert_eq!(s.sni.as_deref(), Some("example.com"));
    assert_eq!(s.alpn, vec!["alpn".to_string()]);
    assert_eq!(s.tls_cipher.as_deref(), Some("0x1301"));
    assert_eq!(s.tls_version.as_deref(), Some("0x0304"));
    assert_eq!(
        (s.packets_c2s, s.packets_s2c, s.bytes_c2s, s.bytes_s2c),
        (1, 1, 1200, 135)
    );
    assert_eq!(s.anomalies, 0, "{:?}", s.anomaly_reasons);
    assert!(
        s.ja4.as_deref().unwrap().starts_with("q13d0211an_"),
        "{:?}",
        s.ja4
    );
}

#[test]
fn flow_over_rfc_v2_exchange() {
    let mut f = QuicFlow::new();
    f.on_datagram(Direction::ClientToServer, &h(V2_CLIENT_PACKET), ts(0));
    f.on_datagram(Direction::ServerToClient, &h(V2_SERVER_PACKET), ts(5));
    let s = f.summarize();
    assert_eq!(s.version.as_deref(), Some("2"));
    assert_eq!(s.sni.as_deref(), Some("example.com"));
    assert_eq!(s.tls_cipher.as_deref(), Some("0x1301"));
    assert_eq!(s.anomalies, 0, "{:?}", s.anomaly_reasons);
}

#[test]
fn flow_sees_retry_and_verifies_its_tag() {
    let mut f = QuicFlow::new();
    f.on_datagram(Direction::ClientToServer, &h(V1_CLIENT_PACKET), ts(0));
    f.on_datagram(Direction::ServerToClient, &h(V1_RETRY), ts(1));
    let s = f.summarize();
    assert!(s.retry);
    assert_eq!(s.retry_tag_valid, Some(true));
    assert_eq!(s.anomalies, 0, "{:?}", s.anomaly_reasons);
    // The same Retry after a client Initial with another DCID fails verification.
    let mut g = QuicFlow::new();
    let mut other = h(V1_CLIENT_PACKET);
    other[13] ^= 0xff; // last DCID byte
    g.on_datagram(Direction::ClientToServer, &other, ts(0));
    g.on_datagram(Direction::ServerToClient, &h(V1_RETRY), ts(1));
    assert_eq!(g.summarize().retry_tag_valid, Some(false));
}

// ---- CRYPTO reassembly end to end: build protected Initials (test-only encoder) ----

/// Protect one v1 client Initial carrying `frames` (padded), DCID 8394.., PN `pn`.
fn client_initial(frames: &[u8], pn: u32) -> Vec<u8> {
    let keys = InitialKeys::derive(Version::V1, &h(DCID)).unwrap();
    let mut payload = frames.to_vec();
    payload.resize(1162, 0);
    let len = 4 + payload.len() + 16;
    let mut hdr = h("c300000001088394c8f03e5157080000"); // SCID len 0, token len 0
    hdr.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    let pn_offset = hdr.len();
    hdr.extend_from_slice(&pn.to_be_bytes());
    keys.client
        .seal_in_place(u64::from(pn), &hdr, &mut payload)
        .unwrap();
    let mut pkt = hdr;
    pkt.extend_from_slice(&payload);
    let mask = keys
        .client
        .hp_mask(&pkt[pn_offset + 4..pn_offset + 20])
        .unwrap();
    pkt[0] ^= mask[0] & 0x0f;
    for i in 0..4 {
        pkt[pn_offset + i] ^= mask[1 + i];
    }
    pkt
}

fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x06,
        0x40 | (offset >> 8) as u8,
        offset as u8,
        0x40 | (data.len() >> 8) as u8,
        data.len() as u8,
    ];
    f.extend_from_slice(data);
    f
}

/// The RFC 9001 A.2 ClientHello (the CRYPTO frame's data).
fn rfc_client_hello() -> Vec<u8> {
    h(V1_CLIENT_PAYLOAD_CRYPTO)[4..].to_vec()
}

#[test]
fn client_hello_split_over_packets_in_reverse_order() {
    let ch = rfc_client_hello();
    let p1 = client_initial(&crypto_frame(0, &ch[..80]), 0);
    let p2 = client_initial(&crypto_frame(80, &ch[80..160]), 1);
    let p3 = client_initial(&crypto_frame(160, &ch[160..]), 2);
    let mut f = QuicFlow::new();
    f.on_datagram(Direction::ClientToServer, &p3, ts(0));
    assert!(f.client_hello().is_none());
    f.on_datagram(Direction::ClientToServer, &p2, ts(1));
    assert!(f.client_hello().is_none());
    f.on_datagram(Direction::ClientToServer, &p1, ts(2));
    let s = f.summarize();
    assert_eq!(s.sni.as_deref(), Some("example.com"));
    assert_eq!(s.anomalies, 0, "{:?}", s.anomaly_reasons);
}

#[test]
fn client_hello_chaos_inside_one_packet() {
    // Chrome-style: fragments reordered, PING and PADDING between them, one overlap.
    let ch = rfc_client_hello();
    let mut frames = crypto_frame(150, &ch[150..]);
    frames.extend_from_slice(&[0x01, 0x00, 0x00]);
    frames.extend_from_slice(&crypto_frame(40, &ch[40..160]));
    frames.push(0x01);
    frames.extend_from_slice(&crypto_frame(0, &ch[..40]));
    let mut f = QuicFlow::new();
    f.on_datagram(
        Direction::ClientToServer,
        &client_initial(&frames, 0),
        ts(0),
    );
    assert_eq!(f.summarize().sni.as_deref(), Some("example.com"));
}

#[test]
fn handshake_timing_and_zero_rtt() {
    let mut f = QuicFlow::new();
    f.on_datagram(Direction::ClientToServer, &h(V1_CLIENT_PACKET), ts(10));
    // 0-RTT (type 1) from the client, same DCID: first byte 0xd0.
    let mut z = h("d000000001088394c8f03e5157080014");
    z.extend_from_slice(&[0x33; 20]);
    f.on_datagram(Direction::ClientToServer, &z, ts(11));
    f.on_datagram(Direction::ServerToClient, &h(V1_SERVER_PACKET), ts(20));
    // Server Handshake (type 2): DCID empty (client SCID), SCID f067...
    let mut hs = h("e0000000010008f067a5502a4262b514");
    hs.extend_from_slice(&[0x44; 20]);
    f.on_datagram(Direction::ServerToClient, &hs, ts(30));
    // Client 1-RTT short header to the server's CID.
    let mut short = h("40f067a5502a4262b5");
    short.extend_from_slice(&[0x55; 30]);
    f.on_datagram(Direction::ClientToServer, &short, ts(45));
    let s = f.summarize();
    assert!(s.zero_rtt);
    assert_eq!(s.server_handshake_ms, Some(20.0));
    assert_eq!(s.handshake_ms, Some(35.0));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn feed_all(d: &[u8]) {
        let _ = super::super::header::looks_like_quic(d);
        for p in super::super::header::packets(d, Some(8)) {
            let _ = p;
        }
        let _ = parse_client_hello(d);
        let _ = parse_server_hello(d);
        let _ = crate::analyzers::tls::parse_client_hello_records(d);
        for f in Frames::new(d, true) {
            let _ = f;
        }
        let mut flow = QuicFlow::new();
        flow.on_datagram(Direction::ClientToServer, d, Timestamp(0));
        flow.on_datagram(Direction::ServerToClient, d, Timestamp(1));
        let _ = serde_json::to_string(&flow.summarize()).unwrap();
    }

    /// Coalesced splitting: every packet is a slice of the datagram, packets follow each
    /// other without gaps or overlaps, a long header's packet ends at `pn_offset + Length`,
    /// and packets plus trailing bytes are exactly the datagram (when the first parsed).
    fn check_split(d: &[u8], short: Option<usize>) -> Result<(), TestCaseError> {
        let base = d.as_ptr() as usize;
        let mut it = super::super::header::packets(d, short);
        let mut off = 0usize;
        let mut n = 0usize;
        let mut first_err = false;
        for r in &mut it {
            match r {
                Ok(p) => {
                    let b = p.bytes();
                    let start = b.as_ptr() as usize - base;
                    prop_assert_eq!(start, off, "packet {} does not follow the previous", n);
                    prop_assert!(start + b.len() <= d.len(), "packet beyond the datagram");
                    prop_assert!(!b.is_empty());
                    if let Packet::Long(h) = p {
                        prop_assert_eq!(h.pn_offset as u64 + h.length, b.len() as u64);
                        for part in [h.dcid, h.scid, h.token] {
                            let ps = part.as_ptr() as usize;
                            prop_assert!(
                                part.is_empty()
                                    || (ps >= base + start
                                        && ps + part.len() <= base + start + b.len())
                            );
                        }
                    }
                    off += b.len();
                    n += 1;
                }
                Err(_) => {
                    prop_assert_eq!(n, 0, "only the first packet's error is yielded");
                    first_err = true;
                }
            }
        }
        prop_assert!(n <= super::super::header::MAX_COALESCED);
        if !first_err {
            let t = it.trailing();
            prop_assert_eq!(off + t.len(), d.len(), "packets + trailing != datagram");
            if !t.is_empty() {
                prop_assert_eq!(t.as_ptr() as usize - base, off);
            }
        }
        Ok(())
    }

    /// Valid packets glued together (each possibly cut or bit-flipped) then random bytes.
    fn coalesced() -> impl Strategy<Value = Vec<u8>> {
        let pkt = (0usize..6, 0usize..1300, any::<u16>(), 0u8..8);
        (
            proptest::collection::vec(pkt, 1..4),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(pkts, tail)| {
                let mut d = Vec::new();
                for (which, cut, flip, bit) in pkts {
                    let src = [
                        V1_CLIENT_PACKET,
                        V1_SERVER_PACKET,
                        V1_RETRY,
                        V2_CLIENT_PACKET,
                        V2_SERVER_PACKET,
                        D29_SERVER_PACKET,
                    ][which];
                    let mut p = h(src);
                    p.truncate(cut.max(1));
                    if let Some(b) = p.get_mut(usize::from(flip) % 2000) {
                        *b ^= 1 << bit;
                    }
                    d.extend_from_slice(&p);
                }
                d.extend_from_slice(&tail);
                d
            })
    }

    proptest! {
        #[test]
        fn coalesced_split_stays_inside_the_datagram(d in coalesced(), short in prop_oneof![Just(None), (0usize..21).prop_map(Some)]) {
            check_split(&d, short)?;
            for cut in [0, d.len() / 3, d.len() / 2, d.len().saturating_sub(1)] {
                check_split(&d[..cut], short)?;
            }
        }

        #[test]
        fn random_split_stays_inside_the_datagram(d in proptest::collection::vec(any::<u8>(), 0..1500)) {
            check_split(&d, None)?;
            check_split(&d, Some(8))?;
        }

        #[test]
        fn v2ray_unwrapping_never_panics(d in proptest::collection::vec(any::<u8>(), 0..1500), hdr in 0usize..6) {
            use super::super::v2ray::{Disguise, Probe, V2rayFlow, V2rayKey, probe};
            // Random bytes behind each disguise's fixed bytes, and as they are.
            let prefixes: [&[u8]; 6] = [&[], &[0xb5, 0xe8, 0, 1], &[0, 1, 1, 0], &[0xa1, 8, 0, 0, 0, 1, 0, 0x10, 0x11, 0x18, 0x30, 0x22, 0x30], &[0x17, 0xfe, 0xfd, 1, 2, 0, 0, 0, 0, 0, 0, 0, 17], &[4, 0, 0, 0]];
            let wrapped = [prefixes[hdr], &d[..]].concat();
            let keys = V2rayKey::list(&["k".into()]);
            for x in [&d[..], &wrapped[..]] {
                let p = probe(x, &keys);
                prop_assert!(!matches!(p, Some(Probe::Quic(_))), "random bytes opened");
                for g in Disguise::ALL {
                    let mut f = V2rayFlow::new(Probe::HeaderOnly(g));
                    f.on_datagram(Direction::ClientToServer, x, Timestamp(0));
                    f.on_datagram(Direction::ServerToClient, x, Timestamp(1));
                    let _ = f.summarize();
                }
            }
        }

        #[test]
        fn random_bytes_never_panic(d in proptest::collection::vec(any::<u8>(), 0..1500)) {
            feed_all(&d);
        }

        #[test]
        fn random_long_headers_never_panic(first in 0x80u8.., version in prop_oneof![Just(1u32), Just(0x6b3343cf), Just(0xff00001d), Just(0), any::<u32>()],
                                           rest in proptest::collection::vec(any::<u8>(), 0..1300)) {
            let mut d = vec![first];
            d.extend_from_slice(&version.to_be_bytes());
            d.extend_from_slice(&rest);
            feed_all(&d);
        }

        #[test]
        fn truncated_and_mutated_rfc_packets_never_panic(which in 0usize..6, cut in 0usize..1300, flip in 0usize..1300, bit in 0u8..8) {
            let src = [V1_CLIENT_PACKET, V1_SERVER_PACKET, V1_RETRY, V2_CLIENT_PACKET, V2_SERVER_PACKET, D29_CLIENT_PACKET][which];
            let mut d = h(src);
            let cut = cut.min(d.len());
            feed_all(&d[..cut]);
            if let Some(b) = d.get_mut(flip) { *b ^= 1 << bit; }
            feed_all(&d);
            // A valid client Initial followed by a mutated copy in one flow.
            let mut flow = QuicFlow::new();
            flow.on_datagram(Direction::ClientToServer, &h(V1_CLIENT_PACKET), Timestamp(0));
            flow.on_datagram(Direction::ServerToClient, &d, Timestamp(1));
            flow.on_datagram(Direction::ClientToServer, &d, Timestamp(2));
            let _ = flow.summarize();
        }

        #[test]
        fn crypto_any_split_and_order_reassembles(cuts in proptest::collection::vec(0usize..241, 0..12), seed in any::<u64>()) {
            let ch = rfc_client_hello();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(ch.len())).collect();
            points.push(0);
            points.push(ch.len());
            points.sort_unstable();
            points.dedup();
            let mut pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            // Deterministic shuffle from the seed, plus one duplicate.
            let mut s = seed;
            for i in (1..pieces.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                pieces.swap(i, (s >> 33) as usize % (i + 1));
            }
            if let Some(&p) = pieces.first() { pieces.push(p); }
            let mut stream = super::super::initial::CryptoStream::new();
            for (a, b) in pieces {
                stream.insert(a as u64, &ch[a..b]).unwrap();
            }
            prop_assert_eq!(stream.contiguous(), ch.as_slice());
            prop_assert_eq!(stream.range_count(), 1);
        }
    }
}

const V1_CLIENT_PAYLOAD_CRYPTO: &str = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578616d706c652e636f6dff01000100000a00080006001d0017001800100007000504616c706e000500050100000000003300260024001d00209370b2c9caa47fbabaf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b0003020304000d0010000e0403050306030203080408050806002d00020101001c00024001003900320408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f088394c8f03e51570806048000ffff";
pub(super) const V1_CLIENT_PACKET: &str = "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f3991c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df621230c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c2084dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f89937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c7468449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663ac69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe5896425c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ffef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009ddc324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77fcb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450efc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03adea2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e72404790a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f440591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca06948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f0940054da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd46840647e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241e221af44860018ab0856972e194cd934";
const V1_SERVER_PAYLOAD: &str = "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c940d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304";
pub(crate) const V1_SERVER_PACKET: &str = "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc42158407dd074ee";
const V1_RETRY: &str = "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba";
const V2_CLIENT_PAYLOAD_CRYPTO: &str = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578616d706c652e636f6dff01000100000a00080006001d0017001800100007000504616c706e000500050100000000003300260024001d00209370b2c9caa47fbabaf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b0003020304000d0010000e0403050306030203080408050806002d00020101001c00024001003900320408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f088394c8f03e51570806048000ffff";
const V2_CLIENT_PACKET: &str = "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad049f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd6818f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff3312ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1fac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c1216ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e54df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de714d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff99c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e7071010d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d134b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e38d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b536f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb199a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96ba18b2faa745b6fe189cf772a9f84cbfc";
const V2_SERVER_PAYLOAD: &str = "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c940d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304";
const V2_SERVER_PACKET: &str = "dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca84bed8521e2e140";
const V2_RETRY: &str = "cf6b3343cf0008f067a5502a4262b5746f6b656ec8646ce8bfe33952d955543665dcc7b6";
const D29_CLIENT_PAYLOAD_CRYPTO: &str = "060040c4010000c003036660261ff947cea49cce6cfad687f457cf1b14531ba14131a0e8f309a1d0b9c4000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d00204cfdfcd178b784bf328cae793b136f2aedce005ff183d7bb1495207236647037002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001";
const D29_CLIENT_PACKET: &str = "c5ff00001d088394c8f03e5157080000449e4a95245bfb66bc5f93032b7ddd89fe0ff15d9c4f7050fccdb71c1cd80512d4431643a53aafa1b0b518b44968b18b8d3e7a4d04c30b3ed9410325b2abb2dafb1c12f8b70479eb8df98abcaf95dd8f3d1c78660fbc719f88b23c8aef6771f3d50e10fdfb4c9d92386d44481b6c52d59e5538d3d3942de9f13a7f8b702dc31724180da9df22714d01003fc5e3d165c950e630b8540fbd81c9df0ee63f94997026c4f2e1887a2def79050ac2d86ba318e0b3adc4c5aa18bcf63c7cf8e85f569249813a2236a7e72269447cd1c755e451f5e77470eb3de64c8849d292820698029cfa18e5d66176fe6e5ba4ed18026f90900a5b4980e2f58e39151d5cd685b10929636d4f02e7fad2a5a458249f5c0298a6d53acbe41a7fc83fa7cc01973f7a74d1237a51974e097636b6203997f921d07bc1940a6f2d0de9f5a11432946159ed6cc21df65c4ddd1115f86427259a196c7148b25b6478b0dc7766e1c4d1b1f5159f90eabc61636226244642ee148b464c9e619ee50a5e3ddc836227cad938987c4ea3c1fa7c75bbf88d89e9ada642b2b88fe8107b7ea375b1b64889a4e9e5c38a1c896ce275a5658d250e2d76e1ed3a34ce7e3a3f383d0c996d0bed106c2899ca6fc263ef0455e74bb6ac1640ea7bfedc59f03fee0e1725ea150ff4d69a7660c5542119c71de270ae7c3ecfd1af2c4ce551986949cc34a66b3e216bfe18b347e6c05fd050f85912db303a8f054ec23e38f44d1c725ab641ae929fecc8e3cefa5619df4231f5b4c009fa0c0bbc60bc75f76d06ef154fc8577077d9d6a1d2bd9bf081dc783ece60111bea7da9e5a9748069d078b2bef48de04cabe3755b197d52b32046949ecaa310274b4aac0d008b1948c1082cdfe2083e386d4fd84c0ed0666d3ee26c4515c4fee73433ac703b690a9f7bf278a77486ace44c489a0c7ac8dfe4d1a58fb3a730b993ff0f0d61b4d89557831eb4c752ffd39c10f6b9f46d8db278da624fd800e4af85548a294c1518893a8778c4f6d6d73c93df200960104e062b388ea97dcf4016bced7f62b4f062cb6c04c20693d9a0e3b74ba8fe74cc01237884f40d765ae56a51688d985cf0ceaef43045ed8c3f0c33bced08537f6882613acd3b08d665fce9dd8aa73171e2d3771a61dba2790e491d413d93d987e2745af29418e428be34941485c93447520ffe231da2304d6a0fd5d07d0837220236966159bef3cf904d722324dd852513df39ae030d8173908da6364786d3c1bfcb19ea77a63b25f1e7fc661def480c5d00d44456269ebd84efd8e3a8b2c257eec76060682848cbf5194bc99e49ee75e4d0d254bad4bfd74970c30e44b65511d4ad0e6ec7398e08e01307eeeea14e46ccd87cf36b285221254d8fc6a6765c524ded0085dca5bd688ddf722e2c0faf9d0fb2ce7a0c3f2cee19ca0ffba461ca8dc5d2c8178b0762cf67135558494d2a96f1a139f0edb42d2af89a9c9122b07acbc29e5e722df8615c343702491098478a389c9872a10b0c9875125e257c7bfdf27eef4060bd3d00f4c14fd3e3496c38d3c5d1a5668c39350effbc2d16ca17be4ce29f02ed969504dda2a8c6b9ff919e693ee79e09089316e7d1d89ec099db3b2b268725d888536a4b8bf9aee8fb43e82a4d919d4843b1ca70a2d8d3f725ead1391377dcc0";
const D29_SERVER_PAYLOAD: &str = "0d0000000018410a020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c940d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304";
const D29_SERVER_PACKET: &str = "caff00001d0008f067a5502a4262b5004074aaf2f007823a5d3a1207c86ee49132824f0465243d082d868b107a38092bc80528664cbf9456ebf27673fb5fa5061ab573c9f001b81da028a00d52ab00b15bebaa70640e106cf2acd043e9c6b4411c0a79637134d8993701fe779e58c2fe753d14b0564021565ea92e57bc6faf56dfc7a40870e6";
const D29_RETRY: &str = "ffff00001d0008f067a5502a4262b5746f6b656ed16926d81f6f9ca2953a8aa4575e1e49";
/// SHA-256 of the RFC 9001 A.2 client Initial wrapped by v2ray's wechat-video header (sn
/// 0x1234) and AES-128-GCM under the key "k" with nonce 00..0b, computed independently with
/// Python `cryptography` (see `v2ray.rs`).
pub(super) const V2RAY_WECHAT_AES_SHA256: &str =
    "ed3e584005da2aabfc82e55f598b3cee21ddff5672bcb3f793c61e58a9bd4fec";

/// Legacy Google QUIC client hellos (plaintext CHLO in a STREAM frame on stream 1, padded
/// to 1350 bytes with zeros): a Q043 public header and a Q046 long header. Hand-built;
/// TShark 4.0.17 (`-d udp.port==443,gquic -T fields -e gquic.version -e gquic.tag.sni`)
/// reads them as `Q043 www.example.org` and `Q046 q46.example.net`.
const Q043_CHLO: &str = "0901020304050607085130343301000000000000000000000000a001004743484c4f030000005041440014000000534e49002300000056455200270000002d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d7777772e6578616d706c652e6f726751303433";
const Q046_CHLO: &str = "c35130343650111213141516171800000001000000000000000000000000a001004743484c4f030000005041440014000000534e49002300000056455200270000002d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d7134362e6578616d706c652e6e657451303436";

#[test]
fn legacy_gquic_version_and_sni_from_the_chlo() {
    for (hex, version, sni) in [
        (Q043_CHLO, "Q043", "www.example.org"),
        (Q046_CHLO, "Q046", "q46.example.net"),
    ] {
        let mut d = h(hex);
        d.resize(1350, 0);
        let mut f = QuicFlow::new();
        f.on_datagram(Direction::ClientToServer, &d, ts(0));
        // A later (encrypted) packet of the connection: counted, no anomaly.
        f.on_datagram(Direction::ServerToClient, &[0x08; 200], ts(5));
        let s = f.summarize();
        assert_eq!(s.version.as_deref(), Some(version));
        assert_eq!(s.sni.as_deref(), Some(sni));
        assert_eq!(s.anomalies, 0, "{:?}", s.anomaly_reasons);
        assert_eq!((s.packets_c2s, s.packets_s2c), (1, 1));
        // Every cut of the CHLO is read without a panic, and never yields a wrong name.
        for k in 0..d.len().min(120) {
            let mut f = QuicFlow::new();
            let mut cut = d[..k].to_vec();
            cut.resize(1350, 0xff);
            f.on_datagram(Direction::ClientToServer, &cut, ts(0));
            let s = f.summarize();
            assert!(s.sni.is_none() || s.sni.as_deref() == Some(sni), "cut {k}");
        }
    }
}
