//! Tests of the generic readers: exact rows and exact error rows (line, byte offset, field, code).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use rapport_model::{RowError, RowErrorCode};
use serde_json::{json, Value};

use super::*;
use crate::SourceRow;

#[test]
fn formats_parse_from_text_and_print_back() {
    let semicolon: FileFormat = "csv:delimiter=semicolon,encoding=latin1,header=false".parse().unwrap();
    let expected =
        CsvOptions { delimiter: b';', has_header: false, encoding: Encoding::Latin1, ..CsvOptions::default() };
    assert_eq!(semicolon, FileFormat::Csv(expected));
    assert_eq!(semicolon.to_string(), "csv:delimiter=semicolon,quote=\",header=false,encoding=iso-8859-1");
    assert_eq!(semicolon.to_string().parse::<FileFormat>().unwrap(), semicolon);
    assert_eq!(
        "tsv".parse::<FileFormat>().unwrap(),
        FileFormat::Csv(CsvOptions { delimiter: b'\t', ..expected_default() })
    );
    assert_eq!("JSONL".parse::<FileFormat>().unwrap(), FileFormat::NdJson);
    assert_eq!(
        "csv:escape=\\".parse::<FileFormat>().unwrap(),
        FileFormat::Csv(CsvOptions { escape: Some(b'\\'), ..expected_default() })
    );
    assert!("xml".parse::<FileFormat>().unwrap_err().contains("unknown file format `xml`"));
    assert!("csv:delimiter=ab".parse::<FileFormat>().unwrap_err().contains("`ab` is not one ASCII character"));
    assert!("csv:delimiter=\"".parse::<FileFormat>().unwrap_err().contains("must differ"));
    assert!("json:encoding=latin1".parse::<FileFormat>().unwrap_err().contains("takes no options"));
}

fn expected_default() -> CsvOptions {
    CsvOptions { delimiter: b',', quote: b'"', escape: None, has_header: true, encoding: Encoding::Auto }
}

