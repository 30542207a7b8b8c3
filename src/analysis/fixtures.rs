//! Small builders for analysis tests: a run's lifecycle events, proxy routes and request
//! records, built by hand in milliseconds on the run axis. Records go through the real
//! [`Recorder`], so phases, series and the failure log are what a run would produce.
//!
//! Test-only; nothing here is a model of a real runtime beyond what each test states.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::analysis::{Analysis, AnalysisInput, analyse};
use crate::model::clock::At;
use crate::model::connection::{ConnectionEnd, ConnectionLife};
use crate::model::event::{EndpointConditions, EventKind, LifecycleEvent, Revision};
use crate::model::outcome::{ConnId, OutcomeClass};
use crate::model::request::{LiveStats, RequestRecord, Sink};
use crate::model::session::{PerSecond, SessionClass, SessionRecord};
use crate::record::{ConnSecond, ConnectionLoad, PhaseMarks, Recorded, Recorder, RecorderConfig};
use crate::timeline::{ConnectionRoute, Timeline};

/// The client address of connection `id` in [`Via::Connection`].
fn conn_local(id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], 20_000 + (id % 40_000) as u16))
}

pub fn ms(v: u64) -> At {
    At(v * 1000)
}

/// The service address the load aims at (a proxy or ClusterIP), never a pod's.
pub const SERVICE: &str = "127.0.0.1:7000";

