//! Pure SSH parsers (RFC 4253): the identification line (§4.2), the binary packet framing
//! (§6) and KEXINIT (§7.1).
//!
//! Contract: [`Parsed::Done`] carries the value and the bytes consumed;
//! [`Parsed::Incomplete`] means the line or packet has not ended; [`Parsed::Invalid`] means
//! the bytes cannot be SSH. Lines are bounded by [`MAX_LINE`], packets by
//! [`MAX_PACKET`]; name-lists grow only with names actually present.

pub const MAX_LINE: usize = 255;
/// RFC 4253 §6.1: implementations must accept 35000-byte packets.
pub const MAX_PACKET: usize = 35_000;
/// Lines a server may send before its identification (§4.2); bounded here.
pub const MAX_PRE_BANNER_BYTES: usize = 8 * 1024;

pub const MSG_KEXINIT: u8 = 20;
pub const MSG_NEWKEYS: u8 = 21;

pub use crate::analyzers::Parsed;

/// `SSH-protoversion-softwareversion SP comments`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Banner {
    /// The whole line without CR LF.
    pub line: String,
    pub proto_version: String,
    pub software: String,
    pub comments: Option<String>,
}

/// The identification line, skipping other lines before it. `Done` consumes through the
/// line's LF.
pub fn parse_banner(buf: &[u8]) -> Parsed<Banner> {
    let mut off = 0;
    loop {
        let rest = buf.get(off..).unwrap_or_default();
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            let k = rest.len().min(4);
            return if off + rest.len() > MAX_PRE_BANNER_BYTES {
                Parsed::Invalid("no SSH identification in the first 8 KiB")
            } else if rest.len() > MAX_LINE && rest.starts_with(b"SSH-") {
                Parsed::Invalid("identification line longer than 255 bytes")
            } else if off == 0
                && rest.get(..k) != b"SSH-".get(..k)
                && !rest.is_empty()
                && !rest
                    .iter()
                    .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\r')
            {
                Parsed::Invalid("not an SSH identification")
            } else {
                Parsed::Incomplete { needed: 1 }
            };
        };
        let line = rest.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(id) = line.strip_prefix(b"SSH-") {
            if line.len() > MAX_LINE {
                return Parsed::Invalid("identification line longer than 255 bytes");
            }
            let (ids, comments) = match id.iter().position(|&b| b == b' ') {
                Some(sp) => (id.get(..sp).unwrap_or_default(), id.get(sp + 1..)),
                None => (id, None),
            };
            let Some(dash) = ids.iter().position(|&b| b == b'-') else {
                return Parsed::Invalid("identification without a software version");
            };
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            return Parsed::Done(
                Banner {
                    line: s(line),
                    proto_version: s(ids.get(..dash).unwrap_or_default()),
                    software: s(ids.get(dash + 1..).unwrap_or_default()),
                    comments: comments.map(s),
                },
                off + nl + 1,
            );
        }
        if off == 0
            && !line
                .iter()
                .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\t')
        {
            return Parsed::Invalid("not an SSH identification");
        }
        off += nl + 1;
        if off > MAX_PRE_BANNER_BYTES {
            return Parsed::Invalid("no SSH identification in the first 8 KiB");
        }
    }
}

/// One unencrypted binary packet: `(message type, payload)`.
pub fn parse_packet(buf: &[u8]) -> Parsed<(u8, &[u8])> {
    let Some(&[a, b, c, d, pad]) = buf.first_chunk::<5>() else {
        return Parsed::Incomplete { needed: 1 };
    };
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if !(5..=MAX_PACKET).contains(&len) || usize::from(pad) + 1 > len || pad < 4 {
        return Parsed::Invalid("bad SSH packet length");
    }
    let Some(body) = buf.get(5..4 + len) else {
        return Parsed::Incomplete { needed: 1 };
    };
    let payload = body.get(..len - 1 - usize::from(pad)).unwrap_or_default();
    match payload.first() {
        Some(&ty) => Parsed::Done((ty, payload), 4 + len),
        None => Parsed::Invalid("empty SSH payload"),
    }
}

/// The algorithm name-lists of a KEXINIT, in RFC 4253 §7.1 order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KexInit {
    pub kex: Vec<String>,
    pub host_key: Vec<String>,
    pub enc_c2s: Vec<String>,
    pub enc_s2c: Vec<String>,
    pub mac_c2s: Vec<String>,
    pub mac_s2c: Vec<String>,
    pub comp_c2s: Vec<String>,
    pub comp_s2c: Vec<String>,
    /// The raw lists (for HASSH): kex, enc_c2s, mac_c2s, comp_c2s (client view).
    pub raw: [String; 10],
}

