//! Live capture from a network interface: libpcap through the `pcap` crate, read as a
//! tokio stream (`capture-stream`). Only built with the default-on `live` feature.
//!
//! # Contract
//!
//! - [`LiveCapture::open`] opens and activates the interface (snap length, promiscuous
//!   mode, kernel buffer, immediate delivery, nanosecond timestamps when libpcap grants
//!   them), applies the BPF filter, and opens the `-w` savefile. It must be called inside
//!   a tokio runtime with I/O enabled (the capture's descriptor is registered with it).
//! - [`LiveCapture::next_packet`] waits for the next packet and hands it out as a
//!   [`RawPacket`] borrowing one reused buffer, exactly as the file readers do. A packet
//!   handed out has already been written to the savefile, so the savefile holds every
//!   packet the caller saw, in the same order, with the same timestamps and lengths:
//!   analysing it offline gives the same answers.
//! - [`LiveCapture::try_next_packet`] takes a packet libpcap already holds without
//!   waiting (used to drain the buffer when the capture stops).
//! - [`LiveCapture::stats`] reads libpcap's counters (received, dropped by the kernel,
//!   dropped by the interface).
//! - Errors say what failed; a missing capture permission is its own variant so the
//!   command line can say how to grant it.
//!
//! This module reads the clock nowhere: timestamps are the kernel's.

use super::{LinkType, RawPacket};
use crate::timestamp::Timestamp;
use futures_core::Stream;
use pcap::{Active, Capture, Packet, PacketCodec, PacketHeader, PacketStream, Precision, Savefile};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// tcpdump's default snap length.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// How to open an interface.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub interface: String,
    /// A BPF filter expression (tcpdump syntax), compiled by libpcap.
    pub filter: Option<String>,
    /// Bytes kept of each packet.
    pub snaplen: u32,
    pub promisc: bool,
    /// Kernel capture buffer in bytes; `None` keeps libpcap's default (2 MiB on Linux).
    pub buffer_size: Option<u32>,
    /// Write every packet handed out to this pcap file (`-w`).
    pub save: Option<PathBuf>,
}

impl LiveConfig {
    pub fn new(interface: impl Into<String>) -> Self {
        LiveConfig {
            interface: interface.into(),
            filter: None,
            snaplen: DEFAULT_SNAPLEN,
            promisc: true,
            buffer_size: None,
            save: None,
        }
    }
}

/// libpcap's counters for a live capture (`pcap_stats`), since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    /// Packets that passed the filter (on Linux: including those later dropped).
    pub received: u64,
    /// Dropped because the capture buffer was full (the reader was too slow).
    pub dropped_kernel: u64,
    /// Dropped by the interface or its driver, where the system reports it.
    pub dropped_interface: u64,
}

/// An interface libpcap can capture on (`--list`).
#[derive(Clone, Debug)]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<std::net::IpAddr>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
}

/// Why a live capture could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The process may not open a capture socket (needs CAP_NET_RAW, and CAP_NET_ADMIN
    /// for promiscuous mode; or root).
    #[error("{interface}: no permission to capture ({detail})")]
    Permission { interface: String, detail: String },
    #[error("{interface}: no such interface ({detail}); `tunscope live --list` shows them")]
    NoSuchInterface { interface: String, detail: String },
    #[error("bad filter {filter:?}: {detail}")]
    Filter { filter: String, detail: String },
    #[error("-w {}: {detail}", path.display())]
    Save { path: PathBuf, detail: String },
    #[error("{interface}: {detail}")]
    Capture { interface: String, detail: String },
    #[error("listing interfaces: {0}")]
    List(String),
}

/// Lists the interfaces libpcap can open, in its order.
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>, LiveError> {
    let devices = pcap::Device::list().map_err(|e| LiveError::List(e.to_string()))?;
    Ok(devices
        .into_iter()
        .map(|d| InterfaceInfo {
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            addresses: d.addresses.iter().map(|a| a.addr).collect(),
            name: d.name,
            description: d.desc,
        })
        .collect())
}

/// One packet as libpcap delivered it, copied out of libpcap's buffer (a stream item
/// must own its bytes: one allocation per packet on the live path only).
struct Owned {
    header: PacketHeader,
    data: Vec<u8>,
}

impl Owned {
    fn of(packet: &Packet<'_>) -> Owned {
        Owned {
            header: *packet.header,
            data: packet.data.to_vec(),
        }
    }
}

struct Codec;

impl PacketCodec for Codec {
    type Item = Owned;

    fn decode(&mut self, packet: Packet<'_>) -> Owned {
        Owned::of(&packet)
    }
}

/// An open live capture. See the module docs.
pub struct LiveCapture {
    interface: String,
    stream: PacketStream<Active, Codec>,
    link: LinkType,
    /// Timestamps in nanoseconds (else microseconds) in the headers libpcap hands out.
    nano: bool,
    save: Option<Savefile>,
    current: Option<Owned>,
    next_index: u64,
    save_path: Option<PathBuf>,
}

fn classify(interface: &str, e: pcap::Error) -> LiveError {
    let detail = e.to_string();
    let lower = detail.to_ascii_lowercase();
    if lower.contains("permission")
        || lower.contains("operation not permitted")
        || lower.contains("cap_net_raw")
    {
        LiveError::Permission {
            interface: interface.to_string(),
            detail,
        }
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        LiveError::NoSuchInterface {
            interface: interface.to_string(),
            detail,
        }
    } else {
        LiveError::Capture {
            interface: interface.to_string(),
            detail,
        }
    }
}

