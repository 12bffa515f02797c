//! The TCP side of the pipeline: the assembler's sink. It routes each connection's
//! reassembled chunks to a stream observer (if any) and to the connection's analysis
//! ([`crate::analyzers::tcp`], which decides what the connection carries), and files
//! what a finished connection leaves: its application records into the report's
//! tables, its app chain onto its connection record. It names no protocol.

use super::{StreamObserver, TcpConnMeta};
use crate::analyzers::app::AppSummary;
use crate::analyzers::tcp::{ConnAnalysis, TcpContext};
use crate::assembly::{Chunk, CloseReason, OverlapConflict, StreamSink, StreamStart};
use crate::flow::slots::FlowSlots;
use crate::flow::{Direction, FlowId};
use crate::report::spool::Recent;
use crate::report::{AppChain, AppTables};
use crate::timestamp::Timestamp;

/// One live TCP connection.
pub(super) struct TcpConn {
    pub(super) meta: TcpConnMeta,
    analysis: ConnAnalysis,
}

/// Everything the TCP side collects for the report.
pub(super) struct TcpFindings {
    /// The latest application summaries (for snapshots); older ones move on to `tables`.
    pub(super) apps: Recent<AppSummary>,
    /// Application records by protocol, spooled.
    pub(super) tables: AppTables,
}

pub(super) struct TcpStage {
    pub(super) conns: FlowSlots<TcpConn>,
    /// Set with [`TcpStage::set_observer`], which also asks it whether it wants chunks.
    observer: Option<Box<dyn StreamObserver>>,
    /// What the observer's `wants_chunks` said when it was installed.
    observer_wants_chunks: bool,
    pub(super) conflicts: u64,
    /// What the connections' analyses share (exposed ports, tunnel correlation inputs).
    pub(super) ctx: TcpContext,
    pub(super) findings: TcpFindings,
}

impl TcpStage {
    /// Hands every reassembled stream to `observer` too (chunks only if it wants them).
    pub(super) fn set_observer(&mut self, observer: Box<dyn StreamObserver>) {
        self.observer_wants_chunks = observer.wants_chunks();
        self.observer = Some(observer);
    }

    pub(super) fn observer_mut(&mut self) -> Option<&mut (dyn StreamObserver + 'static)> {
        self.observer.as_deref_mut()
    }

    /// `in_memory`: application records of each protocol kept in memory before the rest
    /// go to a temporary file (see `report::spool`).
    pub(super) fn new(show_secrets: bool, analyzers: bool, in_memory: usize) -> Self {
        TcpStage {
            conns: FlowSlots::default(),
            observer: None,
            observer_wants_chunks: false,
            conflicts: 0,
            ctx: TcpContext::new(show_secrets, analyzers),
            findings: TcpFindings {
                apps: Recent::new(super::RECENT_RECORDS),
                tables: AppTables::new(in_memory),
            },
        }
    }

    /// Everything found, for the report; the application summaries all in `tables`.
    pub(super) fn take_tables(&mut self) -> AppTables {
        let mut tables = std::mem::replace(&mut self.findings.tables, AppTables::new(0));
        for s in self.findings.apps.drain() {
            tables.push(s);
        }
        tables
    }

    /// What a live connection is known to carry so far (`None` while undecided).
    pub(super) fn protocol(&self, id: FlowId) -> Option<&'static str> {
        self.conns.get(id)?.analysis.protocol()
    }

    /// A new connection.
    pub(super) fn open(&mut self, meta: TcpConnMeta) {
        let conn = TcpConn {
            meta,
            analysis: ConnAnalysis::open(&self.ctx, meta.server),
        };
        match self.conns.get_mut(meta.id) {
            Some(c) => *c = conn,
            None => {
                self.conns.get_or_insert_with(meta.id, || conn);
            }
        }
    }

    /// The connection ended: its application records go to the report (kept only when
    /// its connection record is, `listed`); the record gets the app chain.
    pub(super) fn finish(
        &mut self,
        conn: FlowId,
        syn_ts: Option<Timestamp>,
        listed: bool,
    ) -> Option<AppChain> {
        let c = self.conns.remove(conn)?;
        let syn = syn_ts.unwrap_or(c.meta.first_ts);
        let outcome = c
            .analysis
            .finish(&mut self.ctx, c.meta.client, c.meta.server, syn);
        if let Some(summary) = outcome.summary.filter(|s| listed && !s.saw_nothing())
            && let Some(old) = self.findings.apps.push(summary)
        {
            self.findings.tables.push(old);
        }
        Some(outcome.chain)
    }
}

impl StreamSink for TcpStage {
    fn on_direction_start(
        &mut self,
        conn: FlowId,
        dir: Direction,
        start: StreamStart,
        _ts: Timestamp,
    ) {
        if let (Some(obs), Some(c)) = (self.observer.as_mut(), self.conns.get(conn)) {
            obs.on_start(&c.meta, dir, start);
        }
    }

    /// Once per delivered chunk; inlined up to the analysis, which connections without
    /// analyzers (`tunscope streams`, `--flows-only`) never reach.
    #[inline]
    fn on_chunk(&mut self, conn: FlowId, dir: Direction, chunk: Chunk<'_>, ts: Timestamp) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if self.observer_wants_chunks
            && let Some(obs) = self.observer.as_mut()
        {
            obs.on_chunk(&c.meta, dir, &chunk, ts);
        }
        if c.analysis.is_idle() {
            return;
        }
        self.analyze_chunk(conn, dir, chunk, ts);
    }

    fn on_conflict(&mut self, _conn: FlowId, _dir: Direction, _conflict: &OverlapConflict) {
        self.conflicts += 1;
    }

    fn on_direction_end(
        &mut self,
        conn: FlowId,
        dir: Direction,
        reason: CloseReason,
        ts: Timestamp,
    ) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.analysis.on_end(dir, reason, ts);
        }
    }
}

impl TcpStage {
    /// The analysis part of `on_chunk`.
    #[inline(never)]
    fn analyze_chunk(&mut self, conn: FlowId, dir: Direction, chunk: Chunk<'_>, ts: Timestamp) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        match chunk {
            Chunk::Data(bytes) => c.analysis.on_data(&mut self.ctx, dir, bytes, ts),
            Chunk::Gap { len, .. } => c.analysis.on_gap(&mut self.ctx, dir, len, ts),
        }
    }
}
