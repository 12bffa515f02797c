//! WireGuard datagrams (whitepaper §5.4): [`classify`], a pure classifier of one UDP
//! payload by message type, reserved bytes and exact length.

use serde::Serialize;

/// A WireGuard message recognised from one UDP payload (whitepaper §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireGuardMessage {
    /// Type 1, 148 bytes.
    HandshakeInitiation { sender: u32 },
    /// Type 2, 92 bytes.
    HandshakeResponse { sender: u32, receiver: u32 },
    /// Type 3, 64 bytes.
    CookieReply { receiver: u32 },
    /// Type 4: 16-byte header plus an authenticated payload of at least the 16-byte tag.
    /// (Plaintext is padded to a multiple of 16 except where that would pass the MTU, so
    /// the length alone is not constrained further.)
    TransportData { receiver: u32, counter: u64 },
}

/// Classifies one UDP payload: message type byte, three zero reserved bytes and the exact
/// (or, for data, constrained) length. Anything else is `None`.
pub fn classify(p: &[u8]) -> Option<WireGuardMessage> {
    let [ty, r0, r1, r2] = *p.first_chunk::<4>()?;
    if (r0, r1, r2) != (0, 0, 0) {
        return None;
    }
    let le32 = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(*p.get(at..at + 4)?.first_chunk::<4>()?))
    };
    match (ty, p.len()) {
        (1, 148) => Some(WireGuardMessage::HandshakeInitiation { sender: le32(4)? }),
        (2, 92) => Some(WireGuardMessage::HandshakeResponse {
            sender: le32(4)?,
            receiver: le32(8)?,
        }),
        (3, 64) => Some(WireGuardMessage::CookieReply { receiver: le32(4)? }),
        (4, n) if n >= 32 => Some(WireGuardMessage::TransportData {
            receiver: le32(4)?,
            counter: u64::from_le_bytes(*p.get(8..16)?.first_chunk::<8>()?),
        }),
        _ => None,
    }
}

/// WireGuard as a registered UDP protocol: a handshake message (exact size, zero
/// reserved bytes) starts it; transport-shaped datagrams only count, two of them make a
/// flow WireGuard when nothing else claimed it (v2ray's "wireguard" disguise imitates
/// transport messages, never handshakes).
pub struct Udp;

impl crate::analyzers::api::UdpProtocol for Udp {
    const LIKELY_NEEDED: u8 = 2;
    type Shared = ();
    type Flow = ();
    type Finished = ();

    fn shared(_: &crate::analyzers::api::UdpOptions) {}

    fn probe(
        _: &(),
        payload: &[u8],
        _dir: crate::flow::Direction,
    ) -> crate::analyzers::api::UdpProbe<()> {
        use crate::analyzers::api::UdpProbe;
        match classify(payload) {
            Some(
                WireGuardMessage::HandshakeInitiation { .. }
                | WireGuardMessage::HandshakeResponse { .. }
                | WireGuardMessage::CookieReply { .. },
            ) => UdpProbe::Start(()),
            Some(WireGuardMessage::TransportData { .. }) => UdpProbe::Likely,
            None => UdpProbe::NotMine,
        }
    }

    fn start_likely() -> Option<()> {
        Some(())
    }

    fn on_datagram(
        _: &mut (),
        _: &mut (),
        _: crate::flow::Direction,
        _: &[u8],
        _: crate::timestamp::Timestamp,
    ) {
    }

    fn finish(_: (), _: crate::analyzers::api::UdpFlowMeta) -> (Option<&'static str>, Option<()>) {
        (Some("wireguard"), None)
    }
}

#[cfg(test)]
mod tests;
