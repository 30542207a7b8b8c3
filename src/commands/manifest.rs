//! `zerodrop manifest job [run flags] WORKLOAD`: prints what `kubectl apply -f -` needs to run
//! the same `zerodrop run` inside the cluster, as a Job (an Indexed Job with `--workers N`).
//!
//! The flags are `zerodrop run`'s, validated by the same code as if running in a pod, so one
//! set of flags means the same thing on a laptop and in the Job; they become the Job's
//! arguments, with the files they name (scenario, body, patch) carried in a ConfigMap and
//! their paths rewritten to where it is mounted. Flags that only make sense where `kubectl`
//! runs (`--context`, `--kubeconfig`) or that write files the pod cannot keep (`--out`,
//! `--html`, `--junit`) are refused with the way to get the same thing. Building the objects is
//! `cluster::kube::manifest`'s job; this module decides their inputs and prints them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{JobArgs, RunArgs};
use crate::cluster::kube::rbac::{self, Extras};
use crate::cluster::kube::rendezvous;
use crate::cluster::kube::{KubeConfig, Trigger};
use crate::commands::error;
use crate::config::parse::dns_subdomain;
use crate::config::{Plan, PlanError, Problems};
use crate::distributed::manifest::{
    self, FILES_DIR, JOB_NAME_LABEL, JobInput, MountedFile, sizing,
};
use crate::model::exit;

/// Prints the manifest; returns the exit code.
pub fn run(args: JobArgs) -> u8 {
    match render(&args) {
        Ok(yaml) => {
            print!("{yaml}");
            exit::PASSED
        }
        Err(e) => {
            error(e);
            exit::BAD_INPUT
        }
    }
}

/// Flags that cannot mean the same thing in the pod.
fn refused(run: &RunArgs, name: &str, p: &mut Problems<'_>) {
    if run.kube.namespace.is_none() {
        p.push(
            "--namespace",
            "required: the Job, its Role and the RoleBinding naming its ServiceAccount live in \
             the workload's namespace",
        );
    }
    for (flag, given) in [
        ("--context", run.kube.context.is_some()),
        ("--kubeconfig", run.kube.kubeconfig.is_some()),
    ] {
        if given {
            p.push(
                flag,
                "the Job talks to its own cluster with its ServiceAccount; choose the cluster \
                 where you run `kubectl apply` (kubectl --context)",
            );
        }
    }
    for (flag, given) in [
        ("--out", run.output.out.is_some()),
        ("--html", run.output.html.is_some()),
        ("--junit", run.output.junit.is_some()),
    ] {
        if given {
            p.push(
                flag,
                format!(
                    "a pod keeps no files: the result goes to its log; render it where you are \
                     with `kubectl logs job/{name} | zerodrop report - {flag} FILE`"
                ),
            );
        }
    }
    p.check("--name", dns_label(name));
}

/// A DNS-1123 label (what a Job name must be, as it becomes a label value).
fn dns_label(s: &str) -> Result<(), String> {
    dns_subdomain(s)?;
    if s.len() > 63 || s.contains('.') {
        return Err(format!(
            "`{s}` is not a valid Job name: at most 63 lower-case letters, digits and '-'"
        ));
    }
    Ok(())
}

fn job_name(args: &JobArgs) -> String {
    args.job.name.clone().unwrap_or_else(|| {
        let w = args.run.workload.rsplit('/').next().unwrap_or_default();
        format!("zerodrop-{}", w.to_ascii_lowercase())
    })
}

