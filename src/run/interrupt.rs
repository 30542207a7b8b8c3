//! SIGINT and SIGTERM: the first one asks the run to stop gracefully (stop sending, wait for
//! in-flight requests, write the partial report marked `interrupted`, exit 130). Anything that
//! waits on something long subscribes and gives up when the flag is raised.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// The interrupt flag of this process.
#[derive(Clone, Debug)]
pub struct Interrupt {
    rx: watch::Receiver<bool>,
    tx: std::sync::Arc<watch::Sender<bool>>,
}

impl Interrupt {
    /// Installs the handlers; must be called inside a tokio runtime.
    pub fn install() -> Interrupt {
        let (tx, rx) = watch::channel(false);
        let tx = std::sync::Arc::new(tx);
        let tx2 = tx.clone();
        tokio::spawn(async move {
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => eprintln!("\nzerodrop: interrupted (SIGINT): stopping, writing the partial report"),
                _ = term.recv() => eprintln!("\nzerodrop: terminated (SIGTERM): stopping, writing the partial report"),
            }
            tx2.send_replace(true);
        });
        Interrupt { rx, tx }
    }

    /// A flag nobody raises (tests, library callers).
    pub fn never() -> Interrupt {
        let (tx, rx) = watch::channel(false);
        Interrupt {
            rx,
            tx: std::sync::Arc::new(tx),
        }
    }

    /// Raises the flag by hand.
    pub fn raise(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when the flag is raised.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}
