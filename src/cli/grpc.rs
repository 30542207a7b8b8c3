//! The gRPC flags `load`, `local` and `run` share (flattened into the traffic flags), as clap
//! reads them; `config::grpc` validates them.

use std::path::PathBuf;

use clap::Args;

/// Unary gRPC calls instead of HTTP requests.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "gRPC")]
pub struct GrpcArgs {
    /// Send unary gRPC calls to SERVICE/METHOD (e.g. `helloworld.Greeter/SayHello`); with no
    /// method, the standard health check `grpc.health.v1.Health/Check` (no proto needed).
    /// The target is `http://HOST:PORT` (h2c) or `https://…` (TLS, ALPN h2).
    #[arg(long, value_name = "SERVICE/METHOD", num_args = 0..=1, default_missing_value = "")]
    pub grpc: Option<String>,
    /// The service's .proto file(s), compiled here (no protoc needed); without one, the
    /// method is looked up by server reflection when the run starts. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub proto: Vec<PathBuf>,
    /// Where the .proto's imports are (besides its own directory). Repeatable.
    #[arg(long = "import-path", value_name = "DIR")]
    pub import_path: Vec<PathBuf>,
    /// The request message as JSON (protobuf JSON mapping; default `{}`).
    #[arg(long, value_name = "JSON", conflicts_with = "data_file")]
    pub data: Option<String>,
    /// The request message as JSON, read from a file.
    #[arg(long = "data-file", value_name = "FILE")]
    pub data_file: Option<PathBuf>,
}
