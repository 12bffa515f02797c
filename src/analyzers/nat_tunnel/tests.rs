//! Cross-module tests of the tunnel analyzer: detection, sessions fed like the pipeline
//! feeds them, property tests over split and garbled streams.

use super::deframer::RESYNC_MAX_FRAME;
use super::output::{AuthOutcome, ConnKind, EndHow};
use super::parser::{
    ByteOrder, HEADER_LEN, MAX_DATA_LEN, MsgId, Parsed, encode_frame, parse_frame,
};
use super::session::{SessionConfig, TunnelSession};
use super::{detect, first_frame_kind};
use crate::analyzers::{Detection, StreamAnalyzer};
use crate::assembly::CloseReason;
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use proptest::prelude::*;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;
const BE: ByteOrder = ByteOrder::BigEndian;
const LE: ByteOrder = ByteOrder::LittleEndian;

fn t(secs: f64) -> Timestamp {
    Timestamp::from_secs_f64(1_795_315_344.0 + secs)
}

fn frame(order: ByteOrder, msg: MsgId, data: &[u8]) -> Vec<u8> {
    encode_frame(order, msg.code(), data)
}

fn keep_alive(order: ByteOrder) -> Vec<u8> {
    frame(order, MsgId::KeepAlive, b"ping")
}

fn conn_info(uid: i64, port: i32) -> Vec<u8> {
    let mut v = uid.to_be_bytes().to_vec();
    v.extend_from_slice(&port.to_be_bytes());
    v
}

/// The implementation's UserInfo: uid 0, name, password, Go's zero time.
fn user_info_impl(name: &str, pass: &str) -> Vec<u8> {
    let mut v = 0i64.to_be_bytes().to_vec();
    v.extend_from_slice(&(name.len() as i32).to_be_bytes());
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&(pass.len() as i32).to_be_bytes());
    v.extend_from_slice(pass.as_bytes());
    v.extend_from_slice(&(-62_135_596_800i64).to_be_bytes());
    v
}

const PASSWORD: &str = "s3cret-Pw-91";

fn auth_request(order: ByteOrder) -> Vec<u8> {
    frame(
        order,
        MsgId::UserRequestAuth,
        &user_info_impl("alice", PASSWORD),
    )
}

fn session() -> TunnelSession {
    TunnelSession::default()
}

/// The server's side of a login: authentication accepted at `at.0`, then the client's
/// UID and exposed port (`USER_INFORMATION`) at `at.1`.
fn server_accepts<A: StreamAnalyzer>(
    s: &mut TunnelSession<A>,
    at: (Timestamp, Timestamp),
    uid: i64,
    port: i32,
) {
    s.on_data(
        S2C,
        &frame(BE, MsgId::UserAuthenticationSuccessfully, b""),
        at.0,
    );
    s.on_data(
        S2C,
        &frame(BE, MsgId::UserInformation, &conn_info(uid, port)),
        at.1,
    );
}

// ---- detection ------------------------------------------------------------------------

#[test]
fn detect_spec_examples() {
    let ka = [
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x4e, 0x23, 0x70, 0x69, 0x6e, 0x67,
    ];
    assert_eq!(detect(&ka, S2C), Detection::Match);
    assert_eq!(detect(&ka[..8], S2C), Detection::Match);
    let ka_le = [0x04, 0, 0, 0, 0x23, 0x4e, 0, 0, b'p', b'i', b'n', b'g'];
    assert_eq!(detect(&ka_le, S2C), Detection::Match);
    for cut in 0..8 {
        assert_eq!(detect(&ka[..cut], S2C), Detection::NeedMore, "cut {cut}");
        assert_eq!(detect(&ka_le[..cut], S2C), Detection::NeedMore, "cut {cut}");
    }
    assert_eq!(detect(&auth_request(BE), C2S), Detection::Match);
    assert_eq!(detect(&auth_request(BE), S2C), Detection::MatchReversed);
    assert_eq!(detect(&auth_request(LE), C2S), Detection::Match);
}

#[test]
fn detect_rejects_other_protocols() {
    let samples: [&[u8]; 7] = [
        b"GET / HTTP/1.1\r\nHost: example\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"*1\r\n$4\r\nPING\r\n",
        // TLS ClientHello record header and start.
        &[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ],
        // HTTP/2 preface.
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        &[0; 32],
    ];
    for s in samples {
        assert_eq!(detect(s, C2S), Detection::NotMine, "{s:?}");
        assert_eq!(detect(s, S2C), Detection::NotMine, "{s:?}");
    }
    // Text protocols are refused within their first bytes (a lone "G" could still be
    // the low byte of a little-endian length).
    assert_eq!(detect(b"GET", C2S), Detection::NotMine);
    assert_eq!(detect(b"G", C2S), Detection::NeedMore);
}

