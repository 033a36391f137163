//! The trace lines of a serial log. Lines that do not start with `trace`
//! (after leading blanks) are not the trace's and are skipped silently;
//! lines that do are checked:
//!
//! ```text
//! trace-name,<thread>,<name>                       a thread's name
//! trace,seq,time_ns,cpu,kind,thread,a,b,c          the header
//! trace,<seq>,<time_ns>,<cpu>,<kind>,<thread>,<a>,<b>,<c>
//! trace-end,<count>                                events printed
//! ```
//!
//! Numbers are decimal or `0x` hexadecimal; a kind is a `TraceKind` name
//! (or number). A kind this tool does not know is kept (a newer kernel's).

use libipc::abi::TraceKind;
use std::collections::BTreeMap;
use std::fmt;

/// The header line's columns after `trace`.
pub const COLUMNS: [&str; 8] = ["seq", "time_ns", "cpu", "kind", "thread", "a", "b", "c"];

/// What an event records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Known(TraceKind),
    /// A name (or number) this tool does not know.
    Unknown(String),
}

impl Kind {
    pub fn name(&self) -> &str {
        match self {
            Kind::Known(k) => k.as_str(),
            Kind::Unknown(s) => s,
        }
    }
}

/// One event of the trace (fields as in `TraceKind`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub time_ns: u64,
    pub cpu: u64,
    pub kind: Kind,
    pub thread: u64,
    pub a: u64,
    pub b: u64,
    pub c: u64,
    /// The log line it came from (1-based).
    pub line: usize,
}

/// A trace line that could not be read, or a check that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the input.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Everything the trace lines of a log say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The events, in input order.
    pub events: Vec<Event>,
    /// Thread names from `trace-name` lines.
    pub names: BTreeMap<u64, String>,
    /// Whether the header line was there.
    pub header: bool,
    /// The count on the `trace-end` line, if there was one.
    pub end_count: Option<u64>,
    /// Malformed lines and failed checks, in line order.
    pub errors: Vec<LineError>,
}

/// A decimal or `0x` hexadecimal number.
fn number(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("not a number: {s:?}"))
}

fn kind(s: &str) -> Kind {
    let s = s.trim();
    if let Some(k) = TraceKind::ALL.iter().find(|k| k.as_str().eq_ignore_ascii_case(s)) {
        return Kind::Known(*k);
    }
    match number(s).ok().and_then(|n| u32::try_from(n).ok()) {
        Some(n) => match TraceKind::try_from(n) {
            Ok(k) => Kind::Known(k),
            Err(_) => Kind::Unknown(s.to_string()),
        },
        None => Kind::Unknown(s.to_string()),
    }
}

fn event(fields: &[&str], line: usize) -> Result<Event, String> {
    let [seq, time_ns, cpu, k, thread, a, b, c] = fields else {
        return Err(format!(
            "{} fields after \"trace\", expected {} ({})",
            fields.len(),
            COLUMNS.len(),
            COLUMNS.join(",")
        ));
    };
    let field = |name: &str, s: &str| number(s).map_err(|e| format!("{name}: {e}"));
    if k.trim().is_empty() {
        return Err("kind: empty".into());
    }
    Ok(Event {
        seq: field("seq", seq)?,
        time_ns: field("time_ns", time_ns)?,
        cpu: field("cpu", cpu)?,
        kind: kind(k),
        thread: field("thread", thread)?,
        a: field("a", a)?,
        b: field("b", b)?,
        c: field("c", c)?,
        line,
    })
}

