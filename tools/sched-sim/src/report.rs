//! Output: the side-by-side table, the CSV file and the SVG plot.

use crate::metrics::Epoch;
use crate::sim::Run;
use std::fmt::Write as _;

fn ms(ns: f64) -> f64 {
    ns / 1e6
}

fn opt_ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{:.2}", ms(v)))
}

/// Header of the per-epoch table.
pub const HEADER: &str = "epoch policy  busy%  useful%  ovh%  resp-mean-ms  resp-p99-ms  miss/jobs      miss%  switches   picks  steps/pick  host-ns/pick  promo/retune/demo";

/// One table row.
pub fn row(label: &str, policy: &str, e: &Epoch) -> String {
    format!(
        "{label:>5} {policy:<6} {:>6.1} {:>8.1} {:>5.2} {:>13} {:>12} {:>10} {:>9.1} {:>9} {:>7} {:>11.1} {:>13.1} {:>6}/{}/{}",
        e.busy_pct(),
        e.useful_pct(),
        e.overhead_pct(),
        opt_ms(e.mean_response()),
        opt_ms(e.p99_response().map(|x| x as f64)),
        format!("{}/{}", e.misses(), e.jobs()),
        e.miss_pct(),
        e.switches,
        e.picks,
        e.steps_per_pick(),
        e.host_ns_per_pick(),
        e.promotions,
        e.retunes,
        e.demotions,
    )
}

/// The whole table: each epoch, RR and joint on adjacent rows, then totals.
pub fn table(runs: &[Run]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{HEADER}");
    let n = runs.iter().map(|r| r.epochs.len()).max().unwrap_or(0);
    for i in 0..n {
        for r in runs {
            if let Some(e) = r.epochs.get(i) {
                let _ = writeln!(s, "{}", row(&i.to_string(), r.policy, e));
            }
        }
    }
    for r in runs {
        let _ = writeln!(s, "{}", row("all", r.policy, &r.total(0)));
    }
    s
}

/// A reclassification event as a line of text.
pub fn event(e: &sched::Event) -> String {
    use sched::Event;
    match *e {
        Event::Promoted { id, at, reservation: r } => format!(
            "{:10.3} ms task {:2} promoted to EDF: budget {:.3} ms, period {:.3} ms",
            ms(at as f64),
            id.0,
            ms(r.budget as f64),
            ms(r.period as f64)
        ),
        Event::PromotionRefused { id, at, error } => {
            format!("{:10.3} ms task {:2} promotion refused: {error:?}", ms(at as f64), id.0)
        }
        Event::Retuned { id, at, reservation: r } => format!(
            "{:10.3} ms task {:2} retuned: budget {:.3} ms, period {:.3} ms",
            ms(at as f64),
            id.0,
            ms(r.budget as f64),
            ms(r.period as f64)
        ),
        Event::Demoted { id, at } => {
            format!("{:10.3} ms task {:2} demoted to RR", ms(at as f64), id.0)
        }
        Event::Throttled { id, at, until } => format!(
            "{:10.3} ms task {:2} throttled until {:.3} ms",
            ms(at as f64),
            id.0,
            ms(until as f64)
        ),
    }
}

/// Relative change of `new` against `base`, in percent.
pub fn rel(new: f64, base: f64) -> f64 {
    if base == 0.0 { 0.0 } else { 100.0 * (new - base) / base }
}

/// The comparison with the founding documents' claims.
pub fn verdict(rr: &Epoch, joint: &Epoch) -> String {
    let mut s = String::new();
    let ovh = rel(joint.overhead_pct(), rr.overhead_pct());
    let decide = rel(joint.decide as f64, rr.decide as f64);
    let switch = rel(joint.switch as f64, rr.switch as f64);
    let useful = rel(joint.useful_pct(), rr.useful_pct());
    let busy = rel(joint.busy_pct(), rr.busy_pct());
    let _ = writeln!(
        s,
        "scheduling overhead (modelled decision + switch time): rr {:.2}% of the CPU, joint {:.2}%: {:+.1}% (claim: -10%)",
        rr.overhead_pct(),
        joint.overhead_pct(),
        ovh
    );
    let _ = writeln!(
        s,
        "  of which decisions {decide:+.1}% ({} vs {} picks, {:.1} vs {:.1} steps/pick), switches {switch:+.1}% ({} vs {})",
        rr.picks,
        joint.picks,
        rr.steps_per_pick(),
        joint.steps_per_pick(),
        rr.switches,
        joint.switches
    );
    let _ = writeln!(
        s,
        "  host time of the scheduler per decision (replayed calls): rr {:.1} ns, joint {:.1} ns",
        rr.host_ns_per_pick(),
        joint.host_ns_per_pick()
    );
    let _ = writeln!(
        s,
        "useful CPU utilisation (CPU-bound work + latency jobs on time): rr {:.1}%, joint {:.1}%: {:+.1}% relative, {:+.1} points (claim: +20%)",
        rr.useful_pct(),
        joint.useful_pct(),
        useful,
        joint.useful_pct() - rr.useful_pct()
    );
    let _ = writeln!(
        s,
        "busy CPU (any task work): rr {:.1}%, joint {:.1}%: {busy:+.1}%; of it CPU-bound work: rr {:.1}%, joint {:.1}%",
        rr.busy_pct(),
        joint.busy_pct(),
        rr.pct(rr.cpu_work),
        joint.pct(joint.cpu_work)
    );
    let _ = writeln!(
        s,
        "latency jobs: deadline misses rr {:.1}%, joint {:.1}%; p99 response rr {} ms, joint {} ms",
        rr.miss_pct(),
        joint.miss_pct(),
        opt_ms(rr.p99_response().map(|x| x as f64)),
        opt_ms(joint.p99_response().map(|x| x as f64)),
    );
    s
}

