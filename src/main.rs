//! The `zerodrop` binary: parse the command line, run the library, map the outcome to an exit
//! code (see `zerodrop::model::exit`). Nothing else lives here.

use std::process::ExitCode;

// glibc's per-thread arenas grow and shrink with mprotect on every burst of requests (measured:
// ~2 calls per request on the load thread); mimalloc keeps the hot path free of that churn.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Installed as `kubectl-zerodrop`, it parses (and shows help) as `kubectl zerodrop`.
    let cli = match zerodrop::plugin::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version go to stdout with 0; usage errors to stderr with 2.
            let code = if e.use_stderr() {
                zerodrop::model::exit::BAD_INPUT
            } else {
                zerodrop::model::exit::PASSED
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::from(zerodrop::commands::dispatch(cli))
}
