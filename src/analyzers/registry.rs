//! The analyzer registry: the one list of TCP protocols (in probe order) and the one
//! list of application record tables (in report order). Everything that differs per
//! protocol downstream (the report's tables, JSONL types, CSV files, HTML tables, text
//! sections, latency categories, live notes) is generated from these two lists; a
//! protocol folder names none of the types made here.
//!
//! # Adding a TCP protocol
//!
//! Its folder exposes `pub static PROTOCOL: TcpProtocol<ItsAnalyzer>` (see
//! [`super::api`]) and a record type implementing [`AppRecord`]; it gets one line in
//! [`tcp_protocols!`]'s list below and one in [`app_tables!`]'s. Its analyzer's
//! `Record` must convert into [`AppRecords`], which the second line provides for a
//! protocol with one record type.
//!
//! # Contracts
//!
//! - [`detect_stream`] tries the detectors in [`AppProto::PROBE_ORDER`] and returns the
//!   first `Match`/`MatchReversed`, else `NeedMore` if any detector still needs bytes,
//!   else `None`. The last entry, the fully-encrypted heuristic, only speaks once every
//!   specific detector has decided.
//! - [`AppProto::start`] wraps the protocol's analyzer so that its records come out as
//!   [`AppRecords`]; nothing else is added or changed.

use super::api::{
    AppAnalyzer, AppRecord, Detection, Handoff, LiveNote, StreamAnalyzer, UdpFlowMeta, UdpOptions,
    UdpProbe, UdpProtocol,
};
use super::encrypted::UnknownRecord;
use crate::flow::Direction;
use crate::limits::Footprint;
use crate::timestamp::Timestamp;

/// The TCP protocols, in probe order: the most specific signatures first, the entropy
/// fallback last. `Variant => folder::PROTOCOL`.
macro_rules! tcp_protocols {
    ($($variant:ident => $registration:expr,)*) => {
        /// The application protocols tunscope recognises on TCP.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AppProto {
            $(
                #[doc = concat!("Registered as `", stringify!($registration), "`.")]
                $variant,
            )*
        }

        impl AppProto {
            /// Probe order (see the module doc).
            pub const PROBE_ORDER: &'static [AppProto] = &[$(AppProto::$variant,)*];

            /// The protocol's registered name.
            pub fn name(self) -> &'static str {
                match self {
                    $(AppProto::$variant => $registration.name,)*
                }
            }

            /// This protocol's detector.
            pub fn detect(self, c2s: &[u8], s2c: &[u8]) -> Detection {
                match self {
                    $(AppProto::$variant => ($registration.detect)(c2s, s2c),)*
                }
            }

            /// A fresh analyzer for one connection.
            pub fn start(self) -> Box<dyn DynAnalyzer> {
                match self {
                    $(AppProto::$variant => Box::new(Erased(($registration.start)())),)*
                }
            }
        }
    };
}

tcp_protocols! {
    Tls => super::tls::PROTOCOL,
    Ssh => super::ssh::PROTOCOL,
    Http => super::http::PROTOCOL,
    Socks => super::socks::PROTOCOL,
    Redis => super::redis::PROTOCOL,
    OpenVpn => super::openvpn::PROTOCOL,
    Encrypted => super::encrypted::PROTOCOL,
}

