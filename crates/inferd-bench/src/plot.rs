//! SVG charts of one or more runs, one colour per run, written by hand: a
//! few line charts need no plotting library.
//! - [`svg`]: latency percentiles (p50 solid, p99 dashed) and throughput
//!   against concurrency, side by side.
//! - [`svg_tradeoff`]: p99 latency against 2xx throughput, one line per run
//!   through its steps, with an optional p99 target and a chosen run.

use std::fmt::Write;

use crate::report::Report;

const W: f64 = 460.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const TOP: f64 = 36.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];
/// Dash patterns for runs past the palette, so a 7th run differs from the 1st
/// by more than luck; "" is solid.
const DASHES: [&str; 4] = ["", "6,4", "2,3", "8,3,2,3"];

/// The plot of `runs`, side by side: latency (left) and throughput (right).
pub fn svg(title: &str, runs: &[Report]) -> String {
    let mut xs: Vec<usize> = runs
        .iter()
        .flat_map(|r| r.steps.iter().map(|s| s.concurrency))
        .collect();
    xs.sort_unstable();
    xs.dedup();
    let mut out = String::new();
    open(&mut out, 2.0 * W + 40.0, runs.len(), title);
    let latency: Vec<Series> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let pts = |f: fn(&crate::Step) -> f64| {
                r.steps.iter().map(|s| (s.concurrency, f(s))).collect()
            };
            [
                Series {
                    pen: Pen::nth(i, false),
                    points: pts(|s| s.p50_ms),
                },
                Series {
                    // The p99 line keeps its run's colour; the dash tells it from p50.
                    pen: Pen {
                        dash: "5,4",
                        ..Pen::nth(i, false)
                    },
                    points: pts(|s| s.p99_ms),
                },
            ]
        })
        .collect();
    let throughput: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            pen: Pen::nth(i, false),
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
        legend(&mut out, i, &Pen::nth(i, false), &escape(&run.label));
    }
    out.push_str("</svg>\n");
    out
}

/// An SVG chart of throughput against p99 latency: one line per run (its steps in order),
/// x = each step's `ok_throughput` (req/s, 2xx only), y = its `p99_ms`;
/// a dashed horizontal line at `p99_target_ms` when given; the run at `highlight` drawn bold
/// and named "(chosen)" in the legend.
pub fn svg_tradeoff(
    title: &str,
    runs: &[Report],
    p99_target_ms: Option<f64>,
    highlight: Option<usize>,
) -> String {
    // A step with no 2xx answers has no place on a 2xx-throughput axis, and
    // one non-finite value would turn the whole axis into NaN.
    let lines: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            r.steps
                .iter()
                .map(|s| (s.ok_throughput, s.p99_ms))
                .filter(|&(x, y)| x.is_finite() && x > 0.0 && y.is_finite() && y >= 0.0)
                .collect()
        })
        .collect();
    let target = p99_target_ms.filter(|t| t.is_finite() && *t >= 0.0);
    let points = || lines.iter().flatten();
    let x_top = nice(points().map(|p| p.0).fold(0.0, f64::max));
    let y_max = points().map(|p| p.1).fold(0.0, f64::max);
    // With a target the axis stops at four times it: one step far past the
    // target would otherwise squash the region where a choice is made.
    // Steps above sit on the top edge.
    let y_shown = target.map_or(y_max, |t| y_max.min(4.0 * t).max(1.2 * t));
    let panel = Panel {
        x0: 0.0,
        y_top: nice(y_shown),
    };
    let x_of = |v: f64| panel.left() + Panel::PW * v / x_top;

    let mut out = String::new();
    open(&mut out, W + 20.0, runs.len(), title);
    panel.frame(&mut out, "throughput (req/s, 2xx)");
    let n = divisions(x_top);
    for k in 0..=n {
        let v = x_top * k as f64 / n as f64;
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            TOP + Panel::PH,
            TOP + Panel::PH + 16.0,
            short(v),
            x = x_of(v)
        );
    }
    let (yx, yy) = (panel.x0 + 14.0, TOP + Panel::PH / 2.0);
    let _ = write!(
        out,
        r#"<text x="{yx}" y="{yy}" transform="rotate(-90 {yx} {yy})" text-anchor="middle">p99 latency (ms)</text>"#
    );
    if let Some(t) = target {
        let _ = write!(
            out,
            r##"<line x1="{}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#555" stroke-dasharray="4,3"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">p99 target {t} ms</text>"##,
            panel.left(),
            panel.left() + Panel::PW,
            panel.left() + Panel::PW - 4.0,
            panel.y_of(t) - 4.0,
            y = panel.y_of(t)
        );
    }
    let chosen = highlight.filter(|&h| h < runs.len());
    // The chosen run goes last so no other line is drawn over it.
    let order = (0..runs.len()).filter(|&i| Some(i) != chosen).chain(chosen);
    for i in order {
        let pen = Pen::nth(i, Some(i) == chosen);
        let pts: Vec<(f64, f64)> = lines[i]
            .iter()
            .map(|&(x, y)| (x_of(x), panel.y_of(y.min(panel.y_top))))
            .collect();
        polyline(&mut out, &pts, &pen);
        for (cx, cy) in pts {
            let _ = write!(
                out,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{}" fill="{}"/>"#,
                pen.width + 1.0,
                pen.colour
            );
        }
    }
    for (i, run) in runs.iter().enumerate() {
        let suffix = if Some(i) == chosen { " (chosen)" } else { "" };
        let label = format!("{}{suffix}", escape(&run.label));
        legend(&mut out, i, &Pen::nth(i, Some(i) == chosen), &label);
    }
    out.push_str("</svg>\n");
    out
}

