//! Shared test support: the fake API server and the scripted cluster scenarios built on it,
//! a private nginx, `zerodrop local` runs of the demo app, and the one way tests find the external programs they drive (`tool`).

#![allow(dead_code)]

pub mod engine;
pub mod fake_apiserver;
pub mod local_run;
pub mod nginx;
pub mod run;
pub mod scenario;
pub mod tool;

/// Runs `start` on a current-thread runtime on a thread of its own, kept running until the test
/// process ends (a server whose waits must not hold up the engine under test, which runs on the
/// test's own runtime or process); returns what `start` gave back, once it has.
pub fn on_own_thread<T, Fut>(start: impl FnOnce() -> Fut + Send + 'static) -> T
where
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let _ = tx.send(start().await);
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("the value of the thread's start")
}
