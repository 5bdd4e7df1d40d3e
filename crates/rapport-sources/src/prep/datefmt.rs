//! Java-style date patterns (`yyyy-MM-dd'T'HH:mm:ss.SSSX`, `M/d/yyyy h:mm a`), as Data Prep's `date()` and
//! `format()` take them.
//!
//! Letters: `y` year (`yy`: 2000 + two digits), `M` month (`MMM` / `MMMM`: English name), `d` day, `H` hour
//! 0-23, `h` hour 1-12 with `a` (AM/PM, any case), `m` minute, `s` second, `S` fraction of a second (any number
//! of digits when parsing), `X` / `x` / `Z` zone offset (`Z`, `+01`, `+0100`, `+01:00` are all read), `E` day
//! name (read and ignored). `'text'` is literal text (`''` a quote); other non-letters are literal.
//! `[...]` is an optional section, as in `java.time`: `yyyy-MM-dd['T'HH:mm:ss[.SSS]X]` reads a date with or
//! without a time, and `[M/d/yyyy][yyyy-MM-dd]` either shape.
//!
//! Parsing is slightly lenient where Java is strict: one-or-two-digit fields (`MM`, `dd`, `HH`, ...) take one
//! digit too unless another number follows directly (`yyyyMMdd`). A value without an offset is UTC; a value
//! without a time is midnight.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Field { letter: char, count: usize },
    Literal(String),
    Optional(Vec<Piece>),
}

/// A compiled date pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatePattern {
    pieces: Vec<Piece>,
}

/// The most `[...]` sections a pattern may have.
const MAX_OPTIONAL: usize = 12;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

impl DatePattern {
    /// Compiles a pattern; the error says which letter or bracket is wrong.
    pub fn compile(pattern: &str) -> Result<Self, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pos = 0;
        let pieces = compile_seq(&chars, &mut pos, 0)?;
        // Each optional section may double the work of a failed match: bound them.
        let optional = pattern.matches('[').count();
        if optional > MAX_OPTIONAL {
            return Err(format!("the pattern has {optional} optional sections (at most {MAX_OPTIONAL})"));
        }
        Ok(Self { pieces })
    }

    /// Reads `text` (trimmed) as an instant; `None` when it does not match the whole pattern or names an
    /// impossible date.
    pub fn parse(&self, text: &str) -> Option<DateTime<Utc>> {
        let input: Vec<char> = text.trim().chars().collect();
        let state = matches(&self.pieces, &mut Vec::new(), &input, 0, State::default())?;
        state.build()
    }

    /// Writes `instant` (in UTC) with the pattern; optional sections are written.
    pub fn format(&self, instant: &DateTime<Utc>) -> String {
        let mut out = String::new();
        format_seq(&self.pieces, instant, &mut out);
        out
    }
}

/// Parses `text` with `pattern`; `Err` when the pattern is invalid, `Ok(None)` when the text does not match.
pub fn parse_datetime(text: &str, pattern: &str) -> Result<Option<DateTime<Utc>>, String> {
    Ok(DatePattern::compile(pattern)?.parse(text))
}

/// Formats `instant` with `pattern`.
pub fn format_datetime(instant: &DateTime<Utc>, pattern: &str) -> Result<String, String> {
    Ok(DatePattern::compile(pattern)?.format(instant))
}

