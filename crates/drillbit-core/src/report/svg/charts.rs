//! The chart shapes the reports draw: a bar against a target line, a Gantt, a histogram, a
//! time series. Each is one `<svg>` string; its text is escaped here.

use std::fmt::Write;

use super::{
    anchor_within, clip, count_ticks, dur_label, duration_ticks, esc, extent, line, n, open, place_rows, text,
    text_width, x_date_axis, x_duration_axis, y_axis, Scale,
};

/// One horizontal bar of a measured value against its target, on a scale that holds both:
/// the bar (class `met` or `missed`), the target as a dashed line, both labelled on rows
/// that cannot collide. `measured` None draws no bar and says `none_text`.
pub fn bar_vs_target(title: &str, measured: Option<f64>, target: f64, met: bool, none_text: &str) -> String {
    let (w, h) = (1000.0, 96.0);
    let (left, right) = (20.0, 980.0);
    let hi = measured.unwrap_or(0.0).max(target).max(1e-3) * 1.08;
    let (ticks, _) = duration_ticks(0.0, hi, 10);
    let hi = ticks.last().copied().unwrap_or(hi).max(hi);
    let sc = Scale::new(0.0, hi, left, right);
    let mut o = open(w, h, title);
    let (bar_y, bar_h, axis_y) = (30.0, 26.0, 66.0);
    x_duration_axis(&mut o, &sc, &ticks, axis_y, bar_y - 6.0);
    let tx = sc.map(target);
    match measured {
        Some(m) => {
            let x1 = sc.map(m).max(left + 2.0);
            let class = if met { "bar met" } else { "bar missed" };
            let _ = writeln!(
                o,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"{class}\"><title>{}</title></rect>",
                n(left),
                n(bar_y),
                n(x1 - left),
                n(bar_h),
                esc(&format!("{title}: {}", crate::scenario::duration::format_secs(m)))
            );
            let label = format!(
                "measured {} ({})",
                crate::scenario::duration::format_secs(m),
                if met { "met" } else { "missed" }
            );
            let lw = text_width(&label, 12.0);
            // Inside the bar when it fits, else after it (or before the end of the chart).
            if x1 - left > lw + 16.0 {
                text(&mut o, x1 - 8.0, bar_y + 17.0, "end", "onbar", &label);
            } else {
                let (a, lx) = anchor_within(x1 + 8.0 + lw / 2.0, lw, left, right);
                text(&mut o, lx, bar_y + 17.0, a, "value", &label);
            }
        }
        None => text(&mut o, left + 6.0, bar_y + 17.0, "start", "value", none_text),
    }
    line(&mut o, tx, bar_y - 10.0, tx, bar_y + bar_h + 4.0, "target");
    let label = format!("target {}", crate::scenario::duration::format_secs(target));
    let lw = text_width(&label, 12.0);
    let (a, lx) = anchor_within(tx, lw, left, right);
    text(&mut o, lx, bar_y - 14.0, a, "targetlabel", &label);
    o.push_str("</svg>\n");
    o
}

/// A row of a Gantt chart.
#[derive(Debug, Clone)]
pub struct GanttRow {
    pub label: String,
    /// Small text before the label (e.g. `step`), or empty.
    pub kind: &'static str,
    pub start: f64,
    pub end: f64,
    /// CSS class of the bar: `critical`, `normal`, `bad`.
    pub class: &'static str,
    /// False for a step that never ran: the row has its note and no bar.
    pub bar: bool,
    /// On the critical path (the row label is bold).
    pub critical: bool,
    /// Text after the bar: duration and notes.
    pub note: String,
}

/// A vertical marker across a chart (target, recovered instant).
#[derive(Debug, Clone)]
pub struct Marker {
    pub at: f64,
    pub label: String,
    /// CSS class of the line: `target`, `recovered`, `missedline`, `fault`.
    pub class: &'static str,
}

/// Where the labels of a chart's markers go: above the plot, on as many rows as it takes for
/// no two labels to collide.
struct MarkerLabels {
    /// (text-anchor, x) of each marker's label.
    placed: Vec<(&'static str, f64)>,
    /// The label row of each marker (0 is the first).
    rows: Vec<usize>,
}

impl MarkerLabels {
    /// Each label centred on its marker, kept within [left, right].
    fn place(markers: &[Marker], sc: &Scale, left: f64, right: f64) -> MarkerLabels {
        let mut placed = Vec::new();
        let mut spans = Vec::new();
        for m in markers {
            let lw = text_width(&m.label, 11.0);
            let (a, lx) = anchor_within(sc.map(m.at), lw, left, right);
            spans.push(extent(a, lx, lw));
            placed.push((a, lx));
        }
        let rows = place_rows(&spans, 8.0);
        MarkerLabels { placed, rows }
    }

