//! The control connection's logic: what the client asked (`USER_REQUEST_AUTH` and its
//! `UserInfo`), what the server replied (success or refusal, `USER_INFORMATION` with the
//! uid and exposed port), the keep-alive cadence and the `NEW_CONNECTION` announcements.
//! Frames come in from the session one at a time, in stream order per direction and
//! packet-time order across directions; nothing here reads bytes off the stream.
//!
//! # Rules (from `shared/specs/tunnel-control.md`)
//! * The client's first frame decides authentication: anything but `USER_REQUEST_AUTH`
//!   is a bypass (the server skips the check), flagged `auth_bypass`.
//! * The first reply (`USER_AUTHENTICATION_SUCCESSFULLY` or a refusal) is the outcome;
//!   later ones are `repeated_auth_reply`. No reply at all is `not_checked`
//!   (authentication off: the server's `USER_INFORMATION` may even come first).
//! * The first well-formed `USER_INFORMATION` gives uid and port; a different one later is
//!   `changed_user_information`.
//! * Keep-alives are server to client, nominally every [`KEEPALIVE_PERIOD_S`].
//!
//! # Bounds
//! At most [`MAX_USER_NAME`] bytes of the user name are kept (`long_user_name` beyond);
//! at most `max_new_connections` `NEW_CONNECTION` times (the rest counted). The password
//! is kept only with `show_secrets`, otherwise only its length.

use super::deframer::FrameEvent;
use super::output::{
    AnomalyLog, AuthOutcome, ControlSummary, EndSummary, KeepAliveStats, Secret, StepsMs, Timeline,
};
use super::parser::{
    ByteOrder, ClientConnInfo, MsgId, UserInfo, UserInfoLayout, UserInfoParse,
    parse_client_conn_info, parse_user_info,
};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use std::collections::BTreeMap;

/// Nominal keep-alive period of the implementation (write, then sleep 1 s).
pub const KEEPALIVE_PERIOD_S: f64 = 1.0;
/// A wait for `USER_INFORMATION` longer than this after the auth step counts as queued
/// (the server polls its queue every 100 ms when a port is free).
pub const QUEUED_THRESHOLD_S: f64 = 0.5;
/// Longest user name kept in a summary (bytes, lossy UTF-8); longer ones are cut.
pub const MAX_USER_NAME: usize = 256;

const C2S: Direction = Direction::ClientToServer;

/// Running keep-alive statistics (Welford's mean and variance of the intervals).
#[derive(Clone, Copy, Debug, Default)]
struct KeepAliveAcc {
    count: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    n: u64,
    mean: f64,
    m2: f64,
    max: f64,
    missed: u64,
}

impl KeepAliveAcc {
    fn push(&mut self, ts: Timestamp) {
        self.count += 1;
        self.first.get_or_insert(ts);
        if let Some(prev) = self.last {
            let x = ts.nanos_since(prev) as f64 / 1e9;
            self.n += 1;
            let delta = x - self.mean;
            self.mean += delta / self.n as f64;
            self.m2 += delta * (x - self.mean);
            self.max = if self.n == 1 { x } else { self.max.max(x) };
            let beats = (x / KEEPALIVE_PERIOD_S).round();
            if beats > 1.0 {
                self.missed = self.missed.saturating_add(beats as u64 - 1);
            }
        }
        self.last = Some(ts);
    }

    fn stats(&self) -> KeepAliveStats {
        let some = |v: f64| (self.n > 0).then_some(v);
        KeepAliveStats {
            count: self.count,
            mean_interval_s: some(self.mean),
            stddev_s: some((self.m2 / self.n.max(1) as f64).max(0.0).sqrt()),
            max_gap_s: some(self.max),
            missed_beats: self.missed,
            first: self.first,
            last: self.last,
        }
    }
}

/// The state of one control connection (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Control {
    show_secrets: bool,
    max_new_connections: usize,
    user: Option<String>,
    password_len: Option<u32>,
    password: Option<Secret>,
    layout: Option<UserInfoLayout>,
    expire: Option<i64>,
    first_client_msg: Option<MsgId>,
    auth_reply: Option<(MsgId, Timestamp)>,
    conn_info: Option<ClientConnInfo>,
    new_connections: Vec<Timestamp>,
    new_connections_dropped: u64,
    keepalive: KeepAliveAcc,
    timeline: Timeline,
}

fn opt_ms(later: Option<Timestamp>, earlier: Option<Timestamp>) -> Option<f64> {
    Some(later?.millis_since(earlier?))
}

