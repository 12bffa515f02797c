//! Arbitrary bytes as a TCP connection's two reassembled streams, split at arbitrary points,
//! with gaps, fed to the application layer (every parser: TLS, HTTP, SOCKS, Redis, SSH,
//! OpenVPN, the encrypted-flow detector) either with detection or forced to one protocol,
//! and to the tunnel frame decoder. Invariants: never a panic; the summaries serialise;
//! the application chain never exceeds its documented depth.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunscope::Timestamp;
use tunscope::analyzers::StreamAnalyzer;
use tunscope::analyzers::app::{AppSession, MAX_CHAIN};
use tunscope::analyzers::registry::AppProto;
use tunscope::analyzers::nat_tunnel::{SessionConfig, TunnelSession};
use tunscope::flow::Direction;

const PROTOS: [Option<AppProto>; 8] = [
    None,
    Some(AppProto::Tls),
    Some(AppProto::Ssh),
    Some(AppProto::Socks),
    Some(AppProto::Http),
    Some(AppProto::Redis),
    Some(AppProto::OpenVpn),
    Some(AppProto::Encrypted),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let mut app = match PROTOS[usize::from(selector) % PROTOS.len()] {
        Some(p) => AppSession::with_protocol(p),
        None => AppSession::new(),
    };
    let mut tunnel: TunnelSession = TunnelSession::new(SessionConfig::default());
    // Records: [control byte][len byte][len bytes]; control bit 0 = direction, bit 1 = gap.
    let mut input = rest;
    let mut ts = 0i64;
    while let [control, len, tail @ ..] = input {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        input = next;
        ts += 1000;
        let dir = if control & 1 == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
        let t = Timestamp(ts);
        if control & 2 != 0 {
            let gap = u64::from(*len) << (control >> 4);
            app.on_gap(dir, gap, t);
            tunnel.on_gap(dir, gap, t);
        } else if !chunk.is_empty() {
            app.on_data(dir, chunk, t);
            tunnel.on_data(dir, chunk, t);
        }
        if control & 0x0c == 0x0c {
            app.on_end(dir, t);
            tunnel.on_end(dir, t);
        }
    }
    let summary = app.summarize("1.2.3.4:5", "6.7.8.9:10");
    assert!(summary.app_chain.len() <= MAX_CHAIN, "{:?}", summary.app_chain);
    assert!(serde_json::to_string(&summary).is_ok());
    assert!(serde_json::to_string(&tunnel.summary()).is_ok());
});