    /// How many label rows the labels take.
    fn row_count(&self) -> usize {
        self.rows.iter().map(|r| r + 1).max().unwrap_or(0)
    }

    /// Each marker's label, the first row's baseline at `y0`; `before` draws what goes with
    /// the marker ahead of its label.
    fn draw(&self, o: &mut String, markers: &[Marker], y0: f64, mut before: impl FnMut(&mut String, &Marker)) {
        for ((m, (a, lx)), row) in markers.iter().zip(&self.placed).zip(&self.rows) {
            before(o, m);
            let ly = y0 + *row as f64 * 15.0;
            text(o, *lx, ly, a, &format!("mlabel lbl-{}", m.class), &m.label);
        }
    }
}

/// A Gantt chart over seconds from 0; markers are labelled above the rows, on as many label
/// rows as it takes for no two labels to collide.
pub fn gantt(title: &str, rows: &[GanttRow], markers: &[Marker]) -> String {
    let w = 1000.0;
    let label_chars = rows
        .iter()
        .map(|r| r.label.chars().count() + r.kind.chars().count() + 1)
        .max()
        .unwrap_or(8)
        .clamp(8, 30);
    let left = (label_chars as f64 * 7.2 + 24.0).min(260.0);
    let right = w - 24.0;
    let mut hi = rows
        .iter()
        .filter(|r| r.bar)
        .map(|r| r.end.max(r.start))
        .fold(0.0_f64, f64::max);
    for m in markers {
        hi = hi.max(m.at);
    }
    let (ticks, _) = duration_ticks(0.0, hi.max(1e-3) * 1.02, 10);
    let hi = ticks.last().copied().unwrap_or(hi).max(hi);
    let sc = Scale::new(0.0, hi, left, right);
    // Marker labels first, to know how many rows they need.
    let labels = MarkerLabels::place(markers, &sc, left, right);
    let top = 10.0 + labels.row_count() as f64 * 15.0;
    let row_h = 26.0;
    let rows_bottom = top + rows.len().max(1) as f64 * row_h;
    let axis_y = rows_bottom + 6.0;
    let h = axis_y + 28.0;
    let mut o = open(w, h, title);
    // Stripes, grid, marker lines, then bars and text: no line is drawn over a label.
    for i in (1..rows.len()).step_by(2) {
        let _ = writeln!(
            o,
            "<rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"stripe\"/>",
            n(top + i as f64 * row_h),
            n(w),
            n(row_h)
        );
    }
    x_duration_axis(&mut o, &sc, &ticks, axis_y, top);
    for m in markers {
        let x = sc.map(m.at);
        line(&mut o, x, top - 2.0, x, rows_bottom, m.class);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let max_label = label_chars.saturating_sub(r.kind.chars().count() + 1).max(4);
        let label = clip(&r.label, max_label);
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"rowlabel{}\"><tspan class=\"kind\">{}</tspan>{}<title>{}</title></text>",
            n(left - 10.0),
            n(y + 17.0),
            if r.critical { " crit" } else { "" },
            esc(&if r.kind.is_empty() { String::new() } else { format!("{} ", r.kind) }),
            esc(&label),
            esc(&r.label)
        );
        if !r.bar {
            text(&mut o, left + 6.0, y + 17.0, "start", "note", &r.note);
            continue;
        }
        let (x0, x1) = (sc.map(r.start.min(r.end)), sc.map(r.end.max(r.start)));
        // A zero-length phase still shows as a sliver.
        let bw = (x1 - x0).max(2.0);
        let _ = writeln!(
            o,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\" class=\"gbar {}\"><title>{}</title></rect>",
            n(x0),
            n(y + 5.0),
            n(bw),
            n(row_h - 10.0),
            r.class,
            esc(&format!("{}: {}", r.label, r.note))
        );
        let nw = text_width(&r.note, 11.0);
        if x0 + bw + 6.0 + nw <= right + 20.0 {
            text(&mut o, x0 + bw + 6.0, y + 17.0, "start", "note", &r.note);
        } else if x0 - 6.0 - nw >= left {
            text(&mut o, x0 - 6.0, y + 17.0, "end", "note", &r.note);
        } else {
            // A bar across the whole chart: the note goes inside it.
            text(&mut o, x0 + bw - 6.0, y + 17.0, "end", "onbar", &r.note);
        }
    }
    labels.draw(&mut o, markers, 20.0, |_, _| {});
    o.push_str("</svg>\n");
    o
}

