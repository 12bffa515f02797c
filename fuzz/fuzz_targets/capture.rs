//! Arbitrary bytes as a capture file, through the whole pipeline. Invariants: never a
//! panic; packets counted by the pipeline equal the packets the reader handed out; every
//! TCP direction's delivered plus gap bytes equal its stream length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use tunscope::capture::{CaptureSet, PacketSource};
use tunscope::pipeline::{CaptureSummaryInput, Options, Pipeline};

fuzz_target!(|data: &[u8]| {
    let mut set = CaptureSet::from_reader("fuzz", Box::new(Cursor::new(data.to_vec())));
    let mut pipeline = Pipeline::new(Options::default());
    let mut handed_out = 0u64;
    loop {
        match set.next_packet() {
            Ok(Some(pkt)) => {
                handed_out += 1;
                pipeline.process(&pkt);
            }
            Ok(None) => break,
            Err(_) => continue,
        }
    }
    let summary = pipeline.finish(CaptureSummaryInput::default());
    assert_eq!(summary.capture.packets, handed_out);
    for c in &summary.connections {
        if let Some(tcp) = &c.tcp {
            for d in [&tcp.c2s, &tcp.s2c] {
                assert_eq!(
                    d.stats.delivered_bytes + d.stats.gaps.total_bytes(),
                    d.stream_length
                );
            }
        }
    }
    assert!(summary.read_errors().is_empty(), "{:?}", summary.read_errors());
});