impl Control {
    pub fn new(show_secrets: bool, max_new_connections: usize) -> Self {
        Control {
            show_secrets,
            max_new_connections,
            ..Control::default()
        }
    }

    /// Bytes seen either way at `ts` (the first time starts the timeline).
    pub fn saw_bytes(&mut self, ts: Timestamp) {
        self.timeline.first_seen.get_or_insert(ts);
    }

    /// `uid` and `port` of the first well-formed `USER_INFORMATION`.
    pub fn conn_info(&self) -> Option<ClientConnInfo> {
        self.conn_info
    }

    /// Whether the server refused authentication.
    pub fn auth_failed(&self) -> bool {
        self.auth_reply.is_some_and(|(m, _)| m.is_auth_failure())
    }

    pub fn auth_outcome(&self) -> AuthOutcome {
        match (self.first_client_msg, self.auth_reply) {
            (Some(m), _) if m != MsgId::UserRequestAuth => AuthOutcome::Bypassed,
            (_, Some((m, _))) if m.is_auth_failure() => AuthOutcome::Failed,
            (_, Some(_)) => AuthOutcome::Ok,
            (_, None) => AuthOutcome::NotChecked,
        }
    }

    /// One frame (`msg` is `f.header`'s id) of `dir` at `ts`; anomalies go to `log`.
    pub fn on_frame(
        &mut self,
        dir: Direction,
        msg: MsgId,
        f: &FrameEvent<'_>,
        ts: Timestamp,
        log: &mut AnomalyLog,
    ) {
        self.timeline.last_frame = Some(ts);
        let at = Some(f.offset);
        let here = Some(dir);
        if dir == C2S {
            self.client_frame(msg, f, ts, log);
            return;
        }
        match msg {
            MsgId::UserRequestAuth => log.push("unexpected_direction", here, ts, at, || {
                "USER_REQUEST_AUTH sent by the server".to_string()
            }),
            m if m == MsgId::UserAuthenticationSuccessfully || m.is_auth_failure() => {
                if self.auth_reply.is_none() {
                    self.auth_reply = Some((m, ts));
                    self.timeline.auth_reply = Some(ts);
                } else {
                    log.push("repeated_auth_reply", here, ts, at, || {
                        format!("a second authentication reply ({})", m.name())
                    });
                }
            }
            MsgId::UserInformation => match (f.truncated, parse_client_conn_info(f.data)) {
                (false, Some(info)) => match self.conn_info {
                    None => {
                        self.conn_info = Some(info);
                        self.timeline.user_information = Some(ts);
                    }
                    Some(prev) if prev != info => {
                        log.push("changed_user_information", here, ts, at, || {
                            format!(
                                "uid {} port {} after uid {} port {}",
                                info.uid, info.port, prev.uid, prev.port
                            )
                        })
                    }
                    Some(_) => {}
                },
                (false, None) => log.push("bad_user_information", here, ts, at, || {
                    format!("USER_INFORMATION payload of {} bytes", f.data.len())
                }),
                (true, _) => {}
            },
            MsgId::KeepAlive => self.keepalive.push(ts),
            MsgId::NewConnection => {
                if self.new_connections.len() < self.max_new_connections {
                    self.new_connections.push(ts);
                } else {
                    self.new_connections_dropped += 1;
                }
            }
            _ => {}
        }
    }

    fn client_frame(
        &mut self,
        msg: MsgId,
        f: &FrameEvent<'_>,
        ts: Timestamp,
        log: &mut AnomalyLog,
    ) {
        let at = Some(f.offset);
        let first = self.first_client_msg.is_none();
        if first {
            self.first_client_msg = Some(msg);
            if msg != MsgId::UserRequestAuth {
                log.push("auth_bypass", Some(C2S), ts, at, || {
                    format!(
                        "client's first frame is {}, not USER_REQUEST_AUTH: the server skips authentication",
                        msg.name()
                    )
                });
            }
        }
        match msg {
            MsgId::UserRequestAuth if self.timeline.auth_request.is_none() => {
                self.timeline.auth_request = Some(ts);
                if !f.truncated {
                    self.user_info(f.data, ts, f.offset, log);
                }
            }
            MsgId::UserRequestAuth => log.push("repeated_auth_request", Some(C2S), ts, at, || {
                "a second USER_REQUEST_AUTH on the same connection".to_string()
            }),
            _ if !first => log.push("unexpected_client_frame", Some(C2S), ts, at, || {
                format!("{} from the client on a control connection", msg.name())
            }),
            _ => {}
        }
    }

