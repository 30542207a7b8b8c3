//! Runs the engine on a thread of its own (a current-thread runtime and a `LocalSet`), so the
//! hot path shares no runtime with the cluster watchers or the progress display, and hands the
//! recorded result back when the load ends.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::watch;

use super::engine::{EngineError, LoadReport, LoadSpec, OnStart, run_load};
use crate::clock::RunClock;
use crate::record::{LiveStats, PhaseMarks, Recorded, Recorder, RecorderConfig, Sink};

/// Tells a running engine to stop sending.
#[derive(Clone, Debug)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// A running engine.
pub struct EngineThread {
    handle: std::thread::JoinHandle<Result<(LoadReport, Recorded), EngineError>>,
    stop: StopHandle,
    pub live: Arc<LiveStats>,
}

impl EngineThread {
    /// Starts the engine. `on_start` runs on the engine thread just before the first request
    /// is due (mark the first phase there).
    pub fn spawn(
        spec: LoadSpec,
        clock: RunClock,
        recorder: RecorderConfig,
        marks: PhaseMarks,
        on_start: Option<OnStart>,
    ) -> Result<EngineThread, EngineError> {
        let (tx, mut rx) = watch::channel(false);
        let live = Arc::new(LiveStats::default());
        let live_engine = live.clone();
        let handle = std::thread::Builder::new()
            .name("zerodrop-load".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| EngineError::Runtime(e.to_string()))?;
                let local = tokio::task::LocalSet::new();
                let rec = Rc::new(RefCell::new(Recorder::new(
                    recorder,
                    marks,
                    live_engine.clone(),
                )));
                let sink: Rc<RefCell<dyn Sink>> = rec.clone();
                let stop = async move {
                    let _ = rx.wait_for(|v| *v).await;
                };
                let report = local.block_on(
                    &rt,
                    run_load(&spec, clock, sink, live_engine, on_start, stop),
                )?;
                // Every request task has finished (run_load drains them), so this is the last
                // reference; fall back to a fresh recorder only if that invariant ever breaks.
                let recorder = Rc::try_unwrap(rec).map(RefCell::into_inner).map_err(|_| {
                    EngineError::Runtime("the recorder was still in use when the load ended".into())
                })?;
                Ok((report.clone(), recorder.finish(report.end)))
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
    pub fn join(self) -> Result<(LoadReport, Recorded), EngineError> {
        self.handle
            .join()
            .map_err(|_| EngineError::Runtime("the load engine thread panicked".into()))?
    }

    /// Async wait without blocking a runtime worker.
    pub async fn wait(self) -> Result<(LoadReport, Recorded), EngineError> {
        tokio::task::spawn_blocking(move || self.join())
            .await
            .map_err(|e| EngineError::Runtime(e.to_string()))?
    }
}
