use super::*;
use proptest::prelude::*;

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

/// RFC 1928/1929 exchange: greeting offering no-auth and user/pass, user/pass chosen,
/// bob/alice, CONNECT 192.168.0.2:22, success bound 192.168.0.1:55951, then SSH.
fn socks5_auth() -> (Vec<u8>, Vec<u8>) {
    let c = [
        &[5u8, 2, 0, 2][..],
        b"\x01\x03bob\x05alice",
        &[5, 1, 0, 1, 192, 168, 0, 2, 0, 22],
        b"SSH-2.0-client\r\n",
    ]
    .concat();
    let s = [
        &[5u8, 2][..],
        &[1, 0],
        &[5, 0, 0, 1, 192, 168, 0, 1, 0xda, 0x8f],
        b"SSH-2.0-server\r\n",
    ]
    .concat();
    (c, s)
}

fn run(c: &[u8], s: &[u8], cut: usize) -> (SocksRecord, Option<Handoff>) {
    let mut a = SocksStream::new();
    let mut h = None;
    let k = cut.min(c.len());
    for (d, b) in [(C, &c[..k]), (S, s), (C, &c[k..])] {
        if !b.is_empty() {
            a.on_data(d, b, Timestamp::ZERO);
        }
        h = h.or_else(|| a.take_handoff());
    }
    let r = a.summarize();
    (r, h)
}

#[test]
fn socks5_with_userpass() {
    let (c, s) = socks5_auth();
    let (r, h) = run(&c, &s, c.len());
    assert_eq!(r.version, Some(5));
    assert_eq!(r.auth_methods_offered, ["none", "username_password"]);
    assert_eq!(r.auth_method.as_deref(), Some("username_password"));
    assert_eq!(r.user.as_deref(), Some("bob"));
    assert_eq!(r.auth_succeeded, Some(true));
    assert_eq!(r.destination.as_deref(), Some("192.168.0.2"));
    assert_eq!((r.destination_port, r.bound_port), (Some(22), Some(55951)));
    assert_eq!(r.status.as_deref(), Some("succeeded"));
    let h = h.expect("hand-off");
    assert_eq!(h.pending[0], b"SSH-2.0-client\r\n");
    assert_eq!(h.pending[1], b"SSH-2.0-server\r\n");
    // Any split of the client bytes gives the same record and hand-off.
    for k in 0..c.len() {
        let (r2, h2) = run(&c, &s, k);
        assert_eq!(r2, r, "split {k}");
        assert!(h2.is_some(), "split {k}");
    }
}

#[test]
fn socks4_refused_has_no_handoff() {
    let c = b"\x04\x01\x00\x50\x0a\x00\x00\x01\x00";
    let (r, h) = run(c, &[0, 91, 0, 0, 0, 0, 0, 0], c.len());
    assert_eq!(r.version, Some(4));
    assert_eq!(r.reply_code, Some(91));
    assert!(h.is_none());
}

#[test]
fn session_follows_socks_into_ssh() {
    use crate::analyzers::app::AppSession;
    let (c, s) = socks5_auth();
    let mut sess = AppSession::new();
    sess.on_data(C, &c, Timestamp::ZERO);
    sess.on_data(S, &s, Timestamp::ZERO);
    let sum = sess.summarize("c", "s");
    assert_eq!(sum.app_chain, ["socks5", "ssh"]);
}

#[test]
fn detection() {
    assert_eq!(detect(&[5, 1, 0], &[5, 0]), Detection::Match);
    assert_eq!(detect(&[5, 1, 0], &[5, 7]), Detection::NotMine);
    assert_eq!(detect(&[5, 2, 0], b""), Detection::NeedMore);
    assert_eq!(detect(&[5, 1, 0, 9], b""), Detection::NotMine);
    assert_eq!(
        detect(b"\x04\x01\x00\x50\x0a\x00\x00\x01u\x00", b""),
        Detection::Match
    );
    assert_eq!(detect(b"\x04\x01\x00\x50\x0a", b""), Detection::NeedMore);
    assert_eq!(detect(b"GET /", b""), Detection::NotMine);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(c in proptest::collection::vec(any::<u8>(), 0..600), s in proptest::collection::vec(any::<u8>(), 0..600), k in 0usize..600) {
        let _ = run(&c, &s, k);
        let _ = detect(&c, &s);
        let _ = parser::socks5_message(&c);
        let _ = parser::socks4_request(&c);
        let _ = parser::socks5_userpass(&c);
    }
}
