use super::*;
use proptest::prelude::*;

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

fn ms(n: i64) -> Timestamp {
    Timestamp(n * 1_000_000)
}

fn run(events: &[(Direction, &[u8], i64)]) -> (HttpRecord, Option<Handoff>) {
    let mut h = HttpStream::new();
    let mut hand = None;
    for (d, b, t) in events {
        h.on_data(*d, b, ms(*t));
        if hand.is_none() {
            hand = h.take_handoff();
        }
    }
    h.on_end(C, ms(1000));
    h.on_end(S, ms(1000));
    match h.summarize() {
        HttpLayer::Http(r) => (r, hand),
        other => panic!("{other:?}"),
    }
}

/// Two pipelined requests, a chunked and a Content-Length response (RFC 9112 §7.1 example
/// style chunks), then a response running until close.
const REQS: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.0\r\n\r\n";
const RESPS: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;x=y\r\npedia \r\n0\r\nTrailer: 1\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabcHTTP/1.0 200 OK\r\n\r\nuntil close";

#[test]
fn pipelined_transactions() {
    let (r, h) = run(&[(C, REQS, 10), (S, RESPS, 25)]);
    assert!(h.is_none());
    let t = &r.transactions;
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].method.as_deref(), Some("GET"));
    assert_eq!(t[0].user_agent.as_deref(), Some("t/1"));
    assert_eq!((t[0].status, t[0].response_body_len), (Some(200), 10));
    assert_eq!(
        (t[1].request_body_len, t[1].status, t[1].response_body_len),
        (5, Some(201), 3)
    );
    assert_eq!(t[2].version.as_deref(), Some("1.0"));
    assert_eq!(t[2].response_body_len, 11);
    assert_eq!(t[0].latency_ms, Some(15.0));
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
}

#[test]
fn every_split_gives_the_same_transactions() {
    let (whole, _) = run(&[(C, REQS, 10), (S, RESPS, 10)]);
    for k in 0..=REQS.len() {
        let (r, _) = run(&[(C, &REQS[..k], 10), (C, &REQS[k..], 10), (S, RESPS, 10)]);
        assert_eq!(r, whole, "c2s split at {k}");
    }
    for k in 0..=RESPS.len() {
        let (r, _) = run(&[(C, REQS, 10), (S, &RESPS[..k], 10), (S, &RESPS[k..], 10)]);
        assert_eq!(r, whole, "s2c split at {k}");
    }
}

