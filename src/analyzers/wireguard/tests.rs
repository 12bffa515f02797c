use super::*;

#[test]
fn wireguard_messages() {
    // Whitepaper §5.4.2: initiation = type 1, 3 reserved zeros, sender index, 140 more bytes.
    let mut init = vec![1, 0, 0, 0, 0x78, 0x56, 0x34, 0x12];
    init.resize(148, 0xaa);
    assert_eq!(
        classify(&init),
        Some(WireGuardMessage::HandshakeInitiation { sender: 0x12345678 })
    );
    assert_eq!(classify(&init[..147]), None);
    let mut resp = vec![2, 0, 0, 0];
    resp.resize(92, 1);
    assert!(matches!(
        classify(&resp),
        Some(WireGuardMessage::HandshakeResponse { .. })
    ));
    let mut data = vec![4, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0];
    data.extend([0u8; 16]); // a keepalive: empty plaintext + tag
    assert_eq!(
        classify(&data),
        Some(WireGuardMessage::TransportData {
            receiver: 1,
            counter: 9
        })
    );
    let mut reserved = init.clone();
    reserved[2] = 1;
    assert_eq!(classify(&reserved), None);
    assert_eq!(classify(b"\x04\x00\x00"), None);
}
