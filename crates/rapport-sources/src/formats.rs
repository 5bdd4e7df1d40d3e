//! How each system writes dates, date-times, booleans and numbers in its export files, and how they become
//! XDM values.
//!
//! | System | date-time | date | boolean |
//! | --- | --- | --- | --- |
//! | Salesforce | `2024-03-05T14:22:11.000Z` (also without millis, or with a `+0000` / `+00:00` offset) | `2024-03-05` | `true`/`false` (any case), `1`/`0` |
//! | Dynamics | `3/5/2024 2:22:11 PM` or `3/5/2024 2:22 PM`, in UTC; also ISO 8601 | `3/5/2024`; also `2024-03-05` | as Salesforce, plus `yes`/`no` |
//! | Marketo | `2024-03-05T14:22:11Z` (also with millis or an offset) | `2024-03-05` | as Salesforce |
//!
//! Two deliberate leniencies, both because CRMs store some XDM date-times as dates:
//! - a date-time column holding a bare date is read as midnight UTC (Salesforce's `LastActivityDate`,
//!   `Campaign.StartDate` and `Lead.ConvertedDate` are date fields mapped to XDM date-times);
//! - a date column holding a date-time at exactly midnight keeps its date (Dynamics "date only" fields may be
//!   exported as `3/5/2024 12:00:00 AM`).
//!
//! Output: dates as `YYYY-MM-DD`, date-times as RFC 3339 UTC with milliseconds (`2024-03-05T14:22:11.000Z`),
//! numbers as JSON numbers (integers stay integers), booleans as JSON booleans.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use rapport_model::{RowErrorCode, SourceSystem};
use serde_json::Number;

use crate::prep::DatePattern;
use crate::templates::datetime_pattern;

/// A value that cannot be mapped: the row is rejected with this code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) code: RowErrorCode,
    pub(crate) message: String,
}