/// How a failed request reached its pod, as far as the recorded data shows.
pub enum Via<'a> {
    /// Through the local proxy on a connection it routed to `pod` at `opened` (ms).
    Route {
        pod: &'a str,
        opened: u64,
        reused: bool,
    },
    /// Straight to the pod's address.
    Peer { pod: &'a str, reused: bool },
    /// Through the Service, the pod having named itself in a header earlier.
    Identity { pod: &'a str },
    /// Through the Service, with no connection established.
    Service,
    /// Through the Service on connection `id` (its life added with [`Run::connection`]).
    Connection { id: u64, reused: bool },
}

/// Settings of a rolling restart built by [`Run::rolling`].
#[derive(Clone, Copy, Debug)]
pub struct Roll {
    pub replicas: u32,
    /// preStop sleep (ms): the stop signal comes this long after termination begins.
    pub prestop: u64,
    /// Termination start to endpoint not ready (ms).
    pub lag: u64,
    /// Time from the stop signal to exit (ms).
    pub drain: u64,
    /// true: maxSurge 1 / maxUnavailable 0 (new pod ready before an old one goes);
    /// false: maxSurge 0 / maxUnavailable 1 (old pod goes first).
    pub surge: bool,
    /// How long a new pod takes from creation to ready (ms).
    pub startup: u64,
}

impl Default for Roll {
    fn default() -> Self {
        Roll {
            replicas: 3,
            prestop: 2000,
            lag: 500,
            drain: 50,
            surge: true,
            startup: 1000,
        }
    }
}

pub const TRIGGER: u64 = 10_000;
/// Time between the starts of two replacement steps (ms).
pub const STEP: u64 = 4_000;

pub struct Run {
    pub events: Vec<LifecycleEvent>,
    pub routes: Vec<ConnectionRoute>,
    pub records: Vec<RequestRecord>,
    /// Long-lived connections' load per second (gRPC runs).
    pub loads: Vec<ConnectionLoad>,
    pub connections: Vec<ConnectionLife>,
    /// WebSocket sessions, recorded after the requests.
    pub sessions: Vec<SessionRecord>,
    pub desired: Option<u32>,
    pub phases: Vec<(u64, &'static str)>,
    pub end: u64,
    pub input: AnalysisInput,
    pub failure_log_limit: usize,
    next_seq: u64,
    next_port: u16,
    next_ip: u8,
}

impl Run {
    /// Old pods `old-0..` ready before the load starts, nothing else.
    pub fn steady(replicas: u32) -> Run {
        let mut r = Run {
            events: Vec::new(),
            routes: Vec::new(),
            records: Vec::new(),
            loads: Vec::new(),
            connections: Vec::new(),
            sessions: Vec::new(),
            desired: Some(replicas),
            phases: vec![(1_000, "baseline")],
            end: 30_000,
            input: AnalysisInput::default(),
            failure_log_limit: 10_000,
            next_seq: 0,
            next_port: 40_000,
            next_ip: 1,
        };
        for i in 0..replicas {
            r.pod_ready(&format!("old-{i}"), Revision::Old, 0, 500);
        }
        r
    }

    /// A complete rolling restart: baseline from 1 s, trigger at 10 s, one replacement step
    /// every 4 s, settle for 10 s after completion; ok traffic every 10 ms at 2 ms latency.
    pub fn rolling(roll: Roll) -> Run {
        let mut r = Run::steady(roll.replicas);
        r.input.workload.prestop = Some(Duration::from_millis(roll.prestop));
        r.at(
            TRIGGER,
            None,
            EventKind::Trigger {
                description: "restart".into(),
            },
        );
        r.phases.push((TRIGGER, "rollout"));
        for i in 0..u64::from(roll.replicas) {
            let start = TRIGGER + i * STEP;
            let new = format!("new-{i}");
            let old = format!("old-{i}");
            let ready = start + roll.startup;
            r.pod_ready(&new, Revision::New, start, ready);
            let t = if roll.surge { ready } else { start };
            r.terminate(&old, t, roll.prestop, roll.lag, roll.drain);
        }
        let done = TRIGGER + u64::from(roll.replicas) * STEP;
        r.at(done, None, EventKind::RolloutComplete);
        r.phases.push((done, "settle"));
        r.end = done + 10_000;
        r.ok_traffic(1_000, r.end, 10, 2);
        r
    }

    fn at(&mut self, t: u64, pod: Option<&str>, kind: EventKind) {
        self.events.push(LifecycleEvent {
            at: ms(t),
            source_time: None,
            pod: pod.map(str::to_string),
            kind,
        });
    }

    /// The address a pod was given.
    pub fn address(&self, pod: &str) -> String {
        self.events
            .iter()
            .find_map(|e| match (&e.kind, e.pod.as_deref()) {
                (EventKind::PodStarted { address: Some(a) }, Some(p)) if p == pod => {
                    Some(a.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| format!("10.0.0.250:8080 (no pod {pod})"))
    }

    /// Created, started, ready and added to the endpoints as ready.
    pub fn pod_ready(&mut self, pod: &str, revision: Revision, created: u64, ready: u64) {
        let address = format!("10.0.0.{}:8080", self.next_ip);
        self.next_ip += 1;
        self.at(created, Some(pod), EventKind::PodCreated { revision });
        self.at(
            created + 50,
            Some(pod),
            EventKind::PodStarted {
                address: Some(address.clone()),
            },
        );
        self.at(ready, Some(pod), EventKind::PodReady);
        self.at(
            ready,
            Some(pod),
            EventKind::EndpointAdded {
                address,
                conditions: EndpointConditions {
                    ready: true,
                    serving: true,
                    terminating: false,
                },
            },
        );
    }

    /// Termination at `t`: endpoint not ready after `lag`, stop signal after `prestop`, exit
    /// `drain` after that, endpoint removed and pod deleted once both are done.
    pub fn terminate(&mut self, pod: &str, t: u64, prestop: u64, lag: u64, drain: u64) {
        let address = self.address(pod);
        self.at(
            t,
            Some(pod),
            EventKind::PodTerminating {
                grace_period: Some(Duration::from_secs(30)),
            },
        );
        self.at(
            t + lag,
            Some(pod),
            EventKind::EndpointChanged {
                address: address.clone(),
                conditions: EndpointConditions {
                    ready: false,
                    serving: true,
                    terminating: true,
                },
            },
        );
        self.at(
            t + prestop,
            Some(pod),
            EventKind::StopSignalSent {
                signal: "SIGTERM".into(),
            },
        );
        let exit = t + prestop + drain;
        self.at(
            exit,
            Some(pod),
            EventKind::ContainerExited {
                code: Some(0),
                signal: None,
                reason: None,
            },
        );
        self.at(
            exit.max(t + lag) + 10,
            Some(pod),
            EventKind::EndpointRemoved { address },
        );
        self.at(exit.max(t + lag) + 20, Some(pod), EventKind::PodDeleted);
    }

    /// Replaces a pod's exit by a SIGKILL at the grace deadline `at`.
    pub fn killed_at(&mut self, pod: &str, at: u64) {
        self.events.retain(|e| {
            !(e.pod.as_deref() == Some(pod) && matches!(e.kind, EventKind::ContainerExited { .. }))
        });
        self.at(at, Some(pod), EventKind::KilledAtGraceDeadline);
        self.at(
            at,
            Some(pod),
            EventKind::ContainerExited {
                code: None,
                signal: Some(9),
                reason: None,
            },
        );
    }

    /// A long-lived connection pinned to `pod` (through the proxy) over `[from, to)` ms,
    /// carrying `per_second` requests in each second it spans.
    pub fn connection_load(&mut self, pod: &str, from: u64, to: u64, per_second: u32) {
        let port = self.next_port;
        self.next_port += 1;
        let local = SocketAddr::from(([127, 0, 0, 1], port));
        let service: SocketAddr = SERVICE.parse().unwrap_or(local);
        self.routes.push(ConnectionRoute {
            client: local,
            pod: pod.to_string(),
            backend: self.address(pod).parse().unwrap_or(service),
            opened: ms(from),
            closed: Some(ms(to)),
        });
        let seconds = (from / 1000..to.div_ceil(1000))
            .map(|second| ConnSecond {
                second,
                requests: per_second,
                failed: 0,
            })
            .collect();
        self.loads.push(ConnectionLoad {
            id: 1_000_000 + u64::from(port),
            local,
            peer: service,
            identity: None,
            seconds,
        });
    }

    /// Successful requests every `every` ms in `[from, to)`, each taking `latency` ms.
    pub fn ok_traffic(&mut self, from: u64, to: u64, every: u64, latency: u64) {
        let mut t = from;
        while t < to {
            let seq = self.seq();
            self.records.push(RequestRecord {
                seq,
                due: ms(t),
                sent: ms(t),
                end: ms(t + latency),
                class: OutcomeClass::Ok,
                status: Some(200),
                conn: None,
                dialed: None,
                error: None,
                identity: None,
            });
            t += every;
        }
    }

    /// Sets the latency of the ok requests due in `[from, to)`.
    pub fn slow_down(&mut self, from: u64, to: u64, latency: u64) {
        for r in &mut self.records {
            if r.class == OutcomeClass::Ok && r.due >= ms(from) && r.due < ms(to) {
                r.end = r.sent.plus(Duration::from_millis(latency));
            }
        }
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// A failed request sent at `sent` (ms), ending `took` ms later; returns its seq.
    pub fn fail(&mut self, sent: u64, took: u64, class: OutcomeClass, via: Via<'_>) -> u64 {
        let seq = self.seq();
        let port = self.next_port;
        self.next_port += 1;
        let local: SocketAddr = format!("127.0.0.1:{port}")
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1)));
        let service: SocketAddr = SERVICE.parse().unwrap_or(local);
        let conn = |peer: SocketAddr, reused: bool| ConnId {
            id: seq,
            local,
            peer,
            reused,
        };
        let (conn, identity) = match via {
            Via::Route {
                pod,
                opened,
                reused,
            } => {
                let backend = self.address(pod).parse().unwrap_or(service);
                self.routes.push(ConnectionRoute {
                    client: local,
                    pod: pod.to_string(),
                    backend,
                    opened: ms(opened),
                    closed: Some(ms(sent + took)),
                });
                (Some(conn(service, reused)), None)
            }
            Via::Peer { pod, reused } => {
                let peer = self.address(pod).parse().unwrap_or(service);
                (Some(conn(peer, reused)), None)
            }
            Via::Identity { pod } => (Some(conn(service, true)), Some(Arc::from(pod))),
            Via::Service => (None, None),
            Via::Connection { id, reused } => (
                Some(ConnId {
                    id,
                    local: conn_local(id),
                    peer: service,
                    reused,
                }),
                None,
            ),
        };
        self.records.push(RequestRecord {
            seq,
            due: ms(sent),
            sent: ms(sent),
            end: ms(sent + took),
            class,
            status: match class {
                OutcomeClass::Http5xx => Some(503),
                _ => None,
            },
            conn,
            dialed: if conn.is_none() { Some(service) } else { None },
            error: None,
            identity,
        });
        seq
    }

    /// Connection `id` through the Service, opened at `opened` and ended by `end` at `ended`
    /// (ms), having carried `requests` requests of which `failures` failed.
    pub fn connection(
        &mut self,
        id: u64,
        opened: u64,
        ended: u64,
        end: ConnectionEnd,
        (requests, failures): (u32, u32),
    ) {
        self.connections.push(ConnectionLife {
            id,
            local: conn_local(id),
            peer: SERVICE.parse().unwrap_or_else(|_| conn_local(0)),
            opened: ms(opened),
            first_request: Some(ms(opened)),
            last_request: Some(ms(ended)),
            requests,
            failures,
            ended: ms(ended),
            end,
        });
    }

    /// A WebSocket session of client `client` open from `opened` to `ended` (ms), answering
    /// one message a second and ending as `class`; `lost` messages were in flight at its end.
    /// `pod`: routed there by the proxy (exact), or `None` for a Service path with no route.
    pub fn ws_session(
        &mut self,
        client: u64,
        pod: Option<&str>,
        (opened, ended): (u64, u64),
        class: SessionClass,
        lost: u32,
    ) {
        let port = self.next_port;
        self.next_port += 1;
        let local: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
        let service: SocketAddr = SERVICE.parse().unwrap_or(local);
        if let Some(pod) = pod {
            let backend = self.address(pod).parse().unwrap_or(service);
            self.routes.push(ConnectionRoute {
                client: local,
                pod: pod.to_string(),
                backend,
                opened: ms(opened),
                closed: Some(ms(ended)),
            });
        }
        let conn = ConnId {
            id: 1_000_000 + client,
            local,
            peer: service,
            reused: true,
        };
        let mut per_second = PerSecond::default();
        for sec in opened / 1000..ended / 1000 {
            per_second.add(sec);
        }
        let answered = per_second.counts.iter().sum();
        for n in 0..u64::from(lost) {
            self.records.push(RequestRecord {
                seq: (client << 32) | (10_000 + n),
                due: ms(ended - 5),
                sent: ms(ended - 5),
                end: ms(ended),
                class: OutcomeClass::WsMessageLost,
                status: None,
                conn: Some(conn),
                dialed: None,
                error: Some("the session ended before the reply".into()),
                identity: None,
            });
        }
        self.sessions.push(SessionRecord {
            client,
            attempt: 0,
            due: ms(opened),
            opened: Some(ms(opened)),
            ended: ms(ended),
            class,
            code: match class {
                SessionClass::Close1001 => Some(1001),
                _ => None,
            },
            detail: None,
            handshake: None,
            status: None,
            conn: Some(conn),
            dialed: None,
            identity: None,
            previous_end: None,
            sent: answered + lost,
            answered,
            lost,
            per_second,
        });
    }

    pub fn recorded(&self) -> Recorded {
        let marks = PhaseMarks::new();
        for (at, name) in &self.phases {
            marks.begin(name, || ms(*at));
        }
        let mut rec = Recorder::new(
            RecorderConfig {
                failure_log_limit: self.failure_log_limit,
                max_open: Duration::from_secs(60),
            },
            marks,
            Arc::new(LiveStats::default()),
        );
        let mut records = self.records.clone();
        records.sort_by_key(|r| (r.due, r.seq));
        for r in &records {
            rec.record(r);
        }
        for c in &self.connections {
            rec.connection(c);
        }
        for s in &self.sessions {
            rec.session(s);
        }
        let mut recorded = rec.finish(ms(self.end));
        recorded.load_by_connection = self.loads.clone();
        recorded
    }

    pub fn timeline(&self) -> Timeline {
        Timeline::ordered(self.events.clone(), self.desired, self.routes.clone())
    }

    pub fn analyse(&self) -> Analysis {
        analyse(&self.recorded(), &self.timeline(), &self.input)
    }
}
