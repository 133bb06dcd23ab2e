//! An SVG of one or more runs: latency percentiles (p50 solid, p99 dashed)
//! and throughput against concurrency, one colour per run. Written by hand:
//! two line charts need no plotting library.

use std::fmt::Write;

use crate::report::Report;

const W: f64 = 460.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const TOP: f64 = 36.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// The plot of `runs`, side by side: latency (left) and throughput (right).
pub fn svg(title: &str, runs: &[Report]) -> String {
    let mut xs: Vec<usize> = runs
        .iter()
        .flat_map(|r| r.steps.iter().map(|s| s.concurrency))
        .collect();
    xs.sort_unstable();
    xs.dedup();
    let mut out = String::new();
    let total_w = 2.0 * W + 40.0;
    let legend_h = 20.0 * runs.len() as f64 + 10.0;
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{}" font-family="sans-serif" font-size="12">"#,
        H + legend_h + 20.0
    );
    let _ = write!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="18" text-anchor="middle" font-size="14">{}</text>"#,
        total_w / 2.0,
        escape(title)
    );
    let latency: Vec<Series> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let pts = |f: fn(&crate::Step) -> f64| {
                r.steps.iter().map(|s| (s.concurrency, f(s))).collect()
            };
            [
                Series {
                    colour: i,
                    dashed: false,
                    points: pts(|s| s.p50_ms),
                },
                Series {
                    colour: i,
                    dashed: true,
                    points: pts(|s| s.p99_ms),
                },
            ]
        })
        .collect();
    let throughput: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            colour: i,
            dashed: false,
            points: r
                .steps
                .iter()
                .map(|s| (s.concurrency, s.throughput))
                .collect(),
        })
        .collect();
    chart(
        &mut out,
        0.0,
        "latency, ms (p50 solid, p99 dashed)",
        &xs,
        &latency,
    );
    chart(&mut out, W + 40.0, "throughput, req/s", &xs, &throughput);
    for (i, run) in runs.iter().enumerate() {
        let y = H + 30.0 + 20.0 * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{LEFT}" y="{}" width="14" height="4" fill="{}"/><text x="{}" y="{y}">{}</text>"#,
            y - 6.0,
            COLOURS[i % COLOURS.len()],
            LEFT + 20.0,
            escape(&run.label)
        );
    }
    out.push_str("</svg>\n");
    out
}

struct Series {
    colour: usize,
    dashed: bool,
    points: Vec<(usize, f64)>,
}

fn chart(out: &mut String, x0: f64, title: &str, xs: &[usize], series: &[Series]) {
    let (pw, ph) = (W - LEFT - 10.0, H - TOP - 40.0);
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let top = nice(top);
    let x_of = |c: usize| {
        let i = xs.iter().position(|&x| x == c).unwrap_or(0);
        let n = xs.len().max(2) - 1;
        x0 + LEFT + pw * i as f64 / n as f64
    };
    let y_of = |v: f64| TOP + ph - ph * v / top;
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        x0 + LEFT + pw / 2.0,
        TOP - 8.0,
        escape(title)
    );
    let _ = write!(
        out,
        r##"<rect x="{}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##,
        x0 + LEFT
    );
    for k in 0..=4 {
        let v = top * f64::from(k) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            x0 + LEFT,
            x0 + LEFT + pw,
            x0 + LEFT - 4.0,
            y_of(v) + 4.0,
            short(v),
            y = y_of(v)
        );
    }
    for &c in xs {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{c}</text>"#,
            x_of(c),
            TOP + ph + 16.0
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">concurrency</text>"#,
        x0 + LEFT + pw / 2.0,
        TOP + ph + 32.0
    );
    for s in series {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(c, v)| format!("{:.1},{:.1}", x_of(c), y_of(v)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            points.join(" "),
            COLOURS[s.colour % COLOURS.len()]
        );
    }
}

/// A round axis top at or above `v`.
fn nice(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&t| t >= v)
        .unwrap_or(10.0 * magnitude)
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Samples, Step};
    use std::time::Duration;

    fn run(label: &str, scale: f64) -> Report {
        let steps = [1, 4, 16]
            .iter()
            .map(|&c| {
                let mut s = Samples::default();
                s.record(
                    200,
                    Duration::from_micros((100.0 * scale) as u64 * c as u64),
                );
                Step::from_samples(c, None, 1.0, s)
            })
            .collect();
        Report {
            label: label.into(),
            url: "http://127.0.0.1:1/score".into(),
            mode: "closed".into(),
            protocol: Default::default(),
            body_format: Default::default(),
            body_bytes: 2,
            steps,
        }
    }

    #[test]
    fn one_line_per_series_and_a_legend_per_run() {
        let svg = svg("a <b>", &[run("inferd", 1.0), run("peer & co", 3.0)]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(
            svg.matches("<polyline").count(),
            6,
            "p50, p99, throughput per run"
        );
        assert!(svg.contains("peer &amp; co") && svg.contains("a &lt;b&gt;"));
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(7.3), 10.0);
        assert_eq!(nice(21_000.0), 25_000.0);
        assert_eq!(nice(0.18), 0.2);
    }
}