/// libpcap's `pcap_get_tstamp_precision` (since 1.5), which the `pcap` crate leaves out:
/// whether the nanosecond precision we asked for was granted.
fn granted_nanos(cap: &Capture<Active>) -> bool {
    unsafe extern "C" {
        fn pcap_get_tstamp_precision(p: *mut std::ffi::c_void) -> std::ffi::c_int;
    }
    // SAFETY: `as_ptr` is the live `pcap_t` owned by `cap`, which outlives the call;
    // the function only reads a field of it.
    unsafe { pcap_get_tstamp_precision(cap.as_ptr().cast()) == Precision::Nano as i32 }
}

impl LiveCapture {
    /// Opens `cfg.interface`. Call inside a tokio runtime with I/O enabled.
    pub fn open(cfg: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let iface = cfg.interface.as_str();
        let err = |e| classify(iface, e);
        let snaplen = i32::try_from(cfg.snaplen).unwrap_or(i32::MAX);
        let mut inactive = Capture::from_device(iface)
            .map_err(err)?
            .snaplen(snaplen)
            .promisc(cfg.promisc)
            .immediate_mode(true)
            .precision(Precision::Nano);
        if let Some(size) = cfg.buffer_size {
            inactive = inactive.buffer_size(i32::try_from(size).unwrap_or(i32::MAX));
        }
        let mut cap = inactive.open().map_err(err)?;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true).map_err(|e| LiveError::Filter {
                filter: f.clone(),
                detail: e.to_string(),
            })?;
        }
        let nano = granted_nanos(&cap);
        let link = LinkType(cap.get_datalink().0 as u32);
        let save = match &cfg.save {
            Some(path) => Some(open_save(&cap, path)?),
            None => None,
        };
        let cap = cap.setnonblock().map_err(err)?;
        let stream = cap.stream(Codec).map_err(err)?;
        Ok(LiveCapture {
            interface: cfg.interface.clone(),
            stream,
            link,
            nano,
            save,
            current: None,
            next_index: 0,
            save_path: cfg.save.clone(),
        })
    }

    /// The interface's link type (`EN10MB` for Ethernet and Linux loopback).
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Waits for the next packet. `Ok(None)` only if libpcap ends the capture (the
    /// interface went away).
    pub async fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, LiveError> {
        let got = std::future::poll_fn(|cx| Pin::new(&mut self.stream).poll_next(cx)).await;
        self.take(got)
    }

    /// A packet libpcap already holds, without waiting; `Ok(None)` when there is none.
    pub fn try_next_packet(&mut self) -> Result<Option<RawPacket<'_>>, LiveError> {
        let got = match self.stream.capture_mut().next_packet() {
            Ok(p) => Some(Ok(Owned::of(&p))),
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => None,
            Err(e) => Some(Err(e)),
        };
        self.take(got)
    }

    fn take(
        &mut self,
        got: Option<Result<Owned, pcap::Error>>,
    ) -> Result<Option<RawPacket<'_>>, LiveError> {
        let owned = match got {
            None => return Ok(None),
            Some(Err(e)) => return Err(classify(&self.interface, e)),
            Some(Ok(o)) => o,
        };
        // Written before it is handed out: the savefile holds every packet analysed.
        if let Some(save) = self.save.as_mut() {
            save.write(&Packet::new(&owned.header, &owned.data));
        }
        let h = owned.header;
        // `time_t` and `suseconds_t` are 32-bit on some targets.
        #[allow(clippy::unnecessary_cast)]
        let (secs, frac) = (h.ts.tv_sec as i64, h.ts.tv_usec as i64);
        let ts = Timestamp::from_secs_nanos(secs, if self.nano { frac } else { frac * 1000 });
        let index = self.next_index;
        self.next_index += 1;
        let o = self.current.insert(owned);
        Ok(Some(RawPacket {
            index,
            ts,
            link: self.link,
            data: &o.data,
            orig_len: h.len,
            // The buffer is reused for the next packet.
            stored_at: None,
        }))
    }

    /// libpcap's counters since the capture was opened.
    pub fn stats(&mut self) -> Result<LiveStats, LiveError> {
        let s = self
            .stream
            .capture_mut()
            .stats()
            .map_err(|e| classify(&self.interface, e))?;
        Ok(LiveStats {
            received: u64::from(s.received),
            dropped_kernel: u64::from(s.dropped),
            dropped_interface: u64::from(s.if_dropped),
        })
    }

    /// Packets handed out so far.
    pub fn packets(&self) -> u64 {
        self.next_index
    }

    /// Writes what the savefile buffers to disk (every packet handed out so far).
    pub fn flush_save(&mut self) -> Result<(), LiveError> {
        match (self.save.as_mut(), self.save_path.as_ref()) {
            (Some(save), Some(path)) => save.flush().map_err(|e| LiveError::Save {
                path: path.clone(),
                detail: e.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Where the packets are being written (`-w`).
    pub fn save_path(&self) -> Option<&Path> {
        self.save_path.as_deref()
    }
}

fn open_save(cap: &Capture<Active>, path: &Path) -> Result<Savefile, LiveError> {
    let save_err = |detail: String| LiveError::Save {
        path: path.to_path_buf(),
        detail,
    };
    if path.to_str().is_none() {
        return Err(save_err("the path must be valid UTF-8".into()));
    }
    cap.savefile(path).map_err(|e| save_err(e.to_string()))
}