/// Validates the flags and renders the manifest.
pub fn render(args: &JobArgs) -> Result<String, PlanError> {
    let name = job_name(args);
    let mut problems = Problems::new(None);
    refused(&args.run, &name, &mut problems);
    // Validate as generator 0 would run: the Role must allow what it does, and the sizing is
    // per generator. Each pod gets its own index from the Indexed Job.
    let mut as_lead = clone_run(&args.run);
    as_lead.worker.worker_index = Some("0".into());
    let built = super::run::build_in(&as_lead, true);
    let (plan, config, worker) = match built {
        Ok(x) => x,
        Err(e) => {
            // The refusals first, then what `run` itself would say.
            let mut all = problems.finish(()).err().map_or(Vec::new(), |r| r.problems);
            all.extend(e.problems);
            return Err(PlanError { problems: all });
        }
    };
    problems.finish(())?;
    let (job_args, files) = job_args(args, &name, &plan, &config, worker.count)?;
    let share = plan
        .traffic
        .pattern
        .peak_rate()
        .map(|r| r / f64::from(worker.count));
    let deadline = plan.flow.baseline
        + plan.flow.rollout_timeout
        + plan.flow.settle
        // Room to start, connect, and write the result.
        + Duration::from_secs(120)
        + if worker.count > 1 {
            rendezvous::POD_WAIT + rendezvous::MARGIN
        } else {
            Duration::ZERO
        };
    let input = JobInput {
        name: name.clone(),
        namespace: config.connect.namespace.clone().unwrap_or_default(),
        image: args.job.image.clone(),
        args: job_args,
        workers: worker.count,
        rules: rbac::rules(
            &config,
            &Extras {
                result_configmap: worker.result_configmap.clone(),
            },
        ),
        sizing: sizing(
            share,
            plan.traffic.send_window,
            plan.traffic.keepalive,
            plan.output.failure_log_limit,
            plan.traffic.max_in_flight,
        ),
        files,
        result_configmap: worker.result_configmap.clone(),
        deadline,
    };
    let objects = manifest::objects(&input);
    objects
        .to_yaml(&header(&name, &config, worker.count, deadline))
        .map_err(|e| PlanError::single("manifest", e.to_string()))
}

/// The comment at the top of the manifest: how to run it and read the result.
fn header(name: &str, config: &KubeConfig, workers: u32, deadline: Duration) -> String {
    let ns = config.connect.namespace.as_deref().unwrap_or("default");
    let secs = deadline.as_secs();
    let mut h = format!(
        "Generated by zerodrop {}: runs `zerodrop run` against {} in-cluster.\n\
         The Job's pods exit with zerodrop's exit code; `zerodrop report` exits with the verdict's.\n\
         \n\
         kubectl apply -f this.yaml\n\
         # wait until the Job completes or fails (bash):\n\
         kubectl -n {ns} wait --for=condition=complete job/{name} --timeout={secs}s &\n\
         kubectl -n {ns} wait --for=condition=failed job/{name} --timeout={secs}s &\n\
         wait -n\n",
        env!("CARGO_PKG_VERSION"),
        config.workload,
    );
    if workers > 1 {
        h.push_str(&format!(
            "kubectl -n {ns} logs -l {JOB_NAME_LABEL}={name} --tail=-1 \\\n  \
             | zerodrop merge - --out result.json --html report.html --junit junit.xml\n"
        ));
    } else {
        h.push_str(&format!(
            "kubectl -n {ns} logs job/{name} | zerodrop report - --html report.html --junit junit.xml\n"
        ));
    }
    h.push_str(&format!(
        "kubectl -n {ns} delete job/{name}   # a Job runs once: delete it before applying again\n"
    ));
    if let Trigger::Exec { argv } = &config.trigger {
        h.push_str(&format!(
            "\n--trigger exec runs `{}` inside the pod: the zerodrop image holds no shell and no\n\
             helm or kubectl, so build an image FROM it that has the command (--image), and give\n\
             the command its own rights: this Role lets zerodrop read, not deploy.\n",
            argv.join(" ")
        ));
    }
    h
}

/// `RunArgs` by value: clap's derive gives it no `Clone`, and copying field by field keeps the
/// argument list below in step with it.
fn clone_run(r: &RunArgs) -> RunArgs {
    RunArgs {
        traffic: r.traffic.clone(),
        flow: r.flow.clone(),
        kube: r.kube.clone(),
        output: r.output.clone(),
        worker: r.worker.clone(),
        workload: r.workload.clone(),
        command: r.command.clone(),
    }
}

fn read(path: &Path, place: &str) -> Result<Vec<u8>, PlanError> {
    std::fs::read(path)
        .map_err(|e| PlanError::single(place, format!("cannot read {}: {e}", path.display())))
}

