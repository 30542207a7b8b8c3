//! The `zerodrop` binary: parse the command line, call the library, map the outcome to an exit
//! code. Nothing else.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "zerodrop",
    version,
    about = "Prove a Kubernetes rollout drops zero requests"
)]
enum Cli {
    /// The built-in demo server (used by `zerodrop demo` and the tests).
    DemoApp(zerodrop::demo_app::DemoAppArgs),
}

fn main() -> ExitCode {
    match Cli::parse() {
        Cli::DemoApp(args) => match zerodrop::demo_app::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(zerodrop::exit::COULD_NOT_RUN)
            }
        },
    }
}
