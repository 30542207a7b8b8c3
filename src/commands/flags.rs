//! From the command line to `config`'s first stage: each clap struct's values moved, as typed,
//! into the plain flag structs `config` validates. Nothing is checked here. Each conversion
//! takes its clap struct apart field by field, so a flag added to `cli` and not carried over
//! does not compile.

use crate::cli::{
    FlowArgs, KubeArgs, LocalArgs, LocalRuntimeArgs, OutputArgs, RunArgs, TrafficArgs, WorkerArgs,
};
use crate::config::{
    FlowFlags, KubeFlags, LocalFlags, LocalInput, OutputFlags, ProbeFlags, RunInput, TrafficFlags,
    WorkerFlags,
};

pub fn traffic(a: &TrafficArgs) -> TrafficFlags {
    let TrafficArgs {
        scenario,
        target,
        path,
        rate,
        duration,
        stages,
        max,
        connections,
        max_in_flight,
        timeout,
        connect_timeout,
        method,
        header,
        body,
        body_file,
        no_keepalive,
        http2,
        insecure,
        accept_status,
        pod_header,
        threshold,
        redact_header,
        failure_log_limit,
    } = a.clone();
    TrafficFlags {
        scenario,
        target,
        path,
        rate,
        duration,
        stages,
        max,
        connections,
        max_in_flight,
        timeout,
        connect_timeout,
        method,
        header,
        body,
        body_file,
        no_keepalive,
        http2,
        insecure,
        accept_status,
        pod_header,
        threshold,
        redact_header,
        failure_log_limit,
    }
}

pub fn flow(a: &FlowArgs) -> FlowFlags {
    let FlowArgs {
        baseline,
        settle,
        rollout_timeout,
    } = a.clone();
    FlowFlags {
        baseline,
        settle,
        rollout_timeout,
    }
}

pub fn output(a: &OutputArgs) -> OutputFlags {
    let OutputArgs {
        out,
        html,
        junit,
        quiet,
    } = a.clone();
    OutputFlags {
        out,
        html,
        junit,
        quiet,
    }
}

pub fn local(a: &LocalRuntimeArgs) -> LocalFlags {
    let LocalRuntimeArgs {
        replicas,
        port_env,
        replica_name,
        new_cmd,
        listen,
        propagation_delay,
        progress_deadline,
        replica_logs,
        startup_path,
        startup_tcp,
        startup_initial_delay,
        startup_period,
        startup_timeout,
        startup_failure_threshold,
        readiness_path,
        readiness_tcp,
        readiness_initial_delay,
        readiness_period,
        readiness_timeout,
        readiness_success_threshold,
        readiness_failure_threshold,
        max_surge,
        max_unavailable,
        min_ready_seconds,
        prestop_sleep,
        prestop_exec,
        stop_signal,
        grace_period,
    } = a.clone();
    LocalFlags {
        replicas,
        port_env,
        replica_name,
        new_cmd,
        listen,
        propagation_delay,
        progress_deadline,
        replica_logs,
        // The startup probe has no success threshold: it passes once, as in Kubernetes.
        startup: ProbeFlags {
            path: startup_path,
            tcp: startup_tcp,
            initial_delay: startup_initial_delay,
            period: startup_period,
            timeout: startup_timeout,
            success_threshold: None,
            failure_threshold: startup_failure_threshold,
        },
        readiness: ProbeFlags {
            path: readiness_path,
            tcp: readiness_tcp,
            initial_delay: readiness_initial_delay,
            period: readiness_period,
            timeout: readiness_timeout,
            success_threshold: readiness_success_threshold,
            failure_threshold: readiness_failure_threshold,
        },
        max_surge,
        max_unavailable,
        min_ready_seconds,
        prestop_sleep,
        prestop_exec,
        stop_signal,
        grace_period,
    }
}

/// `--events` is not configuration: the command prints events itself.
pub fn kube(a: &KubeArgs) -> KubeFlags {
    let KubeArgs {
        namespace,
        context,
        kubeconfig,
        service,
        trigger,
        patch_type,
        interval,
        undo_on_failure,
        request_timeout,
        events: _,
    } = a.clone();
    KubeFlags {
        namespace,
        context,
        kubeconfig,
        service,
        trigger,
        patch_type,
        interval,
        undo_on_failure,
        request_timeout,
    }
}

pub fn worker(a: &WorkerArgs) -> WorkerFlags {
    let WorkerArgs {
        workers,
        worker_index,
        worker_pods,
        result_log,
        result_configmap,
    } = a.clone();
    WorkerFlags {
        workers,
        worker_index,
        worker_pods,
        result_log,
        result_configmap,
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