/// The Job's arguments — the user's run flags with the files they name moved to where the
/// pod mounts them — and those files.
fn job_args(
    args: &JobArgs,
    name: &str,
    plan: &Plan,
    config: &KubeConfig,
    workers: u32,
) -> Result<(Vec<String>, Vec<MountedFile>), PlanError> {
    let mut run = clone_run(&args.run);
    let mut files = Vec::new();
    let mounted = |key: &str| PathBuf::from(FILES_DIR).join(key);
    if let Some(s) = &run.traffic.scenario {
        files.push(MountedFile {
            key: "scenario.yaml".into(),
            bytes: read(s, "--scenario")?,
        });
        run.traffic.scenario = Some(mounted("scenario.yaml"));
    }
    // The body, from --body-file or the scenario's body_file: the flag wins over the file in
    // the pod as it does here.
    if plan.request.shape.body_file.is_some() {
        files.push(MountedFile {
            key: "body".into(),
            bytes: plan.request.shape.body.to_vec(),
        });
        run.traffic.body_file = Some(mounted("body"));
    }
    files.extend(template_bodies(plan, run.traffic.scenario.is_some())?);
    if let Some(g) = &plan.grpc {
        if !g.proto.is_empty() {
            return Err(PlanError::single(
                "--proto",
                "the Job cannot carry .proto files and their imports: in the cluster, let the \
                 server answer reflection (leave --proto out), or run `zerodrop run --grpc \
                 --proto …` from where the files are",
            ));
        }
        // The request, from --data-file or the scenario's data_file, as the pod reads it.
        if g.data_file.is_some() {
            files.push(MountedFile {
                key: "data.json".into(),
                bytes: g.data.clone().into_bytes(),
            });
            run.traffic.grpc.data_file = Some(mounted("data.json"));
        }
    }
    if let Trigger::Patch { file, .. } = &config.trigger {
        files.push(MountedFile {
            key: "patch".into(),
            bytes: read(file, "--trigger")?,
        });
        run.kube.trigger = format!("patch {}", mounted("patch").display());
    }
    // Each pod's index comes from the Indexed Job ($JOB_COMPLETION_INDEX).
    run.worker.worker_index = None;
    run.worker.result_log = true;
    if workers > 1 {
        run.worker.workers = Some(workers.to_string());
        run.worker.worker_pods = Some(format!("{JOB_NAME_LABEL}={name}"));
    }
    Ok((run_argv(&run), files))
}

/// The body files of a mix's templates, mounted beside the scenario under their own names
/// (the scenario names them relative to itself). A body file elsewhere cannot follow: the
/// mount is one flat directory.
fn template_bodies(plan: &Plan, scenario: bool) -> Result<Vec<MountedFile>, PlanError> {
    let mut files: Vec<MountedFile> = Vec::new();
    let dir = plan
        .scenario
        .as_ref()
        .and_then(|s| s.parent().map(Path::to_path_buf));
    for t in &plan.request.templates {
        let Some(path) = &t.shape.body_file else {
            continue;
        };
        let place = format!("template {} (body_file)", t.name);
        let key = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let beside = scenario && path.parent().map(Path::to_path_buf) == dir;
        let taken = ["scenario.yaml", "body", "patch"].contains(&key.as_str());
        if !beside || taken || key.is_empty() {
            return Err(PlanError::single(
                place,
                format!(
                    "{} cannot be mounted in the Job: a template's body_file must be a file beside the scenario, named other than scenario.yaml, body or patch",
                    path.display()
                ),
            ));
        }
        if !files.iter().any(|f| f.key == key) {
            files.push(MountedFile {
                key,
                bytes: t.shape.body.to_vec(),
            });
        }
    }
    Ok(files)
}

fn opt(out: &mut Vec<String>, flag: &str, v: &Option<String>) {
    if let Some(v) = v {
        // `--flag=value` keeps a value that starts with '-' a value.
        out.push(format!("{flag}={v}"));
    }
}

fn opt_path(out: &mut Vec<String>, flag: &str, v: &Option<PathBuf>) {
    if let Some(v) = v {
        out.push(format!("{flag}={}", v.display()));
    }
}

fn many(out: &mut Vec<String>, flag: &str, vs: &[String]) {
    for v in vs {
        out.push(format!("{flag}={v}"));
    }
}

fn switch(out: &mut Vec<String>, flag: &str, on: bool) {
    if on {
        out.push(flag.to_string());
    }
}

/// The gRPC flags, as the Job passes them on.
fn grpc_argv(a: &mut Vec<String>, g: &crate::cli::grpc::GrpcArgs) {
    match g.grpc.as_deref() {
        Some("") => a.push("--grpc".into()),
        other => opt(a, "--grpc", &other.map(str::to_string)),
    }
    for p in &g.proto {
        opt_path(a, "--proto", &Some(p.clone()));
    }
    for p in &g.import_path {
        opt_path(a, "--import-path", &Some(p.clone()));
    }
    opt(a, "--data", &g.data);
    opt_path(a, "--data-file", &g.data_file);
}

