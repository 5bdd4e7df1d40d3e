//! Streaming text decoding in front of the CSV parser, and the map from parsed positions back to file lines
//! and byte offsets.
//!
//! [`Decoder`] turns UTF-16 (LE or BE), ISO-8859-1 or Windows-1252 bytes into UTF-8 as they are read, a
//! buffer at a time; UTF-8 passes through untouched. Bytes that cannot be decoded (an unpaired UTF-16
//! surrogate, an odd trailing byte) become the byte `0xFF`, which is never valid UTF-8: the row holding them
//! then fails UTF-8 validation and is rejected like a row of invalid UTF-8, instead of being silently
//! repaired with U+FFFD.
//!
//! The CSV parser reports positions in decoded bytes, and the position it gives a record is where the previous
//! record ended (before skipped blank lines and the `\n` of a CRLF). So the decoder also keeps, for every
//! line it has produced and the parser has not yet passed, the line's number, its start in decoded bytes, its
//! start in the file and its first byte; [`Decoder::locate`] turns a parser position into the physical line
//! and file offset where the record really starts. Entries are dropped as the parser moves on, so the table
//! holds only the lines of the parser's read-ahead buffer and of the current record.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

/// The byte written in place of input that cannot be decoded; never valid in UTF-8.
pub(crate) const UNDECODABLE: u8 = 0xFF;

/// How input bytes become UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoding {
    /// Already UTF-8: bytes pass through (validation happens per field, after parsing).
    Utf8,
    /// UTF-16, little-endian code units.
    Utf16Le,
    /// UTF-16, big-endian code units.
    Utf16Be,
    /// ISO-8859-1: each byte is the code point of the same value.
    Latin1,
    /// Windows-1252: ISO-8859-1 except 0x80–0x9F, which hold `€`, curly quotes, dashes and a few letters.
    Windows1252,
}

/// The start of one decoded line.
#[derive(Debug, Clone, Copy)]
struct LineStart {
    /// 1-based physical line number.
    line: u64,
    /// Offset of the line's first byte in the decoded stream.
    decoded: u64,
    /// Offset of the line's first byte in the file.
    file: u64,
    /// The line's first decoded byte, once produced.
    first: Option<u8>,
}

/// The quoting of a CSV file, to follow where its quoted fields open and close.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CsvSyntax {
    /// The field delimiter.
    pub(crate) delimiter: u8,
    /// The quote character.
    pub(crate) quote: u8,
    /// The escape character inside quoted fields, if any.
    pub(crate) escape: Option<u8>,
}

/// Where a CSV parser is in its quoting, stepped byte by byte as `csv_core` reads with the same syntax (a quote
/// opens a field only at its start; inside one, a doubled quote or an escaped byte is text; line ends end a
/// record only outside quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// At the start of a field.
    FieldStart,
    /// In a field that did not open with a quote (quotes in it are text).
    Unquoted,
    /// In a quoted field.
    Quoted,
    /// In a quoted field, just after its escape character.
    Escaped,
    /// In a quoted field, just after a quote: it closed the field unless another quote follows.
    QuoteInQuoted,
}

/// A quoted field being followed: the syntax, the state, and where the open field's quote is (line, decoded
/// offset).
#[derive(Debug, Clone, Copy)]
struct QuoteTracker {
    syntax: CsvSyntax,
    state: Quoting,
    opened: (u64, u64),
}

impl QuoteTracker {
    /// Steps over decoded bytes `out`, starting at decoded offset `base` on line `line`.
    fn step(&mut self, out: &[u8], base: u64, mut line: u64) {
        let CsvSyntax { delimiter, quote, escape } = self.syntax;
        for (index, &byte) in out.iter().enumerate() {
            self.state = match self.state {
                Quoting::Quoted if Some(byte) == escape => Quoting::Escaped,
                Quoting::Quoted if byte == quote => Quoting::QuoteInQuoted,
                Quoting::Quoted => Quoting::Quoted,
                Quoting::Escaped => Quoting::Quoted,
                Quoting::QuoteInQuoted if byte == quote => Quoting::Quoted,
                Quoting::FieldStart if byte == quote => {
                    self.opened = (line, base + index as u64);
                    Quoting::Quoted
                }
                _ if byte == delimiter || byte == b'\n' || byte == b'\r' => Quoting::FieldStart,
                _ => Quoting::Unquoted,
            };
            if byte == b'\n' {
                line += 1;
            }
        }
    }
}

/// A `Read` adapter that decodes to UTF-8 and remembers where lines start.
pub(crate) struct Decoder<R> {
    inner: R,
    decoding: Decoding,
    /// Length of the byte-order mark consumed before decoding.
    skipped: u64,
    /// File bytes consumed by the decoder so far (byte-order mark included).
    consumed: u64,
    /// Decoded bytes handed to the reader so far.
    produced: u64,
    /// Decoded bytes not yet handed out.
    pending: Vec<u8>,
    pending_at: usize,
    /// A UTF-16 code unit's first byte, when a buffer ended between its two bytes.
    half_unit: Option<u8>,
    /// A high surrogate waiting for its low half.
    high_surrogate: Option<u16>,
    /// Number of the line being produced.
    line: u64,
    starts: VecDeque<LineStart>,
    /// The quoting followed, for a CSV file ([`Decoder::with_csv`]).
    quotes: Option<QuoteTracker>,
}

