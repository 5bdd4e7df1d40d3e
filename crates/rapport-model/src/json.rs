//! Integers a JSON text holds that 64 bits cannot.
//!
//! serde_json reads an integer literal below -2^63 or above 2^64 - 1 as the nearest float, silently:
//! `123456789012345678901234` becomes `1.2345678901234568e23`, its last digits lost. Every input path that takes
//! JSON from users (JSON and NDJSON files, streamed messages) asks [`large_integers`] after parsing, and refuses
//! the record holding one, naming its path. A number written with a fraction or an exponent (`1e20`) is a float
//! and is not reported.

/// An integer literal too large for 64 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeInteger {
    /// Where it is: object keys and array indices from the root of the text.
    pub path: Vec<String>,
    /// The literal as written.
    pub literal: String,
    /// The byte offset of its first character in the text.
    pub offset: usize,
}

/// An open object (with the byte range of its current key) or array (with its current index).
enum Open {
    Object(Option<(usize, usize)>),
    Array(usize),
}

/// Every integer literal of `text`, which must be valid JSON (parse it first), that is outside what `i64` and
/// `u64` hold, in text order. A text without a run of 19 digits holds none and is answered after one pass over its
/// bytes, without reading its structure.
pub fn large_integers(text: &[u8]) -> Vec<LargeInteger> {
    if !has_digit_run(text, 19) {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' => open.push(Open::Object(None)),
            b'[' => open.push(Open::Array(0)),
            b'}' | b']' => {
                open.pop();
            }
            b',' => {
                if let Some(Open::Array(index)) = open.last_mut() {
                    *index += 1;
                }
            }
            b'"' => {
                let end = string_end(text, i);
                let after = text[end..].iter().position(|byte| !byte.is_ascii_whitespace()).map(|skip| end + skip);
                if let (Some(Open::Object(key)), Some(colon)) = (open.last_mut(), after) {
                    if text[colon] == b':' {
                        *key = Some((i, end));
                    }
                }
                i = end;
                continue;
            }
            b'-' | b'0'..=b'9' => {
                let end = text[i..]
                    .iter()
                    .position(|byte| !matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(text.len(), |length| i + length);
                let literal = &text[i..end];
                if too_large(literal) {
                    found.push(LargeInteger {
                        path: open.iter().map(|frame| segment(text, frame)).collect(),
                        literal: String::from_utf8_lossy(literal).into_owned(),
                        offset: i,
                    });
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Sets the value at `path` (object keys and array indices, as in [`LargeInteger::path`]) inside `value` to null;
/// an empty path nulls `value` itself, and a path that leads nowhere changes nothing.
pub fn set_null(value: &mut serde_json::Value, path: &[String]) {
    use serde_json::Value;
    let mut slot = Some(value);
    for step in path {
        slot = match slot {
            Some(Value::Object(object)) => object.get_mut(step),
            Some(Value::Array(items)) => step.parse::<usize>().ok().and_then(|index| items.get_mut(index)),
            _ => None,
        };
    }
    if let Some(value) = slot {
        *value = Value::Null;
    }
}

/// Whether `text` holds `length` ASCII digits in a row. Such a run covers a multiple of `length`, so only the bytes
/// there are looked at, and the run through a digit found there is measured both ways.
fn has_digit_run(text: &[u8], length: usize) -> bool {
    let mut at = length - 1;
    while at < text.len() {
        if text[at].is_ascii_digit() {
            let before = text[..at].iter().rev().take_while(|byte| byte.is_ascii_digit()).count();
            let after = text[at..].iter().take_while(|byte| byte.is_ascii_digit()).count();
            if before + after >= length {
                return true;
            }
            // Another run starts past this one's end: look at the first position checked from there.
            at = (at + after + 1).next_multiple_of(length) - 1;
        } else {
            at += length;
        }
    }
    false
}

/// The byte after the string whose opening quote is at `start`.
fn string_end(text: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

/// The path segment of an open object or array: its current key, read as JSON reads it, or its index.
fn segment(text: &[u8], frame: &Open) -> String {
    match frame {
        Open::Array(index) => index.to_string(),
        Open::Object(Some((start, end))) => {
            serde_json::from_slice::<String>(&text[*start..*end]).unwrap_or_else(|_| String::new())
        }
        Open::Object(None) => String::new(),
    }
}

/// Whether `literal` is an integer (digits, an optional leading minus) outside `i64` and `u64`.
fn too_large(literal: &[u8]) -> bool {
    let (negative, digits) = match literal.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, literal),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // JSON writes no leading zeros, so more digits is a larger number, and equal lengths compare as text.
    let limit: &[u8] = if negative { b"9223372036854775808" } else { b"18446744073709551615" };
    digits.len() > limit.len() || (digits.len() == limit.len() && digits > limit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn found(text: &str) -> Vec<(String, String, usize)> {
        serde_json::from_str::<serde_json::Value>(text).unwrap();
        large_integers(text.as_bytes()).into_iter().map(|l| (l.path.join("."), l.literal, l.offset)).collect()
    }

    fn at(path: &str, literal: &str, offset: usize) -> (String, String, usize) {
        (path.to_owned(), literal.to_owned(), offset)
    }

    #[test]
    fn integers_beyond_64_bits_are_found_with_their_paths() {
        assert_eq!(found(r#"{"id": 123456789012345678901234}"#), [at("id", "123456789012345678901234", 7)]);
        // One above u64::MAX in an array, one below i64::MIN in a nested object, in text order.
        let text = r#"{"a": [1, 18446744073709551616], "b": {"c\"d": -9223372036854775809}}"#;
        assert_eq!(found(text), [at("a.1", "18446744073709551616", 10), at("b.c\"d", "-9223372036854775809", 47)]);
        // Keys before and after the value do not shift the path; a key's escapes are read.
        let text = r#"[{"x": 1, "\u0061": [[], {"k": 99999999999999999999}], "z": 2}]"#;
        assert_eq!(found(text), [at("0.a.1.k", "99999999999999999999", 31)]);
        // A top-level number.
        assert_eq!(found("-100000000000000000000"), [at("", "-100000000000000000000", 0)]);
    }

    #[test]
    fn digit_runs_are_found_wherever_they_start() {
        // One run of every length at every start.
        for length in [1, 2, 3, 19] {
            for size in 0..45 {
                for start in 0..size {
                    for run in 0..=(size - start) {
                        let mut text = vec![b'x'; size];
                        text[start..start + run].fill(b'7');
                        assert_eq!(has_digit_run(&text, length), run >= length, "{length} {size} {start} {run}");
                    }
                }
            }
        }
        // Two runs: the second is found after the first was measured.
        let size = 24;
        for length in [2, 3, 5] {
            for (first, one) in (0..size).flat_map(|s| (0..=size - s).map(move |r| (s, r))) {
                for (second, two) in (first + one + 1..size).flat_map(|s| (0..=size - s).map(move |r| (s, r))) {
                    let mut text = vec![b'x'; size];
                    text[first..first + one].fill(b'7');
                    text[second..second + two].fill(b'7');
                    let expected = one.max(two) >= length;
                    assert_eq!(has_digit_run(&text, length), expected, "{length} {first}+{one} {second}+{two}");
                }
            }
        }
    }

    #[test]
    fn the_edges_of_the_ranges_floats_and_digits_in_strings_are_not_reported() {
        let texts = [
            r#"{"u": 18446744073709551615, "i": -9223372036854775808, "j": 9223372036854775807}"#,
            r#"{"f": 1e20, "g": 12345678901234567890.0, "h": -12345678901234567890e0, "k": 1.5E300}"#,
            r#"{"s": "123456789012345678901234", "123456789012345678901234": "a\"12345678901234567890"}"#,
            r#"[0.1234567890123456789012, 1234567890123456789]"#,
        ];
        for text in texts {
            assert_eq!(found(text), [], "{text}");
        }
    }

    #[test]
    fn set_null_nulls_the_value_at_a_path_and_nothing_else() {
        let path = |text: &str| text.split('.').filter(|step| !step.is_empty()).map(str::to_owned).collect::<Vec<_>>();
        let start = serde_json::json!({"a": {"ids": [1, 2]}, "b": 3});
        let mut value = start.clone();
        set_null(&mut value, &path("a.ids.1"));
        assert_eq!(value, serde_json::json!({"a": {"ids": [1, null]}, "b": 3}));
        set_null(&mut value, &path("a"));
        assert_eq!(value, serde_json::json!({"a": null, "b": 3}));
        // Paths that lead nowhere: a missing key, an index past the end, a step into a number.
        let mut value = start.clone();
        for nowhere in ["c", "a.ids.2", "a.ids.x", "b.0"] {
            set_null(&mut value, &path(nowhere));
        }
        assert_eq!(value, start);
        set_null(&mut value, &[]);
        assert_eq!(value, serde_json::Value::Null);
    }
}
