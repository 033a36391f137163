//! Chrome/Perfetto trace JSON (the "Trace Event Format") from a [`Trace`].
//!
//! Two processes of tracks:
//!
//! - `rint: CPUs` (pid 1): one track per CPU (tid `cpu + 1`) with an "X"
//!   slice per turn between two context switches, named after the thread
//!   that ran (or "idle"), and the events that name no thread (signals
//!   from interrupts);
//! - `rint: threads` (pid 2): one track per thread (tid 1000 + n, in order
//!   of appearance) with a "running" slice per turn, and its events:
//!   "i" instants for sends, blocks, signals, interrupts, faults and state
//!   changes; calls and replies are zero-length "X" slices joined by a flow
//!   arrow (Perfetto's `bind_id`/`flow_out`/`flow_in`) from each call to
//!   its reply.
//!
//! Times are the kernel's nanoseconds since boot, in the format's
//! microseconds (`ts`, `dur`: fractional).

use crate::parse::{Event, Kind, Trace};
use libipc::abi::{FaultKind, TraceKind};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const PID_CPUS: u64 = 1;
pub const PID_THREADS: u64 = 2;
/// Thread tracks' tids start here (CPU tracks use `cpu + 1`).
pub const TID_FIRST_THREAD: u64 = 1000;

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// Thread tracks and names.
struct Threads<'a> {
    tids: BTreeMap<u64, u64>,
    names: &'a BTreeMap<u64, String>,
}

impl Threads<'_> {
    fn tid(&mut self, thread: u64) -> u64 {
        let next = TID_FIRST_THREAD + self.tids.len() as u64;
        *self.tids.entry(thread).or_insert(next)
    }

    fn name(&self, thread: u64) -> String {
        match self.names.get(&thread) {
            Some(n) => n.clone(),
            None if thread == 0 => "none".into(),
            None => format!("tcb {thread:#x}"),
        }
    }
}

/// The thread a CPU runs and since when.
#[derive(Clone, Copy)]
struct Turn {
    thread: u64,
    since: u64,
}

const STATES: [&str; 6] = [
    "inactive",
    "running",
    "blocked sending",
    "blocked receiving",
    "waiting for a reply",
    "waiting on a notification",
];

/// Close `turn` on `cpu` at `end`: a slice on the CPU's track and, for a
/// thread, a "running" slice on its own.
fn close(out: &mut Vec<Value>, th: &mut Threads<'_>, cpu: u64, turn: Turn, end: u64) {
    if end <= turn.since {
        return;
    }
    let (ts, dur) = (us(turn.since), us(end - turn.since));
    let name = if turn.thread == 0 { "idle".to_string() } else { th.name(turn.thread) };
    out.push(json!({
        "ph": "X", "name": name, "cat": "cpu", "ts": ts, "dur": dur,
        "pid": PID_CPUS, "tid": cpu + 1,
        "args": {"thread": hex(turn.thread)},
    }));
    if turn.thread != 0 {
        out.push(json!({
            "ph": "X", "name": "running", "cat": "sched", "ts": ts, "dur": dur,
            "pid": PID_THREADS, "tid": th.tid(turn.thread),
            "args": {"cpu": cpu},
        }));
    }
}