/// How one run's line is stroked.
struct Pen {
    colour: &'static str,
    dash: &'static str,
    width: f64,
}

impl Pen {
    /// Run `i`'s pen: the next colour, and once the palette wraps, the next dash.
    fn nth(i: usize, bold: bool) -> Pen {
        Pen {
            colour: COLOURS[i % COLOURS.len()],
            dash: DASHES[(i / COLOURS.len()) % DASHES.len()],
            width: if bold { 3.5 } else { 2.0 },
        }
    }

    fn attrs(&self, width: f64) -> String {
        let mut a = format!(r#"stroke="{}" stroke-width="{width}""#, self.colour);
        if !self.dash.is_empty() {
            let _ = write!(a, r#" stroke-dasharray="{}""#, self.dash);
        }
        a
    }
}

/// The `<svg>` element, the background and the title, sized for a row of
/// charts `width` wide and a legend of `rows` runs under it.
fn open(out: &mut String, width: f64, rows: usize, title: &str) {
    let legend_h = 20.0 * rows as f64 + 10.0;
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{}" font-family="sans-serif" font-size="12">"#,
        H + legend_h + 20.0
    );
    let _ = write!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="18" text-anchor="middle" font-size="14">{}</text>"#,
        width / 2.0,
        escape(title)
    );
}

/// Legend row `row`: a swatch in the run's pen, then `label` (already escaped).
fn legend(out: &mut String, row: usize, pen: &Pen, label: &str) {
    let y = H + 30.0 + 20.0 * row as f64;
    let _ = write!(
        out,
        r#"<line x1="{LEFT}" x2="{}" y1="{}" y2="{}" {}/><text x="{}" y="{y}">{label}</text>"#,
        LEFT + 20.0,
        y - 4.0,
        y - 4.0,
        pen.attrs(2.0 * pen.width),
        LEFT + 26.0
    );
}

fn polyline(out: &mut String, pts: &[(f64, f64)], pen: &Pen) {
    if pts.len() < 2 {
        return;
    }
    let points: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        out,
        r#"<polyline points="{}" fill="none" {}/>"#,
        points.join(" "),
        pen.attrs(pen.width)
    );
}

/// One chart's plotting area: its left edge in the SVG and the value at the
/// top of its y axis (the bottom is 0).
struct Panel {
    x0: f64,
    y_top: f64,
}

impl Panel {
    const PW: f64 = W - LEFT - 10.0;
    const PH: f64 = H - TOP - 40.0;

    fn left(&self) -> f64 {
        self.x0 + LEFT
    }

    fn y_of(&self, v: f64) -> f64 {
        TOP + Self::PH - Self::PH * v / self.y_top
    }

    /// The border, the y axis's grid and values, and the x axis's name.
    fn frame(&self, out: &mut String, x_name: &str) {
        let _ = write!(
            out,
            r##"<rect x="{}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
            self.left(),
            Self::PW,
            Self::PH
        );
        let n = divisions(self.y_top);
        for k in 0..=n {
            let v = self.y_top * k as f64 / n as f64;
            let _ = write!(
                out,
                r##"<line x1="{}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                self.left(),
                self.left() + Self::PW,
                self.left() - 4.0,
                self.y_of(v) + 4.0,
                short(v),
                y = self.y_of(v)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            self.left() + Self::PW / 2.0,
            TOP + Self::PH + 32.0,
            escape(x_name)
        );
    }
}

struct Series {
    pen: Pen,
    points: Vec<(usize, f64)>,
}

/// A chart over the categorical axis `xs` (each concurrency evenly spaced).
fn chart(out: &mut String, x0: f64, title: &str, xs: &[usize], series: &[Series]) {
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let panel = Panel {
        x0,
        y_top: nice(top),
    };
    let x_of = |c: usize| {
        let i = xs.iter().position(|&x| x == c).unwrap_or(0);
        let n = xs.len().max(2) - 1;
        panel.left() + Panel::PW * i as f64 / n as f64
    };
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        panel.left() + Panel::PW / 2.0,
        TOP - 8.0,
        escape(title)
    );
    panel.frame(out, "concurrency");
    for &c in xs {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{c}</text>"#,
            x_of(c),
            TOP + Panel::PH + 16.0
        );
    }
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|&(c, v)| (x_of(c), panel.y_of(v)))
            .collect();
        polyline(out, &pts, &s.pen);
    }
}

