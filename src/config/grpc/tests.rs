use std::io::Write as _;
use std::path::PathBuf;

use super::*;
use crate::config::{OutputFlags, PlanError, PlanKind};

fn flags(grpc: Option<&str>) -> TrafficFlags {
    TrafficFlags {
        target: Some("http://127.0.0.1:50051".into()),
        rate: Some("100".into()),
        duration: Some("1s".into()),
        grpc: GrpcFlags {
            grpc: grpc.map(str::to_string),
            ..GrpcFlags::default()
        },
        ..TrafficFlags::default()
    }
}

fn build(t: &TrafficFlags) -> Result<Plan, PlanError> {
    Plan::build(PlanKind::Load, t, None, &OutputFlags::default())
}

fn messages(e: PlanError) -> Vec<String> {
    e.problems.iter().map(|p| p.to_string()).collect()
}

#[test]
fn grpc_alone_calls_the_health_check_with_an_empty_message() {
    let plan = build(&flags(Some(""))).expect("valid");
    let g = plan.grpc.as_ref().expect("grpc");
    assert_eq!(g.path(), "/grpc.health.v1.Health/Check");
    assert_eq!(g.descriptors, Descriptors::BuiltIn);
    assert_eq!(g.message.as_deref(), Some(&b""[..]));
    assert!(plan.traffic.http2, "gRPC is HTTP/2");
    assert_eq!(plan.traffic.connections, DEFAULT_GRPC_CONNECTIONS);
    let spec = plan.load_spec(None).expect("spec");
    assert_eq!(
        spec.grpc.map(|c| c.path),
        Some("/grpc.health.v1.Health/Check".to_string())
    );
}

use crate::config::plan::DEFAULT_GRPC_CONNECTIONS;