impl Fault {
    pub(crate) fn new(code: RowErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Parses a date-time in `system`'s export format and prints it as RFC 3339 UTC with milliseconds.
pub(crate) fn datetime(system: SourceSystem, raw: &str) -> Result<String, Fault> {
    let text = raw.trim();
    parse_datetime(system, text)
        .or_else(|| parse_date(system, text).map(|date| date.and_time(NaiveTime::MIN).and_utc()))
        .map(|instant| instant.to_rfc3339_opts(SecondsFormat::Millis, true))
        .ok_or_else(|| {
            let expected = match system {
                SourceSystem::Salesforce => "YYYY-MM-DDTHH:MM:SS.sssZ",
                SourceSystem::Dynamics => "M/D/YYYY h:mm:ss AM/PM in UTC, or ISO 8601",
                SourceSystem::Marketo => "YYYY-MM-DDTHH:MM:SSZ",
            };
            Fault::new(
                RowErrorCode::BadDate,
                format!("{raw:?} is not a {} date-time (expected {expected})", system.source_type()),
            )
        })
}

/// Parses a date in `system`'s export format and prints it as `YYYY-MM-DD`.
pub(crate) fn date(system: SourceSystem, raw: &str) -> Result<String, Fault> {
    let text = raw.trim();
    parse_date(system, text)
        .or_else(|| {
            let instant = parse_datetime(system, text)?;
            (instant.time() == NaiveTime::MIN).then(|| instant.date_naive())
        })
        .map(|date| date.format("%Y-%m-%d").to_string())
        .ok_or_else(|| {
            let expected = match system {
                SourceSystem::Dynamics => "M/D/YYYY",
                SourceSystem::Salesforce | SourceSystem::Marketo => "YYYY-MM-DD",
            };
            Fault::new(
                RowErrorCode::BadDate,
                format!("{raw:?} is not a {} date (expected {expected})", system.source_type()),
            )
        })
}

/// Parses a boolean as `system` writes it.
pub(crate) fn boolean(system: SourceSystem, raw: &str) -> Result<bool, Fault> {
    let text = raw.trim();
    let yes_no = system == SourceSystem::Dynamics;
    if text.eq_ignore_ascii_case("true") || text == "1" || (yes_no && text.eq_ignore_ascii_case("yes")) {
        return Ok(true);
    }
    if text.eq_ignore_ascii_case("false") || text == "0" || (yes_no && text.eq_ignore_ascii_case("no")) {
        return Ok(false);
    }
    let expected = if yes_no { "true, false, yes, no, 1 or 0" } else { "true, false, 1 or 0" };
    Err(Fault::new(
        RowErrorCode::BadBoolean,
        format!("{raw:?} is not a {} boolean (expected {expected})", system.source_type()),
    ))
}

/// Parses a decimal number; integers stay JSON integers.
pub(crate) fn number(raw: &str) -> Result<Number, Fault> {
    let text = raw.trim();
    if let Ok(int) = text.parse::<i64>() {
        return Ok(Number::from(int));
    }
    text.parse::<f64>()
        .ok()
        .filter(|float| float.is_finite())
        .and_then(Number::from_f64)
        .ok_or_else(|| Fault::new(RowErrorCode::BadNumber, format!("{raw:?} is not a number")))
}

/// Parses a whole number; `12.0` is accepted as `12` (Salesforce writes some integer fields as doubles).
pub(crate) fn integer(raw: &str) -> Result<i64, Fault> {
    let text = raw.trim();
    if let Ok(int) = text.parse::<i64>() {
        return Ok(int);
    }
    let fault = || Fault::new(RowErrorCode::BadNumber, format!("{raw:?} is not a whole number"));
    let float = number(raw).map_err(|_| fault())?.as_f64().ok_or_else(fault)?;
    // Below 2^53 the cast is exact; anything larger is not a plausible count anyway.
    if float.fract() == 0.0 && float.abs() < 9.0e15 {
        Ok(float as i64)
    } else {
        Err(fault())
    }
}

/// Reads a date-time with the pattern the system's mapping template uses (`templates::datetime_pattern`), so that
/// a connector load and a dry run of its template accept and produce the same values.
fn parse_datetime(system: SourceSystem, text: &str) -> Option<DateTime<Utc>> {
    static PATTERNS: OnceLock<[DatePattern; 2]> = OnceLock::new();
    let [iso, dynamics] = PATTERNS.get_or_init(|| {
        [SourceSystem::Salesforce, SourceSystem::Dynamics].map(|system| {
            DatePattern::compile(datetime_pattern(system)).expect("the template date patterns compile (unit-tested)")
        })
    });
    match system {
        SourceSystem::Salesforce | SourceSystem::Marketo => iso.parse(text),
        SourceSystem::Dynamics => dynamics.parse(text),
    }
}

fn parse_date(system: SourceSystem, text: &str) -> Option<NaiveDate> {
    let iso = || NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    match system {
        SourceSystem::Salesforce | SourceSystem::Marketo => iso(),
        SourceSystem::Dynamics => NaiveDate::parse_from_str(text, "%m/%d/%Y").ok().or_else(iso),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SF: SourceSystem = SourceSystem::Salesforce;
    const DYN: SourceSystem = SourceSystem::Dynamics;
    const MK: SourceSystem = SourceSystem::Marketo;

    #[test]
    fn salesforce_date_times_in_every_accepted_shape() {
        for raw in [
            "2024-03-05T14:22:11.000Z",
            "2024-03-05T14:22:11Z",
            "2024-03-05T14:22:11.000+0000",
            "2024-03-05T15:22:11+01:00",
        ] {
            assert_eq!(datetime(SF, raw).unwrap(), "2024-03-05T14:22:11.000Z", "{raw}");
        }
        assert_eq!(datetime(SF, "2024-03-05").unwrap(), "2024-03-05T00:00:00.000Z");
        let fault = datetime(SF, "2024-02-30T10:00:00.000Z").unwrap_err();
        assert_eq!(fault.code, RowErrorCode::BadDate);
        assert_eq!(
            fault.message,
            r#""2024-02-30T10:00:00.000Z" is not a Salesforce date-time (expected YYYY-MM-DDTHH:MM:SS.sssZ)"#
        );
        assert!(datetime(SF, "3/5/2024 2:22:11 PM").is_err());
        // Shapes RFC 3339 parsers let through but the template's pattern does not (a dry run of the template
        // and a load through the connector must agree).
        for raw in ["2024-03-05 14:22:11Z", "2024-03-05t14:22:11z", "2024-03-05T23:59:60Z"] {
            assert!(datetime(SF, raw).is_err(), "{raw}");
        }
        assert!(datetime(SF, "2024-03-05T14:22:11").is_err(), "a zone is required");
    }

    #[test]
    fn dynamics_reads_us_and_iso_date_times_as_utc() {
        assert_eq!(datetime(DYN, "3/5/2024 2:22:11 PM").unwrap(), "2024-03-05T14:22:11.000Z");
        assert_eq!(datetime(DYN, "03/05/2024 2:22 am").unwrap(), "2024-03-05T02:22:00.000Z");
        assert_eq!(datetime(DYN, "12/31/2024 12:00:00 AM").unwrap(), "2024-12-31T00:00:00.000Z");
        assert_eq!(datetime(DYN, "2024-03-05T14:22:11Z").unwrap(), "2024-03-05T14:22:11.000Z");
        assert_eq!(datetime(DYN, "2024-03-05T14:22:11").unwrap(), "2024-03-05T14:22:11.000Z");
        assert_eq!(datetime(DYN, "3/5/2024").unwrap(), "2024-03-05T00:00:00.000Z");
        assert!(datetime(DYN, "13/5/2024 2:22:11 PM").is_err());
        assert!(datetime(DYN, "3/5/2024 13:22:11 PM").is_err());
    }

    #[test]
    fn marketo_date_times() {
        assert_eq!(datetime(MK, "2024-03-05T14:22:11Z").unwrap(), "2024-03-05T14:22:11.000Z");
        assert_eq!(datetime(MK, "2024-03-05T14:22:11.123Z").unwrap(), "2024-03-05T14:22:11.123Z");
        assert_eq!(datetime(MK, "2024-03-05T09:22:11-05:00").unwrap(), "2024-03-05T14:22:11.000Z");
        assert!(datetime(MK, "yesterday").is_err());
    }

    #[test]
    fn dates_per_system() {
        assert_eq!(date(SF, "2024-03-05").unwrap(), "2024-03-05");
        assert_eq!(date(MK, "2024-03-05").unwrap(), "2024-03-05");
        assert_eq!(date(DYN, "3/5/2024").unwrap(), "2024-03-05");
        assert_eq!(date(DYN, "3/5/2024 12:00:00 AM").unwrap(), "2024-03-05");
        assert_eq!(date(DYN, "2024-03-05").unwrap(), "2024-03-05");
        assert_eq!(
            date(DYN, "3/5/2024 1:00:00 PM").unwrap_err().message,
            r#""3/5/2024 1:00:00 PM" is not a Dynamics date (expected M/D/YYYY)"#
        );
        assert_eq!(date(SF, "2023-02-29").unwrap_err().code, RowErrorCode::BadDate);
    }

    #[test]
    fn booleans_per_system() {
        for (raw, value) in [("true", true), ("TRUE", true), ("False", false), ("1", true), ("0", false)] {
            assert_eq!(boolean(SF, raw).unwrap(), value);
            assert_eq!(boolean(MK, raw).unwrap(), value);
            assert_eq!(boolean(DYN, raw).unwrap(), value);
        }
        assert!(boolean(DYN, "Yes").unwrap());
        assert_eq!(
            boolean(SF, "yes").unwrap_err().message,
            r#""yes" is not a Salesforce boolean (expected true, false, 1 or 0)"#
        );
        assert_eq!(boolean(MK, "2").unwrap_err().code, RowErrorCode::BadBoolean);
    }

    #[test]
    fn numbers_keep_integers_and_reject_junk() {
        assert_eq!(number("5000000").unwrap(), Number::from(5_000_000));
        assert_eq!(number(" -12.5 ").unwrap().as_f64(), Some(-12.5));
        assert_eq!(number("37.7749").unwrap().as_f64(), Some(37.7749));
        for junk in ["12a", "1,000", "NaN", "inf", "1e999", "$5", ""] {
            assert_eq!(number(junk).unwrap_err().code, RowErrorCode::BadNumber, "{junk}");
        }
        assert_eq!(integer("120").unwrap(), 120);
        assert_eq!(integer("10.0").unwrap(), 10);
        assert_eq!(integer("10.5").unwrap_err().message, r#""10.5" is not a whole number"#);
    }
}