impl<R: BufRead> Decoder<R> {
    /// Wraps `inner`, whose first `skipped` bytes (a byte-order mark) were already consumed.
    pub(crate) fn new(inner: R, decoding: Decoding, skipped: u64) -> Self {
        let mut starts = VecDeque::new();
        starts.push_back(LineStart { line: 1, decoded: 0, file: skipped, first: None });
        Self {
            inner,
            decoding,
            skipped,
            consumed: skipped,
            produced: 0,
            pending: Vec::new(),
            pending_at: 0,
            half_unit: None,
            high_surrogate: None,
            line: 1,
            starts,
            quotes: None,
        }
    }

    /// Follows the quoting of the CSV it decodes, so that [`Decoder::unclosed_quote`] can tell a quoted field
    /// that never closes.
    pub(crate) fn with_csv(mut self, syntax: CsvSyntax) -> Self {
        self.quotes = Some(QuoteTracker { syntax, state: Quoting::FieldStart, opened: (0, 0) });
        self
    }

    /// At the end of the input: where the quoted field that is still open started (its line, and its file
    /// offset when the file is UTF-8), if one is. The parser then took everything after its quote, line ends
    /// included, as one value.
    pub(crate) fn unclosed_quote(&self) -> Option<(u64, Option<u64>)> {
        let tracker = self.quotes.as_ref()?;
        if !matches!(tracker.state, Quoting::Quoted | Quoting::Escaped) {
            return None;
        }
        let (line, decoded) = tracker.opened;
        Some((line, (self.decoding == Decoding::Utf8).then_some(self.skipped + decoded)))
    }

    /// File bytes consumed so far, including read-ahead.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// Where a record really starts, given the parser's position for it (`decoded`, in decoded bytes): the
    /// first non-blank line starting at or after it, as (physical line, file byte offset). Lines before it are
    /// forgotten.
    pub(crate) fn locate(&mut self, decoded: u64) -> Option<(u64, u64)> {
        while self.starts.front().is_some_and(|start| start.decoded < decoded) {
            self.starts.pop_front();
        }
        self.starts
            .iter()
            .find(|start| start.first.is_some_and(|byte| byte != b'\r' && byte != b'\n'))
            .map(|start| (start.line, start.file))
    }

    /// Notes decoded bytes `out` (appended at decoded offset `self.produced`); `file_after` gives, for the
    /// index of a `\n` in `out`, the file offset just after it.
    fn note_lines(&mut self, out: &[u8], mut file_after: impl FnMut(usize) -> u64) {
        let base = self.produced;
        if let Some(tracker) = self.quotes.as_mut() {
            tracker.step(out, base, self.line);
        }
        if let Some(last) = self.starts.back_mut() {
            if last.first.is_none() && !out.is_empty() {
                last.first = Some(out[0]);
            }
        }
        for (index, _) in out.iter().enumerate().filter(|(_, byte)| **byte == b'\n') {
            self.line += 1;
            let first = out.get(index + 1).copied();
            self.starts.push_back(LineStart {
                line: self.line,
                decoded: base + index as u64 + 1,
                file: file_after(index),
                first,
            });
        }
        self.produced += out.len() as u64;
    }