/// CSV header.
pub const CSV_HEADER: &str = "epoch,policy,busy_pct,useful_pct,overhead_pct,decide_ns,switch_ns,idle_ns,late_work_ns,cpu_work_ns,resp_mean_us,resp_p99_us,jobs,misses,miss_pct,switches,picks,steps,steps_per_pick,host_ns_per_pick,promotions,retunes,demotions,throttles,cpu_jobs";

/// The per-epoch data as CSV.
pub fn csv(runs: &[Run]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{CSV_HEADER}");
    for r in runs {
        for (i, e) in r.epochs.iter().enumerate() {
            let _ = writeln!(
                s,
                "{i},{},{:.3},{:.3},{:.4},{},{},{},{},{},{},{},{},{},{:.3},{},{},{},{:.3},{:.1},{},{},{},{},{}",
                r.policy,
                e.busy_pct(),
                e.useful_pct(),
                e.overhead_pct(),
                e.decide,
                e.switch,
                e.idle,
                e.late_work,
                e.cpu_work,
                e.mean_response().map_or(String::new(), |v| format!("{:.1}", v / 1e3)),
                e.p99_response().map_or(String::new(), |v| format!("{:.1}", v as f64 / 1e3)),
                e.jobs(),
                e.misses(),
                e.miss_pct(),
                e.switches,
                e.picks,
                e.steps,
                e.steps_per_pick(),
                e.host_ns_per_pick(),
                e.promotions,
                e.retunes,
                e.demotions,
                e.throttles,
                e.cpu_jobs,
            );
        }
    }
    s
}

/// One panel of the plot: a title and a value per epoch.
struct Panel {
    title: &'static str,
    value: fn(&Epoch) -> f64,
    /// A percentage: the axis ends at 100 unless a value is above.
    percent: bool,
}

const PANELS: [Panel; 6] = [
    Panel { title: "useful CPU utilisation (%)", value: Epoch::useful_pct, percent: true },
    Panel { title: "busy CPU (%)", value: Epoch::busy_pct, percent: true },
    Panel { title: "scheduling overhead (% of CPU)", value: Epoch::overhead_pct, percent: false },
    Panel { title: "context switches per second", value: switches_per_s, percent: false },
    Panel { title: "p99 response time, latency jobs (ms)", value: p99_ms, percent: false },
    Panel { title: "deadline misses (% of latency jobs)", value: Epoch::miss_pct, percent: true },
];

fn switches_per_s(e: &Epoch) -> f64 {
    if e.len == 0 { 0.0 } else { e.switches as f64 * 1e9 / e.len as f64 }
}

fn p99_ms(e: &Epoch) -> f64 {
    e.p99_response().map_or(0.0, |v| ms(v as f64))
}

const COLOURS: [&str; 4] = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];

