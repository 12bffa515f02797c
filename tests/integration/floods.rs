//! Small versions of the resource floods of `bench/flood.py` (the big runs and their
//! peak RSS are in reports/benchmark.md): every bound that refuses state says so in the
//! report.

use crate::util::*;

/// Xorshift, fixed seed: the floods are the same every run.
struct Rng(u64);
impl Rng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u8
            })
            .collect()
    }
}

/// A classic pcap of Ethernet/IPv4 frames, one per `ip` packet, 1 ms apart.
fn pcap(ips: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [
        0xa1b2_c3d4u32.to_le_bytes().as_slice(),
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
    ] {
        out.extend_from_slice(v);
    }
    for v in [0u32, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, ip) in ips.enumerate() {
        let mut frame = vec![2u8; 6];
        frame.extend_from_slice(&[4u8; 6]);
        frame.extend_from_slice(&[8, 0]);
        frame.extend_from_slice(&ip);
        let usec = i as u32 * 1000;
        for v in [
            1_700_000_000 + usec / 1_000_000,
            usec % 1_000_000,
            frame.len() as u32,
            frame.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&frame);
    }
    out
}

fn ipv4(i: u32, proto: u8, flags_frag: u16, l4: &[u8]) -> Vec<u8> {
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    v.extend_from_slice(&(i as u16).to_be_bytes());
    v.extend_from_slice(&flags_frag.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&[10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    v.extend_from_slice(&[192, 168, 0, 1]);
    v.extend_from_slice(l4);
    v
}

/// `n` QUIC v1 Initials with random CIDs and bodies, each from its own client.
fn quic_flood(n: u32) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    pcap((0..n).map(|i| {
        let mut q = vec![0xc3, 0, 0, 0, 1, 8];
        q.extend(rng.bytes(8));
        q.push(8);
        q.extend(rng.bytes(8));
        q.extend_from_slice(&[0, 0x40, 68]);
        q.extend(rng.bytes(68));
        let mut udp = (1024 + (i % 60000) as u16).to_be_bytes().to_vec();
        udp.extend_from_slice(&443u16.to_be_bytes());
        udp.extend_from_slice(&((8 + q.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend(q);
        ipv4(i, 17, 0, &udp)
    }))
}

fn json_of(bytes: &[u8], args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flood.pcap");
    std::fs::write(&path, bytes).expect("write");
    let mut all: Vec<&std::ffi::OsStr> =
        vec![path.as_os_str(), "--format".as_ref(), "json".as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    let run = run_analyze(all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()
}

#[test]
fn quic_records_past_max_records_are_counted_not_kept() {
    let doc = json_of(
        &quic_flood(3000),
        &["--max-flows", "200", "--max-records", "100"],
    );
    let quic = doc["quic"]["connections"].as_array().expect("quic");
    assert_eq!(quic.len(), 100);
    assert_eq!(doc["limits"]["records_omitted"]["quic_flows"], 2900);
    assert_eq!(doc["connections_omitted"], 2900);
}

#[test]
fn quic_records_past_the_memory_budget_are_counted_not_kept() {
    // 16 MiB: 20% for analyzer records, half of it for QUIC flows of about 1.2 kB each.
    let doc = json_of(&quic_flood(6000), &["--memory", "16"]);
    let kept = doc["quic"]["connections"].as_array().expect("quic").len() as u64;
    let dropped = doc["limits"]["dropped_for_memory"]["quic_flows"]
        .as_u64()
        .expect("QUIC flows dropped for memory");
    assert_eq!(kept + dropped, 6000);
    assert!(kept > 500 && dropped > 500, "kept {kept} dropped {dropped}");
    assert_eq!(doc["limits"]["memory_mb"], 16);
}

#[test]
fn unfinished_fragments_past_the_budget_are_dropped_and_counted() {
    let mut rng = Rng(7);
    let flood = pcap((0..20_000u32).map(|i| {
        let mut udp = 5353u16.to_be_bytes().to_vec();
        udp.extend_from_slice(&53u16.to_be_bytes());
        udp.extend_from_slice(&[0, 72, 0, 0]);
        udp.extend(rng.bytes(64));
        ipv4(i, 17, 0x2000, &udp)
    }));
    let doc = json_of(&flood, &["--memory", "16"]);
    let d = &doc["capture"]["defrag"];
    let dropped = d["dropped_for_limit"].as_u64().expect("dropped");
    assert!(dropped > 0, "{d}");
    assert!(d["pending"].as_u64().expect("pending") < 20_000, "{d}");
}
