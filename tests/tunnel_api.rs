//! The tunnel analyzer through its public API, driven the way the pipeline drives it:
//! detect on first bytes, feed sessions and visitor taps, hand relayed bytes to an inner
//! analyzer, correlate, serialise. A server-side capture of one client with two HTTP
//! visitors whose tunnels arrive in the opposite order (the server pairs them freely).

use tunscope::Timestamp;
use tunscope::analyzers::nat_tunnel::parser::encode_frame;
use tunscope::analyzers::nat_tunnel::{
    AuthOutcome, ByteOrder, ConnKind, ControlInput, CorrelateConfig, MsgId, SessionConfig,
    TunnelInput, TunnelSession, VisitorInput, correlate, detect, first_frame_kind, visitor_tap,
};
use tunscope::analyzers::{Detection, StreamAnalyzer};
use tunscope::flow::{Direction, Endpoint};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;
const BASE: i64 = 1_795_315_344_000_000_000;
const PASSWORD: &str = "correct horse";

fn ms(x: f64) -> Timestamp {
    Timestamp(BASE + (x * 1e6).round() as i64)
}

fn ep(s: &str) -> Endpoint {
    let sa: std::net::SocketAddr = s.parse().expect("endpoint");
    Endpoint::new(sa.ip(), sa.port())
}

fn frame(id: MsgId, data: &[u8]) -> Vec<u8> {
    encode_frame(ByteOrder::BigEndian, id.code(), data)
}

fn conn_info(uid: i64, port: i32) -> Vec<u8> {
    [uid.to_be_bytes().as_slice(), port.to_be_bytes().as_slice()].concat()
}

fn auth_payload() -> Vec<u8> {
    let mut v = 0i64.to_be_bytes().to_vec();
    v.extend_from_slice(&5i32.to_be_bytes());
    v.extend_from_slice(b"alice");
    v.extend_from_slice(&(PASSWORD.len() as i32).to_be_bytes());
    v.extend_from_slice(PASSWORD.as_bytes());
    v.extend_from_slice(&(-62_135_596_800i64).to_be_bytes());
    v
}

const REQ_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: 10.200.2.1:60000\r\n\r\n";
const RESP_A: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const REQ_B: &[u8] = b"GET /b HTTP/1.1\r\nHost: 10.200.2.1:60000\r\n\r\n";
const RESP_B: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

/// Counts what the inner (application) analyzer receives.
#[derive(Default)]
struct App {
    from_visitor: Vec<u8>,
    from_service: Vec<u8>,
}

impl StreamAnalyzer for App {
    fn on_data(&mut self, dir: Direction, data: &[u8], _ts: Timestamp) {
        match dir {
            S2C => self.from_visitor.extend_from_slice(data),
            C2S => self.from_service.extend_from_slice(data),
        }
    }
    fn on_gap(&mut self, _dir: Direction, _len: u64, _ts: Timestamp) {}
}

fn control_session(cfg: SessionConfig) -> TunnelSession {
    let auth = frame(MsgId::UserRequestAuth, &auth_payload());
    assert_eq!(detect(&auth, C2S), Detection::Match);
    let mut s = TunnelSession::new(cfg);
    s.on_data(C2S, &auth, ms(0.0));
    s.on_data(
        S2C,
        &frame(MsgId::UserAuthenticationSuccessfully, b""),
        ms(0.4),
    );
    s.on_data(
        S2C,
        &frame(MsgId::UserInformation, &conn_info(1, 60000)),
        ms(0.5),
    );
    for i in 0..3 {
        s.on_data(
            S2C,
            &frame(MsgId::KeepAlive, b"ping"),
            ms(0.6 + 1000.0 * f64::from(i)),
        );
    }
    s.on_data(
        S2C,
        &frame(MsgId::NewConnection, b"NEW_CONNECTION"),
        ms(1000.2),
    );
    s.on_data(
        S2C,
        &frame(MsgId::NewConnection, b"NEW_CONNECTION"),
        ms(1000.7),
    );
    s
}

fn tunnel_session(syn: f64, request: &[u8], response: &[u8]) -> TunnelSession<App> {
    let first = frame(MsgId::UserInformation, &conn_info(1, 60000));
    assert_eq!(detect(&first, C2S), Detection::Match);
    assert_eq!(first_frame_kind(&first, C2S), Some(ConnKind::Tunnel));
    let mut s = TunnelSession::<App>::new(SessionConfig::default());
    s.on_data(C2S, &first, ms(syn + 0.2));
    s.on_data(S2C, &request[..9], ms(syn + 0.3));
    if s.wants_inner() && s.relay().prefix(S2C).starts_with(b"GET ") {
        s.set_inner(App::default());
    }
    s.on_data(S2C, &request[9..], ms(syn + 0.4));
    s.on_data(C2S, response, ms(syn + 20.0));
    s
}

