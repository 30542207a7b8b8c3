//! The fixes zerodrop suggests, as Deployment YAML snippets: one source for both the analysis
//! (what a run measured) and `lint` (what a manifest risks), so the same risk always gets the
//! same advice. Pure text building; no parsing and no I/O.

use std::time::Duration;

/// Names to put in a snippet; placeholders when the workload is not known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The workload's name.
    pub name: String,
    /// The container the fix applies to.
    pub container: String,
    /// The pod labels a PodDisruptionBudget or spread constraint should select.
    pub labels: Vec<(String, String)>,
    /// The container port probes should use (a number or a port name).
    pub port: String,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            name: "web".into(),
            container: "app".into(),
            labels: vec![("app".into(), "web".into())],
            port: "http".into(),
        }
    }
}

impl Target {
    fn match_labels(&self, indent: usize) -> String {
        let pad = " ".repeat(indent);
        self.labels
            .iter()
            .map(|(k, v)| format!("{pad}{k}: {}\n", quote(v)))
            .collect()
    }
}

/// Quotes a YAML scalar when it would otherwise not read back as the same string.
fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && v.parse::<f64>().is_err()
        && !matches!(v, "true" | "false" | "null" | "yes" | "no" | "on" | "off");
    if plain {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Whole seconds, rounded up: a sleep must cover the measured time, never fall short of it.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A preStop sleep that covers `lag` with margin: the slowest measured de-registration plus
/// half a second, rounded up to whole seconds, and at least 2 s.
pub fn prestop_for_lag(lag: Option<Duration>) -> u64 {
    lag.map_or(5, |l| ceil_secs(l + Duration::from_millis(500)).max(2))
}

/// preStop sleep and a grace period that leaves `drain` for the app after it.
pub fn prestop(t: &Target, sleep_secs: u64, drain_secs: u64) -> String {
    format!(
        "spec:
  template:
    spec:
      terminationGracePeriodSeconds: {grace}   # preStop {sleep_secs} s + drain {drain_secs} s
      containers:
        - name: {c}
          lifecycle:
            preStop:
              sleep:              # Kubernetes 1.30+ (older: exec sleep {sleep_secs})
                seconds: {sleep_secs}
",
        grace = sleep_secs + drain_secs,
        c = t.container,
    )
}

/// A grace period long enough for the preStop sleep and the app's drain.
pub fn grace_period(sleep_secs: u64, drain_secs: u64) -> String {
    format!(
        "spec:
  template:
    spec:
      terminationGracePeriodSeconds: {}   # preStop {sleep_secs} s + drain {drain_secs} s + margin
",
        sleep_secs + drain_secs + 5
    )
}

/// A rolling update that never removes a pod before its replacement is ready.
pub fn surge_strategy(replicas: Option<u32>) -> String {
    let replicas = replicas.map_or(String::new(), |r| format!("  replicas: {}\n", r.max(2)));
    format!(
        "spec:
{replicas}  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1         # start a new pod first ...
      maxUnavailable: 0   # ... and never go below the desired count
"
    )
}

/// `lines` as a patch of the target's container.
fn container_patch(t: &Target, lines: &str) -> String {
    format!(
        "spec:
  template:
    spec:
      containers:
        - name: {c}
{lines}",
        c = t.container
    )
}

/// One HTTP probe of the container: `head` is its key (with any comment), `path` what it
/// checks on the target's port, `timing` its period and threshold lines, if any.
fn http_probe(t: &Target, head: &str, path: &str, timing: &str) -> String {
    format!(
        "          {head}
            httpGet:
              path: {path}
              port: {port}
{timing}",
        port = t.port
    )
}

/// WebSocket pods that go away politely: readiness fails at the first probe after the stop
/// signal, a preStop sleep lets the Service stop routing first, and the grace period covers
/// the sessions' closing handshakes.
pub fn websocket_shutdown(t: &Target, sleep_secs: u64) -> String {
    let readiness = http_probe(
        t,
        "readinessProbe:     # the app answers 503 here from the moment it gets SIGTERM",
        "/ready",
        "            periodSeconds: 1
            failureThreshold: 1
",
    );
    let prestop = format!(
        "          lifecycle:
            preStop:
              sleep:          # then SIGTERM: send every session close 1001, await replies
                seconds: {sleep_secs}
"
    );
    let grace = format!(
        "    spec:
      terminationGracePeriodSeconds: {}   # preStop {sleep_secs} s + closing the sessions
",
        sleep_secs + 15
    );
    container_patch(t, &(readiness + &prestop)).replacen("    spec:\n", &grace, 1)
}

/// A readiness probe separate from liveness, and a startup probe for slow starters.
pub fn readiness_probe(t: &Target) -> String {
    let readiness = http_probe(
        t,
        "readinessProbe:     # checks what the app needs before it takes traffic",
        "/ready",
        "            periodSeconds: 2
            failureThreshold: 2
",
    );
    let startup = http_probe(
        t,
        "startupProbe:       # holds readiness and liveness back while it boots",
        "/healthz",
        "            periodSeconds: 2
            failureThreshold: 30
",
    );
    container_patch(t, &(readiness + &startup))
}

/// Distinct readiness and liveness endpoints.
pub fn distinct_probes(t: &Target) -> String {
    let readiness = http_probe(
        t,
        "readinessProbe:     # can I take traffic now? (dependencies, warm-up, draining)",
        "/ready",
        "",
    );
    let liveness = http_probe(
        t,
        "livenessProbe:      # am I wedged? cheap and local, never a dependency",
        "/livez",
        "",
    );
    container_patch(t, &(readiness + &liveness))
}

/// A startup probe that gives a slow starter time before liveness applies.
pub fn startup_probe(t: &Target) -> String {
    let startup = http_probe(
        t,
        "startupProbe:",
        "/healthz",
        "            periodSeconds: 2
            failureThreshold: 30   # up to 60 s to boot
",
    );
    container_patch(t, &startup)
}

/// A PodDisruptionBudget keeping pods available through voluntary disruptions.
pub fn pod_disruption_budget(t: &Target) -> String {
    format!(
        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {name}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
{labels}",
        name = t.name,
        labels = t.match_labels(6)
    )
}

/// Spread replicas over nodes, so one node going away does not take them all.
pub fn topology_spread(t: &Target) -> String {
    format!(
        "spec:
  template:
    spec:
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
{labels}",
        labels = t.match_labels(14)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prestop_sleep_covers_the_slowest_lag_with_margin() {
        assert_eq!(prestop_for_lag(Some(Duration::from_millis(1400))), 2);
        assert_eq!(prestop_for_lag(Some(Duration::from_millis(1600))), 3);
        assert_eq!(prestop_for_lag(Some(Duration::from_millis(100))), 2);
        assert_eq!(prestop_for_lag(None), 5);
    }

    #[test]
    fn every_snippet_is_valid_yaml() {
        let t = Target {
            labels: vec![("app.kubernetes.io/name".into(), "1.0".into())],
            ..Target::default()
        };
        for s in [
            prestop(&t, 2, 30),
            grace_period(2, 30),
            surge_strategy(Some(1)),
            readiness_probe(&t),
            distinct_probes(&t),
            startup_probe(&t),
            pod_disruption_budget(&t),
            topology_spread(&t),
        ] {
            let v: Result<serde_json::Value, _> = serde_saphyr::from_str(&s);
            assert!(v.is_ok(), "not YAML: {s}\n{v:?}");
        }
        let pdb: serde_json::Value =
            serde_saphyr::from_str(&pod_disruption_budget(&t)).expect("yaml");
        assert_eq!(
            pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
            "1.0"
        );
    }
}