fn compile_seq(chars: &[char], pos: &mut usize, depth: usize) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    while *pos < chars.len() {
        let c = chars[*pos];
        match c {
            '[' => {
                *pos += 1;
                let inner = compile_seq(chars, pos, depth + 1)?;
                pieces.push(Piece::Optional(inner));
            }
            ']' => {
                if depth == 0 {
                    return Err(format!("`]` at character {} closes no `[`", *pos + 1));
                }
                *pos += 1;
                return Ok(pieces);
            }
            '\'' => {
                let mut text = String::new();
                *pos += 1;
                if chars.get(*pos) == Some(&'\'') {
                    *pos += 1;
                    pieces.push(Piece::Literal("'".into()));
                    continue;
                }
                loop {
                    match chars.get(*pos) {
                        None => return Err("unterminated quoted text (no closing ')".into()),
                        Some('\'') if chars.get(*pos + 1) == Some(&'\'') => {
                            text.push('\'');
                            *pos += 2;
                        }
                        Some('\'') => {
                            *pos += 1;
                            break;
                        }
                        Some(other) => {
                            text.push(*other);
                            *pos += 1;
                        }
                    }
                }
                pieces.push(Piece::Literal(text));
            }
            _ if c.is_ascii_alphabetic() => {
                if !"yMdHhmsSaXxZE".contains(c) {
                    return Err(format!("the pattern letter `{c}` is not supported"));
                }
                let mut count = 0;
                while chars.get(*pos) == Some(&c) {
                    count += 1;
                    *pos += 1;
                }
                pieces.push(Piece::Field { letter: c, count });
            }
            _ => {
                pieces.push(Piece::Literal(c.to_string()));
                *pos += 1;
            }
        }
    }
    if depth > 0 {
        return Err("a `[` is never closed".into());
    }
    Ok(pieces)
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    hour: Option<u32>,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    nanos: Option<u32>,
    offset: Option<i32>,
}

impl State {
    fn build(self) -> Option<DateTime<Utc>> {
        let date = NaiveDate::from_ymd_opt(self.year?, self.month?, self.day?)?;
        let hour = match (self.hour12, self.pm) {
            (Some(h), Some(pm)) => h % 12 + if pm { 12 } else { 0 },
            (Some(h), None) => h,
            (None, _) => self.hour.unwrap_or(0),
        };
        let time = NaiveTime::from_hms_nano_opt(
            hour,
            self.minute.unwrap_or(0),
            self.second.unwrap_or(0),
            self.nanos.unwrap_or(0),
        )?;
        let offset = FixedOffset::east_opt(self.offset.unwrap_or(0))?;
        let local = date.and_time(time);
        Some(offset.from_local_datetime(&local).single()?.with_timezone(&Utc))
    }
}

fn is_numeric(piece: Option<&Piece>) -> bool {
    matches!(piece, Some(Piece::Field { letter, count }) if "ydHhmsS".contains(*letter) || (*letter == 'M' && *count <= 2))
}

/// Matches `pieces`, then the continuations in `rest` (innermost last), to the whole of `input[pos..]`.
fn matches<'p>(
    pieces: &'p [Piece],
    rest: &mut Vec<&'p [Piece]>,
    input: &[char],
    pos: usize,
    mut state: State,
) -> Option<State> {
    let Some((first, tail)) = pieces.split_first() else {
        return match rest.pop() {
            Some(next) => {
                let result = matches(next, rest, input, pos, state);
                rest.push(next);
                result
            }
            None => (pos == input.len()).then_some(state),
        };
    };
    match first {
        Piece::Literal(text) => {
            let len = text.chars().count();
            let candidate: String = input.get(pos..pos + len)?.iter().collect();
            if candidate != *text {
                return None;
            }
            matches(tail, rest, input, pos + len, state)
        }
        Piece::Optional(inner) => {
            rest.push(tail);
            let with = matches(inner, rest, input, pos, state);
            rest.pop();
            with.or_else(|| matches(tail, rest, input, pos, state))
        }
        Piece::Field { letter, count } => {
            let adjacent = is_numeric(tail.first());
            let (next, ok) = match letter {
                'y' => {
                    let width = if *count == 2 {
                        2..=2
                    } else if adjacent || *count >= 4 {
                        4..=4
                    } else {
                        1..=4
                    };
                    let (value, next) = digits(input, pos, width)?;
                    state.year = Some(if *count == 2 { 2000 + value as i32 } else { value as i32 });
                    (next, true)
                }
                'M' if *count >= 3 => {
                    let (month, next) = name(input, pos, &MONTHS, *count == 3)?;
                    state.month = Some(month as u32 + 1);
                    (next, true)
                }
                'E' => {
                    let (_, next) = name(input, pos, &DAYS, *count <= 3)?;
                    (next, true)
                }
                'a' => {
                    let text: String = input.get(pos..pos + 2)?.iter().collect::<String>().to_ascii_uppercase();
                    state.pm = Some(match text.as_str() {
                        "AM" => false,
                        "PM" => true,
                        _ => return None,
                    });
                    (pos + 2, true)
                }
                'S' => {
                    let (value, next) = digits(input, pos, 1..=9)?;
                    let width = (next - pos) as u32;
                    state.nanos = Some((value * 10u64.pow(9 - width)) as u32);
                    (next, true)
                }
                'X' | 'x' | 'Z' => {
                    let (offset, next) = offset(input, pos)?;
                    state.offset = Some(offset);
                    (next, true)
                }
                _ => {
                    let width = if adjacent && *count >= 2 { *count..=*count } else { 1..=(*count).max(2) };
                    let (value, next) = digits(input, pos, width)?;
                    let value = value as u32;
                    let ok = match letter {
                        'M' => (1..=12).contains(&value) && state.month.replace(value).is_none(),
                        'd' => (1..=31).contains(&value) && state.day.replace(value).is_none(),
                        'H' => value <= 23 && state.hour.replace(value).is_none(),
                        'h' => (1..=12).contains(&value) && state.hour12.replace(value).is_none(),
                        'm' => value <= 59 && state.minute.replace(value).is_none(),
                        's' => value <= 59 && state.second.replace(value).is_none(),
                        _ => false,
                    };
                    (next, ok)
                }
            };
            if !ok {
                return None;
            }
            matches(tail, rest, input, next, state)
        }
    }
}