/// A round axis top at or above `v`; 1 when there is nothing to show.
fn nice(v: f64) -> f64 {
    // Below MIN_POSITIVE the magnitude underflows to 0 and the axis with it.
    if !v.is_finite() || v < f64::MIN_POSITIVE {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&t| t >= v)
        .unwrap_or(10.0 * magnitude)
}

/// How many grid steps split a [`nice`] top into round values: quarters of
/// 1 and 2 are round, quarters of 2.5 and 5 are not, fifths are.
fn divisions(top: f64) -> u32 {
    let lead = top / 10f64.powf(top.log10().floor());
    if (lead - 2.5).abs() < 1e-9 || (lead - 5.0).abs() < 1e-9 {
        5
    } else {
        4
    }
}

fn short(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 10_000.0 {
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

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        let numbers = svg.replace("inferd", "");
        assert!(
            !numbers.contains("NaN") && !numbers.contains("inf"),
            "{svg}"
        );
    }

    /// A run whose throughput grows with concurrency, as a real one's does.
    fn rising(label: &str, scale: f64) -> Report {
        let mut r = run(label, scale);
        for s in &mut r.steps {
            s.ok_throughput = 1000.0 * s.concurrency as f64 / scale;
        }
        r
    }

    #[test]
    fn tradeoff_names_runs_the_target_and_the_chosen_run() {
        let runs = [rising("inferd", 1.0), rising("peer & <co>", 3.0)];
        let svg = svg_tradeoff("a <b>", &runs, Some(50.0), Some(1));
        well_formed(&svg);
        assert!(svg.contains("a &lt;b&gt;"));
        assert!(svg.contains(">inferd</text>"));
        assert!(svg.contains(">peer &amp; &lt;co&gt; (chosen)</text>"));
        assert_eq!(svg.matches("(chosen)").count(), 1);
        assert!(svg.contains("p99 target 50 ms"));
        assert!(svg.contains("throughput (req/s, 2xx)") && svg.contains("p99 latency (ms)"));
        assert_eq!(svg.matches("<polyline").count(), 2, "one line per run");
        assert_eq!(svg.matches("<circle").count(), 6, "one dot per step");
        assert!(
            svg.contains(r#"stroke-width="3.5""#),
            "the chosen run is bold"
        );
        // The axis reaches past the target even though every p99 is far below it.
        assert!(svg.contains(">100</text>"));
    }

    #[test]
    fn tradeoff_keeps_the_target_in_view_past_a_far_step() {
        let mut far = rising("far", 1.0);
        far.steps[2].p99_ms = 300.0;
        let svg = svg_tradeoff("t", &[far], Some(5.0), None);
        well_formed(&svg);
        assert!(svg.contains(">20</text>"), "{svg}");
        assert!(
            !svg.contains(">300</text>") && !svg.contains(">400</text>"),
            "{svg}"
        );
    }

    #[test]
    fn tradeoff_survives_empty_zero_and_nan() {
        well_formed(&svg_tradeoff("", &[], None, Some(0)));
        well_formed(&svg_tradeoff("", &[], Some(f64::NAN), None));

        let mut bad = run("all bad", 1.0);
        bad.steps[0].ok_throughput = 0.0;
        bad.steps[1].p99_ms = f64::NAN;
        bad.steps[2].ok_throughput = f64::INFINITY;
        let mut zero = run("zero", 1.0);
        for s in &mut zero.steps {
            (s.ok_throughput, s.p99_ms) = (0.0, 0.0);
        }
        let mut single = run("single", 1.0);
        single.steps.truncate(1);
        let svg = svg_tradeoff("t", &[bad, zero, single], Some(f64::NAN), Some(7));
        well_formed(&svg);
        assert!(svg.contains(">all bad</text>") && svg.contains(">zero</text>"));
        assert!(!svg.contains("(chosen)") && !svg.contains("p99 target"));
        assert_eq!(svg.matches("<polyline").count(), 0);
        assert_eq!(svg.matches("<circle").count(), 1, "the single point");
    }

    #[test]
    fn tradeoff_runs_past_the_palette_differ_by_dash() {
        let runs: Vec<Report> = (0..COLOURS.len() + 1)
            .map(|i| rising(&format!("r{i}"), 1.0 + i as f64))
            .collect();
        let svg = svg_tradeoff("t", &runs, None, None);
        well_formed(&svg);
        let strokes: std::collections::BTreeSet<&str> = svg
            .split("<polyline")
            .skip(1)
            .map(|l| &l[l.find("stroke=").unwrap()..l.find("/>").unwrap()])
            .collect();
        assert_eq!(strokes.len(), runs.len());
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(7.3), 10.0);
        assert_eq!(nice(21_000.0), 25_000.0);
        assert_eq!(nice(0.18), 0.2);
        assert_eq!(nice(f64::NAN), 1.0);
        assert_eq!(nice(f64::INFINITY), 1.0);
        assert_eq!(divisions(25_000.0), 5);
        assert_eq!(divisions(0.2), 4);
    }
}