#[test]
fn server_side_capture_end_to_end() {
    let control = control_session(SessionConfig::default());
    assert_eq!(control.kind(), ConnKind::Control);

    // Visitors: V1 first, V2 half a millisecond later.
    let mut v1 = visitor_tap();
    v1.on_data(C2S, REQ_A, ms(1000.1));
    v1.on_data(S2C, RESP_A, ms(1031.0));
    let mut v2 = visitor_tap();
    v2.on_data(C2S, REQ_B, ms(1000.6));
    v2.on_data(S2C, RESP_B, ms(1021.0));

    // The first tunnel carries V2, the second V1.
    let t1 = tunnel_session(1001.0, REQ_B, RESP_B);
    let t2 = tunnel_session(1001.5, REQ_A, RESP_A);
    for t in [&t1, &t2] {
        assert_eq!(t.kind(), ConnKind::Tunnel);
        assert_eq!(t.conn_info().map(|i| (i.uid, i.port)), Some((1, 60000)));
    }
    let app = t1.inner().expect("inner analyzer");
    assert_eq!(app.from_visitor, REQ_B);
    assert_eq!(app.from_service, RESP_B);

    let server = ep("10.200.1.1:8008");
    let controls = [ControlInput::from_session(
        ep("10.200.1.2:55498"),
        ep("10.200.1.1:8007"),
        Some(ms(0.0)),
        &control,
    )
    .expect("control input")];
    let tunnels = [
        TunnelInput::from_session(
            ep("10.200.1.2:34498"),
            server,
            ms(1001.0),
            &t1,
            Some("http".into()),
        )
        .expect("tunnel input"),
        TunnelInput::from_session(
            ep("10.200.1.2:34510"),
            server,
            ms(1001.5),
            &t2,
            Some("http".into()),
        )
        .expect("tunnel input"),
    ];
    let visitors = [
        VisitorInput::from_tap(
            ep("10.200.2.2:51734"),
            ep("10.200.2.1:60000"),
            ms(1000.0),
            &v1,
            None,
        ),
        VisitorInput::from_tap(
            ep("10.200.2.2:51740"),
            ep("10.200.2.1:60000"),
            ms(1000.5),
            &v2,
            None,
        ),
    ];
    let report = correlate(&controls, &tunnels, &visitors, &CorrelateConfig::default());

    let s = &report.sessions[0];
    assert_eq!(s.summary.auth, AuthOutcome::Ok);
    assert_eq!(s.summary.user.as_deref(), Some("alice"));
    assert_eq!(s.summary.keepalive.count, 3);
    let pairs: Vec<(u16, Option<u16>)> = s
        .visitors
        .iter()
        .map(|v| (v.client.port, v.tunnel.map(|t| t.port)))
        .collect();
    assert_eq!(pairs, vec![(51734, Some(34510)), (51740, Some(34498))]);
    for v in &s.visitors {
        assert_eq!(v.confidence, 1.0);
        assert_eq!(v.app.as_deref(), Some("http"));
    }
    // V1: SYN 1000.0, NEW_CONNECTION 1000.2, tunnel SYN 1001.5, first byte back 1031.0.
    let l = s.visitors[0].latency_ms;
    let near = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-6);
    assert!(near(l.visitor_syn_to_new_connection, 0.2), "{l:?}");
    assert!(near(l.new_connection_to_tunnel_syn, 1.3), "{l:?}");
    assert!(near(l.tunnel_syn_to_first_byte, 29.5), "{l:?}");
    assert!(near(l.total, 31.0), "{l:?}");

    let json = serde_json::to_string(&report).expect("json");
    assert!(json.contains("\"pairing\":\"content\""), "{json}");
    assert!(!json.contains(PASSWORD), "{json}");
    assert!(!format!("{control:?} {report:?}").contains(PASSWORD));
}

#[test]
fn show_secrets_puts_the_password_in_the_report() {
    let control = control_session(SessionConfig {
        show_secrets: true,
        ..SessionConfig::default()
    });
    let controls = [ControlInput::from_session(
        ep("10.200.1.2:55498"),
        ep("10.200.1.1:8007"),
        None,
        &control,
    )
    .expect("control input")];
    let report = correlate(&controls, &[], &[], &CorrelateConfig::default());
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["sessions"][0]["password"], PASSWORD);
    assert_eq!(json["sessions"][0]["password_len"], PASSWORD.len());
    // Debug output stays redacted even then.
    assert!(!format!("{report:?}").contains(PASSWORD));
}
