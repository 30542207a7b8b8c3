//! The descriptors a gRPC call is encoded with, from wherever they come: `.proto` files compiled
//! by protox (a protobuf compiler in Rust: no `protoc` binary to install), the protos built in
//! (the standard health service and the demo app's echo service, `proto/` in the repository),
//! or a server's reflection answer. And the request message encoded from JSON through them
//! (prost-reflect's dynamic messages and the protobuf JSON mapping), once, before the run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MethodDescriptor};

/// The standard gRPC health service's proto.
pub const HEALTH_PROTO: &str = include_str!("../../../proto/grpc/health/v1/health.proto");
/// The demo app's echo service's proto.
pub const ECHO_PROTO: &str = include_str!("../../../proto/zerodrop/demo/v1/echo.proto");
/// Their names inside the pool, as their imports would spell them.
pub const HEALTH_FILE: &str = "grpc/health/v1/health.proto";
pub const ECHO_FILE: &str = "zerodrop/demo/v1/echo.proto";

pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
pub const ECHO_SERVICE: &str = "zerodrop.demo.v1.Echo";

/// Serves the built-in protos to protox by their names.
struct BuiltIn;

impl protox::file::FileResolver for BuiltIn {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        match name {
            HEALTH_FILE => protox::file::File::from_source(name, HEALTH_PROTO),
            ECHO_FILE => protox::file::File::from_source(name, ECHO_PROTO),
            _ => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The built-in protos, compiled once.
pub fn builtin() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut c = protox::Compiler::with_file_resolver(BuiltIn);
        c.include_imports(true);
        // Both files are part of this repository and compiled by its tests: failing here is a
        // build defect, and the empty pool it leaves makes every lookup say so.
        match c.open_files([HEALTH_FILE, ECHO_FILE]) {
            Ok(c) => c.descriptor_pool(),
            Err(_) => DescriptorPool::new(),
        }
    })
}

/// Compiles `files` with protox. Imports are looked up in `imports`, then in each file's own
/// directory, then among the well-known `google/protobuf/*.proto` protox carries.
pub fn compile(files: &[PathBuf], imports: &[PathBuf]) -> Result<DescriptorPool, String> {
    let mut includes: Vec<PathBuf> = imports.to_vec();
    for f in files {
        let dir = f.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        if !includes.contains(&dir) {
            includes.push(dir);
        }
    }
    let mut c = protox::Compiler::new(&includes).map_err(|e| describe(&e))?;
    c.include_imports(true);
    for f in files {
        c.open_file(f).map_err(|e| describe(&e))?;
    }
    Ok(c.descriptor_pool())
}

/// A protox error in words, with the file, line and column of a parse error.
fn describe(e: &protox::Error) -> String {
    use miette::Diagnostic as _;
    let place = (|| {
        let label = e.labels()?.next()?;
        let contents = e.source_code()?.read_span(label.inner(), 0, 0).ok()?;
        let file = contents
            .name()
            .map(str::to_string)
            .or_else(|| e.file().map(str::to_string))?;
        Some(format!(
            "{file} line {} column {}",
            contents.line() + 1,
            contents.column() + 1
        ))
    })();
    match place {
        Some(p) => format!("{p}: {e}"),
        None => e.to_string(),
    }
}

