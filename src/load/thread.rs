//! Runs the engine on a thread of its own (a current-thread runtime and a `LocalSet`), so the
//! hot path shares no runtime with the cluster watchers or the progress display, and hands the
//! sink back when the load ends. Which sink (the recorder, a test's collector) is the caller's
//! choice: the engine never knows what aggregates its records.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::watch;

use super::engine::{EngineError, LoadSpec, OnStart, run_load};
use crate::model::clock::RunClock;
use crate::model::request::{LiveStats, Sink};
use crate::model::result::LoadReport;

/// Tells a running engine to stop sending.
#[derive(Clone, Debug)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// A running engine, reporting to a sink of type `S`.
pub struct EngineThread<S> {
    handle: std::thread::JoinHandle<Result<(LoadReport, S), EngineError>>,
    stop: StopHandle,
    pub live: Arc<LiveStats>,
}

impl<S: Sink + Send + 'static> EngineThread<S> {
    /// Starts the engine, which reports every request to `sink` and hands it back at the end.
    /// `live` is updated with the engine's own figures (requests due, in flight) as it runs.
    /// `on_start` runs on the engine thread just before the first request is due (mark the
    /// first phase there).
    pub fn spawn(
        spec: LoadSpec,
        clock: RunClock,
        sink: S,
        live: Arc<LiveStats>,
        on_start: Option<OnStart>,
    ) -> Result<EngineThread<S>, EngineError> {
        let (tx, mut rx) = watch::channel(false);
        let live_engine = live.clone();
        let handle = std::thread::Builder::new()
            .name("zerodrop-load".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| EngineError::Runtime(e.to_string()))?;
                let local = tokio::task::LocalSet::new();
                let sink = Rc::new(RefCell::new(sink));
                let engine_sink: Rc<RefCell<dyn Sink>> = sink.clone();
                let stop = async move {
                    let _ = rx.wait_for(|v| *v).await;
                };
                let report = local.block_on(
                    &rt,
                    run_load(&spec, clock, engine_sink, live_engine, on_start, stop),
                )?;
                // Every request task has finished (run_load drains them), so this is the last
                // reference; report it as an engine failure should that invariant ever break.
                let sink = Rc::try_unwrap(sink).map(RefCell::into_inner).map_err(|_| {
                    EngineError::Runtime("the sink was still in use when the load ended".into())
                })?;
                Ok((report, sink))
            })
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(EngineThread {
            handle,
            stop: StopHandle(Arc::new(tx)),
            live,
        })
    }

    pub fn stopper(&self) -> StopHandle {
        self.stop.clone()
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the engine to end (after its schedule, or after [`StopHandle::stop`]).
    pub fn join(self) -> Result<(LoadReport, S), EngineError> {
        self.handle
            .join()
            .map_err(|_| EngineError::Runtime("the load engine thread panicked".into()))?
    }

    /// Async wait without blocking a runtime worker.
    pub async fn wait(self) -> Result<(LoadReport, S), EngineError> {
        tokio::task::spawn_blocking(move || self.join())
            .await
            .map_err(|e| EngineError::Runtime(e.to_string()))?
    }
}
