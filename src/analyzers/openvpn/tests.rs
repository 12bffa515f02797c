use super::*;
use crate::analyzers::app::AppSession;
use crate::analyzers::registry::AppRecords;

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

#[test]
fn openvpn_tcp_shapes() {
    // P_CONTROL_HARD_RESET_CLIENT_V2 (7 << 3), session id, packet-id array len 0, id 0.
    let mut pkt = vec![0x38];
    pkt.extend([1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0]);
    let mut c = (pkt.len() as u16).to_be_bytes().to_vec();
    c.extend(&pkt);
    assert_eq!(detect(&c, b""), Detection::Match);
    let mut s = c.clone();
    s[2] = 8 << 3; // P_CONTROL_HARD_RESET_SERVER_V2
    assert_eq!(detect(&c, &s), Detection::Match);
    assert_eq!(detect(&c[..5], b""), Detection::NeedMore);
    assert_eq!(detect(&c, b"HTTP/1.1"), Detection::NotMine);
    let mut bad = c.clone();
    bad[2] = 0x39; // key id 1 on a hard reset
    assert_eq!(detect(&bad, b""), Detection::NotMine);

    let mut sess = AppSession::new();
    sess.on_data(C, &c, Timestamp::ZERO);
    sess.on_data(S, &s, Timestamp::ZERO);
    let sum = sess.summarize("c", "s");
    assert_eq!(sum.app_chain, ["openvpn"]);
    match &sum.layers[0] {
        AppRecords::Openvpn(r) => {
            assert_eq!(r.reset_version, Some(2));
            assert_eq!(r.client_session_id.as_deref(), Some("0102030405060708"));
            assert_eq!((r.packets_c2s, r.packets_s2c), (1, 1));
        }
        other => panic!("{other:?}"),
    }
}
