//! One function per subcommand: hand the parsed flags (`cli`) to `config` for a validated plan,
//! run the library, write the outputs, and return the exit code. `main` calls [`dispatch`] and
//! nothing else. This is the only module that sees `cli`; `flags` carries its values into
//! `config`'s first stage.

pub mod completions;
mod demo;
mod demo_app;
mod demo_grpc;
mod demo_ws;
mod flags;
pub mod lint;
mod load;
mod local;
pub mod manifest;
pub mod merge;
pub mod output;
mod report;
pub mod run;

use crate::cli::{Cli, CliCommand};

/// Runs the parsed command line; returns the process exit code.
pub fn dispatch(cli: Cli) -> u8 {
    raise_open_file_limit();
    disable_transparent_huge_pages();
    match cli.command {
        CliCommand::Load(args) => load::run(args),
        CliCommand::Report(args) => report::run(args),
        CliCommand::Local(args) => local::run(*args),
        CliCommand::Run(args) => run::run(*args),
        CliCommand::Demo(a) if a.grpc => demo_grpc::run(),
        CliCommand::Demo(a) if a.ws => demo_ws::run(),
        CliCommand::Demo(_) => demo::run(),
        CliCommand::Lint(args) => lint::run(args),
        CliCommand::Manifest(args) => match args.kind {
            crate::cli::ManifestKind::Job(job) => manifest::run(*job),
        },
        CliCommand::Merge(args) => merge::run(args),
        CliCommand::Completions(args) => completions::run(args),
        CliCommand::DemoApp(args) => demo_app::run(args),
    }
}

/// Starts the orchestration runtime and hands it to `f`; a runtime that cannot start is
/// reported and exits 4.
pub(crate) fn with_runtime(f: impl FnOnce(tokio::runtime::Runtime) -> u8) -> u8 {
    match runtime() {
        Ok(rt) => f(rt),
        Err(e) => {
            error(format!("could not start: {e}"));
            crate::model::exit::COULD_NOT_RUN
        }
    }
}

/// The runtime for orchestration (signals, cluster watches, outputs); the load engine runs on a
/// thread of its own.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// The allocator's regions would otherwise be faulted in as 2 MiB transparent huge pages:
/// resident memory then grows in 2 MiB steps and each step zeroes 2 MiB on the hot path
/// (`clear_page_erms` was 8 % of the load thread's profile). Page-sized faults keep the
/// footprint tight and flat.
fn disable_transparent_huge_pages() {
    // SAFETY: prctl with constant arguments; it only changes this process's THP policy.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Every in-flight request may hold a socket: lift the soft limit on open files to the hard
/// one, as load generators do, so a large `--max-in-flight` is not cut short by EMFILE.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Prints an error for the user, prefixed like every zerodrop message.
pub(crate) fn error(msg: impl std::fmt::Display) {
    eprintln!("zerodrop: {msg}");
}