#[test]
fn head_and_304_have_no_body_and_100_is_interim() {
    let (r, _) = run(&[
        (C, b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", 0),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5),
    ]);
    assert_eq!(r.transactions.len(), 3);
    assert_eq!(r.transactions[0].response_body_len, 0);
    assert_eq!(r.transactions[1].status, Some(304));
    assert_eq!(r.transactions[2].status, Some(200));
    assert_eq!(r.interim_responses, 1);
}

#[test]
fn connect_hands_off_held_and_following_bytes() {
    let (r, h) = run(&[
        (
            C,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
            0,
        ),
        (S, b"HTTP/1.1 200 Connection established\r\n\r\n", 5),
    ]);
    let h = h.expect("hand-off");
    assert_eq!(h.pending[0], b"\x16\x03\x01");
    assert!(h.pending[1].is_empty());
    assert!(r.transactions[0].tunnel);
    // A refused CONNECT: the held bytes are parsed as HTTP again.
    let (r, h) = run(&[
        (C, b"CONNECT x:1 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0),
        (S, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5),
    ]);
    assert!(h.is_none());
    assert_eq!(r.transactions.len(), 2);
    assert_eq!(r.transactions[1].status, Some(200));
}

#[test]
fn upgrade_is_noted() {
    let (r, h) = run(&[
        (C, b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0),
        (S, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello", 5),
        (C, b"\x81\x85abcd\x00\x00\x00\x00\x00", 6),
    ]);
    assert!(h.is_none());
    assert_eq!(r.transactions[0].upgrade.as_deref(), Some("websocket"));
    assert!(r.anomalies.is_empty());
}

#[test]
fn gap_in_content_length_body_keeps_framing() {
    // suricata-verify http-gap-simple: a lost body segment must not lose later requests.
    let mut h = HttpStream::new();
    h.on_data(C, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", ms(0));
    h.on_data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01", ms(1));
    h.on_gap(S, 5, ms(1));
    h.on_data(
        S,
        b"789HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        ms(2),
    );
    let HttpLayer::Http(r) = h.summarize() else {
        panic!()
    };
    assert_eq!(r.transactions.len(), 2);
    assert!(r.transactions[0].body_incomplete);
    assert_eq!(r.transactions[0].response_body_len, 10);
    assert_eq!(r.transactions[1].status, Some(200));
}

#[test]
fn gap_ending_exactly_at_the_body_end_resumes_at_the_next_head() {
    // suricata-verify http-gap-simple: the hole is the last 14 bytes of a 70-byte body; the
    // next response starts right after it. Its server also sends a CRLF after each 12-byte
    // body, which must not stop parsing.
    let mut h = HttpStream::new();
    h.on_data(
        C,
        b"GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n\r\nGET /3 HTTP/1.0\r\n\r\n",
        ms(0),
    );
    h.on_data(
        S,
        b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nHello World!\r\n",
        ms(1),
    );
    h.on_data(S, b"HTTP/1.0 200 OK\r\nContent-Length: 70\r\n\r\n", ms(2));
    h.on_data(S, &[b'A'; 56], ms(2));
    h.on_gap(S, 14, ms(3));
    h.on_data(
        S,
        b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nHello People\r",
        ms(4),
    );
    h.on_data(S, b"\n", ms(5));
    h.on_end(S, ms(6));
    let HttpLayer::Http(r) = h.summarize() else {
        panic!()
    };
    let t = &r.transactions;
    assert_eq!(t.len(), 3);
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    let got: Vec<_> = t
        .iter()
        .map(|t| {
            (
                t.status,
                t.response_body_len,
                t.response_trailing_bytes,
                t.body_incomplete,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Some(200), 12, 2, false),
            (Some(200), 70, 0, true),
            (Some(200), 12, 2, false)
        ]
    );
    assert_eq!(r.gap_bytes, 14);
}

#[test]
fn gap_inside_chunk_data_keeps_the_chunk_framing() {
    let mut h = HttpStream::new();
    h.on_data(C, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", ms(0));
    h.on_data(
        S,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123",
        ms(1),
    );
    h.on_gap(S, 6, ms(2));
    h.on_data(S, b"\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", ms(3));
    let HttpLayer::Http(r) = h.summarize() else {
        panic!()
    };
    assert_eq!(r.transactions.len(), 2);
    assert_eq!(r.transactions[0].response_body_len, 10);
    assert!(r.transactions[0].body_incomplete);
    assert_eq!(r.transactions[1].status, Some(204));
}

#[test]
fn gap_past_the_body_end_stops_that_direction() {
    let mut h = HttpStream::new();
    h.on_data(C, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", ms(0));
    h.on_data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", ms(1));
    h.on_gap(S, 10, ms(2));
    h.on_data(S, b"HTTP/1.1 200 OK\r\n\r\n", ms(3));
    let HttpLayer::Http(r) = h.summarize() else {
        panic!()
    };
    assert!(r.transactions[0].body_incomplete);
    assert_eq!(r.transactions[1].status, None);
}

#[test]
fn empty_lines_between_requests_are_skipped() {
    let (r, _) = run(&[
        (
            C,
            b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
            0,
        ),
        (
            S,
            b"HTTP/1.1 204 No Content\r\n\r\n\nHTTP/1.1 204 No Content\r\n\r\n",
            1,
        ),
    ]);
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    let t = &r.transactions;
    assert_eq!(t.len(), 2);
    assert_eq!(
        (t[0].request_trailing_bytes, t[0].response_trailing_bytes),
        (4, 1)
    );
    assert_eq!(t[1].target.as_deref(), Some("/b"));
    assert_eq!(t[1].status, Some(204));
}

#[test]
fn garbage_and_oversized_heads_are_anomalies() {
    let (r, _) = run(&[(C, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 0)]);
    assert_eq!(r.anomalies.len(), 1);
    let big = [b"GET /".as_slice(), &vec![b'a'; 70_000]].concat();
    let (r, _) = run(&[(C, &big, 0)]);
    assert!(!r.anomalies.is_empty());
    assert!(r.transactions.is_empty());
}

#[test]
fn detection() {
    assert_eq!(detect(b"GET / HTTP/1.1", b""), Detection::Match);
    assert_eq!(detect(b"PROPF", b""), Detection::NeedMore);
    assert_eq!(detect(b"GETX / HTTP/1.1", b""), Detection::NotMine);
    assert_eq!(detect(b"HTTP/1.1 200 OK", b""), Detection::MatchReversed);
    assert_eq!(detect(b"", b"HTTP/1.1 200 OK"), Detection::Match);
    assert_eq!(detect(b"\x16\x03\x01", b""), Detection::NotMine);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(c in proptest::collection::vec(any::<u8>(), 0..1500), s in proptest::collection::vec(any::<u8>(), 0..1500), k in 0usize..1500) {
        let mut h = HttpStream::new();
        let k = k.min(c.len());
        h.on_data(C, b"GET / HTTP/1.1\r\n", ms(0));
        h.on_data(C, &c[..k], ms(0));
        h.on_data(S, &s, ms(1));
        h.on_data(C, &c[k..], ms(2));
        h.on_end(C, ms(3));
        let _ = h.summarize();
        let _ = parser::parse_request_head(&c);
        let _ = parser::parse_response_head(&s);
        let _ = parser::parse_chunk_size(&c);
    }

    #[test]
    fn random_splits_agree(cuts in proptest::collection::vec(0usize..400, 0..6)) {
        let (whole, _) = run(&[(C, REQS, 10), (S, RESPS, 10)]);
        let mut h = HttpStream::new();
        h.on_data(C, REQS, ms(10));
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut prev = 0;
        for c in cuts.into_iter().chain([RESPS.len()]) {
            let c = c.min(RESPS.len());
            if c > prev {
                h.on_data(S, &RESPS[prev..c], ms(10));
                prev = c;
            }
        }
        h.on_end(C, ms(1000));
        h.on_end(S, ms(1000));
        let HttpLayer::Http(r) = h.summarize() else { panic!() };
        prop_assert_eq!(r, whole);
    }
}