/// A histogram of (start, end, count) bins on a duration axis, with the empirical CDF as a
/// line (right axis, %), and vertical markers labelled on rows that cannot collide. Bins that
/// start at or beyond `view_hi` (a long tail) are left off the chart and counted in a note,
/// so the body of the distribution stays readable. `knots` are known points of the CDF
/// (value, fraction of runs at or below it), e.g. the percentiles.
pub fn histogram(
    title: &str,
    all_bins: &[(f64, f64, u64)],
    knots: &[(f64, f64)],
    markers: &[Marker],
    view_hi: f64,
) -> String {
    let w = 1000.0;
    let (left, right) = (64.0, w - 56.0);
    // Bins come in ascending order; keep at least the first.
    let keep = all_bins
        .iter()
        .position(|b| b.0 >= view_hi)
        .unwrap_or(all_bins.len())
        .max(1)
        .min(all_bins.len());
    let (bins, tail) = all_bins.split_at(keep);
    let hidden: u64 = tail.iter().map(|b| b.2).sum();
    let hidden_max = all_bins.last().map_or(0.0, |b| b.1);
    // The CDF is over every run, shown or not.
    let total: u64 = all_bins.iter().map(|b| b.2).sum();
    let bmin = bins.iter().map(|b| b.0).fold(f64::INFINITY, f64::min);
    let mut hi = bins.iter().map(|b| b.1).fold(0.0_f64, f64::max);
    for m in markers {
        hi = hi.max(m.at);
    }
    let hi = hi.max(1e-3);
    // Start at 0 unless the data sits far from it (then the bars would be slivers).
    let lo_guess = if bmin.is_finite() && bmin > 0.4 * hi {
        let lo_marker = markers.iter().map(|m| m.at).fold(bmin, f64::min);
        lo_marker * 0.95
    } else {
        0.0
    };
    let (ticks, step) = duration_ticks(lo_guess, hi * 1.02, 10);
    let lo = ticks.first().copied().unwrap_or(0.0).max(0.0);
    let hi = ticks.last().copied().unwrap_or(hi).max(hi);
    let sc = Scale::new(lo, hi, left, right);
    let _ = step;
    let labels = MarkerLabels::place(markers, &sc, left, right + 40.0);
    let top = 16.0 + labels.row_count() as f64 * 15.0;
    let plot_h = 240.0;
    let bottom = top + plot_h;
    let h = bottom + 48.0;
    let mut o = open(w, h, title);
    if total == 0 {
        text(&mut o, w / 2.0, top + plot_h / 2.0, "middle", "value", "no runs");
        o.push_str("</svg>\n");
        return o;
    }
    let cmax = bins.iter().map(|b| b.2).max().unwrap_or(1) as f64;
    let (cticks, _) = count_ticks(cmax, 5);
    let cmax = cticks.last().copied().unwrap_or(cmax).max(cmax);
    let ys = Scale::new(0.0, cmax, bottom, top);
    x_duration_axis(&mut o, &sc, &ticks, bottom, top);
    y_axis(&mut o, &ys, &cticks, left, right, |t| format!("{}", t as u64));
    text(&mut o, 14.0, top - 6.0, "start", "axislabel", "runs");
    // Bars.
    for &(b0, b1, c) in bins {
        if c == 0 {
            continue;
        }
        let (x0, x1) = (sc.map(b0), sc.map(b1));
        let y = ys.map(c as f64);
        let _ = writeln!(
            o,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"hbar\"><title>{} to {}: {c} runs</title></rect>",
            n(x0),
            n(y),
            n((x1 - x0 - 1.0).max(1.0)),
            n(bottom - y),
            esc(&dur_label(b0)),
            esc(&dur_label(b1))
        );
    }
    // CDF on a right-hand percentage axis: exact at every bin's end and at the known
    // quantiles (`knots`), straight between them; kept monotone.
    let ps = Scale::new(0.0, 100.0, bottom, top);
    let mut cdf: Vec<(f64, f64)> = vec![(bins[0].0, 0.0)];
    let mut cum = 0u64;
    for &(_, b1, c) in bins {
        cum += c;
        cdf.push((b1, cum as f64 / total as f64));
    }
    let shown_hi = bins[bins.len() - 1].1;
    cdf.extend(knots.iter().copied().filter(|k| k.0 >= bins[0].0 && k.0 <= shown_hi));
    cdf.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut pts = String::new();
    let mut y_max = 0.0_f64;
    for (x, y) in cdf {
        y_max = y_max.max(y);
        let _ = write!(pts, "{},{} ", n(sc.map(x)), n(ps.map(y_max * 100.0)));
    }
    let _ = writeln!(o, "<polyline points=\"{}\" class=\"cdf\"/>", pts.trim_end());
    if hidden > 0 {
        let note = format!(
            "beyond the chart: {hidden} run{} from {} to {} →",
            if hidden == 1 { "" } else { "s" },
            dur_label(sc.d1),
            dur_label(hidden_max)
        );
        text(&mut o, right, bottom + 34.0, "end", "value", &note);
    }
    line(&mut o, right, top, right, bottom, "axis");
    for p in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let y = ps.map(p);
        line(&mut o, right, y, right + 4.0, y, "axis");
        text(&mut o, right + 7.0, y + 4.0, "start", "tick", &format!("{p:.0}%"));
    }
    text(&mut o, w - 6.0, top - 6.0, "end", "axislabel cdflabel", "cumulative");
    // Lines start at the plot's top edge, below every label row: none crosses a label.
    labels.draw(&mut o, markers, 14.0, |o, m| {
        let x = sc.map(m.at);
        line(o, x, top - 4.0, x, bottom, m.class);
    });
    o.push_str("</svg>\n");
    o
}

