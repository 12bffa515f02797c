//! Arbitrary bytes as one UDP datagram, through the QUIC datagram parser, a QUIC flow and
//! v2ray's unwrapping. Invariants: never a panic; coalesced-packet splitting yields packets
//! that lie inside the datagram, follow each other without gap or overlap, end at
//! `pn_offset + Length` for long headers, and together with the trailing bytes make up
//! exactly the datagram; a truncated datagram obeys the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunscope::analyzers::quic::QuicFlow;
use tunscope::analyzers::quic::header::{MAX_COALESCED, Packet, packets};
use tunscope::analyzers::quic::v2ray::{Disguise, Probe, V2rayFlow, V2rayKey, probe};
use tunscope::flow::Direction;
use tunscope::timestamp::Timestamp;

fn check_split(d: &[u8], short: Option<usize>) {
    let base = d.as_ptr() as usize;
    let mut it = packets(d, short);
    let mut off = 0usize;
    let mut n = 0usize;
    let mut first_err = false;
    for r in &mut it {
        match r {
            Ok(p) => {
                let b = p.bytes();
                let start = (b.as_ptr() as usize).wrapping_sub(base);
                assert_eq!(start, off, "packet {n} does not follow the previous one");
                assert!(start + b.len() <= d.len(), "packet beyond the datagram");
                assert!(!b.is_empty(), "empty packet");
                if let Packet::Long(h) = p {
                    assert_eq!(h.pn_offset as u64 + h.length, b.len() as u64);
                    for part in [h.dcid, h.scid, h.token] {
                        let ps = part.as_ptr() as usize;
                        assert!(
                            part.is_empty()
                                || (ps >= base + start && ps + part.len() <= base + start + b.len()),
                            "header field outside its packet"
                        );
                    }
                }
                off += b.len();
                n += 1;
            }
            Err(_) => {
                assert_eq!(n, 0, "only the first packet's error is yielded");
                first_err = true;
            }
        }
    }
    assert!(n <= MAX_COALESCED);
    if !first_err {
        let t = it.trailing();
        assert_eq!(off + t.len(), d.len(), "packets + trailing != datagram");
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the short-header DCID length the caller would know.
    let (short, d) = match data.split_first() {
        Some((&b, rest)) if b < 21 => (Some(usize::from(b)), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    check_split(d, short);
    check_split(&d[..d.len() / 2], short);

    let mut flow = QuicFlow::new();
    flow.on_datagram(Direction::ClientToServer, d, Timestamp(0));
    flow.on_datagram(Direction::ServerToClient, d, Timestamp(1));
    let s = flow.summarize();
    assert!(s.packets_c2s == 1 && s.packets_s2c == 1);

    let keys = V2rayKey::list(&["fuzz".to_string()]);
    if let Some(p) = probe(d, &keys) {
        let mut f = V2rayFlow::new(p);
        f.on_datagram(Direction::ClientToServer, d, Timestamp(0));
        let _ = f.summarize();
    }
    for g in Disguise::ALL {
        let mut f = V2rayFlow::new(Probe::HeaderOnly(g));
        f.on_datagram(Direction::ClientToServer, d, Timestamp(0));
        f.on_datagram(Direction::ServerToClient, d, Timestamp(1));
        let _ = f.summarize();
    }
});