/// A round upper bound for an axis: 1, 2 or 5 times a power of ten.
pub fn nice_max(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if x <= m * p {
            return m * p;
        }
    }
    10.0 * p
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The plot: one panel per metric, one line per policy, epochs on x.
pub fn svg(runs: &[Run], title: &str) -> String {
    const PW: f64 = 440.0;
    const PH: f64 = 250.0;
    const ML: f64 = 60.0;
    const MT: f64 = 36.0;
    const MB: f64 = 40.0;
    const MR: f64 = 20.0;
    const TOP: f64 = 60.0;
    let cols = 2.0;
    let rows = (PANELS.len() as f64 / cols).ceil();
    let w = cols * PW;
    let h = TOP + rows * PH;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    // Legend.
    for (k, r) in runs.iter().enumerate() {
        let x = w / 2.0 - 80.0 + 110.0 * k as f64;
        let c = COLOURS[k % COLOURS.len()];
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="42" x2="{}" y2="42" stroke="{c}" stroke-width="2.5"/><text x="{}" y="46">{}</text>"#,
            x + 28.0,
            x + 34.0,
            esc(r.policy)
        );
    }
    let n = runs.iter().map(|r| r.epochs.len()).max().unwrap_or(0).max(1);
    for (pi, panel) in PANELS.iter().enumerate() {
        let ox = (pi % 2) as f64 * PW;
        let oy = TOP + (pi / 2) as f64 * PH;
        let (x0, y0) = (ox + ML, oy + MT);
        let (pw, ph) = (PW - ML - MR, PH - MT - MB);
        let vmax = runs.iter().flat_map(|r| r.epochs.iter().map(panel.value)).fold(0.0, f64::max);
        let ymax = if panel.percent && vmax <= 100.0 { 100.0 } else { nice_max(vmax * 1.05) };
        let xpos = |i: usize| {
            if n == 1 { x0 + pw / 2.0 } else { x0 + pw * i as f64 / (n - 1) as f64 }
        };
        let ypos = |v: f64| y0 + ph - ph * (v / ymax).clamp(0.0, 1.0);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
            x0 + pw / 2.0,
            oy + 20.0,
            esc(panel.title)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##
        );
        // Y ticks and grid.
        for t in 0..=4 {
            let v = ymax * t as f64 / 4.0;
            let y = ypos(v);
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                x0 + pw,
                x0 - 6.0,
                y + 4.0,
                fmt_tick(v)
            );
        }
        // X ticks: epochs.
        let step = n.div_ceil(10).max(1);
        for i in (0..n).step_by(step) {
            let x = xpos(i);
            let _ = writeln!(
                s,
                r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#888"/><text x="{x}" y="{}" text-anchor="middle">{i}</text>"##,
                y0 + ph,
                y0 + ph + 4.0,
                y0 + ph + 17.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">epoch</text>"#,
            x0 + pw / 2.0,
            y0 + ph + 32.0
        );
        for (k, r) in runs.iter().enumerate() {
            let c = COLOURS[k % COLOURS.len()];
            let pts: Vec<String> = r
                .epochs
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{:.1},{:.1}", xpos(i), ypos((panel.value)(e))))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"#,
                pts.join(" ")
            );
            for p in &pts {
                let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = writeln!(s, r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{c}"/>"#);
            }
            // The last value, written above (first run) or below the point.
            if let Some(e) = r.epochs.last() {
                let v = (panel.value)(e);
                let (x, y) = (xpos(r.epochs.len() - 1), ypos(v));
                let dy = if k == 0 { -7.0 } else { 15.0 };
                let _ = writeln!(
                    s,
                    r#"<text x="{x:.1}" y="{:.1}" text-anchor="end" fill="{c}" font-size="11">{}</text>"#,
                    (y + dy).clamp(y0 + 10.0, y0 + ph - 3.0),
                    fmt_value(v)
                );
            }
        }
    }
    let _ = writeln!(s, "</svg>");
    s
}

fn fmt_tick(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: &'static str, useful: u64) -> Run {
        let e =
            Epoch { len: 100, busy: 90, useful, responses: vec![1_000_000], ..Default::default() };
        Run { policy, epochs: vec![e.clone(), e], reclassified: Vec::new() }
    }

    #[test]
    fn nice_axis_bounds() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(0.7), 1.0);
        assert_eq!(nice_max(1.2), 2.0);
        assert_eq!(nice_max(37.0), 50.0);
        assert_eq!(nice_max(100.0), 100.0);
        assert_eq!(nice_max(101.0), 200.0);
    }

    #[test]
    fn csv_has_a_row_per_epoch_and_policy() {
        let c = csv(&[run("rr", 50), run("joint", 80)]);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 5);
        let cols = CSV_HEADER.split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == cols));
        assert!(lines[3].starts_with("0,joint,90.000,80.000,"));
    }

    #[test]
    fn svg_is_well_formed_enough() {
        let s = svg(&[run("rr", 50), run("joint", 80)], "a <title>");
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 2 * PANELS.len());
        assert!(s.contains("a &lt;title&gt;"));
        assert_eq!(s.matches('<').count(), s.matches('>').count());
    }

    #[test]
    fn verdict_compares() {
        assert_eq!(rel(120.0, 100.0), 20.0);
        assert_eq!(rel(90.0, 100.0), -10.0);
        let v = verdict(&run("rr", 50).total(0), &run("joint", 60).total(0));
        assert!(v.contains("+20.0% relative"), "{v}");
    }
}