#[test]
fn detect_insists_on_sane_lengths_and_payloads() {
    // Known id, absurd or unusual lengths.
    assert_eq!(
        detect(&encode_frame(BE, 20003, &[b'p'; 300]), S2C),
        Detection::NotMine
    );
    assert_eq!(
        detect(&encode_frame(BE, 20002, &[0; 11]), C2S),
        Detection::NotMine
    );
    // USER_REQUEST_AUTH whose UserInfo fits no layout: the header decides (the session
    // reports `bad_user_info`), see `regression_absurd_user_info_lengths_still_followed`.
    let mut bad = user_info_impl("alice", "pw");
    bad.push(0);
    assert_eq!(
        detect(&frame(BE, MsgId::UserRequestAuth, &bad), C2S),
        Detection::Match
    );
    // KEEP_ALIVE with binary payload.
    assert_eq!(
        detect(&frame(BE, MsgId::KeepAlive, &[0, 1, 2, 3]), S2C),
        Detection::NotMine
    );
    // Unknown id.
    assert_eq!(
        detect(&encode_frame(BE, 20005, b"ping"), S2C),
        Detection::NotMine
    );
}

#[test]
fn detect_random_bytes_are_not_mine() {
    // xorshift64*, fixed seed: 100 000 random 64-byte streams.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut matched = 0;
    for _ in 0..100_000 {
        let mut buf = [0u8; 64];
        for b in buf.iter_mut() {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            *b = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        if matches!(
            detect(&buf, C2S),
            Detection::Match | Detection::MatchReversed
        ) {
            matched += 1;
        }
    }
    assert_eq!(matched, 0);
}

#[test]
fn first_frame_tells_control_from_tunnel() {
    let mut tunnel = frame(BE, MsgId::UserInformation, &conn_info(1, 60000));
    tunnel.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    assert_eq!(detect(&tunnel, C2S), Detection::Match);
    assert_eq!(first_frame_kind(&tunnel, C2S), Some(ConnKind::Tunnel));
    assert_eq!(
        first_frame_kind(&auth_request(BE), C2S),
        Some(ConnKind::Control)
    );
    let ui = frame(BE, MsgId::UserInformation, &conn_info(1, 60000));
    assert_eq!(first_frame_kind(&ui, S2C), Some(ConnKind::Control));
    assert_eq!(
        first_frame_kind(&keep_alive(LE), S2C),
        Some(ConnKind::Control)
    );
    assert_eq!(first_frame_kind(b"GET / HTTP/1.1", C2S), None);
}

// ---- control sessions -----------------------------------------------------------------

/// A whole control connection, authentication on: request, success, port, keep-alives
/// (one beat missing between 2.005 and 4.006), a visitor announcement.
fn control_ok(order: ByteOrder) -> TunnelSession {
    let mut s = session();
    s.on_data(C2S, &auth_request(order), t(0.0));
    s.on_data(
        S2C,
        &frame(order, MsgId::UserAuthenticationSuccessfully, b""),
        t(0.001),
    );
    // USER_INFORMATION and the first KEEP_ALIVE packed in one segment.
    let mut seg = frame(order, MsgId::UserInformation, &conn_info(1, 60000));
    seg.extend_from_slice(&keep_alive(order));
    s.on_data(S2C, &seg, t(0.003));
    s.on_data(S2C, &keep_alive(order), t(1.004));
    s.on_data(
        S2C,
        &frame(order, MsgId::NewConnection, b"NEW_CONNECTION"),
        t(1.5),
    );
    // A keep-alive split over two segments.
    let ka = keep_alive(order);
    s.on_data(S2C, &ka[..5], t(2.004));
    s.on_data(S2C, &ka[5..], t(2.005));
    s.on_data(S2C, &keep_alive(order), t(4.006));
    s
}

#[test]
fn control_connection_authenticated() {
    for order in [BE, LE] {
        let s = control_ok(order);
        assert_eq!(s.kind(), ConnKind::Control);
        let c = s.control_summary().expect("control");
        assert_eq!(c.byte_order, Some(order));
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert!(c.password_present);
        assert_eq!(c.password_len, Some(PASSWORD.len() as u32));
        assert_eq!(c.password, None);
        assert_eq!(c.expire, Some(-62_135_596_800));
        assert_eq!(c.auth, AuthOutcome::Ok);
        assert_eq!(c.auth_reply, Some(MsgId::UserAuthenticationSuccessfully));
        assert_eq!((c.uid, c.port), (Some(1), Some(60000)));
        let counts: Vec<(&str, u64)> = c.frames.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(
            counts,
            vec![
                ("KEEP_ALIVE", 4),
                ("NEW_CONNECTION", 1),
                ("USER_AUTHENTICATION_SUCCESSFULLY", 1),
                ("USER_INFORMATION", 1),
                ("USER_REQUEST_AUTH", 1),
            ]
        );
        // Intervals 1.001, 1.001, 2.001 s: mean 1.334333, population stddev
        // sqrt(((1/3)^2 * 2 + (2/3)^2) / 3) = 0.471405, one beat missed.
        let k = c.keepalive;
        assert_eq!(k.count, 4);
        assert!(
            (k.mean_interval_s.expect("mean") - 1.334_333).abs() < 1e-5,
            "{k:?}"
        );
        assert!((k.stddev_s.expect("sd") - 0.471_405).abs() < 1e-5, "{k:?}");
        assert!((k.max_gap_s.expect("max") - 2.001).abs() < 1e-6, "{k:?}");
        assert_eq!(k.missed_beats, 1);
        assert_eq!(c.new_connections, vec![t(1.5)]);
        assert_eq!(c.timeline.auth_request, Some(t(0.0)));
        assert_eq!(c.timeline.auth_reply, Some(t(0.001)));
        assert_eq!(c.timeline.user_information, Some(t(0.003)));
        assert!((c.steps_ms.auth_request_to_reply.expect("step") - 1.0).abs() < 1e-3);
        assert!((c.steps_ms.reply_to_user_information.expect("step") - 2.0).abs() < 1e-3);
        assert_eq!(c.queued_s, None);
        assert_eq!(c.ended.how, EndHow::OpenAtEnd);
        assert_eq!(c.anomalies, 0, "{:?}", s.anomalies());
        // Frame records carry offsets in each direction's stream.
        let ka_offsets: Vec<u64> = s
            .frames()
            .iter()
            .filter(|f| f.name == "KEEP_ALIVE")
            .map(|f| f.offset)
            .collect();
        assert_eq!(ka_offsets, vec![28, 40, 74, 86]);
        assert_eq!(s.buffered_bytes(S2C), 0);
    }
}

#[test]
fn control_auth_failed_then_closed() {
    let mut s = session();
    s.on_data(C2S, &auth_request(BE), t(0.0));
    s.on_data(S2C, &frame(BE, MsgId::AuthFail, b""), t(0.002));
    s.note_close(S2C, CloseReason::Fin);
    s.on_end(S2C, t(0.003));
    s.note_close(C2S, CloseReason::Fin);
    s.on_end(C2S, t(0.004));
    let c = s.control_summary().expect("control");
    assert_eq!(c.auth, AuthOutcome::Failed);
    assert_eq!(c.auth_reply, Some(MsgId::AuthFail));
    assert_eq!(c.uid, None);
    assert_eq!(c.ended.how, EndHow::AuthFailed);
    assert_eq!(c.ended.at, Some(t(0.004)));
}

#[test]
fn control_auth_off_server_speaks_first() {
    let mut s = session();
    // USER_INFORMATION reaches the wire before the client's auth frame.
    s.on_data(
        S2C,
        &frame(BE, MsgId::UserInformation, &conn_info(3, 60001)),
        t(0.0001),
    );
    s.on_data(C2S, &auth_request(BE), t(0.0002));
    s.on_data(S2C, &keep_alive(BE), t(0.0003));
    assert_eq!(s.kind(), ConnKind::Control);
    let c = s.control_summary().expect("control");
    assert_eq!(c.auth, AuthOutcome::NotChecked);
    assert_eq!(c.user.as_deref(), Some("alice"));
    assert_eq!((c.uid, c.port), (Some(3), Some(60001)));
}

#[test]
fn control_auth_bypass_is_flagged() {
    let mut s = session();
    s.on_data(C2S, &keep_alive(BE), t(0.0));
    server_accepts(&mut s, (t(0.001), t(0.002)), 2, 60000);
    let c = s.control_summary().expect("control");
    assert_eq!(c.auth, AuthOutcome::Bypassed);
    assert_eq!(c.user, None);
    assert!(!c.password_present);
    assert_eq!(s.anomaly_counts().get("auth_bypass"), Some(&1));
}

#[test]
fn regression_absurd_user_info_lengths_still_followed() {
    // Name length i32::MAX and a negative password length: used to make the connection
    // `unknown` with no anomaly, and the server's valid replies went undecoded.
    let mut ui = 0i64.to_be_bytes().to_vec();
    ui.extend_from_slice(&i32::MAX.to_be_bytes());
    ui.extend_from_slice(b"alice");
    ui.extend_from_slice(&(-7i32).to_be_bytes());
    ui.extend_from_slice(b"pw");
    ui.extend_from_slice(&0i64.to_be_bytes());
    let auth = frame(BE, MsgId::UserRequestAuth, &ui);
    assert_eq!(detect(&auth, C2S), Detection::Match);
    assert_eq!(first_frame_kind(&auth, C2S), Some(ConnKind::Control));
    let mut s = session();
    s.on_data(C2S, &auth, t(0.0));
    server_accepts(&mut s, (t(0.001), t(0.002)), 7, 60002);
    s.on_data(S2C, &keep_alive(BE), t(1.0));
    assert_eq!(s.kind(), ConnKind::Control);
    assert_eq!(s.anomaly_counts().get("bad_user_info"), Some(&1));
    let detail = &s.anomalies()[0].detail;
    assert!(detail.contains("2147483647"), "{detail}");
    let c = s.control_summary().expect("control");
    assert_eq!(c.auth, AuthOutcome::Ok);
    assert_eq!(c.user, None);
    assert_eq!((c.uid, c.port), (Some(7), Some(60002)));
    assert_eq!(c.keepalive.count, 1);
}

#[test]
fn control_queued_for_a_port() {
    let mut s = session();
    s.on_data(C2S, &auth_request(BE), t(0.0));
    server_accepts(&mut s, (t(0.001), t(7.5)), 5, 60002);
    let c = s.control_summary().expect("control");
    assert!((c.queued_s.expect("queued") - 7.499).abs() < 1e-6);
    assert!((c.steps_ms.reply_to_user_information.expect("step") - 7499.0).abs() < 1e-3);
}

#[test]
fn control_ending_reasons() {
    let mut s = control_ok(BE);
    s.note_close(S2C, CloseReason::Rst);
    s.on_end(S2C, t(9.0));
    s.on_end(C2S, t(9.0));
    assert_eq!(s.control_summary().expect("control").ended.how, EndHow::Rst);
    let mut s = control_ok(BE);
    s.note_close(S2C, CloseReason::EndOfCapture);
    s.note_close(C2S, CloseReason::EndOfCapture);
    s.on_end(S2C, t(9.0));
    s.on_end(C2S, t(9.0));
    let e = s.control_summary().expect("control").ended;
    assert_eq!((e.how, e.at), (EndHow::OpenAtEnd, None));
}

// ---- anomalies and recovery -----------------------------------------------------------

#[test]
fn unknown_id_is_skipped_by_its_length() {
    let mut s = control_ok(BE);
    let mut seg = encode_frame(BE, 20009, b"hello");
    seg.extend_from_slice(&keep_alive(BE));
    s.on_data(S2C, &seg, t(5.0));
    assert_eq!(s.anomaly_counts().get("unknown_msg_id"), Some(&1));
    let c = s.control_summary().expect("control");
    assert_eq!(c.keepalive.count, 5);
    assert_eq!(c.frames.get("UNKNOWN"), Some(&1));
    assert_eq!(s.anomaly_counts().get("resynchronised"), None);
}

#[test]
fn absurd_length_then_resynchronisation() {
    let mut s = control_ok(BE);
    // A KEEP_ALIVE header declaring 4 GiB, then garbage, then normal keep-alives.
    let mut seg = vec![0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x4e, 0x23];
    seg.extend_from_slice(b"\x01\x02garbage\xfe");
    s.on_data(S2C, &seg, t(5.0));
    let before = s.buffered_bytes(S2C);
    assert!(before <= RESYNC_MAX_FRAME);
    s.on_data(S2C, &keep_alive(BE), t(6.0));
    s.on_data(S2C, &keep_alive(BE), t(7.0));
    assert_eq!(s.anomaly_counts().get("length_too_large"), Some(&1));
    assert_eq!(s.anomaly_counts().get("resynchronised"), Some(&1));
    let c = s.control_summary().expect("control");
    assert_eq!(c.keepalive.count, 6);
    // Every byte of the bad stretch was skipped: 8 + 10.
    assert_eq!(s.undecoded_bytes(S2C), 18);
}

#[test]
fn gap_inside_a_payload_keeps_framing() {
    let mut s = session();
    s.on_data(
        S2C,
        &frame(BE, MsgId::UserInformation, &conn_info(1, 60000)),
        t(0.0),
    );
    let ka = keep_alive(BE);
    // Header and 1 payload byte, then 2 bytes lost, then the last byte.
    s.on_data(S2C, &ka[..9], t(1.0));
    s.on_gap(S2C, 2, t(1.1));
    s.on_data(S2C, &ka[11..], t(1.2));
    s.on_data(S2C, &keep_alive(BE), t(2.0));
    assert_eq!(s.anomaly_counts().get("frame_cut_by_gap"), Some(&1));
    assert_eq!(s.anomaly_counts().get("resynchronised"), None);
    let cut: Vec<_> = s.frames().iter().filter(|f| f.truncated).collect();
    assert_eq!(cut.len(), 1);
    assert_eq!((cut[0].name, cut[0].offset), ("KEEP_ALIVE", 20));
    let last = s.frames().last().expect("frames");
    assert_eq!((last.offset, last.truncated), (32, false));
    assert_eq!(s.control_summary().expect("control").keepalive.count, 2);
}

#[test]
fn gap_over_a_boundary_resynchronises() {
    let mut s = session();
    s.on_data(
        S2C,
        &frame(BE, MsgId::UserInformation, &conn_info(1, 60000)),
        t(0.0),
    );
    let ka = keep_alive(BE);
    s.on_data(S2C, &ka[..6], t(1.0));
    // Lose the rest of this frame and the first 3 bytes of the next.
    s.on_gap(S2C, 9, t(2.0));
    s.on_data(S2C, &ka[3..], t(2.0));
    for i in 3..6 {
        s.on_data(S2C, &ka, t(f64::from(i)));
    }
    assert_eq!(
        s.anomaly_counts().get("frame_cut_by_gap"),
        Some(&1),
        "{:?}",
        s.anomalies()
    );
    assert_eq!(
        s.anomaly_counts().get("resynchronised"),
        Some(&1),
        "{:?}",
        s.anomalies()
    );
    assert_eq!(s.control_summary().expect("control").keepalive.count, 3);
}

/// Found by `gaps_never_invent_frames`: a gap inside the very first header, before the
/// byte order is known, used to stop the direction for good.
#[test]
fn regression_gap_in_first_header_before_the_order_is_known() {
    let mut s = session();
    let ka = keep_alive(LE);
    s.on_data(S2C, &ka[..3], t(0.0));
    s.on_gap(S2C, 1, t(0.1));
    s.on_data(S2C, &ka[4..], t(0.2));
    s.on_data(S2C, &ka, t(1.0));
    s.on_data(S2C, &ka, t(2.0));
    assert_eq!(
        s.anomaly_counts().get("resynchronised"),
        Some(&1),
        "{:?}",
        s.anomalies()
    );
    assert_eq!(s.byte_order(), Some(LE));
    assert_eq!(s.control_summary().expect("control").keepalive.count, 2);
}

#[test]
fn frame_cut_by_the_end() {
    let mut s = session();
    s.on_data(C2S, &auth_request(BE)[..20], t(0.0));
    s.on_end(C2S, t(0.5));
    assert_eq!(s.anomaly_counts().get("frame_cut_by_end"), Some(&1));
    assert_eq!(s.buffered_bytes(C2S), 0);
    let c = s.control_summary().expect("control");
    assert_eq!(c.frames.get("USER_REQUEST_AUTH"), Some(&1));
    assert_eq!(c.user, None);
}

#[test]
fn not_framed_stream() {
    let mut s = session();
    s.on_data(C2S, b"GET / HTTP/1.1\r\n\r\n", t(0.0));
    s.on_data(S2C, b"HTTP/1.1 200 OK\r\n\r\n", t(0.1));
    assert_eq!(s.kind(), ConnKind::NotFramed);
    assert_eq!(s.anomaly_counts().get("not_a_frame"), Some(&2));
    assert!(s.control_summary().is_none());
}

// ---- secrets --------------------------------------------------------------------------

#[test]
fn password_only_with_show_secrets() {
    let secret_b = PASSWORD.as_bytes();
    // Default: not in Debug, not in JSON, even while a partial auth frame is buffered.
    let mut s = session();
    let req = auth_request(BE);
    s.on_data(C2S, &req[..req.len() - 10], t(0.0));
    assert!(!format!("{s:?}").contains(PASSWORD));
    assert!(!format!("{s:?}").contains(&PASSWORD[..5]));
    s.on_data(C2S, &req[req.len() - 10..], t(0.1));
    s.on_data(
        S2C,
        &frame(BE, MsgId::UserAuthenticationSuccessfully, b""),
        t(0.2),
    );
    let dbg = format!("{s:?} {:?} {:?}", s.summary(), s.control_summary());
    assert!(!dbg.contains(PASSWORD), "{dbg}");
    let json = serde_json::to_string(&s.summary()).expect("json");
    assert!(!json.contains(PASSWORD), "{json}");
    assert!(!json.contains("\"password\""), "{json}");
    assert!(json.contains("\"password_len\":12"), "{json}");
    assert!(json.contains("\"password_present\":true"), "{json}");
    assert!(
        !json
            .as_bytes()
            .windows(secret_b.len())
            .any(|w| w == secret_b)
    );

    // show_secrets: in JSON, never in Debug.
    let mut s = TunnelSession::<super::session::NoInner>::new(SessionConfig {
        show_secrets: true,
        ..SessionConfig::default()
    });
    s.on_data(C2S, &req, t(0.0));
    let json = serde_json::to_string(&s.summary()).expect("json");
    assert!(
        json.contains(&format!("\"password\":\"{PASSWORD}\"")),
        "{json}"
    );
    assert!(!format!("{s:?}").contains(PASSWORD));
}

// ---- tunnel connections ---------------------------------------------------------------

/// Records what an inner analyzer receives.
#[derive(Default)]
struct Recorder {
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    gaps: u64,
    ends: u32,
}

impl StreamAnalyzer for Recorder {
    fn on_data(&mut self, dir: Direction, data: &[u8], _ts: Timestamp) {
        match dir {
            C2S => self.c2s.extend_from_slice(data),
            S2C => self.s2c.extend_from_slice(data),
        }
    }
    fn on_gap(&mut self, _dir: Direction, len: u64, _ts: Timestamp) {
        self.gaps = self.gaps.saturating_add(len);
    }
    fn on_end(&mut self, _dir: Direction, _ts: Timestamp) {
        self.ends += 1;
    }
}

const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: 10.200.2.1:60000\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn tunnel_connection_relays_to_the_inner_analyzer() {
    let mut s = TunnelSession::<Recorder>::new(SessionConfig::default());
    // The 20-byte frame split, its tail packed with nothing yet.
    let f = frame(BE, MsgId::UserInformation, &conn_info(1, 60000));
    s.on_data(C2S, &f[..7], t(0.0));
    s.on_data(C2S, &f[7..], t(0.001));
    assert_eq!(s.kind(), ConnKind::Tunnel);
    s.on_data(S2C, &REQUEST[..10], t(0.002));
    assert!(s.wants_inner());
    assert_eq!(s.relay().prefix(S2C), &REQUEST[..10]);
    s.set_inner(Recorder::default());
    s.on_data(S2C, &REQUEST[10..], t(0.003));
    s.on_data(C2S, RESPONSE, t(0.010));
    s.on_end(C2S, t(1.0));
    let summary = s.tunnel_summary().expect("tunnel");
    assert_eq!((summary.uid, summary.port), (1, 60000));
    assert_eq!(summary.byte_order, BE);
    assert_eq!(summary.frame_ts, t(0.001));
    assert_eq!(summary.c2s.bytes, RESPONSE.len() as u64);
    assert_eq!(summary.s2c.bytes, REQUEST.len() as u64);
    assert_eq!(summary.s2c.first_ts, Some(t(0.002)));
    assert_eq!(summary.c2s.first_ts, Some(t(0.010)));
    let fp = summary.s2c.prefix.expect("prefix");
    assert_eq!(fp.hash, super::relay::fnv1a64(REQUEST));
    let inner = s.inner().expect("inner");
    assert_eq!(inner.s2c, REQUEST);
    assert_eq!(inner.c2s, RESPONSE);
    assert_eq!((inner.gaps, inner.ends), (0, 1));
    assert_eq!(s.frames().len(), 1);
}

#[test]
fn tunnel_frame_and_data_in_one_segment_legacy_order() {
    let mut s = session();
    let mut seg = frame(LE, MsgId::UserInformation, &conn_info(7, 60003));
    seg.extend_from_slice(RESPONSE);
    s.on_data(C2S, &seg, t(0.0));
    let summary = s.tunnel_summary().expect("tunnel");
    assert_eq!(summary.byte_order, LE);
    assert_eq!((summary.uid, summary.port), (7, 60003));
    assert_eq!(summary.c2s.bytes, RESPONSE.len() as u64);
    assert_eq!(s.relay().prefix(C2S), RESPONSE);
}

#[test]
fn relay_gap_reaches_the_inner_analyzer_as_a_gap() {
    let mut s = TunnelSession::<Recorder>::new(SessionConfig {
        relay_log_bytes: 4,
        ..SessionConfig::default()
    });
    s.on_data(
        C2S,
        &frame(BE, MsgId::UserInformation, &conn_info(1, 60000)),
        t(0.0),
    );
    s.on_data(S2C, REQUEST, t(0.1));
    s.on_gap(S2C, 100, t(0.2));
    s.set_inner(Recorder::default());
    s.on_data(S2C, b"tail", t(0.3));
    let inner = s.inner().expect("inner");
    // 4 bytes logged, the rest of REQUEST and the gap reported as missing, then live data.
    assert_eq!(inner.s2c, [&REQUEST[..4], b"tail"].concat());
    assert_eq!(inner.gaps, (REQUEST.len() - 4 + 100) as u64);
    let f = s.relay_facts(S2C);
    assert_eq!((f.bytes, f.gap_bytes), (REQUEST.len() as u64 + 104, 100));
}

#[test]
fn huge_gaps_saturate() {
    let mut s = TunnelSession::<Recorder>::new(SessionConfig::default());
    s.on_data(
        C2S,
        &frame(BE, MsgId::UserInformation, &conn_info(1, 60000)),
        t(0.0),
    );
    s.set_inner(Recorder::default());
    for _ in 0..3 {
        s.on_gap(S2C, u64::MAX, t(1.0));
        s.on_gap(C2S, u64::MAX, t(1.0));
    }
    s.on_data(S2C, b"x", t(2.0));
    let f = s.relay_facts(S2C);
    assert_eq!((f.bytes, f.gap_bytes), (u64::MAX, u64::MAX));
    let mut c = control_ok(BE);
    for _ in 0..3 {
        c.on_gap(S2C, u64::MAX, t(5.0));
        c.on_gap(C2S, u64::MAX, t(5.0));
    }
    c.on_data(S2C, &keep_alive(BE), t(6.0));
    assert_eq!(c.undecoded_bytes(S2C), u64::MAX);
}

// ---- property tests -------------------------------------------------------------------

fn server_frame() -> impl Strategy<Value = (MsgId, Vec<u8>)> {
    prop_oneof![
        Just((MsgId::KeepAlive, b"ping".to_vec())),
        (any::<i64>(), any::<i32>()).prop_map(|(u, p)| (MsgId::UserInformation, conn_info(u, p))),
        proptest::collection::vec(0x20u8..0x7f, 0..40).prop_map(|d| (MsgId::NewConnection, d)),
        Just((MsgId::UserAuthenticationSuccessfully, Vec::new())),
        Just((MsgId::AuthFail, Vec::new())),
        proptest::collection::vec(0x20u8..0x7f, 0..40).prop_map(|d| (MsgId::ConnectionIfFull, d)),
    ]
}

const FRAMING_ANOMALIES: [&str; 8] = [
    "unknown_msg_id",
    "length_too_large",
    "frame_cut_by_gap",
    "frame_cut_by_end",
    "resynchronised",
    "not_a_frame",
    "gap_lost_framing",
    "mixed_byte_order",
];

fn split(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| data[w[0]..w[1]].to_vec())
        .filter(|c| !c.is_empty())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of valid frames in either order, split anywhere, decodes to the same
    /// frames at the same offsets, with nothing left buffered and no anomaly.
    #[test]
    fn split_frames_decode_the_same(
        order in prop_oneof![Just(BE), Just(LE)],
        frames in proptest::collection::vec(server_frame(), 1..30),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (msg, data) in &frames {
            expected.push((msg.name(), data.len() as u32, stream.len() as u64));
            stream.extend_from_slice(&frame(order, *msg, data));
        }
        // The pure parser, frame by frame.
        let mut at = 0;
        let mut parsed = Vec::new();
        while at < stream.len() {
            match parse_frame(&stream[at..], order) {
                Parsed::Done(frame, consumed) => {
                    parsed.push((frame.msg.name(), frame.data.len() as u32, at as u64));
                    at += consumed;
                }
                other => prop_assert!(false, "{other:?} at {at}"),
            }
        }
        prop_assert_eq!(&parsed, &expected);
        // The session, fed in chunks.
        let mut s = session();
        for (i, chunk) in split(&stream, &cuts).iter().enumerate() {
            s.on_data(S2C, chunk, Timestamp(i as i64));
            prop_assert!(s.buffered_bytes(S2C) < HEADER_LEN + 256);
        }
        let got: Vec<_> = s.frames().iter().map(|f| (f.name, f.data_len, f.offset)).collect();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(s.buffered_bytes(S2C), 0);
        // Repeated replies are protocol anomalies; framing ones must not appear.
        let framing: Vec<_> = s
            .anomalies()
            .iter()
            .filter(|a| FRAMING_ANOMALIES.contains(&a.kind))
            .collect();
        prop_assert!(framing.is_empty(), "{:?}", framing);
        prop_assert_eq!(s.byte_order(), Some(order));
    }

    /// Garbage, in any chunks and with gaps, in both directions, after or without a valid
    /// start: no panic, buffers within their bounds, and anomalies reported.
    #[test]
    fn garbage_never_panics(
        start in prop_oneof![Just(None), Just(Some(BE)), Just(Some(LE))],
        garbage in proptest::collection::vec(any::<u8>(), 8..2000),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        gaps in proptest::collection::vec(
            (any::<bool>(), prop_oneof![0u64..100_000, Just(u64::MAX), Just(u64::MAX / 2)]),
            0..4,
        ),
    ) {
        let mut s = session();
        if let Some(order) = start {
            s.on_data(S2C, &keep_alive(order), Timestamp(0));
        }
        let mut fed = 0usize;
        let mut s2c_garbage = Vec::new();
        for (i, chunk) in split(&garbage, &cuts).iter().enumerate() {
            let dir = if i % 3 == 2 { C2S } else { S2C };
            s.on_data(dir, chunk, Timestamp(i as i64 + 1));
            fed += chunk.len();
            if dir == S2C {
                s2c_garbage.extend_from_slice(chunk);
            }
            if let Some(&(gap_c2s, len)) = gaps.get(i) {
                s.on_gap(if gap_c2s { C2S } else { S2C }, len, Timestamp(i as i64 + 1));
            }
            for d in [C2S, S2C] {
                prop_assert!(s.buffered_bytes(d) <= HEADER_LEN + MAX_DATA_LEN as usize);
                prop_assert!(s.buffered_bytes(d) <= fed);
            }
        }
        // Server-side bytes that do not start with a plausible header must be reported.
        let s2c_head_ok = super::parser::sniff_order(&s2c_garbage).is_some();
        s.on_end(C2S, Timestamp(10_000));
        s.on_end(S2C, Timestamp(10_000));
        let _ = serde_json::to_string(&s.summary()).expect("json");
        if !s2c_garbage.is_empty() && !s2c_head_ok {
            prop_assert!(!s.anomalies().is_empty());
        }
        for d in [C2S, S2C] {
            prop_assert_eq!(s.buffered_bytes(d), 0);
        }
    }

    /// Valid frames with random stretches lost to gaps: every frame the session reports
    /// (whole or cut) is a real frame at its real offset; after the gaps, framing comes
    /// back (the last frame, sent after every gap, is decoded whole).
    #[test]
    fn gaps_never_invent_frames(
        order in prop_oneof![Just(BE), Just(LE)],
        frames in proptest::collection::vec(server_frame(), 2..40),
        holes in proptest::collection::vec((any::<usize>(), 1usize..64), 1..4),
    ) {
        let mut stream = Vec::new();
        let mut real = std::collections::BTreeMap::new();
        for (msg, data) in &frames {
            real.insert(stream.len() as u64, (msg.name(), data.len() as u32));
            stream.extend_from_slice(&frame(order, *msg, data));
        }
        // Three keep-alives after every hole, so resynchronisation has something to find.
        let tail_start = stream.len();
        for _ in 0..3 {
            real.insert(stream.len() as u64, ("KEEP_ALIVE", 4));
            stream.extend_from_slice(&keep_alive(order));
        }
        let mut lost = vec![false; stream.len()];
        for (at, len) in &holes {
            let a = at % tail_start.max(1);
            for l in lost.iter_mut().skip(a).take(*len).filter(|_| a > 0) {
                *l = true;
            }
        }
        for l in lost.iter_mut().skip(tail_start) {
            *l = false;
        }
        let mut s = session();
        let mut i = 0;
        while i < stream.len() {
            let j = (i..stream.len()).find(|&k| lost[k] != lost[i]).unwrap_or(stream.len());
            if lost[i] {
                s.on_gap(S2C, (j - i) as u64, Timestamp(i as i64));
            } else {
                s.on_data(S2C, &stream[i..j], Timestamp(i as i64));
            }
            i = j;
        }
        for f in s.frames() {
            let want = real.get(&f.offset);
            prop_assert_eq!(want, Some(&(f.name, f.data_len)), "{:?}", f);
        }
        let last = s.frames().last().expect("frames");
        prop_assert_eq!(last.offset as usize, stream.len() - 12);
        prop_assert!(!last.truncated);
    }
}