/// The category and arguments of a non-switch event.
fn describe(e: &Event, th: &Threads<'_>) -> (&'static str, Map<String, Value>) {
    let mut args = Map::new();
    args.insert("seq".into(), json!(e.seq));
    args.insert("cpu".into(), json!(e.cpu));
    let mut put = |k: &str, v: Value| {
        args.insert(k.into(), v);
    };
    let cat = match &e.kind {
        Kind::Known(TraceKind::Send | TraceKind::Call) => {
            put("receiver", json!(th.name(e.a)));
            put("badge", json!(hex(e.b)));
            put("label", json!(hex(e.c)));
            "ipc"
        }
        Kind::Known(TraceKind::Reply) => {
            put("caller", json!(th.name(e.a)));
            put("label", json!(hex(e.c)));
            "ipc"
        }
        Kind::Known(TraceKind::SendBlock) => {
            put("endpoint", json!(hex(e.a)));
            put("badge", json!(hex(e.b)));
            put("label", json!(hex(e.c)));
            "ipc"
        }
        Kind::Known(TraceKind::RecvBlock) => {
            put("object", json!(hex(e.a)));
            "ipc"
        }
        Kind::Known(TraceKind::Signal) => {
            put("notification", json!(hex(e.a)));
            put("woken", json!(th.name(e.b)));
            put("badge", json!(hex(e.c)));
            "signal"
        }
        Kind::Known(TraceKind::Irq) => {
            put("line", json!(e.a));
            put("notification", json!(hex(e.b)));
            "irq"
        }
        Kind::Known(TraceKind::Fault) => {
            let kind = u32::try_from(e.c).ok().and_then(|c| FaultKind::try_from(c).ok());
            put("kind", json!(kind.map_or_else(|| e.c.to_string(), |k| k.as_str().into())));
            put("pc", json!(hex(e.a)));
            put("detail", json!(hex(e.b)));
            "fault"
        }
        Kind::Known(TraceKind::Suspend) => {
            let state = usize::try_from(e.a).ok().and_then(|i| STATES.get(i));
            put("state_before", json!(state.map_or_else(|| e.a.to_string(), |s| s.to_string())));
            "thread"
        }
        Kind::Known(TraceKind::Resume) => "thread",
        Kind::Known(TraceKind::Reclassify) => {
            put("class", json!(class_name(e.c)));
            put("budget_ns", json!(e.a));
            put("period_ns", json!(e.b));
            "sched"
        }
        Kind::Known(TraceKind::Throttle) => {
            put("until_ns", json!(e.a));
            put("running", json!(th.name(e.b)));
            "sched"
        }
        Kind::Known(TraceKind::Retune) => {
            put("budget_ns", json!(e.a));
            put("period_ns", json!(e.b));
            "sched"
        }
        Kind::Known(TraceKind::PromotionRefused) => {
            put("requested_ppm", json!(e.a));
            put("available_ppm", json!(e.b));
            "sched"
        }
        Kind::Known(TraceKind::SchedConfigure) => {
            put("class", json!(class_name(e.c)));
            put(if e.c == 1 { "budget_ns" } else { "quantum_ns" }, json!(e.a));
            put("period_ns", json!(e.b));
            "sched"
        }
        Kind::Known(TraceKind::Switch) | Kind::Unknown(_) => {
            put("a", json!(hex(e.a)));
            put("b", json!(hex(e.b)));
            put("c", json!(hex(e.c)));
            "unknown"
        }
    };
    (cat, args)
}

/// A scheduling class number (`libipc::abi::sched`) by name.
fn class_name(c: u64) -> String {
    match c {
        libipc::abi::sched::CLASS_RR => "rr".into(),
        libipc::abi::sched::CLASS_EDF => "edf".into(),
        other => other.to_string(),
    }
}

