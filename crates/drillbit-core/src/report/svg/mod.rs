//! Chart primitives for the HTML reports, written by hand as SVG text: escaping, linear
//! scales, "nice" ticks with readable duration and date labels, label placement that never
//! overlaps, axes; and (in `charts`) the few chart shapes the reports draw (a bar against a
//! target line, a Gantt, a histogram, a time series).
//!
//! Every chart is an `<svg>` with a `viewBox` and `width="100%"`, so it scales with the page
//! and prints; all text is escaped here or by the caller with [`esc`].

use std::fmt::Write;

use crate::timestamp;

/// Escapes text for HTML and SVG, in element content and in quoted attributes alike.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Control characters are not allowed in XML; show them as a replacement mark.
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// At most `max` characters, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Approximate width in pixels of `text` at `size` px in the reports' sans-serif font.
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// A number for SVG attributes: two decimals at most, never NaN or infinite.
pub fn n(x: f64) -> String {
    let x = if x.is_finite() { x } else { 0.0 };
    let r = (x * 100.0).round() / 100.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// A linear map from a domain to a range of pixels.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        let (d0, d1) = if d0.is_finite() && d1.is_finite() {
            (d0, d1)
        } else {
            (0.0, 1.0)
        };
        let d1 = if d1 > d0 { d1 } else { d0 + 1.0 };
        Scale { d0, d1, r0, r1 }
    }
    pub fn map(&self, v: f64) -> f64 {
        let v = if v.is_finite() { v } else { self.d0 };
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// Tick steps for durations, in seconds: what a reader would pick by hand.
const DURATION_STEPS: &[f64] = &[
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    10800.0,
    21600.0,
    43200.0,
    86400.0,
    172_800.0,
    604_800.0,
    1_209_600.0,
    2_592_000.0,
];

/// Ticks from `lo` to at least `hi`, at a round duration step, at most about `max` of them.
/// Returns (ticks, step).
pub fn duration_ticks(lo: f64, hi: f64, max: usize) -> (Vec<f64>, f64) {
    let (lo, hi) = sane(lo, hi);
    let span = hi - lo;
    let max = max.max(2) as f64;
    let step = DURATION_STEPS
        .iter()
        .copied()
        .find(|s| span / s <= max)
        .unwrap_or_else(|| {
            // Beyond 30 days: whole multiples of 30 days.
            let last = DURATION_STEPS[DURATION_STEPS.len() - 1];
            (span / max / last).ceil() * last
        });
    ticks_at(lo, hi, step)
}

/// Ticks for counts (1, 2, 5 x 10^k steps).
pub fn count_ticks(hi: f64, max: usize) -> (Vec<f64>, f64) {
    let (lo, hi) = sane(0.0, hi);
    let span = hi - lo;
    let raw = span / max.max(2) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
        .max(1.0);
    ticks_at(lo, hi, step)
}

fn sane(lo: f64, hi: f64) -> (f64, f64) {
    let lo = if lo.is_finite() { lo } else { 0.0 };
    let hi = if hi.is_finite() { hi } else { lo + 1.0 };
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + 1.0)
    }
}

fn ticks_at(lo: f64, hi: f64, step: f64) -> (Vec<f64>, f64) {
    let first = (lo / step).floor() * step;
    let mut out = Vec::new();
    let mut i = 0.0;
    loop {
        let t = first + i * step;
        out.push(t);
        if t >= hi - step * 1e-9 || out.len() > 1000 {
            break;
        }
        i += 1.0;
    }
    (out, step)
}

/// A short duration label for an axis tick: `0`, `250ms`, `1.5s`, `30s`, `5m`, `1h30m`, `2h`,
/// `3d`.
pub fn dur_label(s: f64) -> String {
    if !s.is_finite() {
        return "n/a".into();
    }
    if s == 0.0 {
        return "0".into();
    }
    let neg = if s < 0.0 { "-" } else { "" };
    let s = s.abs();
    let body = if s < 1.0 {
        format!("{}ms", (s * 1000.0).round())
    } else if s < 60.0 {
        let r = (s * 10.0).round() / 10.0;
        if r.fract() == 0.0 {
            format!("{}s", r as u64)
        } else {
            format!("{r:.1}s")
        }
    } else {
        let t = s.round() as u64;
        let (d, h, m, sec) = (t / 86_400, t / 3600 % 24, t / 60 % 60, t % 60);
        let mut o = String::new();
        if d > 0 {
            let _ = write!(o, "{d}d");
        }
        if h > 0 {
            let _ = write!(o, "{h}h");
        }
        if m > 0 && d == 0 {
            let _ = write!(o, "{m}m");
        }
        if sec > 0 && d == 0 && h == 0 {
            let _ = write!(o, "{sec}s");
        }
        if o.is_empty() {
            o.push('0');
        }
        o
    };
    format!("{neg}{body}")
}

