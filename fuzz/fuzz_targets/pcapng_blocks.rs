//! Structure-aware pcapng: the fuzzer's bytes are a program that builds a file block by
//! block (section headers in either byte order, interface blocks with options whose
//! lengths may lie, enhanced / simple / obsolete packet blocks with captured lengths and
//! interface ids that may lie, unknown blocks, cut or mislabelled blocks), so mutations
//! land on the fields the reader checks instead of on a magic number.
//!
//! Invariants: never a panic; when every block was built well-formed, the reader hands
//! out exactly the packets built (no error) with their bytes; otherwise it hands out at
//! most that many and stops with an error or not at all; the pipeline counts what the
//! reader handed out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use tunscope::capture::{CaptureSet, PacketSource};
use tunscope::pipeline::{CaptureSummaryInput, Options, Pipeline};

/// The fuzzer's bytes, read one field at a time (zeros once exhausted).
struct Prog<'a>(&'a [u8]);

impl Prog<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

struct Builder {
    out: Vec<u8>,
    be: bool,
    /// Every block so far well-formed (the reader must then read the file to its end).
    valid: bool,
    interfaces: usize,
    packets: Vec<Vec<u8>>,
}

impl Builder {
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    /// A block: type, total length, body padded to 4, total length. `lie` changes the
    /// trailer, or cuts the block short.
    fn block(&mut self, kind: u32, body: &[u8], lie: u8) {
        if self.out.is_empty() && kind != 0x0A0D_0D0A {
            // Not a pcapng file at all: refused by its first bytes.
            self.valid = false;
        }
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut b = self.u32(kind).to_vec();
        b.extend_from_slice(&self.u32(total));
        b.extend_from_slice(body);
        b.resize(8 + padded, 0);
        let trailer = match lie {
            1 => total.wrapping_add(4),
            _ => total,
        };
        b.extend_from_slice(&self.u32(trailer));
        if lie == 2 {
            b.truncate(b.len() / 2);
        }
        if lie != 0 {
            self.valid = false;
        }
        self.out.extend_from_slice(&b);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut p = Prog(data);
    let mut b = Builder {
        out: Vec::new(),
        be: p.u8() & 1 == 1,
        valid: true,
        interfaces: 0,
        packets: Vec::new(),
    };
    let mut sections = 0;
    while !p.done() && b.out.len() < 1 << 20 {
        let op = p.u8();
        // A lie in one block of 16 on average, so most programs stay well-formed.
        let lie = if op & 0xf0 == 0xf0 { 1 + op % 2 } else { 0 };
        match op % 6 {
            // Section header (resets interfaces); byte order from the program.
            0 => {
                b.be = p.u8() & 1 == 1;
                let mut body = b.u32(0x1A2B_3C4D).to_vec();
                body.extend_from_slice(&b.u16(1));
                body.extend_from_slice(&b.u16(0));
                body.extend_from_slice(&(-1i64).to_le_bytes());
                b.block(0x0A0D_0D0A, &body, lie);
                b.interfaces = 0;
                sections += 1;
            }
            // Interface block with up to 4 options; an option's length may exceed what
            // the block holds (the regression this target was written for).
            1 => {
                let mut body = b.u16(1).to_vec(); // Ethernet
                body.extend_from_slice(&[0, 0]);
                body.extend_from_slice(&b.u32(u32::from(p.u16())));
                let mut well_formed = true;
                for _ in 0..p.u8() % 5 {
                    let code = match p.u8() % 4 {
                        0 => 9,  // if_tsresol
                        1 => 14, // if_tsoffset
                        2 => 2,  // if_name
                        _ => 0,  // opt_endofopt
                    };
                    let len = usize::from(p.u8() % 24);
                    let value = p.bytes(len).to_vec();
                    let claimed = if p.u8() == 0xff {
                        well_formed = false;
                        0xfff0
                    } else {
                        value.len() as u16
                    };
                    body.extend_from_slice(&b.u16(code));
                    body.extend_from_slice(&b.u16(claimed));
                    body.extend_from_slice(&value);
                    body.resize(body.len().div_ceil(4) * 4, 0);
                    if code == 0 {
                        break;
                    }
                }
                let _ = well_formed; // a lying option ends the options, not the file
                if sections == 0 {
                    b.valid = false;
                }
                b.block(1, &body, lie);
                b.interfaces += 1;
            }
            // Enhanced packet block; the interface id or captured length may lie.
            2 | 3 => {
                let n = usize::from(p.u8());
                let data = p.bytes(n).to_vec();
                let mut if_id = 0u32;
                let mut caplen = data.len() as u32;
                match p.u8() {
                    0xfe => caplen = caplen.wrapping_add(64),
                    0xff => if_id = b.interfaces as u32,
                    _ => {}
                }
                let good = if_id < b.interfaces as u32 && caplen as usize == data.len();
                let mut body = b.u32(if_id).to_vec();
                body.extend_from_slice(&b.u32(0));
                body.extend_from_slice(&b.u32(u32::from(p.u16())));
                body.extend_from_slice(&b.u32(caplen));
                body.extend_from_slice(&b.u32(data.len() as u32));
                body.extend_from_slice(&data);
                if !good {
                    b.valid = false;
                }
                b.block(6, &body, lie);
                if good && lie == 0 {
                    b.packets.push(data);
                }
            }
            // Simple packet block (interface 0, no timestamp).
            4 => {
                let n = usize::from(p.u8());
                let data = p.bytes(n).to_vec();
                let mut body = b.u32(data.len() as u32).to_vec();
                body.extend_from_slice(&data);
                if b.interfaces == 0 {
                    b.valid = false;
                }
                b.block(3, &body, lie);
            }
            // An unknown block (skipped whole).
            _ => {
                let n = usize::from(p.u8() % 64);
                let body = p.bytes(n).to_vec();
                b.block(0x0000_0BAD, &body, lie);
            }
        }
    }
    if sections == 0 {
        b.valid = false;
    }
    let mut set = CaptureSet::from_reader("fuzz", Box::new(Cursor::new(b.out.clone())));
    let mut pipeline = Pipeline::new(Options::default());
    let mut handed_out = Vec::new();
    let mut failed = false;
    loop {
        match set.next_packet() {
            Ok(Some(pkt)) => {
                handed_out.push(pkt.data.to_vec());
                pipeline.process(&pkt);
            }
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let summary = pipeline.finish(CaptureSummaryInput::default());
    assert_eq!(summary.capture.packets, handed_out.len() as u64);
    if b.valid {
        assert!(!failed, "a well-formed file was refused");
        // Simple packet blocks are handed out too: the EPB packets are a subsequence.
        let mut it = handed_out.iter();
        for want in &b.packets {
            assert!(
                it.any(|got| got == want),
                "a built packet was not handed out"
            );
        }
    }
});
