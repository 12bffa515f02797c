//! Arbitrary bytes as one frame, through the decoder (encapsulation layers included), then
//! the same bytes wrapped in each tunnel kind so the fuzzer starts inside them. Invariants:
//! never a panic; at most `MAX_DEPTH` layers; a payload the decoder returns lies inside the
//! frame it was given (decode never reads past its input; no datagram is rebuilt from one
//! frame); the decoder counts at most one malformed packet per frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunscope::Timestamp;
use tunscope::capture::{LinkType, RawPacket};
use tunscope::decode::encap::MAX_DEPTH;
use tunscope::decode::{Decoded, Decoder};

fn check(link: LinkType, frame: &[u8]) {
    let mut d = Decoder::default();
    let pkt = RawPacket {
        index: 0,
        ts: Timestamp::ZERO,
        link,
        data: frame,
        orig_len: frame.len() as u32,
        stored_at: None,
    };
    let range = frame.as_ptr_range();
    let inside = |s: &[u8]| {
        s.is_empty() || (range.start <= s.as_ptr() && s.as_ptr_range().end <= range.end)
    };
    let (decoded, chain) = d.decode_layers(&pkt);
    assert!(chain.layers().len() <= MAX_DEPTH);
    match decoded {
        Decoded::Tcp { segment, .. } => assert!(inside(segment.payload)),
        Decoded::Udp { payload, .. } => assert!(inside(payload)),
        _ => {}
    }
    assert!(d.counts.malformed <= 1);
}

/// `body` behind an IPv4 header of protocol `proto`, or UDP to `port` when `proto` is 17.
fn wrap(proto: u8, port: u16, body: &[u8]) -> Vec<u8> {
    let mut inner = Vec::new();
    if proto == 17 {
        inner.extend_from_slice(&40000u16.to_be_bytes());
        inner.extend_from_slice(&port.to_be_bytes());
        inner.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        inner.extend_from_slice(&[0, 0]);
    }
    inner.extend_from_slice(body);
    let total = (20 + inner.len()).min(usize::from(u16::MAX)) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    p.extend_from_slice(&inner);
    p
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let links = [
        LinkType::ETHERNET,
        LinkType::RAW,
        LinkType::LINUX_SLL,
        LinkType::PPP,
        LinkType(104),
        LinkType(105),
        LinkType(127),
    ];
    check(links[usize::from(selector) % links.len()], rest);
    // Inside each tunnel kind.
    for (proto, port) in [
        (47, 0),
        (4, 0),
        (41, 0),
        (17, 4789),
        (17, 6081),
        (17, 3544),
        (17, 1701),
        (17, 2152),
        (17, 4754),
        (17, 5072),
    ] {
        check(LinkType::RAW, &wrap(proto, port, rest));
    }
    // Behind the EtherTypes of MPLS, PPPoE and NSH.
    for ethertype in [0x8847u16, 0x8864, 0x894f] {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(rest);
        check(LinkType::ETHERNET, &f);
    }
});
