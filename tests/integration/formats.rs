//! The same packets written in every capture encoding tunscope reads come back identical:
//! timestamps to the nanosecond where the format carries them, bytes, link types.
//! The writers here are deliberately naive, written from the format specifications.

use std::io::Write;
use std::path::PathBuf;
use tunscope::capture::{CaptureSet, LinkType, PacketSource};

struct Pkt {
    ts_ns: i64,
    link: u16,
    data: Vec<u8>,
}

fn packets() -> Vec<Pkt> {
    (0..6u8)
        .map(|i| {
            let builder = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(5000 + u16::from(i), 53);
            let mut data = Vec::new();
            builder
                .write(&mut data, &vec![i; 10 + usize::from(i)])
                .expect("build");
            Pkt {
                // Whole microseconds, so every resolution represents them exactly.
                ts_ns: 1_700_000_000_000_000_000
                    + i64::from(i) * 1_250_000_000
                    + i64::from(i) * 7_000,
                link: 1,
                data,
            }
        })
        .collect()
}

fn u32b(v: u32, be: bool) -> [u8; 4] {
    if be { v.to_be_bytes() } else { v.to_le_bytes() }
}
fn u16b(v: u16, be: bool) -> [u8; 2] {
    if be { v.to_be_bytes() } else { v.to_le_bytes() }
}

fn pcap(pkts: &[Pkt], be: bool, nanos: bool) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, be));
    f.extend(u16b(2, be));
    f.extend(u16b(4, be));
    f.extend(u32b(0, be));
    f.extend(u32b(0, be));
    f.extend(u32b(65535, be));
    f.extend(u32b(1, be));
    for p in pkts {
        let secs = p.ts_ns / 1_000_000_000;
        let sub = p.ts_ns % 1_000_000_000;
        f.extend(u32b(secs as u32, be));
        f.extend(u32b(
            if nanos {
                sub as u32
            } else {
                (sub / 1000) as u32
            },
            be,
        ));
        f.extend(u32b(p.data.len() as u32, be));
        f.extend(u32b(p.data.len() as u32, be));
        f.extend(&p.data);
    }
    f
}

fn block(be: bool, kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let total = (body.len() + 12) as u32;
    let mut b = Vec::new();
    b.extend(u32b(kind, be));
    b.extend(u32b(total, be));
    b.extend(body);
    b.extend(u32b(total, be));
    b
}

fn shb(be: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u32b(0x1a2b_3c4d, be));
    body.extend(u16b(1, be));
    body.extend(u16b(0, be));
    body.extend(u32b(u32::MAX, be));
    body.extend(u32b(u32::MAX, be));
    block(be, 0x0a0d_0d0a, &body)
}

/// An interface with `if_tsresol` (when given) and a comment option before it.
fn idb(be: bool, link: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u16b(link, be));
    body.extend(u16b(0, be));
    body.extend(u32b(0, be));
    // opt_comment "x"
    body.extend(u16b(1, be));
    body.extend(u16b(1, be));
    body.extend([b'x', 0, 0, 0]);
    if let Some(r) = tsresol {
        body.extend(u16b(9, be));
        body.extend(u16b(1, be));
        body.extend([r, 0, 0, 0]);
    }
    body.extend(u16b(0, be));
    body.extend(u16b(0, be));
    block(be, 1, &body)
}

fn epb(be: bool, iface: u32, ticks: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u32b(iface, be));
    body.extend(u32b((ticks >> 32) as u32, be));
    body.extend(u32b(ticks as u32, be));
    body.extend(u32b(data.len() as u32, be));
    body.extend(u32b(data.len() as u32, be));
    body.extend(data);
    block(be, 6, &body)
}