    /// Decodes the next input buffer into `pending`; false at the end of the input.
    fn decode_more(&mut self) -> io::Result<bool> {
        self.pending.clear();
        self.pending_at = 0;
        // File offset just after each `\n` written to `pending`, in order (not needed for UTF-8).
        let mut newline_ends: Vec<u64> = Vec::new();
        let input = self.inner.fill_buf()?;
        if input.is_empty() {
            if self.half_unit.take().is_some() || self.high_surrogate.take().is_some() {
                self.pending.push(UNDECODABLE);
            }
            if self.pending.is_empty() {
                return Ok(false);
            }
        } else {
            let start = self.consumed;
            let len = input.len();
            match self.decoding {
                Decoding::Utf8 => self.pending.extend_from_slice(input),
                Decoding::Latin1 | Decoding::Windows1252 => {
                    for (index, &byte) in input.iter().enumerate() {
                        let ch = match self.decoding {
                            Decoding::Windows1252 => windows_1252(byte),
                            _ => char::from(byte),
                        };
                        push_char(&mut self.pending, ch);
                        if byte == b'\n' {
                            newline_ends.push(start + index as u64 + 1);
                        }
                    }
                }
                Decoding::Utf16Le | Decoding::Utf16Be => {
                    let big_endian = self.decoding == Decoding::Utf16Be;
                    let mut index = 0;
                    while index < len {
                        let (first, second, unit_end) = match self.half_unit.take() {
                            Some(first) => (first, input[index], index + 1),
                            None if index + 1 < len => (input[index], input[index + 1], index + 2),
                            None => {
                                self.half_unit = Some(input[index]);
                                index += 1;
                                continue;
                            }
                        };
                        index = unit_end;
                        let unit = if big_endian {
                            u16::from_be_bytes([first, second])
                        } else {
                            u16::from_le_bytes([first, second])
                        };
                        push_unit(&mut self.high_surrogate, &mut self.pending, unit);
                        if unit == 0x0A {
                            newline_ends.push(start + unit_end as u64);
                        }
                    }
                }
            }
            self.inner.consume(len);
            self.consumed += len as u64;
        }
        let pending = std::mem::take(&mut self.pending);
        match self.decoding {
            Decoding::Utf8 => {
                let skipped = self.skipped;
                let base = self.produced;
                self.note_lines(&pending, |index| skipped + base + index as u64 + 1);
            }
            _ => {
                let mut ends = newline_ends.into_iter();
                let consumed = self.consumed;
                self.note_lines(&pending, |_| ends.next().unwrap_or(consumed));
            }
        }
        self.pending = pending;
        Ok(true)
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending_at >= self.pending.len() {
            if !self.decode_more()? {
                return Ok(0);
            }
        }
        let available = &self.pending[self.pending_at..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pending_at += n;
        Ok(n)
    }
}

/// Appends one UTF-16 code unit, pairing surrogates.
fn push_unit(high_surrogate: &mut Option<u16>, pending: &mut Vec<u8>, unit: u16) {
    if let Some(high) = high_surrogate.take() {
        if (0xDC00..0xE000).contains(&unit) {
            let code = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
            match char::from_u32(code) {
                Some(ch) => push_char(pending, ch),
                None => pending.push(UNDECODABLE),
            }
            return;
        }
        pending.push(UNDECODABLE);
    }
    match unit {
        0xD800..=0xDBFF => *high_surrogate = Some(unit),
        0xDC00..=0xDFFF => pending.push(UNDECODABLE),
        _ => match char::from_u32(u32::from(unit)) {
            Some(ch) => push_char(pending, ch),
            None => pending.push(UNDECODABLE),
        },
    }
}

fn push_char(out: &mut Vec<u8>, ch: char) {
    let mut utf8 = [0; 4];
    out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
}

/// Windows-1252 as the WHATWG Encoding Standard defines it (the five unassigned bytes map to C1 controls).
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{2C6}',
        '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}',
        '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}',
        '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
    ];
    match byte {
        0x80..=0x9F => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn decode(bytes: &[u8], decoding: Decoding, capacity: usize) -> Vec<u8> {
        let reader = io::BufReader::with_capacity(capacity, bytes);
        let mut decoder = Decoder::new(reader, decoding, 0);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn utf16_survives_buffers_splitting_units_and_surrogate_pairs() {
        // "a€😀\n" in UTF-16LE: 61 00, AC 20, 3D D8 00 DE, 0A 00.
        let bytes = [0x61, 0x00, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE, 0x0A, 0x00];
        for capacity in 1..=bytes.len() {
            assert_eq!(decode(&bytes, Decoding::Utf16Le, capacity), "a€😀\n".as_bytes(), "capacity {capacity}");
        }
        let big: Vec<u8> = bytes.chunks(2).flat_map(|unit| [unit[1], unit[0]]).collect();
        assert_eq!(decode(&big, Decoding::Utf16Be, 3), "a€😀\n".as_bytes());
    }

    #[test]
    fn undecodable_utf16_becomes_an_invalid_utf8_byte() {
        // A lone low surrogate, then a lone high surrogate followed by `b`, then an odd trailing byte.
        let bytes = [0x00, 0xDC, 0x00, 0xD8, 0x62, 0x00, 0x41];
        assert_eq!(decode(&bytes, Decoding::Utf16Le, 4), [UNDECODABLE, UNDECODABLE, b'b', UNDECODABLE]);
    }

    #[test]
    fn single_byte_encodings() {
        assert_eq!(decode(&[0x45, 0xE9, 0xDF, 0x80], Decoding::Latin1, 2), "Eéß\u{80}".as_bytes());
        assert_eq!(decode(&[0x93, 0x80, 0x94, 0xE9], Decoding::Windows1252, 2), "“€”é".as_bytes());
    }

    #[test]
    fn locate_skips_blank_lines_and_reports_file_offsets() {
        // Latin-1: "h\r\né\n\n\nx\n" — line 1 "h", 2 "é" (2 bytes decoded, 1 in the file), 3–4 blank, 5 "x".
        let bytes = b"h\r\n\xE9\n\n\nx\n";
        let mut decoder = Decoder::new(io::BufReader::with_capacity(2, &bytes[..]), Decoding::Latin1, 0);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).unwrap();
        assert_eq!(decoder.locate(2), Some((2, 3)));
        // After "é\n" (decoded offset 6) the parser reports 6; the next record is line 5 at file byte 7.
        assert_eq!(decoder.locate(6), Some((5, 7)));
    }
}