#[test]
fn method_names_take_a_slash_or_grpcurls_dot() {
    let want = ("pkg.v1.Users".to_string(), "Get".to_string());
    assert_eq!(method_name("pkg.v1.Users/Get"), Ok(want.clone()));
    assert_eq!(method_name("/pkg.v1.Users/Get"), Ok(want.clone()));
    assert_eq!(method_name("pkg.v1.Users.Get"), Ok(want));
    for bad in [
        "Users",
        "pkg/",
        "/Get",
        "pkg.v1 Users/Get",
        "1pkg.Users/Get",
    ] {
        assert!(method_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_message_is_encoded_at_plan_time_through_a_proto_file() {
    let dir = tempfile::tempdir().expect("dir");
    let proto = dir.path().join("users.proto");
    std::fs::write(
        &proto,
        "syntax = \"proto3\";\npackage pkg.v1;\nmessage GetRequest { int32 id = 1; string name = 2; }\n\
         message User { string name = 1; }\nservice Users { rpc Get(GetRequest) returns (User); }\n",
    )
    .expect("write");
    let mut t = flags(Some("pkg.v1.Users/Get"));
    t.grpc.proto = vec![proto];
    t.grpc.data = Some(r#"{"id": 7, "name": "x"}"#.into());
    let plan = build(&t).expect("valid");
    let g = plan.grpc.expect("grpc");
    assert_eq!(g.descriptors, Descriptors::Proto);
    assert_eq!(g.message.as_deref(), Some(&b"\x08\x07\x12\x01x"[..]));
    assert_eq!(g.message_bytes, Some(5));
}

#[test]
fn every_grpc_problem_is_reported_at_once() {
    let mut t = flags(Some("grpc.health.v1.Health/Check"));
    t.grpc.data = Some(r#"{"servce": "x"}"#.into());
    t.method = Some("GET".into());
    t.body = Some("x".into());
    t.path = Some("/x".into());
    t.accept_status = Some("200".into());
    t.no_keepalive = true;
    t.header = vec!["te: gzip".into(), "authorization: Bearer x".into()];
    let all = messages(build(&t).expect_err("invalid"));
    let has = |needle: &str| all.iter().any(|m| m.contains(needle));
    assert!(
        has("--data: not a valid `grpc.health.v1.HealthCheckRequest`"),
        "{all:#?}"
    );
    for flag in [
        "--method",
        "--body",
        "--path",
        "--accept-status",
        "--no-keepalive",
    ] {
        assert!(
            has(&format!("{flag}: does not apply to gRPC calls")),
            "{flag}: {all:#?}"
        );
    }
    assert!(has("`te` is set by the gRPC protocol itself"), "{all:#?}");
    assert!(!has("authorization"), "metadata is allowed: {all:#?}");
}

#[test]
fn grpc_only_flags_without_grpc_are_refused() {
    let mut t = flags(None);
    t.grpc.data = Some("{}".into());
    t.grpc.proto = vec![PathBuf::from("x.proto")];
    let all = messages(build(&t).expect_err("invalid"));
    assert!(
        all.iter()
            .any(|m| m.starts_with("--data: is the gRPC request message")),
        "{all:#?}"
    );
    assert!(all.iter().any(|m| m.starts_with("--proto:")), "{all:#?}");
}

#[test]
fn a_method_the_descriptors_do_not_define_names_what_they_do() {
    // The health service is built in, so its methods are known without a proto.
    let t = flags(Some("grpc.health.v1.Health/Chek"));
    let all = messages(build(&t).expect_err("invalid"));
    assert!(
        all.iter()
            .any(|m| m.contains("has no method `Chek` (it has: Check, Watch)")),
        "{all:#?}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let proto = dir.path().join("h.proto");
    std::fs::write(&proto, descriptors::HEALTH_PROTO).expect("write");
    let mut t = flags(Some("grpc.health.v1.Healt/Check"));
    t.grpc.proto = vec![proto];
    let all = messages(build(&t).expect_err("invalid"));
    assert!(
        all.iter()
            .any(|m| m.contains("no service `grpc.health.v1.Healt`")
                && m.contains("they define: grpc.health.v1.Health")),
        "{all:#?}"
    );
}

#[test]
fn a_method_known_only_to_the_server_waits_for_reflection_but_its_json_is_checked_now() {
    let mut t = flags(Some("pkg.v1.Users/Get"));
    t.grpc.data = Some(r#"{"id": }"#.into());
    let all = messages(build(&t).expect_err("bad JSON"));
    assert!(
        all.iter().any(|m| m.starts_with("--data: not valid JSON")),
        "{all:#?}"
    );
    t.grpc.data = Some(r#"{"id": 1}"#.into());
    let plan = build(&t).expect("valid");
    let g = plan.grpc.as_ref().expect("grpc");
    assert_eq!(g.descriptors, Descriptors::Reflection);
    assert!(g.message.is_none());
    assert!(plan.load_spec(None).expect("spec").grpc.is_none());
}

#[test]
fn the_scenario_takes_the_message_as_yaml_and_names_its_line() {
    let mut f = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp");
    f.write_all(b"target: http://127.0.0.1:50051\nrate: 10\nduration: 1s\ngrpc: zerodrop.demo.v1.Echo/Echo\ndata:\n  message: hi\n")
        .expect("write");
    let t = TrafficFlags {
        scenario: Some(f.path().to_path_buf()),
        ..TrafficFlags::default()
    };
    let plan = build(&t).expect("valid");
    assert_eq!(
        plan.grpc.and_then(|g| g.message).as_deref(),
        Some(&b"\x0a\x02hi"[..])
    );
    let mut f = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp");
    f.write_all(b"target: http://127.0.0.1:50051\nrate: 10\nduration: 1s\ngrpc: zerodrop.demo.v1.Echo/Echo\nbody: x\ndata:\n  mesage: hi\n")
        .expect("write");
    let t = TrafficFlags {
        scenario: Some(f.path().to_path_buf()),
        ..TrafficFlags::default()
    };
    let all = messages(build(&t).expect_err("invalid"));
    assert!(
        all.iter().any(|m| m.contains("line 7 (data): not a valid")),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|m| m.contains("line 5 (body): does not apply")),
        "{all:#?}"
    );
}