/// The trace as Chrome/Perfetto JSON: `{"traceEvents": [...], ...}`.
pub fn to_chrome(t: &Trace) -> Value {
    let mut th = Threads { tids: BTreeMap::new(), names: &t.names };
    let mut out: Vec<Value> = Vec::new();
    let first = t.events.iter().map(|e| e.time_ns).min().unwrap_or(0);
    let last = t.events.iter().map(|e| e.time_ns).max().unwrap_or(0);
    let mut cpus: BTreeMap<u64, Turn> = BTreeMap::new();
    // Open calls: (caller, callee) -> flow id.
    let mut calls: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut next_flow = 1u64;

    for e in &t.events {
        if e.kind == Kind::Known(TraceKind::Switch) {
            // Before the first switch seen on a CPU, the thread it switched
            // from ran since the trace began.
            let prev = cpus.get(&e.cpu).copied().unwrap_or(Turn { thread: e.a, since: first });
            close(&mut out, &mut th, e.cpu, prev, e.time_ns);
            cpus.insert(e.cpu, Turn { thread: e.thread, since: e.time_ns });
            if e.thread != 0 {
                th.tid(e.thread);
            }
            continue;
        }
        let (cat, args) = describe(e, &th);
        let (pid, tid) =
            if e.thread == 0 { (PID_CPUS, e.cpu + 1) } else { (PID_THREADS, th.tid(e.thread)) };
        let mut ev = json!({
            "name": e.kind.name(), "cat": cat, "ts": us(e.time_ns),
            "pid": pid, "tid": tid, "args": Value::Object(args),
        });
        let flow = match e.kind {
            Kind::Known(TraceKind::Call) => {
                let id = next_flow;
                next_flow += 1;
                calls.insert((e.thread, e.a), id);
                Some(("flow_out", id))
            }
            Kind::Known(TraceKind::Reply) => {
                calls.remove(&(e.a, e.thread)).map(|id| ("flow_in", id))
            }
            _ => None,
        };
        if let Some(obj) = ev.as_object_mut() {
            match flow {
                Some((dir, id)) => {
                    obj.insert("ph".into(), json!("X"));
                    obj.insert("dur".into(), json!(0));
                    obj.insert("bind_id".into(), json!(id));
                    obj.insert(dir.into(), json!(true));
                }
                None => {
                    obj.insert("ph".into(), json!("i"));
                    obj.insert("s".into(), json!("t"));
                }
            }
        }
        out.push(ev);
    }
    for (&cpu, &turn) in &cpus {
        close(&mut out, &mut th, cpu, turn, last);
    }

    // Names: processes, CPU tracks, thread tracks.
    let mut meta = vec![
        json!({"ph": "M", "name": "process_name", "pid": PID_CPUS, "args": {"name": "rint: CPUs"}}),
        json!({"ph": "M", "name": "process_name", "pid": PID_THREADS, "args": {"name": "rint: threads"}}),
    ];
    let cpu_ids: Vec<u64> = {
        let mut v: Vec<u64> = t.events.iter().map(|e| e.cpu).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    for cpu in cpu_ids {
        meta.push(json!({
            "ph": "M", "name": "thread_name", "pid": PID_CPUS, "tid": cpu + 1,
            "args": {"name": format!("cpu{cpu}")},
        }));
    }
    for (thread, tid) in &th.tids {
        meta.push(json!({
            "ph": "M", "name": "thread_name", "pid": PID_THREADS, "tid": tid,
            "args": {"name": th.name(*thread)},
        }));
    }
    meta.extend(out);
    json!({
        "traceEvents": meta,
        "displayTimeUnit": "ns",
        "otherData": {
            "source": "rint kernel event trace",
            "events": t.events.len(),
            "first_seq": t.events.first().map(|e| e.seq),
            "last_seq": t.events.last().map(|e| e.seq),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    const SAMPLE: &str = "\
trace-name,0x1000,init
trace,seq,time_ns,cpu,kind,thread,a,b,c
trace,10,1000,0,Switch,0x1000,0x0,0x0,0x0
trace,11,2000,0,Call,0x1000,0x2000,0x7b,0x7ac1
trace,12,2000,0,Switch,0x2000,0x1000,0x0,0x0
trace,13,5000,0,Reply,0x2000,0x1000,0x0,0x7ac2
trace,14,5000,0,RecvBlock,0x2000,0x3000,0x0,0x0
trace,15,5000,0,Switch,0x1000,0x2000,0x0,0x0
trace,16,6000,0,Signal,0x0,0x4000,0x1000,0x1
trace,17,6500,0,Fault,0x1000,0x401000,0xdead0000,0x1
trace,18,7000,0,Suspend,0x1000,0x1,0x0,0x0
trace,19,7000,0,Switch,0x0,0x1000,0x0,0x0
trace,20,9000,0,Frobnicate,0x2000,0x1,0x2,0x3
trace-end,11
";

    fn events(v: &Value) -> &Vec<Value> {
        v["traceEvents"].as_array().expect("traceEvents is an array")
    }

    fn find<'a>(v: &'a Value, ph: &str, name: &str) -> Vec<&'a Value> {
        events(v).iter().filter(|e| e["ph"] == ph && e["name"] == name).collect()
    }

    #[test]
    fn json_shape() {
        let t = parse(SAMPLE);
        assert_eq!(t.errors, vec![]);
        let v = to_chrome(&t);
        // Valid JSON that reads back the same.
        let text = serde_json::to_string(&v).expect("serialises");
        let back: Value = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, v);
        assert_eq!(v["displayTimeUnit"], "ns");
        assert_eq!(v["otherData"]["events"], 11);
        for e in events(&v) {
            assert!(e["ph"].is_string() && e["pid"].is_u64(), "{e}");
            if e["ph"] != "M" {
                assert!(e["ts"].as_f64().is_some_and(|ts| ts >= 0.0), "{e}");
                assert!(e["tid"].is_u64(), "{e}");
            }
        }
        // Names: init by its trace-name line, the others by address.
        let names: Vec<&str> = find(&v, "M", "thread_name")
            .iter()
            .filter_map(|e| e["args"]["name"].as_str())
            .collect();
        assert_eq!(names, vec!["cpu0", "init", "tcb 0x2000"]);
    }

    #[test]
    fn running_slices_between_switches() {
        let v = to_chrome(&parse(SAMPLE));
        let running = find(&v, "X", "running");
        let spans: Vec<(u64, f64, f64)> = running
            .iter()
            .map(|e| {
                (
                    e["tid"].as_u64().unwrap_or(0),
                    e["ts"].as_f64().unwrap_or(-1.0),
                    e["dur"].as_f64().unwrap_or(-1.0),
                )
            })
            .collect();
        // init 1..2 us, the server 2..5, init 5..7; then the CPU idles.
        assert_eq!(spans, vec![(1000, 1.0, 1.0), (1001, 2.0, 3.0), (1000, 5.0, 2.0)]);
        // The CPU track has the same turns, named, and the idle one to the end.
        let cpu: Vec<(&str, f64)> = events(&v)
            .iter()
            .filter(|e| e["ph"] == "X" && e["cat"] == "cpu")
            .map(|e| (e["name"].as_str().unwrap_or(""), e["dur"].as_f64().unwrap_or(-1.0)))
            .collect();
        assert_eq!(cpu, vec![("init", 1.0), ("tcb 0x2000", 3.0), ("init", 2.0), ("idle", 2.0)]);
    }

    #[test]
    fn ipc_events_and_the_call_reply_flow() {
        let v = to_chrome(&parse(SAMPLE));
        let call = find(&v, "X", "Call");
        let reply = find(&v, "X", "Reply");
        assert_eq!((call.len(), reply.len()), (1, 1));
        assert_eq!(call[0]["bind_id"], reply[0]["bind_id"]);
        assert_eq!(call[0]["flow_out"], true);
        assert_eq!(reply[0]["flow_in"], true);
        assert_eq!((call[0]["tid"].as_u64(), reply[0]["tid"].as_u64()), (Some(1000), Some(1001)));
        assert_eq!(call[0]["args"]["receiver"], "tcb 0x2000");
        assert_eq!(call[0]["args"]["badge"], "0x7b");
        assert_eq!(call[0]["args"]["label"], "0x7ac1");
        assert_eq!(reply[0]["args"]["caller"], "init");
        let block = find(&v, "i", "RecvBlock");
        assert_eq!(block.len(), 1);
        assert_eq!((block[0]["cat"].as_str(), block[0]["s"].as_str()), (Some("ipc"), Some("t")));
        // A signal from an interrupt goes on the CPU track.
        let signal = find(&v, "i", "Signal");
        assert_eq!(
            (signal[0]["pid"].as_u64(), signal[0]["tid"].as_u64()),
            (Some(PID_CPUS), Some(1))
        );
        assert_eq!(signal[0]["args"]["woken"], "init");
        assert_eq!(find(&v, "i", "Fault")[0]["args"]["kind"], "PageFault");
        assert_eq!(find(&v, "i", "Suspend")[0]["args"]["state_before"], "running");
        // A kind this tool does not know is kept.
        assert_eq!(find(&v, "i", "Frobnicate")[0]["cat"], "unknown");
    }

    #[test]
    fn a_reply_without_its_call_has_no_flow() {
        let v = to_chrome(&parse("trace,1,10,0,Reply,0x2,0x1,0x0,0x0\n"));
        let reply = find(&v, "i", "Reply");
        assert_eq!(reply.len(), 1);
        assert!(reply[0].get("bind_id").is_none());
    }

    #[test]
    fn scheduler_events_name_their_fields() {
        let log = "trace-name,0x1000,init\n\
                   trace,1,10,0,SchedConfigure,0x2000,0xf4240,0x989680,0x1\n\
                   trace,2,20,0,Throttle,0x2000,0x98968a,0x1000,0x0\n\
                   trace,3,30,0,Reclassify,0x2000,0x0,0x0,0x0\n\
                   trace,4,40,0,Retune,0x2000,0x7a120,0x989680,0x0\n\
                   trace,5,50,0,PromotionRefused,0x2000,0x30d40,0x186a0,0x0\n";
        let v = to_chrome(&parse(log));
        let one = |name: &str| find(&v, "i", name).first().map(|e| e["args"].clone());
        let c = one("SchedConfigure").unwrap_or_default();
        assert_eq!((c["class"].as_str(), c["budget_ns"].as_u64()), (Some("edf"), Some(1_000_000)));
        let t = one("Throttle").unwrap_or_default();
        assert_eq!(
            (t["until_ns"].as_u64(), t["running"].as_str()),
            (Some(10_000_010), Some("init"))
        );
        assert_eq!(one("Reclassify").unwrap_or_default()["class"], "rr");
        assert_eq!(one("Retune").unwrap_or_default()["budget_ns"], 500_000);
        assert_eq!(one("PromotionRefused").unwrap_or_default()["available_ppm"], 100_000);
        for e in events(&v).iter().filter(|e| e["ph"] == "i") {
            assert_eq!(e["cat"], "sched", "{e}");
        }
    }

    #[test]
    fn empty_trace() {
        let v = to_chrome(&parse("nothing here\n"));
        assert_eq!(events(&v).len(), 2, "process names only");
    }
}
