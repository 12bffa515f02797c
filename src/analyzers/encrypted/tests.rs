use super::*;
use crate::analyzers::app::AppSession;
use crate::analyzers::registry::{AppProto, AppRecords, detect_stream};
use proptest::prelude::*;

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

/// Deterministic pseudo-random bytes (xorshift), standing in for ciphertext.
pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn gfw_exemptions() {
    // Random bytes: popcount ≈ 4, little printable: fully encrypted.
    let r = noise(600, 7);
    assert_eq!(evidence(&r).exempt_by, None);
    assert!(evidence(&r).entropy_bits_per_byte > 7.0);
    // Ex1: all-zero bytes have popcount 0.
    assert_eq!(evidence(&[0u8; 100]).exempt_by, Some("ex1_popcount".into()));
    // Ex2: printable first six bytes.
    let mut p = b"GETxyz".to_vec();
    p.extend(noise(200, 3));
    assert_eq!(evidence(&p).exempt_by, Some("ex2_printable_prefix".into()));
    // Ex4: a run of 21 printable bytes in random data.
    let mut q = noise(200, 9);
    q[0] = 0x01;
    q.splice(
        50..50,
        std::iter::repeat_n(b'a' ^ 0x0f, 21).map(|b| b | 0x20),
    );
    let e = evidence(&q);
    assert!(e.longest_printable_run >= 21);
    assert_eq!(e.exempt_by, Some("ex4_printable_run".into()));
    assert_eq!(evidence(&noise(8, 1)).exempt_by, Some("too_short".into()));
}

#[test]
fn registry_detects_each_protocol() {
    let ch = crate::analyzers::tls::stream::tests::client_hello_record();
    let cases: [(&[u8], &[u8], AppProto, Detection); 7] = [
        (&ch, b"", AppProto::Tls, Detection::Match),
        (b"SSH-2.0-x\r\n", b"", AppProto::Ssh, Detection::Match),
        (b"", b"SSH-2.0-x\r\n", AppProto::Ssh, Detection::Match),
        (b"GET / HTTP/1.1\r\n", b"", AppProto::Http, Detection::Match),
        (&[5, 1, 0], &[5, 0], AppProto::Socks, Detection::Match),
        (
            b"*1\r\n$4\r\nPING\r\n",
            b"",
            AppProto::Redis,
            Detection::Match,
        ),
        (
            b"HTTP/1.1 200 OK\r\n",
            b"",
            AppProto::Http,
            Detection::MatchReversed,
        ),
    ];
    for (c, s, p, d) in cases {
        assert_eq!(
            detect_stream(c, s),
            Some((p, d)),
            "{:?}",
            String::from_utf8_lossy(c)
        );
    }
    assert_eq!(
        detect_stream(b"GE", b""),
        Some((AppProto::Http, Detection::NeedMore))
    );
    assert_eq!(
        detect_stream(&noise(300, 5), b""),
        Some((AppProto::Encrypted, Detection::Match))
    );
    assert_eq!(detect_stream(b"hello, plain text protocol\r\n", b""), None);
}

#[test]
fn v2ray_http_disguise_is_reported_and_handed_off() {
    // specs/quic-v2ray.md §7: default request and response headers, then binary data.
    let req = b"GET / HTTP/1.1\r\nHost: www.bing.com\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/53.0.2785.143 Safari/537.36\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nPragma: no-cache\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nPragma: no-cache\r\nCache-Control: private\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n\r\n";
    let mut c = req.to_vec();
    let mut vmess = noise(180, 11);
    vmess[0] = 0x97;
    c.extend(&vmess);
    let mut s = resp.to_vec();
    s.extend(noise(60, 12));
    let mut sess = AppSession::new();
    sess.on_data(C, &c, Timestamp::ZERO);
    sess.on_data(S, &s, Timestamp(1_000_000));
    sess.on_data(C, &noise(500, 13), Timestamp(2_000_000));
    let sum = sess.summarize("c", "s");
    assert_eq!(sum.app_chain, ["http_disguise", "encrypted"]);
    match &sum.layers[0] {
        AppRecords::HttpDisguise(d) => {
            assert_eq!(d.kind, "v2ray_http_header");
            assert_eq!(d.host.as_deref(), Some("www.bing.com"));
            assert_eq!(d.status, Some(200));
            assert!(d.evidence.iter().any(|e| e.contains("User-Agent")), "{d:?}");
            assert!(d.evidence.iter().any(|e| e.contains("binary bytes")));
            assert!(d.evidence.iter().any(|e| e.contains("chunk")));
        }
        other => panic!("{other:?}"),
    }
    match &sum.layers[1] {
        AppRecords::Encrypted(e) => {
            assert_eq!(e.bytes_c2s, 180 + 500);
            assert_eq!(e.bytes_s2c, 60);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_plaintext_is_unknown() {
    let mut s = AppSession::new();
    s.on_data(
        C,
        b"HELO there, this is no protocol we know\r\n",
        Timestamp::ZERO,
    );
    s.on_end(C, Timestamp::ZERO);
    s.on_end(S, Timestamp::ZERO);
    let sum = s.summarize("a", "b");
    assert_eq!(sum.app_chain, ["unknown"]);
}

proptest! {
    #[test]
    fn sessions_never_panic_on_random_streams(
        chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..12),
        gap_at in 0usize..12,
    ) {
        let mut s = AppSession::new();
        for (i, (dir, bytes)) in chunks.iter().enumerate() {
            let d = if *dir { C } else { S };
            if i == gap_at {
                s.on_gap(d, 10, Timestamp(i as i64));
            }
            if !bytes.is_empty() {
                s.on_data(d, bytes, Timestamp(i as i64));
            }
        }
        s.on_end(C, Timestamp(99));
        s.on_end(S, Timestamp(99));
        let sum = s.summarize("c", "s");
        prop_assert_eq!(sum.app_chain.len(), sum.layers.len());
    }

    #[test]
    fn every_protocol_start_never_panics(proto in 0usize..AppProto::PROBE_ORDER.len(), bytes in proptest::collection::vec(any::<u8>(), 0..2000), split in 0usize..2000) {
        let p = AppProto::PROBE_ORDER[proto];
        let mut a = p.start();
        let k = split.min(bytes.len());
        a.on_data(C, &bytes[..k], Timestamp::ZERO);
        a.on_data(S, &bytes[k..], Timestamp::ZERO);
        a.on_data(C, &bytes[k..], Timestamp::ZERO);
        let _ = a.summarize();
        let _ = a.take_handoff();
    }
}