/// A point of a time series.
#[derive(Debug, Clone)]
pub struct Point {
    /// Seconds since the epoch.
    pub t: i64,
    /// None: not measured (drawn as a marker on the axis).
    pub v: Option<f64>,
    pub met: bool,
    pub regression: bool,
    pub title: String,
}

/// Values over calendar time as a line with points, against a target line. Met points are
/// filled circles, missed ones crosses, regressions ringed: shape and colour both say it.
pub fn time_series(title: &str, points: &[Point], target: f64) -> String {
    let w = 1000.0;
    let (left, right) = (70.0, w - 30.0);
    let (top, plot_h) = (24.0, 180.0);
    let bottom = top + plot_h;
    let h = bottom + 40.0;
    let mut o = open(w, h, title);
    if points.is_empty() {
        text(&mut o, w / 2.0, top + plot_h / 2.0, "middle", "value", "no drills");
        o.push_str("</svg>\n");
        return o;
    }
    let t0 = points.iter().map(|p| p.t).min().unwrap_or(0) as f64;
    let t1 = points.iter().map(|p| p.t).max().unwrap_or(0) as f64;
    // Pad by 5% and at least a day each side, so a single drill sits mid-chart.
    let pad = ((t1 - t0) * 0.05).max(86_400.0);
    let xs = Scale::new(t0 - pad, t1 + pad, left, right);
    let vmax = points.iter().filter_map(|p| p.v).fold(target, f64::max).max(1e-3) * 1.1;
    let (ticks, _) = duration_ticks(0.0, vmax, 6);
    let vmax = ticks.last().copied().unwrap_or(vmax).max(vmax);
    let ys = Scale::new(0.0, vmax, bottom, top);
    x_date_axis(&mut o, &xs, bottom, top);
    y_axis(&mut o, &ys, &ticks, left, right, dur_label);
    let ty = ys.map(target);
    line(&mut o, left, ty, right, ty, "target");
    let label = format!("target {}", crate::scenario::duration::format_secs(target));
    text(&mut o, right - 4.0, ty - 5.0, "end", "mlabel lbl-target", &label);
    let mut pts = String::new();
    for p in points {
        if let Some(v) = p.v {
            let _ = write!(pts, "{},{} ", n(xs.map(p.t as f64)), n(ys.map(v)));
        }
    }
    if !pts.is_empty() {
        let _ = writeln!(o, "<polyline points=\"{}\" class=\"series\"/>", pts.trim_end());
    }
    for p in points {
        let x = xs.map(p.t as f64);
        let (y, class) = match p.v {
            Some(v) => (ys.map(v), if p.met { "met" } else { "missed" }),
            None => (bottom, "missed"),
        };
        let _ = write!(o, "<g class=\"pt {class}\"><title>{}</title>", esc(&p.title));
        if p.met {
            let _ = write!(o, "<circle cx=\"{}\" cy=\"{}\" r=\"5\"/>", n(x), n(y));
        } else {
            let _ = write!(
                o,
                "<path d=\"M{} {}l10 10m0 -10l-10 10\" class=\"cross\"/>",
                n(x - 5.0),
                n(y - 5.0)
            );
        }
        if p.regression {
            let _ = write!(o, "<circle cx=\"{}\" cy=\"{}\" r=\"10\" class=\"ring\"/>", n(x), n(y));
        }
        o.push_str("</g>\n");
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_survive_empty_and_degenerate_input() {
        let h = histogram("h", &[], &[], &[], 1.0);
        assert!(h.contains("no runs") && h.ends_with("</svg>\n"));
        let g = gantt("g", &[], &[]);
        assert!(g.starts_with("<svg"));
        let s = time_series("s", &[], 10.0);
        assert!(s.contains("no drills"));
        let one = Point {
            t: 1_764_071_760,
            v: None,
            met: false,
            regression: true,
            title: "<b>".into(),
        };
        let s = time_series("s", &[one], f64::NAN);
        assert!(s.contains("&lt;b&gt;") && !s.contains("NaN"));
        let b = bar_vs_target("b", Some(f64::NAN), 0.0, false, "");
        assert!(!b.contains("NaN"));
    }
}