/// The WebSocket flags, as the Job passes them on.
fn ws_argv(a: &mut Vec<String>, w: &crate::cli::WsArgs) {
    opt(a, "--ws", &w.ws);
    opt(a, "--sessions", &w.sessions);
    opt(a, "--session-rate", &w.session_rate);
    opt(a, "--session-duration", &w.session_duration);
    opt(a, "--message-rate", &w.message_rate);
    opt(a, "--message", &w.message);
    opt(a, "--expect", &w.expect);
    switch(a, "--reconnect", w.reconnect);
    opt(a, "--reconnect-delay", &w.reconnect_delay);
    opt(a, "--reconnect-max-delay", &w.reconnect_max_delay);
    opt(a, "--reconnect-attempts", &w.reconnect_attempts);
    switch(a, "--resend", w.resend);
}

/// `zerodrop run`'s command line for these flags: parsing it again gives the same flags.
pub fn run_argv(r: &RunArgs) -> Vec<String> {
    let mut a = vec!["run".to_string()];
    let t = &r.traffic;
    opt_path(&mut a, "--scenario", &t.scenario);
    opt(&mut a, "--target", &t.target);
    opt(&mut a, "--path", &t.path);
    opt(&mut a, "--rate", &t.rate);
    opt(&mut a, "--duration", &t.duration);
    opt(&mut a, "--stages", &t.stages);
    switch(&mut a, "--max", t.max);
    opt(&mut a, "--connections", &t.connections);
    opt(&mut a, "--max-in-flight", &t.max_in_flight);
    opt(&mut a, "--send-window", &t.send_window);
    opt(&mut a, "--timeout", &t.timeout);
    opt(&mut a, "--connect-timeout", &t.connect_timeout);
    opt(&mut a, "--method", &t.method);
    many(&mut a, "--header", &t.header);
    opt(&mut a, "--body", &t.body);
    opt_path(&mut a, "--body-file", &t.body_file);
    switch(&mut a, "--no-keepalive", t.no_keepalive);
    switch(&mut a, "--http2", t.http2);
    switch(&mut a, "--insecure", t.insecure);
    opt(&mut a, "--accept-status", &t.accept_status);
    opt(&mut a, "--pod-header", &t.pod_header);
    opt(&mut a, "--version-header", &t.version_header);
    opt(&mut a, "--seed", &t.seed);
    opt(&mut a, "--max-body", &t.max_body);
    many(&mut a, "--threshold", &t.threshold);
    many(&mut a, "--redact-header", &t.redact_header);
    opt(&mut a, "--failure-log-limit", &t.failure_log_limit);
    opt(&mut a, "--via", &t.via);
    grpc_argv(&mut a, &t.grpc);
    ws_argv(&mut a, &t.ws);
    let f = &r.flow;
    opt(&mut a, "--baseline", &f.baseline);
    opt(&mut a, "--settle", &f.settle);
    opt(&mut a, "--rollout-timeout", &f.rollout_timeout);
    let k = &r.kube;
    opt(&mut a, "--namespace", &k.namespace);
    opt(&mut a, "--context", &k.context);
    opt_path(&mut a, "--kubeconfig", &k.kubeconfig);
    opt(&mut a, "--service", &k.service);
    a.push(format!("--trigger={}", k.trigger));
    a.push(format!("--patch-type={}", k.patch_type));
    a.push(format!("--interval={}", k.interval));
    switch(&mut a, "--undo-on-failure", k.undo_on_failure);
    a.push(format!("--request-timeout={}", k.request_timeout));
    switch(&mut a, "--events", k.events);
    let o = &r.output;
    opt_path(&mut a, "--out", &o.out);
    opt_path(&mut a, "--html", &o.html);
    opt_path(&mut a, "--junit", &o.junit);
    switch(&mut a, "--quiet", o.quiet);
    let w = &r.worker;
    opt(&mut a, "--workers", &w.workers);
    opt(&mut a, "--worker-index", &w.worker_index);
    opt(&mut a, "--worker-pods", &w.worker_pods);
    switch(&mut a, "--result-log", w.result_log);
    opt(&mut a, "--result-configmap", &w.result_configmap);
    a.push(r.workload.clone());
    if !r.command.is_empty() {
        a.push("--".into());
        a.extend(r.command.iter().cloned());
    }
    a
}
