use super::*;
use proptest::prelude::*;

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

fn record(ct: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ct, 3, 3];
    v.extend((body.len() as u16).to_be_bytes());
    v.extend(body);
    v
}

fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    let mut v = vec![ty, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    v.extend(body);
    v
}

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend((data.len() as u16).to_be_bytes());
    v.extend(data);
    v
}

/// A TLS 1.2 ClientHello: SNI example.com, ALPN h2, ciphers c02f+GREASE, groups 29/23,
/// point formats [0].
pub(crate) fn client_hello_msg() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([0x11; 32]);
    b.push(0);
    b.extend([0, 4, 0x0a, 0x0a, 0xc0, 0x2f]);
    b.extend([1, 0]);
    let sni = [&[0u8, 14, 0, 0, 11][..], b"example.com"].concat();
    let exts = [
        ext(0x0a0a, &[]),
        ext(0x0000, &sni),
        ext(0x000a, &[0, 4, 0, 29, 0, 23]),
        ext(0x000b, &[1, 0]),
        ext(0x0010, &[0, 3, 2, b'h', b'2']),
    ]
    .concat();
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    handshake(1, &b)
}

pub(crate) fn client_hello_record() -> Vec<u8> {
    record(22, &client_hello_msg())
}

fn server_hello_msg() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([0x22; 32]);
    b.push(0);
    b.extend([0xc0, 0x2f, 0]);
    let exts = [ext(0xff01, &[0]), ext(0x0010, &[0, 3, 2, b'h', b'2'])].concat();
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    handshake(2, &b)
}

fn run(events: &[(Direction, Vec<u8>, i64)]) -> TlsRecord {
    let mut t = TlsStream::new();
    for (d, b, ms) in events {
        t.on_data(*d, b, Timestamp(ms * 1_000_000));
    }
    t.summarize()
}

fn tls12_conversation() -> Vec<(Direction, Vec<u8>, i64)> {
    let server_flight = [
        record(22, &server_hello_msg()),
        record(22, &handshake(14, &[])),
    ]
    .concat();
    vec![
        (C, client_hello_record(), 0),
        (S, server_flight, 10),
        (C, [record(20, &[1]), record(22, &[0x55; 40])].concat(), 20),
        (S, [record(20, &[1]), record(22, &[0x66; 40])].concat(), 30),
        (C, record(23, &[0x77; 100]), 45),
        (S, record(23, &[0x88; 300]), 60),
        (S, record(21, &[0x99; 26]), 70),
    ]
}

/// app-tls12's resumed connection: the server's CCS + Finished come first; the client's
/// CCS leaves alone and its Finished waits 43 ms in the socket (Nagle, delayed ACK) to go
/// out with the request. The client finished its handshake when it sent the CCS.
#[test]
fn regression_resumed_tls12_handshake_ends_at_the_clients_ccs_not_its_delayed_finished() {
    let server_flight = [
        record(22, &server_hello_msg()),
        record(20, &[1]),
        record(22, &[0x66; 40]),
    ]
    .concat();
    let r = run(&[
        (C, client_hello_record(), 0),
        (S, server_flight, 1),
        (C, record(20, &[1]), 2),
        (
            C,
            [record(22, &[0x55; 40]), record(23, &[0x77; 100])].concat(),
            45,
        ),
        (S, record(23, &[0x88; 300]), 46),
    ]);
    assert_eq!(r.handshake_ms, Some(2.0));
    assert_eq!((r.app_bytes_c2s, r.app_bytes_s2c), (100, 300));
}

#[test]
fn tls12_handshake_fields() {
    let r = run(&tls12_conversation());
    assert_eq!(r.sni.as_deref(), Some("example.com"));
    assert_eq!(r.alpn, ["h2"]);
    assert_eq!(r.alpn_selected.as_deref(), Some("h2"));
    assert_eq!(r.version.as_deref(), Some("TLSv12"));
    assert_eq!(
        r.cipher.as_deref(),
        Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    );
    // JA3 by hand from the bytes above (GREASE dropped): version 771, cipher 49199,
    // extensions 0-10-11-16, groups 29-23, point formats 0.
    assert_eq!(
        r.ja3_string.as_deref(),
        Some("771,49199,0-10-11-16,29-23,0")
    );
    assert_eq!(
        r.ja3.as_deref(),
        Some(crate::analyzers::fingerprints::md5_hex(b"771,49199,0-10-11-16,29-23,0").as_str())
    );
    // A full handshake ends with the server's Finished (after the client's flight).
    assert_eq!(r.handshake_ms, Some(30.0));
    assert_eq!((r.app_bytes_c2s, r.app_bytes_s2c), (100, 300));
    // The alert after CCS is encrypted: no level/description invented.
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(r.alerts[0].level, None);
    assert!(!r.mid_stream);
}