/// Places labels on rows so that none overlaps another on the same row. `spans` are
/// (left, right) pixel extents; returns the row of each (0 is the first row). Greedy, in
/// the given order.
pub fn place_rows(spans: &[(f64, f64)], gap: f64) -> Vec<usize> {
    let mut rows: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for &(l, r) in spans {
        let row = rows
            .iter()
            .position(|taken| taken.iter().all(|&(a, b)| r + gap <= a || l >= b + gap))
            .unwrap_or(rows.len());
        if row == rows.len() {
            rows.push(Vec::new());
        }
        rows[row].push((l, r));
        out.push(row);
    }
    out
}

/// Where to put a label of width `w` anchored at `x` so it stays inside [left, right]:
/// (text-anchor, x).
pub fn anchor_within(x: f64, w: f64, left: f64, right: f64) -> (&'static str, f64) {
    if x + w / 2.0 > right {
        ("end", right.max(left + w))
    } else if x - w / 2.0 < left {
        ("start", left)
    } else {
        ("middle", x)
    }
}

/// The (left, right) extent of a label placed with [`anchor_within`].
pub fn extent(anchor: &str, x: f64, w: f64) -> (f64, f64) {
    match anchor {
        "end" => (x - w, x),
        "start" => (x, x + w),
        _ => (x - w / 2.0, x + w / 2.0),
    }
}

pub fn open(width: f64, height: f64, label: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {} {}\" width=\"100%\" role=\"img\" aria-label=\"{}\" font-family=\"inherit\" font-size=\"12\">\n",
        n(width),
        n(height),
        esc(label)
    )
}

pub fn text(o: &mut String, x: f64, y: f64, anchor: &str, class: &str, body: &str) {
    let _ = writeln!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" class=\"{class}\">{}</text>",
        n(x),
        n(y),
        esc(body)
    );
}

pub fn line(o: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, class: &str) {
    let _ = writeln!(
        o,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"{class}\"/>",
        n(x1),
        n(y1),
        n(x2),
        n(y2)
    );
}

/// A horizontal axis at `y` with duration ticks and labels under it, and light grid lines
/// up to `top`.
pub fn x_duration_axis(o: &mut String, sc: &Scale, ticks: &[f64], y: f64, top: f64) {
    line(o, sc.r0, y, sc.r1, y, "axis");
    let mut last_right = f64::NEG_INFINITY;
    for &t in ticks {
        let x = sc.map(t);
        if x < sc.r0 - 0.5 || x > sc.r1 + 0.5 {
            continue;
        }
        line(o, x, top, x, y, "grid");
        line(o, x, y, x, y + 4.0, "axis");
        let label = dur_label(t);
        let w = text_width(&label, 11.0);
        let (anchor, lx) = anchor_within(x, w, sc.r0 - 20.0, sc.r1 + 20.0);
        let (l, r) = extent(anchor, lx, w);
        if l < last_right + 6.0 {
            continue; // never two tick labels on top of each other
        }
        last_right = r;
        text(o, lx, y + 16.0, anchor, "tick", &label);
    }
}

/// A horizontal date axis (seconds since the epoch): ticks on whole days, or on the first
/// of the month when the span is long, labelled `YYYY-MM-DD`.
pub fn x_date_axis(o: &mut String, sc: &Scale, y: f64, top: f64) {
    line(o, sc.r0, y, sc.r1, y, "axis");
    let span_days = (sc.d1 - sc.d0) / 86_400.0;
    let mut ticks: Vec<i64> = Vec::new();
    let first_day = (sc.d0 / 86_400.0).ceil() as i64;
    let last_day = (sc.d1 / 86_400.0).floor() as i64;
    if let Some(step) = [1, 2, 7, 14].into_iter().find(|s| span_days / *s as f64 <= 8.0) {
        // Weekly steps start on a Monday (1970-01-01 was a Thursday).
        let mut d = if step >= 7 {
            first_day + (7 - (first_day + 3).rem_euclid(7)) % 7
        } else {
            first_day
        };
        while d <= last_day && ticks.len() < 100 {
            ticks.push(d * 86_400);
            d += step;
        }
    } else {
        let months = [1, 2, 3, 6, 12, 24, 60, 120]
            .into_iter()
            .find(|m| span_days / (*m as f64 * 30.4) <= 8.0)
            .unwrap_or(120);
        let (mut yr, mut mo, _) = timestamp::civil_from_days(first_day);
        // Start at a month that is a multiple of the step (January, April, ... for quarters).
        let step = months as i64;
        let mut idx = yr * 12 + (mo as i64 - 1);
        idx = idx + (step - idx.rem_euclid(step)) % step;
        if timestamp::days_from_civil(idx.div_euclid(12), (idx.rem_euclid(12) + 1) as u32, 1) < first_day {
            idx += step;
        }
        loop {
            yr = idx.div_euclid(12);
            mo = (idx.rem_euclid(12) + 1) as u32;
            let d = timestamp::days_from_civil(yr, mo, 1);
            if d > last_day || ticks.len() >= 100 {
                break;
            }
            ticks.push(d * 86_400);
            idx += step;
        }
    }
    let mut last_right = f64::NEG_INFINITY;
    for t in ticks {
        let x = sc.map(t as f64);
        line(o, x, top, x, y, "grid");
        line(o, x, y, x, y + 4.0, "axis");
        let label = timestamp::format_date(t);
        let w = text_width(&label, 11.0);
        let (anchor, lx) = anchor_within(x, w, sc.r0 - 30.0, sc.r1 + 30.0);
        let (l, r) = extent(anchor, lx, w);
        if l >= last_right + 8.0 {
            last_right = r;
            text(o, lx, y + 16.0, anchor, "tick", &label);
        }
    }
}