/// Greedily reads between `width.start()` and `width.end()` ASCII digits.
fn digits(input: &[char], pos: usize, width: std::ops::RangeInclusive<usize>) -> Option<(u64, usize)> {
    let mut end = pos;
    while end < input.len() && end - pos < *width.end() && input[end].is_ascii_digit() {
        end += 1;
    }
    if end - pos < *width.start() {
        return None;
    }
    let text: String = input[pos..end].iter().collect();
    Some((text.parse().ok()?, end))
}

/// A month or day name, full or three-letter, any case.
fn name(input: &[char], pos: usize, names: &[&str], short: bool) -> Option<(usize, usize)> {
    for (index, full) in names.iter().enumerate() {
        let candidate = if short { &full[..3] } else { full };
        let len = candidate.len();
        let text: String = input.get(pos..pos + len).map(|s| s.iter().collect()).unwrap_or_default();
        if text.eq_ignore_ascii_case(candidate) {
            return Some((index, pos + len));
        }
    }
    None
}

/// `Z`, `±hh`, `±hhmm` or `±hh:mm`, in seconds east of UTC.
fn offset(input: &[char], pos: usize) -> Option<(i32, usize)> {
    match input.get(pos)? {
        'Z' | 'z' => Some((0, pos + 1)),
        sign @ ('+' | '-') => {
            let (hours, mut next) = digits(input, pos + 1, 2..=2)?;
            let mut minutes = 0;
            if input.get(next) == Some(&':') {
                let (m, after) = digits(input, next + 1, 2..=2)?;
                minutes = m;
                next = after;
            } else if let Some((m, after)) = digits(input, next, 2..=2) {
                minutes = m;
                next = after;
            }
            if hours > 18 || minutes > 59 {
                return None;
            }
            let seconds = (hours * 3600 + minutes * 60) as i32;
            Some((if *sign == '-' { -seconds } else { seconds }, next))
        }
        _ => None,
    }
}