    fn user_info(&mut self, data: &[u8], ts: Timestamp, offset: u64, log: &mut AnomalyLog) {
        let at = Some(offset);
        let ui: UserInfo<'_> = match parse_user_info(data) {
            UserInfoParse::One(u) => u,
            UserInfoParse::Ambiguous(imp, _) => {
                log.push("ambiguous_user_info", Some(C2S), ts, at, || {
                    "both UserInfo layouts fit; read with the implementation's".to_string()
                });
                imp
            }
            UserInfoParse::Neither => {
                log.push("bad_user_info", Some(C2S), ts, at, || {
                    // The name lengths each layout would read (absurd ones are the
                    // usual reason), so the anomaly says what did not fit.
                    let len_at = |at: usize| {
                        data.get(at..at + 4)
                            .and_then(|b| <[u8; 4]>::try_from(b).ok())
                            .map_or("none".to_string(), |b| i32::from_be_bytes(b).to_string())
                    };
                    format!(
                        "USER_REQUEST_AUTH payload of {} bytes fits no layout (name length {} in the document's layout, {} in the implementation's)",
                        data.len(),
                        len_at(0),
                        len_at(8)
                    )
                });
                return;
            }
        };
        let name = ui.name.get(..MAX_USER_NAME).unwrap_or(ui.name);
        if name.len() < ui.name.len() {
            log.push("long_user_name", Some(C2S), ts, at, || {
                format!(
                    "user name of {} bytes cut to {MAX_USER_NAME}",
                    ui.name.len()
                )
            });
        }
        self.user = Some(String::from_utf8_lossy(name).into_owned());
        self.password_len = Some(ui.password.len() as u32);
        self.password = self
            .show_secrets
            .then(|| Secret(String::from_utf8_lossy(ui.password).into_owned()));
        self.layout = Some(ui.layout);
        self.expire = Some(ui.expire);
    }

    /// The summary, with what the session knows: the connection's byte order, its frame
    /// counts, how it ended and its anomaly count.
    pub fn summary(
        &self,
        byte_order: Option<ByteOrder>,
        frames: &BTreeMap<&'static str, u64>,
        ended: EndSummary,
        anomalies: u64,
    ) -> ControlSummary {
        let tl = self.timeline;
        let step_ref = tl.auth_reply.or(tl.auth_request).or(tl.first_seen);
        let queued_s = match (tl.user_information, step_ref) {
            (Some(ui), Some(r)) => {
                let s = ui.nanos_since(r) as f64 / 1e9;
                (s > QUEUED_THRESHOLD_S).then_some(s)
            }
            _ => None,
        };
        ControlSummary {
            byte_order,
            user: self.user.clone(),
            password_present: self.password_len.is_some_and(|n| n > 0),
            password_len: self.password_len,
            password: self.password.clone(),
            user_info_layout: self.layout,
            expire: self.expire,
            auth: self.auth_outcome(),
            auth_reply: self.auth_reply.map(|(m, _)| m),
            uid: self.conn_info.map(|i| i.uid),
            port: self.conn_info.map(|i| i.port),
            frames: frames.clone(),
            keepalive: self.keepalive.stats(),
            timeline: tl,
            steps_ms: StepsMs {
                auth_request_to_reply: opt_ms(tl.auth_reply, tl.auth_request),
                reply_to_user_information: opt_ms(tl.user_information, tl.auth_reply),
                auth_request_to_user_information: opt_ms(tl.user_information, tl.auth_request),
            },
            queued_s,
            new_connections: self.new_connections.clone(),
            new_connections_dropped: self.new_connections_dropped,
            ended,
            anomalies,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Payloads from `shared/specs/tunnel-control.md`, fed as the deframer reports them.
    use super::*;
    use crate::analyzers::nat_tunnel::parser::Header;

    const S2C: Direction = Direction::ServerToClient;

    /// The spec's document-layout UserInfo: name `wyfld`, password `yfw123456789`,
    /// expire 0x64847113.
    const USER_INFO_DOC: [u8; 33] = [
        0, 0, 0, 5, b'w', b'y', b'f', b'l', b'd', // name_len 5, name
        0, 0, 0, 12, b'y', b'f', b'w', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8',
        b'9', // pass_len 12, password
        0, 0, 0, 0, 0x64, 0x84, 0x71, 0x13, // expire (i64)
    ];
    /// The spec's ClientConnInfo: uid 1, port 8080.
    const CONN_INFO: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x1f, 0x90];

    fn t(ms: i64) -> Timestamp {
        Timestamp(1_795_315_344_000_000_000 + ms * 1_000_000)
    }

    struct Feed {
        c: Control,
        log: AnomalyLog,
        offset: [u64; 2],
    }

    impl Feed {
        fn new(show_secrets: bool, max_nc: usize) -> Self {
            Feed {
                c: Control::new(show_secrets, max_nc),
                log: AnomalyLog::default(),
                offset: [0; 2],
            }
        }

        fn frame(&mut self, dir: Direction, msg: MsgId, data: &[u8], ms: i64) {
            let offset = self.offset[dir.index()];
            self.offset[dir.index()] += 8 + data.len() as u64;
            let f = FrameEvent {
                header: Header {
                    data_len: data.len() as u32,
                    id: msg.code(),
                    order: ByteOrder::BigEndian,
                },
                data,
                offset,
                truncated: false,
            };
            self.c.saw_bytes(t(ms));
            self.c.on_frame(dir, msg, &f, t(ms), &mut self.log);
        }

        /// The spec's document-layout request at 0 ms, accepted at `reply_ms`.
        fn auth_ok(&mut self, reply_ms: i64) {
            self.frame(C2S, MsgId::UserRequestAuth, &USER_INFO_DOC, 0);
            self.frame(S2C, MsgId::UserAuthenticationSuccessfully, b"", reply_ms);
        }

        fn summary(&self) -> ControlSummary {
            let ended = EndSummary::of([None; 2], [None; 2], self.c.auth_failed());
            self.c
                .summary(None, &BTreeMap::new(), ended, self.log.total())
        }

        fn kinds(&self) -> Vec<&'static str> {
            self.log.samples().iter().map(|a| a.kind).collect()
        }
    }

    fn implementation_user_info(name: &[u8], pass: &[u8]) -> Vec<u8> {
        let mut v = 0i64.to_be_bytes().to_vec(); // uid 0
        v.extend_from_slice(&(name.len() as i32).to_be_bytes());
        v.extend_from_slice(name);
        v.extend_from_slice(&(pass.len() as i32).to_be_bytes());
        v.extend_from_slice(pass);
        v.extend_from_slice(&(-62_135_596_800i64).to_be_bytes()); // Go's zero time
        v
    }

    #[test]
    fn spec_flow_auth_success_then_user_information() {
        let mut f = Feed::new(false, 16);
        f.auth_ok(2);
        f.frame(S2C, MsgId::UserInformation, &CONN_INFO, 5);
        let s = f.summary();
        assert_eq!(s.user.as_deref(), Some("wyfld"));
        assert_eq!((s.password_present, s.password_len), (true, Some(12)));
        assert!(s.password.is_none());
        assert_eq!(s.user_info_layout, Some(UserInfoLayout::Document));
        assert_eq!(s.expire, Some(1_686_401_299));
        assert_eq!(s.auth, AuthOutcome::Ok);
        assert_eq!(s.auth_reply, Some(MsgId::UserAuthenticationSuccessfully));
        assert_eq!((s.uid, s.port), (Some(1), Some(8080)));
        assert_eq!(s.steps_ms.auth_request_to_reply, Some(2.0));
        assert_eq!(s.steps_ms.reply_to_user_information, Some(3.0));
        assert_eq!(s.steps_ms.auth_request_to_user_information, Some(5.0));
        assert_eq!(s.queued_s, None);
        assert_eq!(
            (s.timeline.first_seen, s.timeline.last_frame),
            (Some(t(0)), Some(t(5)))
        );
        assert!(f.kinds().is_empty(), "{:?}", f.kinds());
    }

    #[test]
    fn implementation_layout_and_the_password_only_on_request() {
        let mut f = Feed::new(true, 16);
        let ui = implementation_user_info(b"alice", b"pw");
        f.frame(C2S, MsgId::UserRequestAuth, &ui, 0);
        let s = f.summary();
        assert_eq!(s.user_info_layout, Some(UserInfoLayout::Implementation));
        assert_eq!(s.expire, Some(-62_135_596_800));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("pw"));
        // Authentication off: no reply at all.
        assert_eq!(s.auth, AuthOutcome::NotChecked);
    }

    #[test]
    fn refusal_is_a_failed_auth() {
        let mut f = Feed::new(false, 16);
        f.frame(C2S, MsgId::UserRequestAuth, &USER_INFO_DOC, 0);
        f.frame(S2C, MsgId::AuthFail, b"", 1);
        f.frame(S2C, MsgId::UserAuthenticationSuccessfully, b"", 2);
        assert!(f.c.auth_failed());
        assert_eq!(f.summary().auth, AuthOutcome::Failed);
        assert_eq!(f.kinds(), vec!["repeated_auth_reply"]);
    }

    #[test]
    fn first_client_frame_not_auth_is_a_bypass() {
        let mut f = Feed::new(false, 16);
        f.frame(C2S, MsgId::KeepAlive, b"ping", 0);
        f.frame(C2S, MsgId::KeepAlive, b"ping", 1);
        f.frame(S2C, MsgId::UserInformation, &CONN_INFO, 2);
        assert_eq!(f.summary().auth, AuthOutcome::Bypassed);
        assert_eq!(f.kinds(), vec!["auth_bypass", "unexpected_client_frame"]);
    }

    #[test]
    fn keepalive_cadence_and_missed_beats() {
        let mut f = Feed::new(false, 16);
        // Intervals 1 s, 1 s, 2 s (one beat missed) around the nominal 1 s period.
        for ms in [0, 1000, 2000, 4000] {
            f.frame(S2C, MsgId::KeepAlive, b"ping", ms);
        }
        let k = f.summary().keepalive;
        assert_eq!(k.count, 4);
        assert_eq!(k.missed_beats, 1);
        assert_eq!(k.max_gap_s, Some(2.0));
        let mean = k.mean_interval_s.expect("mean");
        assert!((mean - 4.0 / 3.0).abs() < 1e-9, "{mean}");
        // Population stddev of [1, 1, 2]: sqrt(2/9).
        let sd = k.stddev_s.expect("stddev");
        assert!((sd - (2.0f64 / 9.0).sqrt()).abs() < 1e-9, "{sd}");
        assert_eq!((k.first, k.last), (Some(t(0)), Some(t(4000))));
    }

    #[test]
    fn queued_client_and_bounded_announcements() {
        let mut f = Feed::new(false, 2);
        f.auth_ok(1);
        // No free port: silence for 3 s, then the port.
        f.frame(S2C, MsgId::UserInformation, &CONN_INFO, 3001);
        for ms in [4000, 4001, 4002] {
            f.frame(S2C, MsgId::NewConnection, b"NEW_CONNECTION", ms);
        }
        let s = f.summary();
        assert_eq!(s.queued_s, Some(3.0));
        assert_eq!(s.new_connections, vec![t(4000), t(4001)]);
        assert_eq!(s.new_connections_dropped, 1);
    }

    #[test]
    fn changed_and_bad_user_information() {
        let mut f = Feed::new(false, 16);
        f.frame(S2C, MsgId::UserInformation, &CONN_INFO, 0);
        let mut other = CONN_INFO;
        other[11] = 0x91; // port 8081
        f.frame(S2C, MsgId::UserInformation, &other, 1);
        f.frame(S2C, MsgId::UserInformation, &CONN_INFO[..8], 2);
        assert_eq!(f.c.conn_info().map(|i| i.port), Some(8080));
        assert_eq!(
            f.kinds(),
            vec!["changed_user_information", "bad_user_information"]
        );
    }

    #[test]
    fn long_user_name_is_cut() {
        let mut f = Feed::new(false, 16);
        let name = vec![b'n'; MAX_USER_NAME + 10];
        f.frame(
            C2S,
            MsgId::UserRequestAuth,
            &implementation_user_info(&name, b""),
            0,
        );
        let s = f.summary();
        assert_eq!(s.user.map(|u| u.len()), Some(MAX_USER_NAME));
        assert!(!s.password_present);
        assert_eq!(f.kinds(), vec!["long_user_name"]);
    }

    #[test]
    fn server_sending_auth_request_and_bad_user_info() {
        let mut f = Feed::new(false, 16);
        f.frame(C2S, MsgId::UserRequestAuth, &USER_INFO_DOC[..20], 0);
        f.frame(S2C, MsgId::UserRequestAuth, &USER_INFO_DOC, 1);
        f.frame(C2S, MsgId::UserRequestAuth, &USER_INFO_DOC, 2);
        assert_eq!(
            f.kinds(),
            vec![
                "bad_user_info",
                "unexpected_direction",
                "repeated_auth_request"
            ]
        );
        assert_eq!(f.summary().user, None);
    }
}