/// Read the trace lines of `log` (a whole serial log, or just the dump).
pub fn parse(log: &str) -> Trace {
    let mut t = Trace::default();
    let mut end_line = 0;
    for (i, raw) in log.lines().enumerate() {
        let line = i + 1;
        let text = raw.trim_end_matches('\r').trim_start();
        let mut fail = |message: String| t.errors.push(LineError { line, message });
        if let Some(rest) = text.strip_prefix("trace-name,") {
            match rest.split_once(',') {
                Some((thread, name)) if !name.trim().is_empty() => match number(thread) {
                    Ok(th) => {
                        t.names.insert(th, name.trim().to_string());
                    }
                    Err(e) => fail(format!("trace-name: thread: {e}")),
                },
                _ => fail("trace-name: expected trace-name,<thread>,<name>".into()),
            }
        } else if let Some(rest) = text.strip_prefix("trace-end,") {
            match number(rest) {
                Ok(n) => {
                    t.end_count = Some(n);
                    end_line = line;
                }
                Err(e) => fail(format!("trace-end: {e}")),
            }
        } else if let Some(rest) = text.strip_prefix("trace,") {
            let fields: Vec<&str> = rest.split(',').collect();
            if fields.first().is_some_and(|f| f.trim() == "seq") {
                if fields.iter().map(|f| f.trim()).eq(COLUMNS) {
                    t.header = true;
                } else {
                    fail(format!("unknown header: expected trace,{}", COLUMNS.join(",")));
                }
                continue;
            }
            match event(&fields, line) {
                Ok(e) => {
                    if let Some(prev) = t.events.last() {
                        if e.seq <= prev.seq {
                            fail(format!(
                                "sequence number {} after {} (line {})",
                                e.seq, prev.seq, prev.line
                            ));
                        } else if e.seq > prev.seq + 1 {
                            fail(format!(
                                "{} events missing before sequence number {}",
                                e.seq - prev.seq - 1,
                                e.seq
                            ));
                        }
                    }
                    t.events.push(e);
                }
                Err(m) => fail(m),
            }
        } else if text.starts_with("trace-") {
            // None of ours: a damaged line, or a newer kernel's.
            fail(format!("unknown trace line: {text:?}"));
        }
    }
    if let Some(n) = t.end_count
        && n != t.events.len() as u64
    {
        t.errors.push(LineError {
            line: end_line,
            message: format!("trace-end says {n} events, {} were read", t.events.len()),
        });
    }
    t.errors.sort_by_key(|e| e.line);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = "\
rint 0.1.0 microkernel on x86_64 (pvh)
kernel: trace: 6 events, seq 10..16 (rint.trace)
trace-name,0x1000,init
trace,seq,time_ns,cpu,kind,thread,a,b,c
trace,10,1000,0,Switch,0x1000,0x0,0x0,0x0
trace,11,2000,0,Call,0x1000,0x2000,0x7b,0x7ac1
trace,12,2000,0,Switch,0x2000,0x1000,0x0,0x0
trace,13,5000,0,Reply,0x2000,0x1000,0x0,0x7ac2
trace,14,5000,0,RecvBlock,0x2000,0x3000,0x0,0x0
trace,15,5000,0,Switch,0x1000,0x2000,0x0,0x0
trace-end,6
kernel: nothing can run any more; stopping the machine (rint.exit_on_idle)
";

    #[test]
    fn reads_a_dump_inside_a_log() {
        let t = parse(SAMPLE);
        assert_eq!(t.errors, vec![]);
        assert!(t.header);
        assert_eq!(t.end_count, Some(6));
        assert_eq!(t.events.len(), 6);
        assert_eq!(t.names.get(&0x1000).map(String::as_str), Some("init"));
        let call = &t.events[1];
        assert_eq!(call.kind, Kind::Known(TraceKind::Call));
        assert_eq!((call.seq, call.time_ns, call.thread, call.a), (11, 2000, 0x1000, 0x2000));
        assert_eq!((call.b, call.c, call.line), (0x7b, 0x7ac1, 6));
    }

    #[test]
    fn numbers_kinds_and_line_endings() {
        let t = parse(
            "trace,1,2,0,3,4096,0x10,0X20,7\r\n  trace,2,3,1,call,0,0,0,0\ntrace,3,4,0,Tick,0,0,0,0\n",
        );
        assert_eq!(t.errors, vec![]);
        assert_eq!(t.events[0].kind, Kind::Known(TraceKind::Call), "kind by number");
        assert_eq!((t.events[0].thread, t.events[0].a, t.events[0].b), (4096, 16, 32));
        assert_eq!(t.events[1].kind, Kind::Known(TraceKind::Call), "case does not matter");
        assert_eq!(t.events[2].kind, Kind::Unknown("Tick".into()));
        assert_eq!(t.events[2].kind.name(), "Tick");
        assert!(!t.header);
    }

    #[test]
    fn malformed_lines_are_reported_with_their_numbers() {
        let log = "\
boot noise, trace, and more
trace,1,100,0,Switch,0x1,0x0,0x0,0x0
trace,2,100,0,Switch,0x1,0x0,0x0
trace,3,1x0,0,Switch,0x1,0x0,0x0,0x0
trace,4,100,0,,0x1,0x0,0x0,0x0
trace,seq,time,cpu,kind,thread,a,b,c
trace,2,200,0,Switch,0x1,0x0,0x0,0x0
trace,2,300,0,Switch,0x1,0x0,0x0,0x0
trace,9,300,0,Switch,0x1,0x0,0x0,0x0
trace-name,zz,x
trace-name,0x5
trace-zap
trace-end,seven
trace-end,9
";
        let t = parse(log);
        let lines: Vec<usize> = t.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14], "{:#?}", t.errors);
        assert!(t.errors[0].message.contains("7 fields"), "{}", t.errors[0]);
        assert!(t.errors[1].message.starts_with("time_ns: not a number"), "{}", t.errors[1]);
        assert!(t.errors[4].message.contains("after 2"), "{}", t.errors[4]);
        assert!(t.errors[5].message.contains("6 events missing"), "{}", t.errors[5]);
        assert_eq!(t.errors[10].to_string(), "line 14: trace-end says 9 events, 4 were read");
        // The good lines are kept.
        let seqs: Vec<u64> = t.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 2, 9]);
    }

    #[test]
    fn garbage_never_panics() {
        // xorshift over bytes that matter to the parser.
        let alphabet = b"trace-nd,0x9aZ \r\n";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let mut s = String::from("trace,");
            for _ in 0..60 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
            }
            let _ = parse(&s);
        }
        let _ = parse(
            "trace,18446744073709551615,0xffffffffffffffff,0,Switch,0,0,0,0\ntrace,0,0,0,Switch,0,0,0,0",
        );
        let _ = parse("trace-end,18446744073709551616\ntrace,,,,,,,,");
    }
}