/// Two sections (little- then big-endian when `mixed`), interfaces with microsecond,
/// nanosecond and binary (2^-20 s... exact for whole microseconds? no: use 2^-0 only for
/// whole seconds) resolutions, and an unknown block type that must be skipped.
fn pcapng(pkts: &[Pkt], mixed: bool) -> Vec<u8> {
    let mut f = Vec::new();
    let (first, second) = pkts.split_at(3);
    for (section, chunk) in [(0, first), (1, second)] {
        let be = mixed && section == 1;
        f.extend(shb(be));
        f.extend(idb(be, 1, None)); // microseconds
        f.extend(idb(be, 1, Some(9))); // nanoseconds
        f.extend(block(be, 0x0000_0bad, b"custom block to skip"));
        for (i, p) in chunk.iter().enumerate() {
            let (iface, ticks) = if i % 2 == 0 {
                (0, p.ts_ns / 1000)
            } else {
                (1, p.ts_ns)
            };
            f.extend(epb(be, iface, ticks as u64, &p.data));
        }
    }
    f
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn read_all(paths: Vec<PathBuf>) -> Vec<(i64, LinkType, Vec<u8>)> {
    read_all_stored(paths).0
}

/// The packets, and how many of them said where they lie in their mapped file (checked:
/// the bytes recalled from there are the packet's).
fn read_all_stored(paths: Vec<PathBuf>) -> (Vec<(i64, LinkType, Vec<u8>)>, usize) {
    let mut set = CaptureSet::new(paths);
    let mut out = Vec::new();
    let mut stored = 0;
    while let Some(p) = set.next_packet().expect("readable") {
        if let Some(at) = p.stored_at {
            assert_eq!(at.store.recall(at.offset, p.data.len()), Some(p.data));
            stored += 1;
        }
        out.push((p.ts.as_nanos(), p.link, p.data.to_vec()));
    }
    (out, stored)
}

fn expected(pkts: &[Pkt]) -> Vec<(i64, LinkType, Vec<u8>)> {
    pkts.iter()
        .map(|p| (p.ts_ns, LinkType(u32::from(p.link)), p.data.clone()))
        .collect()
}

#[test]
fn every_encoding_yields_the_same_packets() {
    let pkts = packets();
    let want = expected(&pkts);
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&pcapng(&pkts, true)).expect("gzip");
        enc.finish().expect("gzip")
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("le-usec.pcap", pcap(&pkts, false, false)),
        ("be-usec.pcap", pcap(&pkts, true, false)),
        ("le-nsec.pcap", pcap(&pkts, false, true)),
        ("be-nsec.pcap", pcap(&pkts, true, true)),
        ("two-sections.pcapng", pcapng(&pkts, false)),
        ("mixed-endian.pcapng", pcapng(&pkts, true)),
        // A pcapng named .pcap: the magic decides, never the name.
        ("misnamed.pcap", pcapng(&pkts, false)),
        ("compressed.pcapng.gz", gz),
    ];
    for (name, bytes) in cases {
        let path = write_temp(&dir, name, &bytes);
        let (got, stored) = read_all_stored(vec![path]);
        assert_eq!(got, want, "{name}");
        // Mapped files say where each packet lies; a gzip stream is decompressed into a
        // reused buffer and says nothing.
        let mapped = !name.ends_with(".gz");
        assert_eq!(stored, if mapped { want.len() } else { 0 }, "{name}");
    }
}

#[test]
fn binary_timestamp_resolution_and_simple_packet_blocks() {
    let be = false;
    let pkts = packets();
    let mut f = shb(be);
    f.extend(idb(be, 1, Some(0x80 | 10))); // 2^-10 s per tick
    // 1024 ticks = exactly 1 s.
    f.extend(epb(be, 0, 3 * 1024 + 512, &pkts[0].data));
    // A simple packet block: no timestamp, interface 0.
    let mut spb = Vec::new();
    spb.extend(u32b(pkts[1].data.len() as u32, be));
    spb.extend(&pkts[1].data);
    f.extend(block(be, 3, &spb));
    let dir = tempfile::tempdir().expect("tempdir");
    let got = read_all(vec![write_temp(&dir, "bin.pcapng", &f)]);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, 3_500_000_000);
    assert_eq!(got[0].2, pkts[0].data);
    assert_eq!(got[1].2, pkts[1].data);
}

#[test]
fn several_files_read_as_one_capture_with_a_warning_when_time_goes_back() {
    let pkts = packets();
    let dir = tempfile::tempdir().expect("tempdir");
    let later = write_temp(&dir, "b.pcap", &pcap(&pkts[3..], false, false));
    let earlier = write_temp(&dir, "a.pcap", &pcap(&pkts[..3], false, true));
    let mut set = CaptureSet::new(vec![earlier.clone(), later.clone()]);
    let mut indexes = Vec::new();
    while let Some(p) = set.next_packet().expect("readable") {
        indexes.push(p.index);
    }
    assert_eq!(indexes, vec![0, 1, 2, 3, 4, 5]);
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);

    let mut backwards = CaptureSet::new(vec![later, earlier]);
    while backwards.next_packet().expect("readable").is_some() {}
    assert_eq!(backwards.warnings.len(), 1, "{:?}", backwards.warnings);
    assert!(backwards.warnings[0].contains("time goes backwards"));
}

#[test]
fn standard_input_is_read_as_a_stream() {
    let pkts = packets();
    let run = crate::util::tunscope()
        .args(["analyze", "--format", "json", "-"])
        .write_stdin(pcap(&pkts, true, true))
        .output()
        .expect("runs");
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(doc["capture"]["packets"], 6);
    assert_eq!(doc["capture"]["files"][0]["path"], "<stdin>");
    assert_eq!(doc["flows"]["udp"], 6);
}

/// pcapng holds 64-bit ticks: at nanosecond resolution 2^63 ns is the year 2262, so a
/// packet stamped in 2300 (pcapng allows it) cannot be held; it is kept at the limit with
/// one warning for the file, never silently.
#[test]
fn pcapng_times_past_2262_are_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut f = shb(false);
    f.extend(idb(false, 1, Some(9)));
    let y2300_ns: u64 = 10_413_792_000 * 1_000_000_000; // 2300-01-01T00:00:00Z
    f.extend(epb(false, 0, 1_000_000_000, &[0u8; 60]));
    f.extend(epb(false, 0, y2300_ns, &[0u8; 60]));
    f.extend(epb(false, 0, y2300_ns + 1, &[0u8; 60]));
    let path = write_temp(&dir, "y2300.pcapng", &f);
    let mut set = CaptureSet::new(vec![path]);
    let mut times = Vec::new();
    while let Some(p) = set.next_packet().expect("readable") {
        times.push(p.ts.as_nanos());
    }
    assert_eq!(times, [1_000_000_000, i64::MAX, i64::MAX]);
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    assert!(
        set.warnings[0].contains("2 packet time(s)"),
        "{:?}",
        set.warnings
    );
}
