use super::*;
use crate::analyzers::fingerprints::md5_hex;
use proptest::prelude::*;

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

fn packet(payload: &[u8]) -> Vec<u8> {
    let pad = 8 - (payload.len() + 5) % 8 + 8;
    let len = (payload.len() + 1 + pad) as u32;
    let mut v = len.to_be_bytes().to_vec();
    v.push(pad as u8);
    v.extend(payload);
    v.extend(vec![0u8; pad]);
    v
}

fn kexinit(lists: [&str; 10]) -> Vec<u8> {
    let mut p = vec![parser::MSG_KEXINIT];
    p.extend([0x42; 16]);
    for l in lists {
        p.extend((l.len() as u32).to_be_bytes());
        p.extend(l.as_bytes());
    }
    p.extend([0, 0, 0, 0, 0]);
    packet(&p)
}

fn side(banner: &str, lists: [&str; 10]) -> Vec<u8> {
    [
        banner.as_bytes().to_vec(),
        kexinit(lists),
        packet(&[30, 1, 2, 3]),
        packet(&[parser::MSG_NEWKEYS]),
        vec![0xee; 64],
    ]
    .concat()
}

fn conversation() -> (Vec<u8>, Vec<u8>) {
    let c = side(
        "SSH-2.0-OpenSSH_7.4\r\n",
        [
            "curve25519-sha256,ecdh-sha2-nistp256",
            "ssh-ed25519,rsa-sha2-512",
            "chacha20-poly1305@openssh.com,aes128-ctr",
            "aes128-ctr",
            "hmac-sha2-512-etm@openssh.com",
            "hmac-sha2-256",
            "none",
            "none",
            "",
            "",
        ],
    );
    let s = side(
        "SSH-2.0-OpenSSH_7.5\r\n",
        [
            "ecdh-sha2-nistp256,curve25519-sha256",
            "rsa-sha2-512,ssh-ed25519",
            "aes128-ctr,chacha20-poly1305@openssh.com",
            "aes128-ctr",
            "hmac-sha2-256,hmac-sha2-512-etm@openssh.com",
            "hmac-sha2-256",
            "none,zlib",
            "none",
            "",
            "",
        ],
    );
    (c, s)
}

fn run(c: &[u8], s: &[u8], k: usize) -> SshRecord {
    let mut a = SshStream::new();
    let k = k.min(s.len());
    a.on_data(S, &s[..k], Timestamp::ZERO);
    a.on_data(C, c, Timestamp::ZERO);
    a.on_data(S, &s[k..], Timestamp::ZERO);
    a.summarize()
}

#[test]
fn negotiation_follows_rfc4253_client_preference() {
    let (c, s) = conversation();
    let r = run(&c, &s, 0);
    assert_eq!(r.client_software.as_deref(), Some("OpenSSH_7.4"));
    assert_eq!(r.server_banner.as_deref(), Some("SSH-2.0-OpenSSH_7.5"));
    assert_eq!(r.kex_alg.as_deref(), Some("curve25519-sha256"));
    assert_eq!(r.host_key_alg.as_deref(), Some("ssh-ed25519"));
    assert_eq!(
        r.cipher_alg.as_deref(),
        Some("chacha20-poly1305@openssh.com")
    );
    assert_eq!(r.mac_alg.as_deref(), Some("hmac-sha2-512-etm@openssh.com"));
    assert_eq!(r.compression_alg.as_deref(), Some("none"));
    assert_eq!(
        r.hassh.as_deref(),
        Some(md5_hex(b"curve25519-sha256,ecdh-sha2-nistp256;chacha20-poly1305@openssh.com,aes128-ctr;hmac-sha2-512-etm@openssh.com;none").as_str())
    );
    assert_eq!((r.encrypted_bytes_c2s, r.encrypted_bytes_s2c), (64, 64));
    for k in 0..s.len() {
        assert_eq!(run(&c, &s, k), r, "split {k}");
    }
}

#[test]
fn garbage_and_gaps() {
    let r = run(b"\x00\x01\x02\x03garbage\n", b"", 0);
    assert!(r.client_banner.is_none());
    assert_eq!(r.anomalies.len(), 1);
    let mut a = SshStream::new();
    a.on_data(C, b"SSH-2.0-x\r\n", Timestamp::ZERO);
    a.on_gap(C, 100, Timestamp::ZERO);
    a.on_data(C, &[0xff; 10], Timestamp::ZERO);
    let r = a.summarize();
    assert_eq!(r.gap_bytes, 100);
    assert!(r.anomalies.is_empty());
}

#[test]
fn detection() {
    assert_eq!(detect(b"SSH-2.0-x", b""), Detection::Match);
    assert_eq!(detect(b"", b"SSH-1.99-x"), Detection::Match);
    assert_eq!(detect(b"SS", b""), Detection::NeedMore);
    assert_eq!(detect(b"GET ", b""), Detection::NotMine);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(c in proptest::collection::vec(any::<u8>(), 0..1500), k in 0usize..1500) {
        let _ = run(&c, &c, k);
        let prefixed = [b"SSH-2.0-x\r\n".as_slice(), &c].concat();
        let _ = run(&prefixed, &prefixed, k);
        let _ = parser::parse_kexinit(&c);
        let _ = parser::parse_packet(&c);
    }
}