/// A KEXINIT payload (starting with the message type byte).
pub fn parse_kexinit(payload: &[u8]) -> Result<KexInit, &'static str> {
    let mut rest = payload
        .get(1 + 16..)
        .ok_or("KEXINIT shorter than its cookie")?;
    let mut raw: [String; 10] = Default::default();
    for slot in raw.iter_mut() {
        let [a, b, c, d] = *rest.first_chunk::<4>().ok_or("truncated name-list")?;
        let n = u32::from_be_bytes([a, b, c, d]) as usize;
        let list = rest.get(4..4 + n).ok_or("truncated name-list")?;
        if !list.iter().all(|b| b.is_ascii_graphic()) {
            return Err("name-list is not ASCII");
        }
        *slot = String::from_utf8_lossy(list).into_owned();
        rest = rest.get(4 + n..).unwrap_or_default();
    }
    let split = |s: &String| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(KexInit {
        kex: split(&raw[0]),
        host_key: split(&raw[1]),
        enc_c2s: split(&raw[2]),
        enc_s2c: split(&raw[3]),
        mac_c2s: split(&raw[4]),
        mac_s2c: split(&raw[5]),
        comp_c2s: split(&raw[6]),
        comp_s2c: split(&raw[7]),
        raw,
    })
}

/// RFC 4253 §7.1: the first client algorithm the server also supports.
pub fn negotiate(client: &[String], server: &[String]) -> Option<String> {
    client.iter().find(|c| server.contains(c)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners() {
        let Parsed::Done(b, n) = parse_banner(b"SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11\r\n\0\0")
        else {
            panic!("parses");
        };
        assert_eq!(n, 42);
        assert_eq!(b.proto_version, "2.0");
        assert_eq!(b.software, "OpenSSH_8.2p1");
        assert_eq!(b.comments.as_deref(), Some("Ubuntu-4ubuntu0.11"));
        assert_eq!(b.line, "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11");
        // RFC 4253 §4.2: other lines may precede the server's identification.
        assert!(matches!(
            parse_banner(b"hello there\r\nSSH-1.99-x\r\n"),
            Parsed::Done(ref b, 25) if b.proto_version == "1.99"
        ));
        assert_eq!(
            parse_banner(b"SSH-2.0-Op"),
            Parsed::Incomplete { needed: 1 }
        );
        assert!(matches!(
            parse_banner(b"\x16\x03\x01\x02\x00\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(parse_banner(b"SSH-2.0\r\n"), Parsed::Invalid(_)));
    }

    #[test]
    fn packets_and_kexinit() {
        // A KEXINIT: type 20, 16-byte cookie, 10 name-lists, first_kex_follows, reserved.
        let mut p = vec![MSG_KEXINIT];
        p.extend([7u8; 16]);
        let lists = [
            "curve25519-sha256,dh",
            "ssh-ed25519",
            "aes128-ctr",
            "aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-256",
            "none",
            "none",
            "",
            "",
        ];
        for l in lists {
            p.extend((l.len() as u32).to_be_bytes());
            p.extend(l.as_bytes());
        }
        p.extend([0, 0, 0, 0, 0]);
        let pad = 4u8;
        let len = (p.len() + 1 + usize::from(pad)) as u32;
        let mut pkt = len.to_be_bytes().to_vec();
        pkt.push(pad);
        pkt.extend(&p);
        pkt.extend([0u8; 4]);
        let Parsed::Done((ty, payload), n) = parse_packet(&pkt) else {
            panic!("parses");
        };
        assert_eq!((ty, n), (MSG_KEXINIT, pkt.len()));
        let k = parse_kexinit(payload).expect("kexinit");
        assert_eq!(k.kex, vec!["curve25519-sha256", "dh"]);
        assert_eq!(k.comp_s2c, vec!["none"]);
        assert_eq!(
            parse_packet(&pkt[..pkt.len() - 1]),
            Parsed::Incomplete { needed: 1 }
        );
        assert!(matches!(
            parse_packet(&[0xff, 0, 0, 0, 4]),
            Parsed::Invalid(_)
        ));
        assert!(parse_kexinit(&payload[..30]).is_err());
        assert_eq!(
            negotiate(&["a".into(), "b".into()], &["b".into(), "a".into()]),
            Some("a".into())
        );
    }
}