#[test]
fn any_split_gives_the_same_record() {
    let conv = tls12_conversation();
    let whole = run(&conv);
    for (i, (d, b, ms)) in conv.iter().enumerate() {
        for k in 1..b.len() {
            let mut split = conv.clone();
            split[i] = (*d, b[..k].to_vec(), *ms);
            split.insert(i + 1, (*d, b[k..].to_vec(), *ms));
            assert_eq!(run(&split), whole, "event {i} split at {k}");
        }
    }
}

#[test]
fn plaintext_alert_and_garbage() {
    let r = run(&[(C, client_hello_record(), 0), (S, record(21, &[2, 40]), 1)]);
    assert_eq!(
        r.alerts[0].description.as_deref(),
        Some("handshake_failure")
    );
    assert_eq!(r.alerts[0].level, Some(2));
    let r = run(&[(C, b"GET / HTTP/1.1\r\n\r\n".to_vec(), 0)]);
    assert!(r.sni.is_none());
    assert_eq!(r.anomalies.len(), 1);
}

#[test]
fn gap_in_client_hello_invents_nothing() {
    let ch = client_hello_record();
    let mut t = TlsStream::new();
    t.on_data(C, &ch[..20], Timestamp::ZERO);
    t.on_gap(C, 30, Timestamp::ZERO);
    t.on_data(C, &ch[50..], Timestamp::ZERO);
    let r = t.summarize();
    assert!(r.sni.is_none() && r.ja3.is_none());
    assert_eq!(r.gap_bytes, 30);
}

#[test]
fn detection() {
    let ch = client_hello_record();
    assert_eq!(detect(&ch, b""), Detection::Match);
    assert_eq!(detect(&ch[..3], b""), Detection::NeedMore);
    assert_eq!(
        detect(&record(22, &server_hello_msg()), b""),
        Detection::MatchReversed
    );
    assert_eq!(detect(&record(23, &[1; 50]), b""), Detection::Match);
    assert_eq!(detect(b"GET / HTTP/1.1", b""), Detection::NotMine);
    assert_eq!(
        detect(b"", &record(22, &server_hello_msg())),
        Detection::Match
    );
}

proptest! {
    #[test]
    fn random_bytes_and_splits_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), cuts in proptest::collection::vec(0usize..3000, 0..6)) {
        let mut t = TlsStream::new();
        let mut prev = 0;
        let mut cuts = cuts;
        cuts.sort_unstable();
        for c in cuts.into_iter().chain([bytes.len()]) {
            let c = c.min(bytes.len());
            if c > prev {
                t.on_data(C, &bytes[prev..c], Timestamp::ZERO);
                t.on_data(S, &bytes[prev..c], Timestamp::ZERO);
                prev = c;
            }
        }
        let _ = t.summarize();
        let _ = detect(&bytes, &bytes);
    }

    #[test]
    fn random_splits_of_valid_streams_agree(cuts in proptest::collection::vec(0usize..2000, 0..8)) {
        let conv = tls12_conversation();
        let whole = run(&conv);
        let c2s: Vec<u8> = conv.iter().filter(|e| e.0 == C).flat_map(|e| e.1.clone()).collect();
        let s2c: Vec<u8> = conv.iter().filter(|e| e.0 == S).flat_map(|e| e.1.clone()).collect();
        let mut t = TlsStream::new();
        // Whole server side first would change handshake timing; compare parsed fields only.
        let mut prev = 0;
        let mut cuts = cuts;
        cuts.sort_unstable();
        for c in cuts.into_iter().chain([c2s.len()]) {
            let c = c.min(c2s.len());
            if c > prev {
                t.on_data(C, &c2s[prev..c], Timestamp::ZERO);
                prev = c;
            }
        }
        t.on_data(S, &s2c, Timestamp::ZERO);
        let r = t.summarize();
        prop_assert_eq!(r.ja3, whole.ja3);
        prop_assert_eq!(r.sni, whole.sni);
        prop_assert_eq!(r.app_bytes_c2s, whole.app_bytes_c2s);
        prop_assert_eq!(r.app_bytes_s2c, whole.app_bytes_s2c);
        prop_assert_eq!(r.records_c2s, whole.records_c2s);
    }
}