/// The UDP protocols, in probe order (see [`crate::analyzers::api::UdpProtocol`] for how
/// the order decides): `Variant field: folder::Udp`. Generates [`UdpState`] (a flow's
/// state), [`UdpShared`] (each protocol's state across flows) and [`UdpFinished`] (what
/// ended flows left, per protocol).
macro_rules! udp_protocols {
    ($($variant:ident $field:ident: $proto:ty,)*) => {
        /// What one UDP flow turned out to carry.
        pub enum UdpState {
            /// Still looking at the first datagrams.
            Probing {
                /// Datagrams probed so far.
                seen: u8,
                /// `Likely` answers so far, per protocol in registry order.
                likely: [u8; UDP_PROTOCOLS],
            },
            $(
                #[doc = concat!("Followed by `", stringify!($proto), "`.")]
                $variant(<$proto as UdpProtocol>::Flow),
            )*
            /// No protocol after `PROBE_DATAGRAMS` datagrams.
            Unknown,
        }

        /// Number of registered UDP protocols.
        pub const UDP_PROTOCOLS: usize = [$(stringify!($variant)),*].len();

        /// Each UDP protocol's state across its flows.
        pub struct UdpShared {
            $(
                #[doc = concat!("`", stringify!($proto), "`'s.")]
                pub $field: <$proto as UdpProtocol>::Shared,
            )*
        }

        /// What ended flows left for the records made across flows, per protocol, each
        /// with its place in the order the flows ended (across protocols).
        pub struct UdpFinished {
            /// Flows that ended so far.
            pub ended: u64,
            /// What is kept across the lists at most: items and estimated bytes
            /// (`crate::limits::Footprint`); refusals are counted below.
            pub max: usize,
            /// See `max`.
            pub max_bytes: usize,
            /// Items and estimated bytes kept.
            pub kept: usize,
            /// See `kept`.
            pub bytes: usize,
            /// Items refused because `max` were kept.
            pub omitted: u64,
            /// Items refused because they would have passed `max_bytes`.
            pub omitted_for_memory: u64,
            $(
                #[doc = concat!("`", stringify!($proto), "`'s.")]
                pub $field: Vec<(u64, <$proto as UdpProtocol>::Finished)>,
            )*
        }

        impl UdpShared {
            /// Every protocol's state at the start of a run.
            pub fn new(opts: &UdpOptions) -> Self {
                UdpShared {
                    $($field: <$proto as UdpProtocol>::shared(opts),)*
                }
            }
        }

        impl Default for UdpFinished {
            fn default() -> Self {
                UdpFinished {
                    ended: 0,
                    max: usize::MAX,
                    max_bytes: usize::MAX,
                    kept: 0,
                    bytes: 0,
                    omitted: 0,
                    omitted_for_memory: 0,
                    $($field: Vec::new(),)*
                }
            }
        }

        impl UdpState {
            /// Probes one of the flow's first datagrams in registry order: the first
            /// `Start` wins, else enough `Likely` answers; `None` while still probing.
            fn probe(
                shared: &UdpShared,
                likely: &mut [u8; UDP_PROTOCOLS],
                payload: &[u8],
                dir: Direction,
            ) -> Option<UdpState> {
                let mut index = 0;
                $(
                    match <$proto as UdpProtocol>::probe(&shared.$field, payload, dir) {
                        UdpProbe::Start(f) => return Some(UdpState::$variant(f)),
                        UdpProbe::Likely => likely[index] = likely[index].saturating_add(1),
                        UdpProbe::NotMine => {}
                    }
                    index += 1;
                )*
                let _ = index;
                let mut index = 0;
                $(
                    if likely[index] >= <$proto as UdpProtocol>::LIKELY_NEEDED
                        && let Some(f) = <$proto as UdpProtocol>::start_likely()
                    {
                        return Some(UdpState::$variant(f));
                    }
                    index += 1;
                )*
                let _ = index;
                None
            }

            /// Probes while probing, then feeds the protocol that started.
            pub fn on_datagram(
                &mut self,
                shared: &mut UdpShared,
                dir: Direction,
                payload: &[u8],
                ts: Timestamp,
            ) {
                if let UdpState::Probing { seen, likely } = self {
                    match UdpState::probe(shared, likely, payload, dir) {
                        Some(started) => *self = started,
                        None if *seen + 1 >= PROBE_DATAGRAMS => *self = UdpState::Unknown,
                        None => *seen += 1,
                    }
                }
                match self {
                    $(UdpState::$variant(f) => {
                        <$proto as UdpProtocol>::on_datagram(f, &mut shared.$field, dir, payload, ts)
                    })*
                    UdpState::Probing { .. } | UdpState::Unknown => {}
                }
            }

            /// What the flow's throughput is counted under.
            pub fn throughput_label(&self) -> &'static str {
                match self {
                    $(UdpState::$variant(f) => <$proto as UdpProtocol>::throughput_label(f),)*
                    UdpState::Probing { .. } | UdpState::Unknown => "udp",
                }
            }

            /// The flow ended: its protocol (`None`: not named); what it leaves for the
            /// records across flows goes to `finished`.
            pub fn finish(self, finished: &mut UdpFinished, meta: UdpFlowMeta) -> Option<&'static str> {
                match self {
                    $(UdpState::$variant(f) => {
                        let (app, left) = <$proto as UdpProtocol>::finish(f, meta);
                        if let Some(left) = left {
                            let cost = left.footprint();
                            if finished.kept >= finished.max {
                                finished.omitted += 1;
                            } else if finished.bytes.saturating_add(cost) > finished.max_bytes {
                                finished.omitted_for_memory += 1;
                            } else {
                                finished.kept += 1;
                                finished.bytes += cost;
                                finished.$field.push((finished.ended, left));
                            }
                        }
                        finished.ended += 1;
                        app
                    })*
                    UdpState::Probing { .. } | UdpState::Unknown => None,
                }
            }
        }

        impl Default for UdpState {
            fn default() -> Self {
                UdpState::Probing {
                    seen: 0,
                    likely: [0; UDP_PROTOCOLS],
                }
            }
        }
    };
}

/// How many datagrams of a UDP flow are probed for a known protocol before giving up.
pub const PROBE_DATAGRAMS: u8 = 4;

udp_protocols! {
    Quic quic: super::quic::Udp,
    WireGuard wireguard: super::wireguard::Udp,
    V2ray v2ray: super::quic::v2ray::Udp,
}