fn format_seq(pieces: &[Piece], t: &DateTime<Utc>, out: &mut String) {
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Optional(inner) => format_seq(inner, t, out),
            Piece::Field { letter, count } => {
                let n = *count;
                let pad = |value: u32, out: &mut String| out.push_str(&format!("{value:0n$}"));
                match letter {
                    'y' if n == 2 => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
                    'y' => out.push_str(&format!("{:0n$}", t.year())),
                    'M' if n >= 4 => out.push_str(MONTHS[t.month0() as usize]),
                    'M' if n == 3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
                    'M' => pad(t.month(), out),
                    'd' => pad(t.day(), out),
                    'H' => pad(t.hour(), out),
                    'h' => pad(t.hour12().1, out),
                    'm' => pad(t.minute(), out),
                    's' => pad(t.second(), out),
                    'S' => {
                        let nanos = format!("{:09}", t.nanosecond().min(999_999_999));
                        out.push_str(&nanos[..n.min(9)]);
                        for _ in 9..n {
                            out.push('0');
                        }
                    }
                    'a' => out.push_str(if t.hour12().0 { "PM" } else { "AM" }),
                    'E' if n >= 4 => out.push_str(DAYS[t.weekday().num_days_from_monday() as usize]),
                    'E' => out.push_str(&DAYS[t.weekday().num_days_from_monday() as usize][..3]),
                    'X' => out.push('Z'),
                    'x' if n >= 3 => out.push_str("+00:00"),
                    'x' => out.push_str("+00"),
                    _ => out.push_str("+0000"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, pattern: &str) -> Option<String> {
        parse_datetime(text, pattern).unwrap().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    #[test]
    fn java_patterns_parse_to_utc() {
        assert_eq!(
            parse("2024-03-05T15:22:11.5+01:00", "yyyy-MM-dd'T'HH:mm:ss.SSSX").as_deref(),
            Some("2024-03-05T14:22:11.500Z")
        );
        assert_eq!(parse("3/5/2024", "MM/dd/yyyy").as_deref(), Some("2024-03-05T00:00:00.000Z"));
        assert_eq!(parse("3/5/2024 2:22 PM", "M/d/yyyy h:mm a").as_deref(), Some("2024-03-05T14:22:00.000Z"));
        assert_eq!(parse("12/31/2024 12:00:00 am", "M/d/yyyy h:mm:ss a").as_deref(), Some("2024-12-31T00:00:00.000Z"));
        assert_eq!(parse("20240305", "yyyyMMdd").as_deref(), Some("2024-03-05T00:00:00.000Z"));
        assert_eq!(parse("05-Mar-2024", "dd-MMM-yyyy").as_deref(), Some("2024-03-05T00:00:00.000Z"));
        assert_eq!(parse("2024-02-30", "yyyy-MM-dd"), None, "no such day");
        assert_eq!(parse("2024-03-05 junk", "yyyy-MM-dd"), None, "the whole text must match");
        assert_eq!(parse("13/5/2024", "M/d/yyyy"), None);
    }

    #[test]
    fn optional_sections_backtrack() {
        let pattern = "yyyy-MM-dd['T'HH:mm:ss[.SSS]X]";
        assert_eq!(parse("2024-03-05", pattern).as_deref(), Some("2024-03-05T00:00:00.000Z"));
        assert_eq!(parse("2024-03-05T14:22:11Z", pattern).as_deref(), Some("2024-03-05T14:22:11.000Z"));
        assert_eq!(parse("2024-03-05T14:22:11.123+0000", pattern).as_deref(), Some("2024-03-05T14:22:11.123Z"));
        assert_eq!(parse("2024-03-05T14:22:11", pattern), None, "a time needs its zone");
        let either = "[M/d/yyyy][yyyy-MM-dd]";
        assert_eq!(parse("3/5/2024", either).as_deref(), Some("2024-03-05T00:00:00.000Z"));
        assert_eq!(parse("2024-03-05", either).as_deref(), Some("2024-03-05T00:00:00.000Z"));
    }

    #[test]
    fn formats_and_pattern_errors() {
        let t = Utc.with_ymd_and_hms(2019, 10, 23, 14, 4, 5).unwrap();
        assert_eq!(format_datetime(&t, "yyyy-MM-dd HH:mm:ss").unwrap(), "2019-10-23 14:04:05");
        assert_eq!(format_datetime(&t, "M/d/yy h:mm a").unwrap(), "10/23/19 2:04 PM");
        assert_eq!(format_datetime(&t, "EEE, dd MMM yyyy'T'HH:mm:ss.SSSX").unwrap(), "Wed, 23 Oct 2019T14:04:05.000Z");
        assert_eq!(DatePattern::compile("yyyy-QQ").unwrap_err(), "the pattern letter `Q` is not supported");
        assert_eq!(DatePattern::compile("yyyy[-MM").unwrap_err(), "a `[` is never closed");
        assert_eq!(DatePattern::compile("'T").unwrap_err(), "unterminated quoted text (no closing ')");
    }
}