#[test]
fn formats_read_from_flow_definitions() {
    let format: FileFormat =
        serde_json::from_str(r#"{"format": "csv", "delimiter": "|", "encoding": "utf-16le"}"#).unwrap();
    assert_eq!(
        format,
        FileFormat::Csv(CsvOptions { delimiter: b'|', encoding: Encoding::Utf16Le, ..expected_default() })
    );
    assert_eq!(serde_json::from_str::<FileFormat>(r#"{"format": "ndjson"}"#).unwrap(), FileFormat::NdJson);
    assert_eq!(serde_json::from_str::<FileFormat>(r#"{"format": "jsonl"}"#).unwrap(), FileFormat::NdJson);
    let round = serde_json::to_value(&format).unwrap();
    assert_eq!(serde_json::from_value::<FileFormat>(round).unwrap(), format);
    assert!(serde_json::from_str::<FileFormat>(r#"{"format": "csv", "delimter": ";"}"#).is_err());
}

#[test]
fn formats_are_detected_by_extension() {
    assert_eq!(FileFormat::detect(Path::new("a/Contacts.CSV")), Some(FileFormat::Csv(expected_default())));
    assert_eq!(
        FileFormat::detect(Path::new("export.txt")),
        Some(FileFormat::Csv(CsvOptions { delimiter: b'\t', ..expected_default() }))
    );
    assert_eq!(FileFormat::detect(Path::new("x.jsonl")), Some(FileFormat::NdJson));
    assert_eq!(FileFormat::detect(Path::new("x.json")), Some(FileFormat::Json));
    assert_eq!(FileFormat::detect(Path::new("x.parquet")), Some(FileFormat::Parquet));
    assert_eq!(FileFormat::detect(Path::new("x.xlsx")), None);
    assert_eq!(FileFormat::detect(Path::new("noextension")), None);
}

/// Writes `bytes` to a temporary file named `name`.
fn write(bytes: &[u8], name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// A row read: (line, offset, fields).
type Good = (u64, Option<u64>, Value);
/// A row rejected: (line, offset, field, code, message).
type Bad = (u64, Option<u64>, Option<String>, RowErrorCode, String);
/// Every row of a file, in order.
type Read = Vec<Result<Good, Bad>>;

/// Every row of a file as read, and the columns known at the end.
fn read_rows(bytes: &[u8], name: &str, format: &FileFormat) -> (Vec<String>, Vec<Result<SourceRow, RowError>>) {
    let (_dir, path) = write(bytes, name);
    let mut reader = open(&path, name, format).unwrap();
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row().unwrap() {
        rows.push(row);
    }
    (reader.columns(), rows)
}

fn read_all(bytes: &[u8], name: &str, format: &FileFormat) -> (Vec<String>, Read) {
    let (columns, read) = read_rows(bytes, name, format);
    let mut rows = Vec::new();
    for row in read {
        rows.push(match row {
            Ok(SourceRow { line, offset, fields, faults }) => {
                assert_eq!(faults, [], "{name}:{line}");
                Ok((line, offset, Value::Object(fields)))
            }
            Err(RowError { file, line, offset, field, code, message }) => {
                assert_eq!(file, name);
                Err((line, offset, field, code, message))
            }
        });
    }
    (columns, rows)
}

fn csv(options: CsvOptions) -> FileFormat {
    FileFormat::Csv(options)
}

fn ok(line: u64, offset: u64, fields: Value) -> Result<Good, Bad> {
    Ok((line, Some(offset), fields))
}

#[test]
fn csv_with_semicolons_keeps_quoted_delimiters_and_empty_cells() {
    let bytes = b"id;name;city\n1;Ana;Lyon\n2;\"B\xc3\xa9;rt\";\n";
    let (columns, rows) = read_all(bytes, "people.csv", &"csv:delimiter=semicolon".parse().unwrap());
    assert_eq!(columns, ["id", "name", "city"]);
    assert_eq!(
        rows,
        [
            ok(2, 13, json!({"id": "1", "name": "Ana", "city": "Lyon"})),
            ok(3, 24, json!({"id": "2", "name": "Bé;rt", "city": ""})),
        ]
    );
}

#[test]
fn csv_quoted_newlines_count_as_lines_and_blank_lines_are_skipped() {
    let bytes = b"id,note,n\r\n1,\"line one\r\nline \"\"two\"\"\",x\r\n2,plain,y\r\n\r\n3,\"a\nb\nc\",z\n";
    let (_, rows) = read_all(bytes, "notes.csv", &csv(CsvOptions::default()));
    assert_eq!(
        rows,
        [
            ok(2, 11, json!({"id": "1", "note": "line one\r\nline \"two\"", "n": "x"})),
            ok(4, 41, json!({"id": "2", "note": "plain", "n": "y"})),
            ok(6, 54, json!({"id": "3", "note": "a\nb\nc", "n": "z"})),
        ]
    );
}

#[test]
fn csv_escape_character_and_no_header() {
    let bytes = b"1,\"say \\\"hi\\\"\"\n2,plain\n";
    let options = CsvOptions { escape: Some(b'\\'), has_header: false, ..CsvOptions::default() };
    let (columns, rows) = read_all(bytes, "quotes.csv", &csv(options));
    assert_eq!(columns, ["column_1", "column_2"]);
    assert_eq!(
        rows,
        [
            ok(1, 0, json!({"column_1": "1", "column_2": "say \"hi\""})),
            ok(2, 15, json!({"column_1": "2", "column_2": "plain"})),
        ]
    );
}

#[test]
fn csv_utf16le_with_bom_is_decoded_and_offsets_count_file_bytes() {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend("id\tname\r\n1\tZoë\r\n2\t😀\r\n".encode_utf16().flat_map(u16::to_le_bytes));
    // Tab-delimited .txt is Excel's "Unicode Text"; the encoding is found by the byte-order mark.
    let format = FileFormat::detect(Path::new("export.txt")).unwrap();
    let (columns, rows) = read_all(&bytes, "export.txt", &format);
    assert_eq!(columns, ["id", "name"]);
    // Line 2 starts after the BOM (2 bytes) and 9 UTF-16 units (18 bytes); line 3 after 7 more units.
    assert_eq!(rows, [ok(2, 20, json!({"id": "1", "name": "Zoë"})), ok(3, 34, json!({"id": "2", "name": "😀"}))]);
}

#[test]
fn csv_utf16be_with_bom_is_decoded() {
    let mut bytes = vec![0xFE, 0xFF];
    bytes.extend("a,b\n1,Ä\n2,x\n".encode_utf16().flat_map(u16::to_be_bytes));
    let (_, rows) = read_all(&bytes, "be.csv", &csv(CsvOptions::default()));
    assert_eq!(rows, [ok(2, 10, json!({"a": "1", "b": "Ä"})), ok(3, 18, json!({"a": "2", "b": "x"}))]);
}

#[test]
fn csv_utf16_unpaired_surrogate_rejects_only_its_row() {
    let mut units: Vec<u16> = "a,b\n1,".encode_utf16().collect();
    units.push(0xD800); // a high surrogate followed by `x`: undecodable
    units.extend("x\n2,ok\n".encode_utf16());
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(units.iter().flat_map(|unit| unit.to_le_bytes()));
    let (_, rows) = read_all(&bytes, "broken16.csv", &csv(CsvOptions::default()));
    assert_eq!(
        rows,
        [
            Err((
                2,
                Some(10),
                Some("b".to_owned()),
                RowErrorCode::Unparsable,
                "column 2 cannot be decoded as UTF-16LE".to_owned()
            )),
            ok(3, 20, json!({"a": "2", "b": "ok"})),
        ]
    );
}

#[test]
fn csv_latin1_and_windows_1252() {
    let bytes = b"name,city\nRen\xe9,Stra\xdfe\n";
    let options = CsvOptions { encoding: Encoding::Latin1, ..CsvOptions::default() };
    let (_, rows) = read_all(bytes, "latin1.csv", &csv(options));
    assert_eq!(rows, [ok(2, 10, json!({"name": "René", "city": "Straße"}))]);

    let bytes = b"price,quote\n\x80 5,\x93hi\x94\n";
    let options = CsvOptions { encoding: Encoding::Windows1252, ..CsvOptions::default() };
    let (_, rows) = read_all(bytes, "ansi.csv", &csv(options));
    assert_eq!(rows, [ok(2, 12, json!({"price": "€ 5", "quote": "“hi”"}))]);
}

#[test]
fn csv_utf8_bom_is_not_part_of_the_first_column() {
    let bytes = b"\xef\xbb\xbfid,name\n1,Zo\xc3\xab\n";
    let (columns, rows) = read_all(bytes, "bom.csv", &csv(CsvOptions::default()));
    assert_eq!(columns, ["id", "name"]);
    assert_eq!(rows, [ok(2, 11, json!({"id": "1", "name": "Zoë"}))]);
}

#[test]
fn csv_invalid_utf8_in_row_3_of_5_rejects_that_row_only() {
    let bytes = b"id,name\n1,a\n2,b\n3,c\xff\n4,d\n5,e\n";
    let (_, rows) = read_all(bytes, "bad-utf8.csv", &csv(CsvOptions::default()));
    assert_eq!(
        rows,
        [
            ok(2, 8, json!({"id": "1", "name": "a"})),
            ok(3, 12, json!({"id": "2", "name": "b"})),
            Err((
                4,
                Some(16),
                Some("name".to_owned()),
                RowErrorCode::Unparsable,
                "column 2 is not valid UTF-8 (invalid byte at position 2 of the value)".to_owned()
            )),
            ok(5, 21, json!({"id": "4", "name": "d"})),
            ok(6, 25, json!({"id": "5", "name": "e"})),
        ]
    );
    assert_eq!(rows.iter().filter(|row| row.is_ok()).count(), 4);
}

#[test]
fn csv_short_row_is_rejected_and_the_rest_loads() {
    let bytes = b"a,b,c\n1,2,3\n4,5\n6,7,8\n";
    let (_, rows) = read_all(bytes, "short.csv", &csv(CsvOptions::default()));
    assert_eq!(
        rows,
        [
            ok(2, 6, json!({"a": "1", "b": "2", "c": "3"})),
            Err((3, Some(12), None, RowErrorCode::Unparsable, "the row has 2 fields but the header has 3".to_owned())),
            ok(4, 16, json!({"a": "6", "b": "7", "c": "8"})),
        ]
    );
}

#[test]
fn csv_a_quote_never_closed_fails_the_file_naming_where_it_opens() {
    // Row 50 (line 51) opens a quote that never closes: the parser would read lines 51-101 as one value.
    let mut text = String::from("id,name,email\n");
    for i in 1..=100 {
        match i {
            50 => text.push_str("50,\"Bad,u50@x.com\n"),
            _ => text.push_str(&format!("{i},N{i},u{i}@x.com\n")),
        }
    }
    let offset = text.find("\"Bad").unwrap();
    let (_dir, path) = write(text.as_bytes(), "unclosed.csv");
    let mut reader = open(&path, "unclosed.csv", &csv(CsvOptions::default())).unwrap();
    let mut rows = 0;
    let err = loop {
        match reader.next_row() {
            Ok(Some(_)) => rows += 1,
            Ok(None) => panic!("the file read to its end without an error"),
            Err(err) => break err,
        }
    };
    assert_eq!(rows, 50, "49 rows, then the row that swallowed the rest");
    assert_eq!(
        err.to_string(),
        format!(
            "unclosed.csv:51 (byte {offset}): a quoted field opens here and is never closed, so the rest of the file \
             would be read as one value; nothing is loaded (close the quote, or double it as \"\" if it is text)"
        )
    );
    // In UTF-16 the line is named; file offsets of decoded text are not followed.
    let utf16: Vec<u8> =
        [0xFF, 0xFE].into_iter().chain("id,n\n1,\"a\n2,b\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let (_dir, path) = write(&utf16, "wide.csv");
    let mut reader = open(&path, "wide.csv", &csv(CsvOptions::default())).unwrap();
    let err = std::iter::from_fn(|| match reader.next_row() {
        Ok(Some(_)) => Some(None),
        Ok(None) => None,
        Err(err) => Some(Some(err)),
    })
    .flatten()
    .next()
    .unwrap();
    assert!(err.to_string().starts_with("wide.csv:2: a quoted field opens here"), "{err}");
    // Closed quotes are not mistaken for open ones: quotes inside unquoted text, a doubled quote, an escaped
    // one, a quoted last field over two lines, a last line without its line end.
    let fine: [(&str, CsvOptions); 5] = [
        ("id,height\n1,5'11\"\n2,6'0\"\n", CsvOptions::default()),
        ("id,note\n1,\"a\"\"b\"", CsvOptions::default()),
        ("id,note\n1,\"a \\\" b\"\n", CsvOptions { escape: Some(b'\\'), ..CsvOptions::default() }),
        ("id,note\n1,\"a\r\nb\"\r\n", CsvOptions::default()),
        ("id;note\n1;\"a;b\"x\n", CsvOptions { delimiter: b';', ..CsvOptions::default() }),
    ];
    for (text, options) in fine {
        let (_, rows) = read_all(text.as_bytes(), "fine.csv", &csv(options));
        assert!(!rows.is_empty() && rows.iter().all(Result::is_ok), "{text:?}: {rows:?}");
    }
}

#[test]
fn csv_header_problems_stop_the_file() {
    let (_dir, path) = write(b"id,email,id\n1,a,2\n", "dup.csv");
    let err = open(&path, "dup.csv", &csv(CsvOptions::default())).err().unwrap();
    assert_eq!(
        err.to_string(),
        "the header row of dup.csv cannot be read: column `id` appears twice (columns 1 and 3)"
    );
    let (_dir, path) = write(b"", "empty.csv");
    let err = open(&path, "empty.csv", &csv(CsvOptions::default())).err().unwrap();
    assert_eq!(err.to_string(), "empty.csv has no header row (the file is empty)");
}

#[test]
fn json_array_rows_and_errors_name_line_and_offset() {
    let bytes = b"[\n  {\"id\": 1, \"tags\": [\"a\"]},\n  {\"id\": 2, \"x\": {\"y\": null}},\n  {\"id\": 3, \"bad\": tru},\n  42,\n  {\"id\": 5}\n]\n";
    let (columns, rows) = read_all(bytes, "people.json", &FileFormat::Json);
    assert_eq!(columns, ["id", "tags", "x"]);
    assert_eq!(
        rows,
        [
            ok(2, 4, json!({"id": 1, "tags": ["a"]})),
            ok(3, 32, json!({"id": 2, "x": {"y": null}})),
            Err((
                4,
                Some(63),
                None,
                RowErrorCode::Unparsable,
                "invalid JSON at line 4 column 23: expected ident".to_owned()
            )),
            Err((
                5,
                Some(88),
                None,
                RowErrorCode::Unparsable,
                "the array element is a JSON number, not an object".to_owned()
            )),
            ok(6, 94, json!({"id": 5})),
        ]
    );
}

#[test]
fn json_single_object_and_bad_top_level() {
    let (_, rows) = read_all(b"\n {\"id\": \"x\", \"n\": [1, {\"a\": true}]}\n", "one.json", &FileFormat::Json);
    assert_eq!(rows, [ok(2, 2, json!({"id": "x", "n": [1, {"a": true}]}))]);
    let (_dir, path) = write(b"  42", "number.json");
    let err = open(&path, "number.json", &FileFormat::Json).err().unwrap();
    assert_eq!(
        err.to_string(),
        "cannot read number.json: a JSON file must hold an array of objects or one object, but it starts with `4`"
    );
}

/// Reads `bytes` as JSON until the reader fails: the rows before the failure, and the failure.
fn read_until_error(bytes: &[u8], name: &str) -> (Read, crate::Error) {
    let (_dir, path) = write(bytes, name);
    let mut reader = open(&path, name, &FileFormat::Json).unwrap();
    let mut rows = Vec::new();
    loop {
        match reader.next_row() {
            Ok(Some(Ok(SourceRow { line, offset, fields, faults }))) => {
                assert_eq!(faults, [], "{name}:{line}");
                rows.push(Ok((line, offset, Value::Object(fields))))
            }
            Ok(Some(Err(RowError { line, offset, field, code, message, .. }))) => {
                rows.push(Err((line, offset, field, code, message)))
            }
            Ok(None) => panic!("{name} read to its end without an error: {rows:?}"),
            Err(err) => {
                // The failure ends the file.
                assert!(matches!(reader.next_row(), Ok(None)), "{name}: rows after the failure");
                return (rows, err);
            }
        }
    }
}

/// Reads a JSON file until it fails as a whole: the rows read before, and the reason of the `BadFile`.
fn read_until_bad_file(bytes: &[u8], name: &str) -> (Read, String) {
    let (rows, err) = read_until_error(bytes, name);
    (rows, bad_file_reason(err, name))
}

/// The reason of a `BadFile` error for `name`, checking that its `offset` field is the byte the reason names (or
/// none when the reason names no byte).
fn bad_file_reason(err: crate::Error, name: &str) -> String {
    match err {
        crate::Error::BadFile { file, offset, reason } => {
            assert_eq!(file, name);
            let named = reason.split_once("(byte ").map(|(_, rest)| rest.split_once(')').unwrap().0.parse().unwrap());
            assert_eq!(offset, named, "{reason}");
            reason
        }
        other => panic!("expected BadFile, got {other:?}"),
    }
}

#[test]
fn bad_file_errors_carry_the_byte_offset_as_a_field() {
    // `[` 0, the element 1-7, a space 8, the second element at 9; the message is unchanged.
    let (_, err) = read_until_error(b"[{\"a\":1} {\"a\":2}]", "nocomma.json");
    assert!(matches!(err, crate::Error::BadFile { offset: Some(9), .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot read nocomma.json: line 1 column 10 (byte 9): expected `,` or `]` after an array element, found `{`"
    );
    // After a byte-order mark and two lines: `x` is at byte 3 + 17.
    let (_, err) = read_until_error(b"\xef\xbb\xbf[\n  {\"a\": 1}\n]\n  x\n", "bom.json");
    assert!(matches!(err, crate::Error::BadFile { offset: Some(20), .. }), "{err:?}");
    // A JSON file starting with something else is refused where that starts, after whitespace.
    let (_dir, path) = write(b" \n 42", "number.json");
    let err = open(&path, "number.json", &FileFormat::Json).err().unwrap();
    assert!(matches!(err, crate::Error::BadFile { offset: Some(3), .. }), "{err:?}");
    // No place in the file: an empty file.
    let (_dir, path) = write(b"", "empty.json");
    let err = open(&path, "empty.json", &FileFormat::Json).err().unwrap();
    assert!(matches!(err, crate::Error::BadFile { offset: None, .. }), "{err:?}");
}

#[test]
fn json_content_after_the_array_fails_the_file_at_its_byte() {
    // `[` 0, the element 1-7, `]` 8, a space 9, `g` 10.
    let (rows, err) = read_until_error(b"[{\"a\":1}] garbage", "trailing.json");
    assert_eq!(rows, [ok(1, 1, json!({"a": 1}))]);
    assert_eq!(
        err.to_string(),
        "cannot read trailing.json: line 1 column 11 (byte 10): `g` after the array's closing `]` (only whitespace \
         may follow it)"
    );
    assert_eq!(
        bad_file_reason(err, "trailing.json"),
        "line 1 column 11 (byte 10): `g` after the array's closing `]` (only whitespace may follow it)"
    );
    // The byte-order mark counts in offsets, not in columns; lines after the array count.
    let (rows, reason) = read_until_bad_file(b"\xef\xbb\xbf[\n  {\"a\": 1}\n]\n  x\n", "bom.json");
    assert_eq!(rows, [ok(2, 7, json!({"a": 1}))]);
    assert_eq!(reason, "line 4 column 3 (byte 20): `x` after the array's closing `]` (only whitespace may follow it)");
    // An empty array followed by a second one; a character that is not ASCII is shown whole, and bytes that are
    // not UTF-8 as `�`.
    let (rows, reason) = read_until_bad_file(b"[] []", "two.json");
    assert_eq!(rows, []);
    assert_eq!(reason, "line 1 column 4 (byte 3): `[` after the array's closing `]` (only whitespace may follow it)");
    let (_, err) = read_until_error("[]\n\u{e9}t\u{e9}".as_bytes(), "accent.json");
    assert_eq!(
        bad_file_reason(err, "accent.json"),
        "line 2 column 1 (byte 3): `\u{e9}` after the array's closing `]` (only whitespace may follow it)"
    );
    let (_, err) = read_until_error(b"[]\xff", "binary.json");
    assert_eq!(
        bad_file_reason(err, "binary.json"),
        "line 1 column 3 (byte 2): `\u{fffd}` after the array's closing `]` (only whitespace may follow it)"
    );
    // Whitespace alone after the array is fine.
    let (_, rows) = read_all(b"[{\"a\": 1}]\n\r\n\t \n", "fine.json", &FileFormat::Json);
    assert_eq!(rows, [ok(1, 1, json!({"a": 1}))]);
}

#[test]
fn json_elements_without_a_comma_between_them_fail_the_file_at_its_byte() {
    // `[` 0, the first element 1-7, a space 8, the second element from 9.
    let (rows, err) = read_until_error(b"[{\"a\":1} {\"a\":2}]", "nocomma.json");
    assert_eq!(rows, [ok(1, 1, json!({"a": 1}))]);
    assert_eq!(
        err.to_string(),
        "cannot read nocomma.json: line 1 column 10 (byte 9): expected `,` or `]` after an array element, found `{`"
    );
    assert_eq!(
        bad_file_reason(err, "nocomma.json"),
        "line 1 column 10 (byte 9): expected `,` or `]` after an array element, found `{`"
    );
    // On a later line, after a rejected element: the rows before the damage come first, as they are.
    let bytes = b"[\n{\"a\": 1},\n42,\n{\"a\": 3}\n{\"a\": 4}\n]";
    let (rows, err) = read_until_error(bytes, "lines.json");
    assert_eq!(
        rows,
        [
            ok(2, 2, json!({"a": 1})),
            Err((
                3,
                Some(12),
                None,
                RowErrorCode::Unparsable,
                "the array element is a JSON number, not an object".to_owned()
            )),
            ok(4, 16, json!({"a": 3})),
        ]
    );
    assert_eq!(
        bad_file_reason(err, "lines.json"),
        "line 5 column 1 (byte 25): expected `,` or `]` after an array element, found `{`"
    );
    // A stray closing brace.
    let (_, err) = read_until_error(b"[{\"a\":1}}]", "brace.json");
    assert_eq!(
        bad_file_reason(err, "brace.json"),
        "line 1 column 9 (byte 8): expected `,` or `]` after an array element, found `}`"
    );
}

#[test]
fn json_single_object_errors_are_placed_in_the_file() {
    // A blank line and two spaces before the object: `{` is on line 2 at column 3 (byte 6 after the byte-order
    // mark); `}`, where `tru` is found wanting, at column 12.
    let (_, rows) = read_all(b"\xef\xbb\xbf\n  {\"a\": tru}", "after-lines.json", &FileFormat::Json);
    assert_eq!(
        rows,
        [Err((
            2,
            Some(6),
            None,
            RowErrorCode::Unparsable,
            "invalid JSON at line 2 column 12: expected ident".to_owned()
        ))]
    );
    // On the first line, after the byte-order mark (which counts in offsets, not in columns) and a space: `{` at
    // column 2, byte 4; `}` at column 11.
    let (_, rows) = read_all(b"\xef\xbb\xbf {\"a\": tru}", "bom.json", &FileFormat::Json);
    assert_eq!(
        rows,
        [Err((
            1,
            Some(4),
            None,
            RowErrorCode::Unparsable,
            "invalid JSON at line 1 column 11: expected ident".to_owned()
        ))]
    );
    // The object spans lines 3 to 5; the fault is on its third line, where columns count from the line start.
    let (_, rows) = read_all(b"\n\n {\"a\":\n  1,\n \"b\": x}", "lines.json", &FileFormat::Json);
    assert_eq!(
        rows,
        [Err((
            3,
            Some(3),
            None,
            RowErrorCode::Unparsable,
            "invalid JSON at line 5 column 7: expected value".to_owned()
        ))]
    );
    // A key held twice: the second `a` opens on line 2 at column 10.
    let (_, rows) = read_all(b"\n  {\"a\":1,\"a\":2}", "dup.json", &FileFormat::Json);
    assert_eq!(rows, [duplicate(2, 3, "a", "line 2 column 10")]);
}

#[test]
fn json_single_object_cut_short_fails_the_file_where_the_object_starts() {
    // The file ends after `"b": `: no row, the file fails at the `{` (byte 0).
    let (rows, err) = read_until_error(b"{\"a\": 1, \"b\": ", "cut.json");
    assert_eq!(rows, []);
    assert_eq!(
        err.to_string(),
        "cannot read cut.json: line 1 column 1 (byte 0): the file ends inside the object starting here (an \
         unterminated string or a missing `}` or `]`)"
    );
    // After a byte-order mark and a blank line, two spaces in: the `{` is on line 2 at column 3, byte 3 + 1 + 2;
    // the file ends inside a string of a nested object.
    let (rows, err) = read_until_error(b"\xef\xbb\xbf\n  {\"a\": {\"b\": \"x", "nested.json");
    assert_eq!(rows, []);
    assert_eq!(
        bad_file_reason(err, "nested.json"),
        "line 2 column 3 (byte 6): the file ends inside the object starting here (an unterminated string or a \
         missing `}` or `]`)"
    );
    // A `}` inside a string closes nothing: the object at byte 0 is still open at the end.
    let (_, err) = read_until_error(b"{\"a\": \"}\"", "string.json");
    assert_eq!(
        bad_file_reason(err, "string.json"),
        "line 1 column 1 (byte 0): the file ends inside the object starting here (an unterminated string or a \
         missing `}` or `]`)"
    );
}

#[test]
fn json_single_object_followed_by_text_fails_the_file_at_its_byte() {
    // The object 0-6, a space 7, `x` 8.
    let (rows, err) = read_until_error(b"{\"a\":1} x", "trailing.json");
    assert_eq!(rows, []);
    assert_eq!(
        err.to_string(),
        "cannot read trailing.json: line 1 column 9 (byte 8): `x` after the object's closing `}` (only whitespace \
         may follow it)"
    );
    // A second object right after the first: `{` at byte 7.
    let (rows, reason) = read_until_bad_file(b"{\"a\":1}{\"b\":2}", "two.json");
    assert_eq!(rows, []);
    assert_eq!(reason, "line 1 column 8 (byte 7): `{` after the object's closing `}` (only whitespace may follow it)");
    // NDJSON read as JSON: the second line's `{` is on line 2 at byte 8.
    let (rows, reason) = read_until_bad_file(b"{\"a\":1}\n{\"b\":2}\n", "lines.json");
    assert_eq!(rows, []);
    assert_eq!(reason, "line 2 column 1 (byte 8): `{` after the object's closing `}` (only whitespace may follow it)");
    // Whitespace alone after the object is fine, and the offset read reaches the end of the file (13 bytes).
    let (_dir, path) = write(b" {\"a\":1}\n\r\n\t ", "fine.json");
    let mut reader = open(&path, "fine.json", &FileFormat::Json).unwrap();
    let row = reader.next_row().unwrap().unwrap().unwrap();
    assert_eq!((row.line, row.offset, Value::Object(row.fields)), (1, Some(1), json!({"a": 1})));
    assert!(reader.next_row().unwrap().is_none());
    assert_eq!(reader.bytes_read(), 13);
}

#[test]
fn json_array_with_a_closing_brace_where_an_element_starts_fails_the_file_at_its_byte() {
    // `[` 0, `}` 1.
    let (rows, err) = read_until_error(b"[}]", "brace.json");
    assert_eq!(rows, []);
    assert_eq!(
        err.to_string(),
        "cannot read brace.json: line 1 column 2 (byte 1): expected an array element or `]`, found `}`"
    );
    assert!(matches!(err, crate::Error::BadFile { offset: Some(1), .. }), "{err:?}");
    // After a `,`: the element 1-7, `,` 8, a space 9, `}` 10.
    let (rows, reason) = read_until_bad_file(b"[{\"a\":1}, }]", "after-comma.json");
    assert_eq!(rows, [ok(1, 1, json!({"a": 1}))]);
    assert_eq!(reason, "line 1 column 11 (byte 10): expected an array element after `,`, found `}`");
    // Right after an element that is no object: the element `1` (byte 1) is rejected as it is, and `}` at byte 2
    // is where the array breaks (it was read as part of the element, `1}`).
    let (rows, err) = read_until_error(b"[1}]", "number.json");
    assert_eq!(
        rows,
        [Err((
            1,
            Some(1),
            None,
            RowErrorCode::Unparsable,
            "the array element is a JSON number, not an object".to_owned()
        ))]
    );
    assert_eq!(
        bad_file_reason(err, "number.json"),
        "line 1 column 3 (byte 2): expected `,` or `]` after an array element, found `}`"
    );
}

#[test]
fn json_arrays_of_other_broken_shapes_fail_the_file_at_their_byte() {
    // `[,]`: the `,` at byte 1.
    let (rows, reason) = read_until_bad_file(b"[,]", "comma.json");
    assert_eq!(rows, []);
    assert_eq!(reason, "line 1 column 2 (byte 1): expected an array element or `]`, found `,`");
    // `[1 2]`: the element `1` is rejected (no object), then the missing `,` before `2` (byte 3) fails the file.
    let (rows, err) = read_until_error(b"[1 2]", "space.json");
    assert_eq!(
        rows,
        [Err((
            1,
            Some(1),
            None,
            RowErrorCode::Unparsable,
            "the array element is a JSON number, not an object".to_owned()
        ))]
    );
    assert_eq!(
        bad_file_reason(err, "space.json"),
        "line 1 column 4 (byte 3): expected `,` or `]` after an array element, found `2`"
    );
    // `]` alone: neither an array nor an object, refused when opened at byte 0.
    let (_dir, path) = write(b"]", "closer.json");
    let err = open(&path, "closer.json", &FileFormat::Json).err().unwrap();
    assert!(matches!(err, crate::Error::BadFile { offset: Some(0), .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot read closer.json: a JSON file must hold an array of objects or one object, but it starts with `]`"
    );
}

#[test]
fn json_array_cut_short_fails_the_file_where_the_cut_element_starts() {
    // `[` 0, the first element 1-9, `,` 10, a space 11, the cut element from 12.
    let (rows, err) = read_until_error(b"[{\"id\": 1}, {\"id\": \"2", "cut.json");
    assert_eq!(rows, [ok(1, 1, json!({"id": 1}))]);
    assert_eq!(
        err.to_string(),
        "cannot read cut.json: line 1 column 13 (byte 12): the file ends inside the array element starting here \
         (an unterminated string or a missing `}` or `]`)"
    );
    // Cut inside a nested array, on the next line: the element starts on line 2 at byte 4.
    let (rows, err) = read_until_error(b"[\n  {\"a\": {\"b\": [1,\n2", "nested.json");
    assert_eq!(rows, []);
    assert_eq!(
        bad_file_reason(err, "nested.json"),
        "line 2 column 3 (byte 4): the file ends inside the array element starting here (an unterminated string \
         or a missing `}` or `]`)"
    );
}

#[test]
fn json_array_without_its_closing_bracket_fails_the_file_at_the_end() {
    // After an element and a line end: the end is byte 9, line 2 column 1.
    let (rows, err) = read_until_error(b"[{\"a\":1}\n", "open.json");
    assert_eq!(rows, [ok(1, 1, json!({"a": 1}))]);
    assert_eq!(
        err.to_string(),
        "cannot read open.json: line 2 column 1 (byte 9): the file ends before the array's closing `]`"
    );
    // Right after `[` (the byte-order mark counts in the offset, not in the column).
    let (rows, reason) = read_until_bad_file(b"\xef\xbb\xbf[", "bracket.json");
    assert_eq!(rows, []);
    assert_eq!(reason, "line 1 column 2 (byte 4): the file ends before the array's closing `]`");
    // After a `,` and whitespace: the element 1-7, `,` 8, spaces 9-10.
    let (rows, reason) = read_until_bad_file(b"[{\"a\":1},  ", "comma.json");
    assert_eq!(rows, [ok(1, 1, json!({"a": 1}))]);
    assert_eq!(reason, "line 1 column 12 (byte 11): the file ends before the array's closing `]`");
    // After a last element that is no object: it is rejected as it is, then the file fails.
    let (rows, err) = read_until_error(b"[{\"a\":1}, 42", "number.json");
    assert_eq!(
        rows,
        [
            ok(1, 1, json!({"a": 1})),
            Err((
                1,
                Some(10),
                None,
                RowErrorCode::Unparsable,
                "the array element is a JSON number, not an object".to_owned()
            )),
        ]
    );
    assert_eq!(
        bad_file_reason(err, "number.json"),
        "line 1 column 13 (byte 12): the file ends before the array's closing `]`"
    );
}

#[test]
fn json_empty_array_elements_and_a_trailing_comma_fail_the_file_at_their_byte() {
    // `[` 0, `,` 1.
    let (rows, err) = read_until_error(b"[,{\"a\":1}]", "leading.json");
    assert_eq!(rows, []);
    assert_eq!(
        err.to_string(),
        "cannot read leading.json: line 1 column 2 (byte 1): expected an array element or `]`, found `,`"
    );
    let (rows, reason) = read_until_bad_file(b"[ , ]", "alone.json");
    assert_eq!(rows, []);
    assert_eq!(reason, "line 1 column 3 (byte 2): expected an array element or `]`, found `,`");
    // Two commas: the element 1-7, `,` 8, `,` 9.
    let (rows, reason) = read_until_bad_file(b"[{\"a\":1},,{\"a\":2}]", "double.json");
    assert_eq!(rows, [ok(1, 1, json!({"a": 1}))]);
    assert_eq!(reason, "line 1 column 10 (byte 9): expected an array element after `,`, found `,`");
    // A trailing comma is not JSON: the element 4-11 on line 2, `,` 12, a line end 13, `]` 14 on line 3.
    let (rows, err) = read_until_error(b"[\n  {\"a\": 1},\n]\n", "trailing-comma.json");
    assert_eq!(rows, [ok(2, 4, json!({"a": 1}))]);
    assert_eq!(
        bad_file_reason(err, "trailing-comma.json"),
        "line 3 column 1 (byte 14): expected an array element after `,`, found `]` (JSON allows no `,` before the \
         closing `]`)"
    );
}

#[test]
fn ndjson_cut_short_last_line_is_a_rejected_row_named_by_its_line() {
    // Each line is a record: a last line cut in its string is that record at fault, and the lines before load.
    let (_, rows) = read_all(b"{\"id\":1}\n{\"id\":2}\n{\"id\":3,\"n\":\"ab", "cut.ndjson", &FileFormat::NdJson);
    assert_eq!(
        rows,
        [
            ok(1, 0, json!({"id": 1})),
            ok(2, 9, json!({"id": 2})),
            Err((
                3,
                Some(18),
                None,
                RowErrorCode::Unparsable,
                "invalid JSON at column 15: EOF while parsing a string".to_owned()
            )),
        ]
    );
    let Err((line, offset, field, code, message)) = rows[2].clone() else { panic!("expected an error") };
    let error = RowError { file: "cut.ndjson".into(), line, offset, field, code, message };
    assert_eq!(
        error.to_string(),
        "cut.ndjson:3 (byte 18): invalid JSON at column 15: EOF while parsing a string (unparsable)"
    );
}

fn duplicate(line: u64, offset: u64, path: &str, at: &str) -> Result<Good, Bad> {
    Err((
        line,
        Some(offset),
        Some(path.to_owned()),
        RowErrorCode::Unparsable,
        format!("key `{path}` appears twice (the second time at {at})"),
    ))
}

#[test]
fn json_duplicate_keys_reject_their_row_naming_the_key_path() {
    // The second `id` opens at byte 9, column 10; the next element starts at byte 17.
    let (columns, rows) = read_all(br#"[{"id":1,"id":2},{"ok":true}]"#, "dup.json", &FileFormat::Json);
    assert_eq!(rows, [duplicate(1, 1, "id", "line 1 column 10"), ok(1, 17, json!({"ok": true}))]);
    assert_eq!(columns, ["ok"], "a rejected row's keys are not columns");
    // Nested, over several lines: the element starts on line 2 at byte 4; the second `city` on line 4.
    let bytes = b"[\n  {\"id\": 1,\n   \"address\": {\"city\": \"Paris\",\n               \"city\": \"Lyon\"}}\n]\n";
    let (_, rows) = read_all(bytes, "nested.json", &FileFormat::Json);
    assert_eq!(rows, [duplicate(2, 4, "address.city", "line 4 column 16")]);
    // One object as the whole file.
    let (_, rows) = read_all(br#"{"a":1,"a":2}"#, "one.json", &FileFormat::Json);
    assert_eq!(rows, [duplicate(1, 0, "a", "line 1 column 8")]);
}

/// Every row of a JSON or NDJSON file with the faults of its values: (line, offset, fields, faults as (path,
/// message)), or the row error's (line, offset, message).
type WithFaults = Result<(u64, Option<u64>, Value, Vec<(String, String)>), (u64, Option<u64>, String)>;

fn read_with_faults(
    bytes: &[u8],
    name: &str,
    format: &FileFormat,
    code: RowErrorCode,
) -> (Vec<String>, Vec<WithFaults>) {
    let (columns, read) = read_rows(bytes, name, format);
    let mut rows = Vec::new();
    for row in read {
        rows.push(match row {
            Ok(SourceRow { line, offset, fields, faults }) => {
                let faults = faults
                    .into_iter()
                    .map(|fault| {
                        assert_eq!(fault.code, code);
                        (fault.path.join("."), fault.message)
                    })
                    .collect();
                Ok((line, offset, Value::Object(fields), faults))
            }
            Err(error) => Err((error.line, error.offset, error.message)),
        });
    }
    (columns, rows)
}

#[test]
fn json_integers_too_large_for_64_bits_are_read_as_null_and_named_as_faults_of_their_row() {
    let too_large = |literal: &str, at: &str| {
        format!("the integer {literal} at {at} is too large for 64 bits and would lose digits as a number; write it as a string")
    };
    let fault = |path: &str, literal: &str, at: &str| (path.to_owned(), too_large(literal, at));
    let lines: [&[u8]; 5] = [
        br#"{"id": 123456789012345678901234, "name": "a"}"#,
        br#"{"id": "123456789012345678901234", "big": 18446744073709551615, "f": 1e20}"#,
        br#"{"ids": [1, -9223372036854775809], "o": {"n": 99999999999999999999, "m": 2}}"#,
        br#"{"id": 3}"#,
        br#"99999999999999999999"#,
    ];
    let bytes = lines.join(&b'\n');
    let (columns, rows) = read_with_faults(&bytes, "big.ndjson", &FileFormat::NdJson, RowErrorCode::BadNumber);
    assert_eq!(
        rows,
        [
            Ok((
                1,
                Some(0),
                json!({"id": null, "name": "a"}),
                vec![fault("id", "123456789012345678901234", "column 8")]
            )),
            Ok((
                2,
                Some(46),
                json!({"id": "123456789012345678901234", "big": 18446744073709551615_u64, "f": 1e20}),
                vec![]
            )),
            Ok((
                3,
                Some(121),
                json!({"ids": [1, null], "o": {"n": null, "m": 2}}),
                vec![
                    fault("ids.1", "-9223372036854775809", "column 13"),
                    fault("o.n", "99999999999999999999", "column 47"),
                ]
            )),
            Ok((4, Some(198), json!({"id": 3}), vec![])),
            Err((5, Some(208), "the line holds a JSON number, not an object".to_owned())),
        ]
    );
    assert_eq!(columns, ["id", "name", "big", "f", "ids", "o"], "in first-seen order, the faulted rows' keys too");
    // In a JSON array, over lines: the element starts at byte 4 on line 2, the literal on line 3.
    let bytes = b"[\n  {\"id\": 1,\n   \"n\": 100000000000000000000}\n]\n";
    let (_, rows) = read_with_faults(bytes, "big.json", &FileFormat::Json, RowErrorCode::BadNumber);
    assert_eq!(
        rows,
        [Ok((2, Some(4), json!({"id": 1, "n": null}), vec![fault("n", "100000000000000000000", "line 3 column 9")]))]
    );
}

#[test]
fn ndjson_duplicate_keys_reject_their_line_naming_the_key_path() {
    let lines: [&[u8]; 7] = [
        br#"{"a":1,"a":2}"#,
        br#"{"a":1,"A":2,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#,
        br#"{"x":{"y":1,"y":2}}"#,
        br#"{"l":[{"k":1},{"k":1,"k":2}]}"#,
        br#"{"a":1,"\u0061":2}"#,
        br#"{"a\"b":1,"a\"b":2}"#,
        br#"{"a":1, "b":2,  "a" : 3}"#,
    ];
    let bytes = lines.join(&b'\n');
    let (columns, rows) = read_all(&bytes, "dup.ndjson", &FileFormat::NdJson);
    assert_eq!(
        rows,
        [
            duplicate(1, 0, "a", "column 8"),
            ok(2, 14, json!({"a": 1, "A": 2, "b": {"a": 1}, "c": [{"a": 1}, {"a": 2}]})),
            duplicate(3, 62, "x.y", "column 13"),
            duplicate(4, 82, "l.1.k", "column 22"),
            // The same key escaped: a key is compared as it reads, not as it is written.
            duplicate(5, 112, "a", "column 8"),
            duplicate(6, 131, "a\"b", "column 11"),
            duplicate(7, 151, "a", "column 17"),
        ]
    );
    // Keys are noted in the order an object holds them (sorted).
    assert_eq!(columns, ["A", "a", "b", "c"]);
}

#[test]
fn ndjson_broken_line_is_rejected_and_following_lines_still_read() {
    let bytes = b"{\"id\":1}\n\n{\"id\":2,\"n\":[1,2]}\n{\"id\":3,\n\"str\"\n  \r\n{\"id\":6}";
    let (columns, rows) = read_all(bytes, "events.ndjson", &FileFormat::NdJson);
    assert_eq!(columns, ["id", "n"]);
    assert_eq!(
        rows,
        [
            ok(1, 0, json!({"id": 1})),
            ok(3, 10, json!({"id": 2, "n": [1, 2]})),
            Err((
                4,
                Some(29),
                None,
                RowErrorCode::Unparsable,
                "invalid JSON at column 8: EOF while parsing a value".to_owned()
            )),
            Err((
                5,
                Some(38),
                None,
                RowErrorCode::Unparsable,
                "the line holds a JSON string, not an object".to_owned()
            )),
            ok(7, 48, json!({"id": 6})),
        ]
    );
}

#[test]
fn row_error_display_names_file_line_and_byte() {
    let (_, rows) = read_all(b"a,b\n1\n", "short.csv", &csv(CsvOptions::default()));
    let Err((line, offset, field, code, message)) = rows[0].clone() else { panic!("expected an error") };
    let error = RowError { file: "short.csv".into(), line, offset, field, code, message };
    assert_eq!(error.to_string(), "short.csv:2 (byte 4): the row has 1 fields but the header has 2 (unparsable)");
}

mod parquet_files {
    use std::fs::File;
    use std::sync::Arc;

    use ::parquet::basic::{Compression, GzipLevel, ZstdLevel};
    use ::parquet::data_type::{
        BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType, Int32Type, Int64Type,
    };
    use ::parquet::file::properties::WriterProperties;
    use ::parquet::file::writer::SerializedFileWriter;
    use ::parquet::schema::parser::parse_message_type;
    use ::parquet::schema::types::SchemaDescriptor;

    use super::*;

    const SCHEMA: &str = "
        message contact {
            REQUIRED INT64 id;
            OPTIONAL BYTE_ARRAY name (UTF8);
            OPTIONAL DOUBLE score;
            OPTIONAL BOOLEAN active;
            OPTIONAL INT32 born (DATE);
            OPTIONAL INT64 seen (TIMESTAMP(MILLIS, true));
            OPTIONAL INT32 amount (DECIMAL(9, 2));
            OPTIONAL GROUP address {
                OPTIONAL BYTE_ARRAY city (UTF8);
                OPTIONAL INT32 zip;
            }
            OPTIONAL GROUP tags (LIST) {
                REPEATED GROUP list {
                    OPTIONAL BYTE_ARRAY element (UTF8);
                }
            }
        }";

    /// Three contacts: full, mostly null (with an empty tag list), and with a half-filled address.
    fn write_contacts(path: &Path, compression: Compression) {
        let schema = Arc::new(parse_message_type(SCHEMA).unwrap());
        let props = Arc::new(WriterProperties::builder().set_compression(compression).build());
        let mut writer = SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let strings = |values: &[&str]| values.iter().map(|value| ByteArray::from(*value)).collect::<Vec<_>>();

        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[1, 2, 3], None, None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<ByteArrayType>().write_batch(&strings(&["Zoë", "Bob"]), Some(&[1, 0, 1]), None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<DoubleType>().write_batch(&[1.5, -2.0], Some(&[1, 0, 1]), None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<BoolType>().write_batch(&[true, false], Some(&[1, 1, 0]), None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        // 10958 days after 1970-01-01 is 2000-01-02; 19000 days is 2022-01-08.
        column.typed::<Int32Type>().write_batch(&[10958, 19000], Some(&[1, 0, 1]), None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        // 1_700_000_000 s after the epoch is 2023-11-14T22:13:20Z.
        column.typed::<Int64Type>().write_batch(&[1_700_000_000_123], Some(&[1, 0, 0]), None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int32Type>().write_batch(&[12345, -5], Some(&[1, 1, 0]), None).unwrap();
        column.close().unwrap();
        // address.city: present; address null; address present with a null city.
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<ByteArrayType>().write_batch(&strings(&["Paris"]), Some(&[2, 0, 1]), None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int32Type>().write_batch(&[75001, 1000], Some(&[2, 0, 2]), None).unwrap();
        column.close().unwrap();
        // tags: ["a", "b"]; []; null.
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<ByteArrayType>()
            .write_batch(&strings(&["a", "b"]), Some(&[3, 3, 1, 0]), Some(&[0, 1, 0, 0]))
            .unwrap();
        column.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn parquet_round_trip_with_nested_struct_lists_and_nulls() {
        let dir = tempfile::tempdir().unwrap();
        for (name, compression) in [
            ("snappy.parquet", Compression::SNAPPY),
            ("zstd.parquet", Compression::ZSTD(ZstdLevel::default())),
            ("gzip.parquet", Compression::GZIP(GzipLevel::default())),
            ("plain.parquet", Compression::UNCOMPRESSED),
        ] {
            let path = dir.path().join(name);
            write_contacts(&path, compression);
            let format = FileFormat::detect(&path).unwrap();
            let mut reader = open(&path, name, &format).unwrap();
            assert_eq!(reader.bytes_read(), 0);
            assert_eq!(
                reader.columns(),
                ["id", "name", "score", "active", "born", "seen", "amount", "address", "tags"],
                "{name}"
            );
            let mut rows = Vec::new();
            while let Some(row) = reader.next_row().unwrap() {
                let row = row.unwrap();
                rows.push((row.line, row.offset, Value::Object(row.fields)));
            }
            assert_eq!(
                rows,
                [
                    (
                        1,
                        None,
                        json!({
                            "id": 1, "name": "Zoë", "score": 1.5, "active": true, "born": "2000-01-02",
                            "seen": "2023-11-14T22:13:20.123Z", "amount": "123.45",
                            "address": {"city": "Paris", "zip": 75001}, "tags": ["a", "b"]
                        })
                    ),
                    (
                        2,
                        None,
                        json!({
                            "id": 2, "name": null, "score": null, "active": false, "born": null, "seen": null,
                            "amount": "-0.05", "address": null, "tags": []
                        })
                    ),
                    (
                        3,
                        None,
                        json!({
                            "id": 3, "name": "Bob", "score": -2.0, "active": null, "born": "2022-01-08", "seen": null,
                            "amount": null, "address": {"city": null, "zip": 1000}, "tags": null
                        })
                    ),
                ],
                "{name}"
            );
            assert!(reader.bytes_read() > 0, "{name}: progress reaches the row group's size");
        }
    }

    /// Dates, times and timestamps of every unit, UTC-adjusted or not, at the top level and inside a list, a
    /// struct and a map.
    const TIMES: &str = "
        message times {
            REQUIRED INT64 ts_ms_utc (TIMESTAMP(MILLIS, true));
            REQUIRED INT64 ts_ms_local (TIMESTAMP(MILLIS, false));
            REQUIRED INT64 ts_us_utc (TIMESTAMP(MICROS, true));
            REQUIRED INT64 ts_us_local (TIMESTAMP(MICROS, false));
            REQUIRED INT64 ts_ns_utc (TIMESTAMP(NANOS, true));
            REQUIRED INT64 ts_ns_local (TIMESTAMP(NANOS, false));
            REQUIRED INT32 t_ms (TIME(MILLIS, true));
            REQUIRED INT64 t_us (TIME(MICROS, false));
            REQUIRED INT64 t_ns (TIME(NANOS, true));
            REQUIRED INT32 day (DATE);
            OPTIONAL GROUP events (LIST) {
                REPEATED GROUP list {
                    OPTIONAL INT64 element (TIMESTAMP(NANOS, true));
                }
            }
            OPTIONAL GROUP visit {
                OPTIONAL INT64 at (TIME(NANOS, false));
            }
            OPTIONAL GROUP seen (MAP) {
                REPEATED GROUP key_value {
                    REQUIRED BYTE_ARRAY key (UTF8);
                    OPTIONAL INT64 value (TIMESTAMP(NANOS, false));
                }
            }
        }";

    #[test]
    fn parquet_timestamps_and_times_of_every_unit_become_text() {
        // 2024-03-05T10:11:12Z is 1_709_633_472 s after the epoch; 10:11:12 is 36_672 s after midnight;
        // 2024-03-05 is 19_787 days after 1970-01-01. Row 2 holds -1 of each timestamp unit (the instant just
        // before the epoch) and the edges of the day.
        let (ms, us, ns) = (1_709_633_472_123_i64, 1_709_633_472_123_456_i64, 1_709_633_472_123_456_789_i64);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("times.parquet");
        let schema = Arc::new(parse_message_type(TIMES).unwrap());
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(File::create(&path).unwrap(), schema, props).unwrap();
        let mut group = writer.next_row_group().unwrap();
        for values in [[ms, -1], [ms, -1], [us, -1], [us, -1], [ns, -1], [ns, -1]] {
            let mut column = group.next_column().unwrap().unwrap();
            column.typed::<Int64Type>().write_batch(&values, None, None).unwrap();
            column.close().unwrap();
        }
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int32Type>().write_batch(&[36_672_123, 0], None, None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[36_672_123_456, 1], None, None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[36_672_123_456_789, 86_399_999_999_999], None, None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int32Type>().write_batch(&[19_787, 0], None, None).unwrap();
        column.close().unwrap();
        // events: [ns, null]; null.
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[ns], Some(&[3, 2, 0]), Some(&[0, 1, 0])).unwrap();
        column.close().unwrap();
        // visit.at: 10:11:12.123456789; exactly one millisecond after midnight.
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[36_672_123_456_789, 1_000_000], Some(&[2, 2]), None).unwrap();
        column.close().unwrap();
        // seen: {"first": ns}; {}.
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<ByteArrayType>().write_batch(&[ByteArray::from("first")], Some(&[2, 1]), Some(&[0, 0])).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[ns], Some(&[3, 1]), Some(&[0, 0])).unwrap();
        column.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();

        let mut reader = open(&path, "times.parquet", &FileFormat::Parquet).unwrap();
        let mut rows = Vec::new();
        while let Some(row) = reader.next_row().unwrap() {
            rows.push(Value::Object(row.unwrap().fields));
        }
        assert_eq!(
            rows,
            [
                json!({
                    "ts_ms_utc": "2024-03-05T10:11:12.123Z", "ts_ms_local": "2024-03-05T10:11:12.123Z",
                    "ts_us_utc": "2024-03-05T10:11:12.123456Z", "ts_us_local": "2024-03-05T10:11:12.123456Z",
                    "ts_ns_utc": "2024-03-05T10:11:12.123456789Z", "ts_ns_local": "2024-03-05T10:11:12.123456789Z",
                    "t_ms": "10:11:12.123", "t_us": "10:11:12.123456", "t_ns": "10:11:12.123456789",
                    "day": "2024-03-05", "events": ["2024-03-05T10:11:12.123456789Z", null],
                    "visit": {"at": "10:11:12.123456789"}, "seen": {"first": "2024-03-05T10:11:12.123456789Z"}
                }),
                json!({
                    "ts_ms_utc": "1969-12-31T23:59:59.999Z", "ts_ms_local": "1969-12-31T23:59:59.999Z",
                    "ts_us_utc": "1969-12-31T23:59:59.999999Z", "ts_us_local": "1969-12-31T23:59:59.999999Z",
                    "ts_ns_utc": "1969-12-31T23:59:59.999999999Z", "ts_ns_local": "1969-12-31T23:59:59.999999999Z",
                    "t_ms": "00:00:00.000", "t_us": "00:00:00.000001", "t_ns": "23:59:59.999999999",
                    "day": "1970-01-01", "events": null, "visit": {"at": "00:00:00.001"}, "seen": {}
                }),
            ]
        );
    }

    #[test]
    fn parquet_nanoseconds_in_legacy_lists_and_bare_repeated_fields_become_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.parquet");
        let schema = parse_message_type(
            "message legacy {
                OPTIONAL GROUP stamps (LIST) {
                    REPEATED INT64 element (TIMESTAMP(NANOS, true));
                }
                REPEATED INT64 times (TIME(NANOS, true));
            }",
        )
        .unwrap();
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(File::create(&path).unwrap(), Arc::new(schema), props).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[1, -1], Some(&[2, 2]), Some(&[0, 1])).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[1, 2_000], Some(&[1, 1]), Some(&[0, 1])).unwrap();
        column.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();

        let mut reader = open(&path, "legacy.parquet", &FileFormat::Parquet).unwrap();
        let row = reader.next_row().unwrap().unwrap().unwrap();
        // The record API reads a legacy two-level list as a list holding one list, whatever its element type;
        // that shape is its own (not this reader's) and left as is here.
        assert_eq!(
            Value::Object(row.fields),
            json!({
                "stamps": [["1970-01-01T00:00:00.000000001Z", "1969-12-31T23:59:59.999999999Z"]],
                "times": ["00:00:00.000000001", "00:00:00.000002"]
            })
        );
        assert!(reader.next_row().unwrap().is_none());
    }

    /// Writes a file of `schema` holding one row: leaf column k gets definition level `levels[k]` (and repetition
    /// level 0 when it is repeated), and a value (1, "x", or bytes 01) when that level is the column's maximum.
    fn write_one_row(path: &Path, schema: &str, levels: &[i16]) {
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let columns = SchemaDescriptor::new(schema.clone());
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
        let mut group = writer.next_row_group().unwrap();
        for (descr, level) in columns.columns().iter().zip(levels) {
            let level = *level;
            let mut column = group.next_column().unwrap().unwrap();
            let (def, rep) = (Some(&[level][..]), (descr.max_rep_level() > 0).then_some(&[0][..]));
            let full = level == descr.max_def_level();
            match descr.physical_type() {
                ::parquet::basic::Type::INT32 => {
                    column.typed::<Int32Type>().write_batch(if full { &[1] } else { &[] }, def, rep).unwrap();
                }
                ::parquet::basic::Type::INT64 => {
                    column.typed::<Int64Type>().write_batch(if full { &[1] } else { &[] }, def, rep).unwrap();
                }
                ::parquet::basic::Type::BYTE_ARRAY => {
                    let value = [ByteArray::from("x")];
                    column.typed::<ByteArrayType>().write_batch(if full { &value } else { &[] }, def, rep).unwrap();
                }
                ::parquet::basic::Type::FIXED_LEN_BYTE_ARRAY => {
                    let length = usize::try_from(descr.type_length()).unwrap();
                    let value = [FixedLenByteArray::from(vec![1u8; length])];
                    column
                        .typed::<FixedLenByteArrayType>()
                        .write_batch(if full { &value } else { &[] }, def, rep)
                        .unwrap();
                }
                other => panic!("no test value for {other}"),
            }
            column.close().unwrap();
        }
        assert!(group.next_column().unwrap().is_none(), "a level for each column");
        group.close().unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn parquet_columns_the_record_reader_cannot_read_refuse_the_file_naming_the_column() {
        // Each of these made the parquet crate's record reader panic (an `unimplemented!` conversion for
        // INTERVAL, assertions on the shape of LIST and MAP groups, an empty group): the file is refused when it is
        // opened, naming the first such column by its path in the schema, and nothing is read.
        let cases: [(&str, &[i16], &str); 8] = [
            (
                "message m { REQUIRED INT64 id; OPTIONAL FIXED_LEN_BYTE_ARRAY (12) span (INTERVAL); }",
                &[0, 1],
                "column `span` is INTERVAL (FIXED_LEN_BYTE_ARRAY(12)), which the Parquet record reader cannot convert",
            ),
            (
                "message m {
                    OPTIONAL GROUP visits (LIST) {
                        REPEATED GROUP list {
                            OPTIONAL GROUP element { OPTIONAL BYTE_ARRAY page (UTF8); OPTIONAL FIXED_LEN_BYTE_ARRAY (12) stay (INTERVAL); }
                        }
                    }
                }",
                &[4, 4],
                "column `visits.list.element.stay` is INTERVAL (FIXED_LEN_BYTE_ARRAY(12)), which the Parquet record \
                 reader cannot convert",
            ),
            (
                "message m { OPTIONAL GROUP tags (LIST) { REPEATED INT32 a; REPEATED INT32 b; } }",
                &[2, 2],
                "column `tags` is a LIST group holding 2 fields (a list holds one repeated field)",
            ),
            (
                "message m { OPTIONAL GROUP tags (LIST) { OPTIONAL INT32 element; } }",
                &[2],
                "column `tags` is a LIST group whose field `element` is OPTIONAL (a list holds one repeated field)",
            ),
            (
                "message m { OPTIONAL GROUP seen (MAP) { REPEATED GROUP key_value { REQUIRED BYTE_ARRAY key (UTF8); \
                 OPTIONAL INT32 value; OPTIONAL INT32 other; } } }",
                &[2, 3, 3],
                "column `seen.key_value` is a map entry holding 3 fields (a map entry holds a key and at most a value)",
            ),
            (
                "message m { OPTIONAL GROUP seen (MAP) { REPEATED GROUP key_value { REQUIRED GROUP key { REQUIRED \
                 INT32 x; } OPTIONAL INT32 value; } } }",
                &[2, 3],
                "column `seen.key_value.key` is a map key that is a group (map keys are primitive)",
            ),
            (
                "message m { REQUIRED INT32 id; OPTIONAL GROUP extra { } }",
                &[0],
                "column `extra` is a group with no fields",
            ),
            (
                "message m { REQUIRED INT32 id; OPTIONAL GROUP tags (LIST) { REPEATED GROUP list { } } }",
                &[0],
                "column `tags.list` is a group with no fields",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (index, (schema, levels, reason)) in cases.into_iter().enumerate() {
            let name = format!("case{index}.parquet");
            let path = dir.path().join(&name);
            write_one_row(&path, schema, levels);
            let err = open(&path, &name, &FileFormat::Parquet).err().unwrap();
            assert_eq!(err.to_string(), format!("cannot read {name}: {reason}; nothing is loaded"), "{schema}");
            assert!(matches!(err, crate::Error::BadFile { offset: None, .. }), "{schema}");
        }
    }

    #[test]
    fn parquet_annotations_the_record_reader_converts_are_read() {
        // Annotations the record reader converts, besides those of the tests above, each holding a value: none is
        // refused. The half-precision 01 01 is 257 × 2^-24 (subnormal); a map without values reads as its keys.
        let schema = "message m {
            REQUIRED INT32 i8 (INT_8); REQUIRED INT32 u16 (UINT_16); REQUIRED INT32 u32 (UINT_32);
            REQUIRED INT32 t (TIME_MILLIS); REQUIRED INT64 u64 (UINT_64); REQUIRED INT64 tu (TIME_MICROS);
            REQUIRED INT64 d64 (DECIMAL(10, 1)); REQUIRED BYTE_ARRAY e (ENUM); REQUIRED BYTE_ARRAY j (JSON);
            REQUIRED BYTE_ARRAY b (BSON); REQUIRED BYTE_ARRAY db (DECIMAL(5, 2));
            REQUIRED FIXED_LEN_BYTE_ARRAY (4) df (DECIMAL(8, 3)); REQUIRED FIXED_LEN_BYTE_ARRAY (16) u (UUID);
            REQUIRED FIXED_LEN_BYTE_ARRAY (2) h (FLOAT16); REQUIRED FIXED_LEN_BYTE_ARRAY (3) raw;
            REQUIRED GROUP keys (MAP) { REPEATED GROUP key_value { REQUIRED INT32 key; } }
        }";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("annotated.parquet");
        write_one_row(&path, schema, &[0; 15].into_iter().chain([1]).collect::<Vec<_>>());
        let mut reader = open(&path, "annotated.parquet", &FileFormat::Parquet).unwrap();
        let row = reader.next_row().unwrap().unwrap().unwrap();
        assert_eq!(
            Value::Object(row.fields),
            json!({
                "i8": 1, "u16": 1, "u32": 1, "t": "00:00:00.001", "u64": 1, "tu": "00:00:00.000001", "d64": "0.1",
                "e": "x", "j": "x", "b": "78", "db": "1.20", "df": "16843.009",
                "u": "01010101010101010101010101010101", "h": 257.0 / 16_777_216.0, "raw": "010101", "keys": [1]
            })
        );
    }

    #[test]
    fn parquet_text_that_is_not_utf8_is_read_as_null_and_named_as_a_fault_of_its_row() {
        // Six rows; the value not UTF-8 is `name` in row 2 (`B ff b`: its byte 2), `address.city` in row 3
        // (`N c3`: a sequence cut at byte 2), the second tag of row 4 (`fe`: byte 1) and the second map key of row 5
        // (`ff`). Rows 1 and 6 load. The binary `raw` (no annotation) holds bytes that are no UTF-8 either, and is
        // hex as ever.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text.parquet");
        let schema = Arc::new(
            parse_message_type(
                "message m {
                    REQUIRED INT64 id;
                    OPTIONAL BYTE_ARRAY name (UTF8);
                    OPTIONAL GROUP address { OPTIONAL BYTE_ARRAY city (UTF8); }
                    OPTIONAL GROUP tags (LIST) { REPEATED GROUP list { OPTIONAL BYTE_ARRAY element (UTF8); } }
                    OPTIONAL BYTE_ARRAY raw;
                    OPTIONAL GROUP seen (MAP) {
                        REPEATED GROUP key_value { REQUIRED BYTE_ARRAY key (UTF8); OPTIONAL INT32 value; }
                    }
                }",
            )
            .unwrap(),
        );
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(File::create(&path).unwrap(), schema, props).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let bytes = |values: &[&[u8]]| values.iter().map(|value| ByteArray::from(value.to_vec())).collect::<Vec<_>>();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&[1, 2, 3, 4, 5, 6], None, None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        let names = bytes(&[b"Ana", b"B\xffb", b"Cy", b"Dee", b"Eve", b"Fay"]);
        column.typed::<ByteArrayType>().write_batch(&names, Some(&[1; 6]), None).unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        let cities = bytes(&[b"Paris", b"Lyon", b"N\xc3", b"Nice", b"Rome", b"Oslo"]);
        column.typed::<ByteArrayType>().write_batch(&cities, Some(&[2; 6]), None).unwrap();
        column.close().unwrap();
        // tags: ["a"]; ["b"]; ["c"]; ["x", fe]; []; ["z"].
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<ByteArrayType>()
            .write_batch(
                &bytes(&[b"a", b"b", b"c", b"x", b"\xfe", b"z"]),
                Some(&[3, 3, 3, 3, 3, 1, 3]),
                Some(&[0, 0, 0, 0, 1, 0, 0]),
            )
            .unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<ByteArrayType>().write_batch(&bytes(&[b"\x01\xff"]), Some(&[1, 0, 0, 0, 0, 0]), None).unwrap();
        column.close().unwrap();
        // seen: {"k": 7} in row 1, {"ok": 1, ff: 2} in row 5, null in the others.
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<ByteArrayType>()
            .write_batch(&bytes(&[b"k", b"ok", b"\xff"]), Some(&[2, 0, 0, 0, 2, 2, 0]), Some(&[0, 0, 0, 0, 0, 1, 0]))
            .unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<Int32Type>()
            .write_batch(&[7, 1, 2], Some(&[3, 0, 0, 0, 3, 3, 0]), Some(&[0, 0, 0, 0, 0, 1, 0]))
            .unwrap();
        column.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let (_, rows) = read_with_faults(&bytes, "text.parquet", &FileFormat::Parquet, RowErrorCode::Unparsable);
        let not_utf8 = |path: &str, position: u8| {
            (
                path.to_owned(),
                format!("the value is not valid UTF-8 (invalid byte at position {position} of the value)"),
            )
        };
        assert_eq!(
            rows,
            [
                Ok((
                    1,
                    None,
                    json!({
                        "id": 1, "name": "Ana", "address": {"city": "Paris"}, "tags": ["a"], "raw": "01ff",
                        "seen": {"k": 7}
                    }),
                    vec![]
                )),
                Ok((
                    2,
                    None,
                    json!({"id": 2, "name": null, "address": {"city": "Lyon"}, "tags": ["b"], "raw": null, "seen": null}),
                    vec![not_utf8("name", 2)]
                )),
                Ok((
                    3,
                    None,
                    json!({"id": 3, "name": "Cy", "address": {"city": null}, "tags": ["c"], "raw": null, "seen": null}),
                    vec![not_utf8("address.city", 2)]
                )),
                Ok((
                    4,
                    None,
                    json!({"id": 4, "name": "Dee", "address": {"city": "Nice"}, "tags": ["x", null], "raw": null,
                           "seen": null}),
                    vec![not_utf8("tags.1", 1)]
                )),
                Ok((
                    5,
                    None,
                    json!({"id": 5, "name": "Eve", "address": {"city": "Rome"}, "tags": [], "raw": null,
                           "seen": {"ok": 1}}),
                    vec![(
                        "seen.1".to_owned(),
                        "map key 2: the value is not valid UTF-8 (invalid byte at position 1 of the value)".to_owned()
                    )]
                )),
                Ok((
                    6,
                    None,
                    json!({"id": 6, "name": "Fay", "address": {"city": "Oslo"}, "tags": ["z"], "raw": null, "seen": null}),
                    vec![]
                )),
            ]
        );
    }

    #[test]
    fn a_file_that_is_not_parquet_is_refused_with_its_name() {
        let (_dir, path) = write(b"id,name\n1,a\n", "fake.parquet");
        let err = open(&path, "fake.parquet", &FileFormat::Parquet).err().unwrap();
        assert!(err.to_string().starts_with("cannot read fake.parquet: not a readable Parquet file: "), "{err}");
    }
}

#[test]
fn offsets_stay_exact_across_decoder_buffers() {
    // 10,000 fixed-width rows of UTF-16LE (24 bytes each) span several 64 KiB buffers; a UTF-16 unit and a
    // CRLF are split by buffer ends somewhere. Row k starts on line k + 1 at 2 (BOM) + 18 (header) + 24 (k - 1).
    let mut text = String::from("id,name\r\n");
    for k in 1..=10_000 {
        text.push_str(&format!("{k:04},abcdé\r\n"));
    }
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let (_, rows) = read_all(&bytes, "many.csv", &csv(CsvOptions::default()));
    assert_eq!(rows.len(), 10_000);
    for (index, row) in rows.iter().enumerate() {
        let k = index as u64 + 1;
        let (line, offset, fields) = row.as_ref().unwrap();
        assert_eq!((*line, *offset), (k + 1, Some(2 + 18 + 24 * (k - 1))), "row {k}");
        assert_eq!(fields["name"], json!("abcdé"), "row {k}");
    }
}

#[test]
fn json_scanner_ignores_brackets_commas_and_escaped_quotes_inside_strings() {
    // Elements start at offsets 1 and 19 (after `[`, 16 bytes of element and `, `); the NDJSON BOM counts.
    let bytes = br#"[{"a": "x\"],[y"}, {"b": ["}", "{"]}]"#;
    let (_, rows) = read_all(bytes, "strings.json", &FileFormat::Json);
    assert_eq!(rows, [ok(1, 1, json!({"a": "x\"],[y"})), ok(1, 19, json!({"b": ["}", "{"]}))]);

    let (_, rows) = read_all(b"\xef\xbb\xbf{\"a\": 1}\n{\"a\": 2}\n", "bom.ndjson", &FileFormat::NdJson);
    assert_eq!(rows, [ok(1, 3, json!({"a": 1})), ok(2, 12, json!({"a": 2}))]);
}