/// The application record tables, in report order: `Variant table_name: RecordType`.
/// Takes the name of a macro to call with the list, so that the report generates its
/// tables from the same list (`crate::report::AppTables`).
macro_rules! app_tables {
    ($callback:ident) => {
        $callback! {
            Tls tls: $crate::analyzers::tls::TlsRecord,
            Http http: $crate::analyzers::http::HttpRecord,
            HttpDisguise http_disguise: $crate::analyzers::http::DisguiseRecord,
            Socks socks: $crate::analyzers::socks::SocksRecord,
            Redis redis: $crate::analyzers::redis::RedisRecord,
            Ssh ssh: $crate::analyzers::ssh::SshRecord,
            Openvpn openvpn: $crate::analyzers::openvpn::OpenVpnRecord,
            Encrypted encrypted: $crate::analyzers::encrypted::EncryptedRecord,
        }
    };
}
pub(crate) use app_tables;

macro_rules! define_app_records {
    ($($variant:ident $table:ident: $ty:ty,)*) => {
        /// One analyzer layer's records, by table; `Unknown` for a layer no protocol
        /// claimed (not a table: its bytes are counted on the connection record).
        #[derive(Clone, Debug, PartialEq)]
        pub enum AppRecords {
            $(
                #[doc = concat!("A record of the `", stringify!($table), "` table.")]
                $variant($ty),
            )*
            /// Bytes no analyzer claimed.
            Unknown(UnknownRecord),
        }

        /// The record itself (its table is known from the chain).
        impl serde::Serialize for AppRecords {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(AppRecords::$variant(r) => r.serialize(s),)*
                    AppRecords::Unknown(r) => r.serialize(s),
                }
            }
        }

        $(impl From<$ty> for AppRecords {
            fn from(r: $ty) -> Self {
                AppRecords::$variant(r)
            }
        })*

        impl AppRecords {
            /// Fills the connection endpoints (`ip:port`) the caller knows.
            pub fn set_endpoints(&mut self, client: &str, server: &str) {
                match self {
                    $(AppRecords::$variant(r) => r.set_endpoints(client, server),)*
                    AppRecords::Unknown(r) => {
                        r.client = client.to_string();
                        r.server = server.to_string();
                    }
                }
            }

            /// What a live rolling summary learns from this layer.
            pub fn live_notes(&self, note: &mut dyn FnMut(LiveNote<'_>)) {
                match self {
                    $(AppRecords::$variant(r) => r.live_notes(note),)*
                    AppRecords::Unknown(_) => {}
                }
            }
        }
    };
}
app_tables!(define_app_records);

/// HTTP's analyzer reports either transactions or, for fake HTTP in front of another
/// protocol, a disguise: two tables.
impl From<super::http::HttpLayer> for AppRecords {
    fn from(r: super::http::HttpLayer) -> Self {
        match r {
            super::http::HttpLayer::Http(r) => AppRecords::Http(r),
            super::http::HttpLayer::Disguise(r) => AppRecords::HttpDisguise(r),
        }
    }
}

/// A registered analyzer with its records as [`AppRecords`].
pub trait DynAnalyzer: StreamAnalyzer {
    /// [`AppAnalyzer::name`].
    fn name(&self) -> &'static str;
    /// [`AppAnalyzer::summarize`], filed as the registry's table record.
    fn summarize(&self) -> AppRecords;
    /// [`AppAnalyzer::take_handoff`].
    fn take_handoff(&mut self) -> Option<Handoff>;
}

struct Erased<A>(A);

impl<A: AppAnalyzer> StreamAnalyzer for Erased<A> {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        self.0.on_data(dir, data, ts);
    }
    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        self.0.on_gap(dir, len, ts);
    }
    fn on_end(&mut self, dir: Direction, ts: Timestamp) {
        self.0.on_end(dir, ts);
    }
}

impl<A> DynAnalyzer for Erased<A>
where
    A: AppAnalyzer,
    A::Record: Into<AppRecords>,
{
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn summarize(&self) -> AppRecords {
        self.0.summarize().into()
    }
    fn take_handoff(&mut self) -> Option<Handoff> {
        self.0.take_handoff()
    }
}

/// Tries every detector; see the module doc for the order and the answer.
pub fn detect_stream(first_c2s: &[u8], first_s2c: &[u8]) -> Option<(AppProto, Detection)> {
    let mut need_more = None;
    for &p in AppProto::PROBE_ORDER {
        if p == AppProto::Encrypted && need_more.is_some() {
            break; // the fallback only speaks once the specific detectors have
        }
        match p.detect(first_c2s, first_s2c) {
            d @ (Detection::Match | Detection::MatchReversed) => return Some((p, d)),
            Detection::NeedMore => need_more = need_more.or(Some(p)),
            Detection::NotMine => {}
        }
    }
    need_more.map(|p| (p, Detection::NeedMore))
}
