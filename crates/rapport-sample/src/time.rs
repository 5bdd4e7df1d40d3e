//! Timestamps (Unix seconds, UTC) and the three systems' ways of printing them.
//!
//! Hand-rolled instead of pulling in a date library: the generator only ever needs proleptic
//! Gregorian UTC formatting, and doing it without allocation keeps the hot loop cheap.

use std::fmt::Write;

/// 2019-01-01T00:00:00Z.
pub(crate) const T2019: i64 = 1_546_300_800;
/// 2020-01-01T00:00:00Z.
pub(crate) const T2020: i64 = 1_577_836_800;
/// 2024-07-01T00:00:00Z.
pub(crate) const T2024_07: i64 = 1_719_792_000;
/// Seconds per day.
pub(crate) const DAY: i64 = 86_400;

/// Civil date and time of a Unix timestamp.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// Howard Hinnant's `civil_from_days`.
fn civil(t: i64) -> Civil {
    let days = t.div_euclid(DAY);
    let secs = t.rem_euclid(DAY) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil { year, month, day, hour: secs / 3600, minute: secs / 60 % 60, second: secs % 60 }
}

/// Salesforce datetime, `2024-03-05T14:22:11.000Z`.
pub(crate) fn salesforce_datetime(out: &mut String, t: i64) {
    let c = civil(t);
    let _ = write!(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z", c.year, c.month, c.day, c.hour, c.minute, c.second);
}

/// Salesforce date, `2024-03-05`.
pub(crate) fn salesforce_date(out: &mut String, t: i64) {
    let c = civil(t);
    let _ = write!(out, "{:04}-{:02}-{:02}", c.year, c.month, c.day);
}

/// Dynamics (US locale export) datetime, `3/5/2024 2:22:11 PM`.
pub(crate) fn dynamics_datetime(out: &mut String, t: i64) {
    let c = civil(t);
    let (hour, half) = match c.hour {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    let _ = write!(out, "{}/{}/{} {}:{:02}:{:02} {}", c.month, c.day, c.year, hour, c.minute, c.second, half);
}

/// Dynamics date, `3/5/2024`.
pub(crate) fn dynamics_date(out: &mut String, t: i64) {
    let c = civil(t);
    let _ = write!(out, "{}/{}/{}", c.month, c.day, c.year);
}

/// Marketo datetime, `2024-03-05T14:22:11Z`.
pub(crate) fn marketo_datetime(out: &mut String, t: i64) {
    let c = civil(t);
    let _ = write!(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: fn(&mut String, i64), t: i64) -> String {
        let mut s = String::new();
        f(&mut s, t);
        s
    }

    #[test]
    fn formats_each_system() {
        // 2024-03-05T14:22:11Z
        let t = 1_709_648_531;
        assert_eq!(fmt(salesforce_datetime, t), "2024-03-05T14:22:11.000Z");
        assert_eq!(fmt(salesforce_date, t), "2024-03-05");
        assert_eq!(fmt(dynamics_datetime, t), "3/5/2024 2:22:11 PM");
        assert_eq!(fmt(dynamics_date, t), "3/5/2024");
        assert_eq!(fmt(marketo_datetime, t), "2024-03-05T14:22:11Z");
    }

    #[test]
    fn dynamics_uses_twelve_hour_clock() {
        assert_eq!(fmt(dynamics_datetime, T2020), "1/1/2020 12:00:00 AM");
        assert_eq!(fmt(dynamics_datetime, T2020 + 12 * 3600 + 5), "1/1/2020 12:00:05 PM");
        assert_eq!(fmt(salesforce_date, T2019 + 59 * DAY), "2019-03-01");
        assert_eq!(fmt(salesforce_date, T2024_07 - DAY), "2024-06-30");
    }
}
