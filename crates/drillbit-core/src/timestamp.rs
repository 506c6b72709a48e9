//! Wall-clock timestamps as RFC 3339 text in UTC (`2025-11-25T11:56:00Z`), without a date
//! crate: the civil-calendar conversions (Howard Hinnant's `days_from_civil`) and a parser
//! for the forms drillbit reads back (scorecards' `started_at`, `--as-of` dates).
//!
//! Only the CLI reads the clock ([`now`]); the library formats and parses.

/// Seconds since the Unix epoch, now. Before 1970 (a broken clock) counts as 0.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number from [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2025-11-25T11:56:00Z`
pub fn format_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `2025-11-25`
pub fn format_date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2025-11-25 11:56 UTC`
pub fn format_human(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    format!("{} {:02}:{:02} UTC", format_date(secs), rem / 3600, rem / 60 % 60)
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)` (a space for `T` too) into
/// seconds since the epoch; fractions of a second are dropped. None for anything else.
pub fn parse(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.len() < 10 || !t.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = t.split_at(10);
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&date[0..4])?, num(&date[5..7])? as u32, num(&date[8..10])? as u32);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let day = days_from_civil(y, m, d) * 86_400;
    if rest.is_empty() {
        return Some(day);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    if rest.len() < 8 || !rest.is_char_boundary(8) {
        return None;
    }
    let (hms, mut zone) = rest.split_at(8);
    let hb = hms.as_bytes();
    if hb[2] != b':' || hb[5] != b':' {
        return None;
    }
    let (hh, mm, ss) = (num(&hms[0..2])?, num(&hms[3..5])?, num(&hms[6..8])?);
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    if let Some(frac) = zone.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        zone = &frac[digits..];
    }
    let offset = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && z.as_bytes()[3] == b':' => {
            let (oh, om) = (num(&z[1..3])?, num(&z[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if z.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some(day + hh * 3600 + mm * 60 + ss - offset)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_764_071_760), "2025-11-25T11:56:00Z");
        for t in [0, 951_782_400, 1_764_071_760, 4_102_444_799, -86_400] {
            assert_eq!(parse(&format_utc(t)), Some(t), "{t}");
        }
        for z in -1000..1000 {
            let (y, m, d) = civil_from_days(z * 97);
            assert_eq!(days_from_civil(y, m, d), z * 97);
        }
    }

    #[test]
    fn parses_dates_offsets_and_fractions() {
        assert_eq!(parse("2025-11-25"), Some(1_764_028_800));
        assert_eq!(parse("2025-11-25T12:56:00+01:00"), Some(1_764_071_760));
        assert_eq!(parse("2025-11-25 11:56:00.123456Z"), Some(1_764_071_760));
        assert_eq!(format_human(1_764_071_760), "2025-11-25 11:56 UTC");
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2025",
            "2025-13-01",
            "2025-02-30",
            "2025-11-25T",
            "2025-11-25T25:00:00Z",
            "2025-11-25T11:56:00",
            "2025-11-25T11:56:00.Z",
            "2025-11-25T11:56:00+1:00",
            "yyyy-mm-dd",
            "2025-11-2é",
            "2025-11-25T11:5é:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
