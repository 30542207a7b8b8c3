//! From the command line to `config`'s first stage: each clap struct's values moved, as typed,
//! into the plain flag structs `config` validates. Nothing is checked here; a flag added to
//! `cli` is carried over here, and `config` has the compiler ask for every field of its own.

use crate::cli::grpc::GrpcArgs;
use crate::cli::{
    FlowArgs, KubeArgs, LocalArgs, LocalRuntimeArgs, OutputArgs, RunArgs, TrafficArgs, WorkerArgs,
    WsArgs,
};
use crate::config::grpc::GrpcFlags;
use crate::config::{
    FlowFlags, KubeFlags, LocalFlags, LocalInput, OutputFlags, ProbeFlags, RunInput, TrafficFlags,
    WorkerFlags, WsFlags,
};

pub fn traffic(a: &TrafficArgs) -> TrafficFlags {
    let a = a.clone();
    TrafficFlags {
        scenario: a.scenario,
        target: a.target,
        path: a.path,
        rate: a.rate,
        duration: a.duration,
        stages: a.stages,
        max: a.max,
        connections: a.connections,
        max_in_flight: a.max_in_flight,
        send_window: a.send_window,
        timeout: a.timeout,
        connect_timeout: a.connect_timeout,
        method: a.method,
        header: a.header,
        body: a.body,
        body_file: a.body_file,
        no_keepalive: a.no_keepalive,
        http2: a.http2,
        insecure: a.insecure,
        accept_status: a.accept_status,
        pod_header: a.pod_header,
        version_header: a.version_header,
        seed: a.seed,
        max_body: a.max_body,
        threshold: a.threshold,
        redact_header: a.redact_header,
        failure_log_limit: a.failure_log_limit,
        via: a.via,
        grpc: grpc(a.grpc),
        ws: ws(a.ws),
    }
}

fn grpc(a: GrpcArgs) -> GrpcFlags {
    GrpcFlags {
        grpc: a.grpc,
        proto: a.proto,
        import_path: a.import_path,
        data: a.data,
        data_file: a.data_file,
    }
}

pub fn ws(a: WsArgs) -> WsFlags {
    WsFlags {
        ws: a.ws,
        sessions: a.sessions,
        session_rate: a.session_rate,
        session_duration: a.session_duration,
        message_rate: a.message_rate,
        message: a.message,
        expect: a.expect,
        reconnect: a.reconnect,
        resend: a.resend,
        reconnect_delay: a.reconnect_delay,
        reconnect_max_delay: a.reconnect_max_delay,
        reconnect_attempts: a.reconnect_attempts,
    }
}

pub fn flow(a: &FlowArgs) -> FlowFlags {
    let a = a.clone();
    FlowFlags {
        baseline: a.baseline,
        settle: a.settle,
        rollout_timeout: a.rollout_timeout,
    }
}

pub fn output(a: &OutputArgs) -> OutputFlags {
    let a = a.clone();
    OutputFlags {
        out: a.out,
        html: a.html,
        junit: a.junit,
        quiet: a.quiet,
    }
}

pub fn local(a: &LocalRuntimeArgs) -> LocalFlags {
    let a = a.clone();
    LocalFlags {
        replicas: a.replicas,
        port_env: a.port_env,
        replica_name: a.replica_name,
        new_cmd: a.new_cmd,
        listen: a.listen,
        propagation_delay: a.propagation_delay,
        proxy: a.proxy,
        balance: a.balance,
        progress_deadline: a.progress_deadline,
        replica_logs: a.replica_logs,
        // The startup probe has no success threshold: it passes once, as in Kubernetes.
        startup: ProbeFlags {
            path: a.startup_path,
            tcp: a.startup_tcp,
            initial_delay: a.startup_initial_delay,
            period: a.startup_period,
            timeout: a.startup_timeout,
            success_threshold: None,
            failure_threshold: a.startup_failure_threshold,
        },
        readiness: ProbeFlags {
            path: a.readiness_path,
            tcp: a.readiness_tcp,
            initial_delay: a.readiness_initial_delay,
            period: a.readiness_period,
            timeout: a.readiness_timeout,
            success_threshold: a.readiness_success_threshold,
            failure_threshold: a.readiness_failure_threshold,
        },
        max_surge: a.max_surge,
        max_unavailable: a.max_unavailable,
        min_ready_seconds: a.min_ready_seconds,
        prestop_sleep: a.prestop_sleep,
        prestop_exec: a.prestop_exec,
        stop_signal: a.stop_signal,
        grace_period: a.grace_period,
    }
}

/// `--events` is not configuration: the command prints events itself.
pub fn kube(a: &KubeArgs) -> KubeFlags {
    let a = a.clone();
    KubeFlags {
        namespace: a.namespace,
        context: a.context,
        kubeconfig: a.kubeconfig,
        service: a.service,
        trigger: a.trigger,
        patch_type: a.patch_type,
        interval: a.interval,
        undo_on_failure: a.undo_on_failure,
        request_timeout: a.request_timeout,
    }
}

pub fn worker(a: &WorkerArgs) -> WorkerFlags {
    let a = a.clone();
    WorkerFlags {
        workers: a.workers,
        worker_index: a.worker_index,
        worker_pods: a.worker_pods,
        result_log: a.result_log,
        result_configmap: a.result_configmap,
    }
}

pub fn local_input(a: &LocalArgs) -> LocalInput {
    LocalInput {
        traffic: traffic(&a.traffic),
        flow: flow(&a.flow),
        runtime: local(&a.runtime),
        output: output(&a.output),
        command: a.command.clone(),
    }
}

pub fn run_input(a: &RunArgs) -> RunInput {
    RunInput {
        traffic: traffic(&a.traffic),
        flow: flow(&a.flow),
        kube: kube(&a.kube),
        output: output(&a.output),
        worker: worker(&a.worker),
        workload: a.workload.clone(),
        command: a.command.clone(),
    }
}
