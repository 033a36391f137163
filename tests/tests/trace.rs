//! The kernel's event trace on the serial console: `test-kernel` with
//! `rint.exit_on_idle rint.trace` runs the kernel test suite, then the
//! kernel prints its trace ring as CSV before it stops the machine. The
//! dump must be complete and well formed (consecutive sequence numbers,
//! times that never go back, known kinds), end with the CPU going idle,
//! and `rint-trace` must turn it into Chrome/Perfetto JSON with running
//! slices, IPC and scheduler events.

use libipc::abi::TraceKind;
use rint_systest::{Arch, Boot, Outcome, both_arches};
use rint_trace::{Kind, parse, to_chrome};
use std::collections::BTreeSet;

/// Events the kernel's ring holds (`microkernel/src/trace.rs`); the suite
/// records far more than that.
const RING: usize = 8192;

both_arches!(trace_dump_is_well_formed, |arch: Arch| {
    let run = Boot::new("test-kernel", arch).append("rint.exit_on_idle rint.trace").run();
    run.expect("ktest: ALL PASSED")
        .expect("trace,seq,time_ns,cpu,kind,thread,a,b,c")
        .expect(&format!("trace-end,{RING}"))
        .expect("kernel: nothing can run any more")
        .expect_outcome(Outcome::Success);
    let summary = run.line("kernel: trace: ").expect("summary line");
    assert!(summary.contains(&format!("{RING} events, seq ")), "{summary}");

    let t = parse(&run.output);
    assert!(t.errors.is_empty(), "malformed trace lines: {:#?}", t.errors);
    assert!(t.header);
    assert_eq!(t.events.len(), RING);
    assert_eq!(t.end_count, Some(RING as u64));
    for w in t.events.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "lines {} and {}", w[0].line, w[1].line);
        assert!(w[1].time_ns >= w[0].time_ns, "time goes back at line {}", w[1].line);
    }
    let kinds: BTreeSet<&str> = t.events.iter().map(|e| e.kind.name()).collect();
    for k in t.events.iter().map(|e| &e.kind) {
        assert!(matches!(k, Kind::Known(_)), "unknown kind {k:?}");
    }
    // The suite's scheduling tests run last: their throttling and
    // reclassification are in the dump too.
    for k in [
        TraceKind::Switch,
        TraceKind::Call,
        TraceKind::Reply,
        TraceKind::RecvBlock,
        TraceKind::SchedConfigure,
        TraceKind::Throttle,
        TraceKind::Reclassify,
    ] {
        assert!(kinds.contains(k.as_str()), "no {k:?} among {kinds:?}");
    }
    // The root task is named; the machine stopped with the CPU idle.
    let init = t.names.iter().find(|(_, n)| n.as_str() == "init").map(|(a, _)| *a);
    assert!(init.is_some_and(|a| a != 0), "names {:?}", t.names);
    let last = t.events.last().expect("events");
    assert_eq!((&last.kind, last.thread), (&Kind::Known(TraceKind::Switch), 0));

    // The tool's JSON: running slices per thread and per CPU, IPC events,
    // call-to-reply flows, init by name.
    let v = to_chrome(&t);
    let text = serde_json::to_string(&v).expect("JSON");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let evs = v["traceEvents"].as_array().expect("traceEvents");
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| evs.iter().filter(|e| f(e)).count();
    let switches = t.events.iter().filter(|e| e.kind == Kind::Known(TraceKind::Switch)).count();
    let running = count(&|e| e["ph"] == "X" && e["name"] == "running");
    let cpu_turns = count(&|e| e["ph"] == "X" && e["cat"] == "cpu");
    assert!(
        running > switches / 4 && cpu_turns >= running,
        "{running} running, {cpu_turns} CPU turns"
    );
    assert!(count(&|e| e["cat"] == "ipc") > 100, "few IPC events");
    let flows_out = count(&|e| e["flow_out"] == true);
    let flows_in = count(&|e| e["flow_in"] == true);
    assert!(flows_in > 0 && flows_in <= flows_out, "{flows_out} calls, {flows_in} replies");
    assert_eq!(
        count(&|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "init"),
        1
    );
    let throttles = count(&|e| e["name"] == "Throttle" && e["cat"] == "sched");
    assert!(throttles > 0 && count(&|e| e["name"] == "Reclassify") > 0, "no scheduler events");
    for e in evs.iter().filter(|e| e["ph"] == "X") {
        assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}");
    }
});