/// The descriptors a server sent by reflection (encoded `FileDescriptorProto`s, any order).
pub fn from_reflection(files: Vec<Bytes>) -> Result<DescriptorPool, String> {
    let mut protos = Vec::with_capacity(files.len());
    for raw in files {
        let fd = prost_types::FileDescriptorProto::decode(raw)
            .map_err(|e| format!("unreadable descriptor from the server: {e}"))?;
        protos.push(fd);
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(protos)
        .map_err(|e| format!("the server's descriptors do not fit together: {e}"))?;
    Ok(pool)
}

/// The unary method `service/method` in `pool`, or what is there instead.
pub fn find_method(
    pool: &DescriptorPool,
    service: &str,
    method: &str,
) -> Result<MethodDescriptor, String> {
    let Some(s) = pool.get_service_by_name(service) else {
        let known: Vec<String> = pool.services().map(|s| s.full_name().to_string()).collect();
        return Err(format!(
            "no service `{service}` in the descriptors (they define: {})",
            if known.is_empty() {
                "no service".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    let Some(m) = s.methods().find(|m| m.name() == method) else {
        let known: Vec<String> = s.methods().map(|m| m.name().to_string()).collect();
        return Err(format!(
            "service `{service}` has no method `{method}` (it has: {})",
            known.join(", ")
        ));
    };
    if m.is_client_streaming() || m.is_server_streaming() {
        return Err(format!(
            "`{service}/{method}` is a streaming method; zerodrop sends unary calls"
        ));
    }
    Ok(m)
}

/// The request message of `method` from its JSON form (the protobuf JSON mapping; unknown
/// fields are refused), encoded.
pub fn encode(method: &MethodDescriptor, json: &str) -> Result<Bytes, String> {
    let input = method.input();
    let mut de = serde_json::Deserializer::from_str(json);
    let message = DynamicMessage::deserialize_with_options(
        input.clone(),
        &mut de,
        &DeserializeOptions::new(),
    )
    .and_then(|m| de.end().map(|()| m))
    .map_err(|e| format!("not a valid `{}` in JSON: {e}", input.full_name()))?;
    Ok(Bytes::from(message.encode_to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_protos_define_health_check_and_echo() {
        let pool = builtin();
        let check = find_method(pool, HEALTH_SERVICE, "Check").expect("health");
        assert_eq!(
            check.input().full_name(),
            "grpc.health.v1.HealthCheckRequest"
        );
        find_method(pool, ECHO_SERVICE, "Echo").expect("echo");
    }

    #[test]
    fn json_is_encoded_through_the_descriptor() {
        let echo = find_method(builtin(), ECHO_SERVICE, "Echo").expect("echo");
        assert_eq!(
            &encode(&echo, r#"{"message": "hi"}"#).expect("ok")[..],
            b"\x0a\x02hi"
        );
        assert_eq!(&encode(&echo, "{}").expect("ok")[..], b"");
    }

    #[test]
    fn unknown_fields_and_bad_json_are_refused_naming_the_message() {
        let echo = find_method(builtin(), ECHO_SERVICE, "Echo").expect("echo");
        let e = encode(&echo, r#"{"mesage": "hi"}"#).expect_err("typo");
        assert!(e.contains("zerodrop.demo.v1.EchoRequest"), "{e}");
        assert!(e.contains("mesage"), "{e}");
        assert!(encode(&echo, "{").is_err());
        assert!(encode(&echo, "{} {}").is_err());
    }

    #[test]
    fn a_missing_service_or_method_names_what_there_is() {
        let e = find_method(builtin(), "grpc.health.v1.Healt", "Check").expect_err("typo");
        assert!(e.contains("grpc.health.v1.Health,") || e.contains("grpc.health.v1.Health"));
        let e = find_method(builtin(), HEALTH_SERVICE, "Chek").expect_err("typo");
        assert!(e.contains("Check, Watch"), "{e}");
        let e = find_method(builtin(), HEALTH_SERVICE, "Watch").expect_err("streaming");
        assert!(e.contains("streaming"), "{e}");
    }

    #[test]
    fn a_proto_with_a_syntax_error_is_refused_with_its_line() {
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("bad.proto");
        std::fs::write(
            &f,
            "syntax = \"proto3\";\n\nmessage A {\n  string x = ;\n}\n",
        )
        .expect("w");
        let e = compile(&[f], &[]).expect_err("bad");
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn a_proto_importing_another_from_its_directory_compiles() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("common.proto"),
            "syntax = \"proto3\";\npackage c;\nmessage Id { int64 id = 1; }\n",
        )
        .expect("w");
        let main = dir.path().join("svc.proto");
        std::fs::write(
            &main,
            "syntax = \"proto3\";\npackage s;\nimport \"common.proto\";\nimport \"google/protobuf/empty.proto\";\n\
             service Users { rpc Get(c.Id) returns (google.protobuf.Empty); }\n",
        )
        .expect("w");
        let pool = compile(&[main], &[]).expect("compiles");
        let get = find_method(&pool, "s.Users", "Get").expect("method");
        assert_eq!(
            &encode(&get, r#"{"id": "7"}"#).expect("ok")[..],
            b"\x08\x07"
        );
    }
}