/// A vertical axis at `x` with ticks labelled by `label`, and grid lines across to `right`.
pub fn y_axis(o: &mut String, sc: &Scale, ticks: &[f64], x: f64, right: f64, label: impl Fn(f64) -> String) {
    line(o, x, sc.r0, x, sc.r1, "axis");
    for &t in ticks {
        let y = sc.map(t);
        if y > sc.r0 + 0.5 || y < sc.r1 - 0.5 {
            continue;
        }
        line(o, x, y, right, y, "grid");
        line(o, x - 4.0, y, x, y, "axis");
        text(o, x - 7.0, y + 4.0, "end", "tick", &label(t));
    }
}

mod charts;

pub use charts::{bar_vs_target, gantt, histogram, time_series, GanttRow, Marker, Point};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_text_and_attributes() {
        assert_eq!(
            esc("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(esc("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn duration_labels_are_short_and_readable() {
        let cases = [
            (0.0, "0"),
            (0.25, "250ms"),
            (1.5, "1.5s"),
            (30.0, "30s"),
            (90.0, "1m30s"),
            (300.0, "5m"),
            (5400.0, "1h30m"),
            (7200.0, "2h"),
            (86_400.0 * 3.0, "3d"),
            (-60.0, "-1m"),
        ];
        for (s, want) in cases {
            assert_eq!(dur_label(s), want, "{s}");
        }
    }

    #[test]
    fn ticks_cover_the_range_at_round_steps() {
        let (t, step) = duration_ticks(0.0, 1800.0, 10);
        assert_eq!(step, 300.0);
        assert_eq!(t.first(), Some(&0.0));
        assert!(t.last().is_some_and(|l| *l >= 1800.0));
        let (t, step) = duration_ticks(0.0, 0.3, 10);
        assert_eq!(step, 0.05);
        assert!(t.len() <= 11);
        for (lo, hi) in [
            (0.0, 0.0),
            (5.0, 5.0),
            (f64::NAN, 3.0),
            (0.0, f64::INFINITY),
            (0.0, 1e9),
        ] {
            let (t, _) = duration_ticks(lo, hi, 8);
            assert!(!t.is_empty() && t.len() <= 20, "{lo} {hi}: {t:?}");
        }
        let (c, step) = count_ticks(737.0, 5);
        assert_eq!(step, 200.0);
        assert_eq!(c.last(), Some(&800.0));
    }

    #[test]
    fn date_ticks_fall_on_month_starts_for_long_spans() {
        let (a, b) = (
            timestamp::parse("2025-01-20").unwrap_or(0) as f64,
            timestamp::parse("2025-12-10").unwrap_or(0) as f64,
        );
        let mut o = String::new();
        x_date_axis(&mut o, &Scale::new(a, b, 0.0, 1000.0), 100.0, 0.0);
        for m in ["2025-03-01", "2025-05-01", "2025-07-01", "2025-11-01"] {
            assert!(o.contains(m), "{m} in {o}");
        }
        assert!(!o.contains("2025-01-20"));
        let mut o = String::new();
        x_date_axis(&mut o, &Scale::new(a, a + 3.0 * 86_400.0, 0.0, 1000.0), 100.0, 0.0);
        assert!(o.contains("2025-01-21") && o.contains("2025-01-22"));
    }

    #[test]
    fn placed_labels_never_overlap() {
        let spans = [(0.0, 50.0), (40.0, 90.0), (45.0, 60.0), (100.0, 120.0), (10.0, 20.0)];
        let rows = place_rows(&spans, 4.0);
        for i in 0..spans.len() {
            for j in 0..i {
                if rows[i] == rows[j] {
                    let (a, b) = (spans[i], spans[j]);
                    assert!(a.1 + 4.0 <= b.0 || a.0 >= b.1 + 4.0, "{i} and {j} overlap");
                }
            }
        }
        assert_eq!(rows[0], 0);
        assert_eq!(rows[3], 0);
    }
}
