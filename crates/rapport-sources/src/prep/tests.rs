#![allow(clippy::unwrap_used)]

use rapport_model::RowErrorCode;
use serde_json::{json, Map, Value};

use super::*;

fn row(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn eval_on(text: &str, fields: Value) -> Value {
    Expression::parse(text).unwrap_or_else(|e| panic!("{}", e.render(text))).eval(&row(fields)).unwrap()
}

fn eval(text: &str) -> Value {
    eval_on(text, json!({}))
}

fn eval_err(text: &str, fields: Value) -> EvalError {
    Expression::parse(text).unwrap().eval(&row(fields)).unwrap_err()
}

fn parse_err(text: &str) -> (usize, usize, String) {
    let err = Expression::parse(text).unwrap_err();
    (err.span.start, err.span.end, err.message)
}

#[test]
fn fields_plain_nested_and_escaped() {
    let fields = json!({"name": {"first": "Ada"}, "First Name": "Grace", "sfdc.crmId": "X1", "blank": "  ", "n": 3});
    assert_eq!(eval_on("name.first", fields.clone()), json!("Ada"));
    assert_eq!(eval_on("${First Name}", fields.clone()), json!("Grace"));
    assert_eq!(eval_on(r"${sfdc\.crmId}", fields.clone()), json!("X1"));
    assert_eq!(eval_on("sfdc.crmId", fields.clone()), Value::Null, "a plain dotted name is a nested path");
    assert_eq!(eval_on("blank", fields.clone()), Value::Null, "blank strings read as null");
    assert_eq!(eval_on("missing", fields.clone()), Value::Null);
    assert_eq!(eval_on("n", fields), json!(3));
    let refs = Expression::parse(r"concat(a.b, ${c\.d}, 'x')").unwrap().fields();
    assert_eq!(refs.iter().map(|r| r.path.clone()).collect::<Vec<_>>(), vec![vec!["a", "b"], vec!["c.d"]]);
    assert_eq!((refs[1].span.start, refs[1].span.end), (12, 19));
}

#[test]
fn operator_precedence() {
    // && binds tighter than ||; comparisons tighter than &&; ! tighter than ==.
    assert_eq!(eval("true || false && false"), json!(true));
    assert_eq!(eval("(true || false) && false"), json!(false));
    assert_eq!(eval("1 < 2 == true"), json!(true));
    assert_eq!(eval("!false == true"), json!(true));
    assert_eq!(eval("1 == 1 && 2 != 3 || false"), json!(true));
    assert_eq!(eval("-2 < -1"), json!(true));
    assert_eq!(eval("'b' > 'a' and not ('a' ge 'b')"), json!(true));
}

#[test]
fn comparisons_coerce_like_data_prep() {
    assert_eq!(eval_on("x == 1", json!({"x": "1"})), json!(true));
    assert_eq!(eval_on("x == 'true'", json!({"x": true})), json!(true));
    assert_eq!(eval_on("x != null && x != \"\"", json!({"x": ""})), json!(false));
    assert_eq!(eval_on("x != null && x != \"\"", json!({"x": "a"})), json!(true));
    assert_eq!(eval_on("x < 10", json!({"x": "9.5"})), json!(true));
    assert_eq!(eval_on("x < 10", json!({})), json!(false), "null compares false");
    let err = eval_err("x < 1", json!({"x": "abc"}));
    assert_eq!((err.function, err.code), ("<", RowErrorCode::Invalid));
    assert_eq!(err.to_string(), r#"<: cannot compare the string "abc" with 1"#);
}

#[test]
fn string_functions() {
    assert_eq!(eval(r#"concat("Hi, ", "there", "!")"#), json!("Hi, there!"));
    assert_eq!(eval_on(r#"concat(id, "@org.Salesforce")"#, json!({"id": 7})), json!("7@org.Salesforce"));
    assert_eq!(eval("concat(null, null)"), Value::Null);
    assert_eq!(eval(r#"lower("HeLLo") == lcase("hello") && upper("a") == ucase("A")"#), json!(true));
    assert_eq!(eval(r#"trim("  x y  ")"#), json!("x y"));
    assert_eq!(eval(r#"ltrim(" x ")"#), json!("x "));
    assert_eq!(eval(r#"substr("This is a substring test", 7, 8)"#), json!(" a subst"));
    assert_eq!(eval(r#"substr("héllo", 1, 100)"#), json!("éllo"), "characters, not bytes");
    let err = eval_err(r#"substr("hello", 1, -2)"#, json!({}));
    assert_eq!((err.argument, err.message.as_str()), (Some(3), "the length -2 is negative"));
    let err = eval_err(r#"substr("hello", -1)"#, json!({}));
    assert_eq!((err.argument, err.message.as_str()), (Some(2), "the start -1 is negative"));
    let err = eval_err(r#"left("hello", -1)"#, json!({}));
    assert_eq!((err.argument, err.message.as_str()), (Some(2), "the length -1 is negative"));
    assert_eq!(eval(r#"left("abcde", 2)"#), json!("ab"));
    assert_eq!(eval(r#"right("abcde", 2)"#), json!("de"));
    assert_eq!(eval(r#"replacestr("a-b-c", "-", "+")"#), json!("a+b+c"));
    assert_eq!(eval(r#""string1".equals("STRING1")"#), json!(false));
    assert_eq!(eval(r#""string1".equalsIgnoreCase("STRING1")"#), json!(true));
    assert_eq!(eval_on(r#"code.equals("1")"#, json!({"code": "1"})), json!(true));
    assert_eq!(eval(r#"sha256("my text")"#), json!("7330d2b39ca35eaf4cb95fc846c21ee6a39af698154a83a586ee270a0d372104"));
}

#[test]
fn conditionals_and_null_checks() {
    assert_eq!(eval(r#"iif("s".equalsIgnoreCase("S"), "True", "False")"#), json!("True"));
    assert_eq!(eval_on("iif(x, 1, 2)", json!({})), json!(2), "a null condition is false");
    let err = eval_err("iif(x, 1, 2)", json!({"x": "yes"}));
    assert_eq!((err.function, err.argument), ("iif", Some(1)));
    assert_eq!(eval(r#"decode("pa", "ca", "California", "pa", "Pennsylvania", "N/A")"#), json!("Pennsylvania"));
    assert_eq!(eval(r#"decode("tx", "ca", "California", "pa", "Pennsylvania", "N/A")"#), json!("N/A"));
    assert_eq!(eval(r#"decode("tx", "ca", "California")"#), Value::Null);
    assert_eq!(eval_on(r#"decode(g, "1", "male", "2", "female", null)"#, json!({"g": 2})), json!("female"));
    assert_eq!(eval("coalesce(null, null, \"first\", \"second\")"), json!("first"));
    assert_eq!(eval("is_empty(to_array(false, null))"), json!(true));
    assert_eq!(eval("is_empty(\"a\")"), json!(false));
    assert_eq!(eval_on("is_null(x) && isnull(x) && !is_not_null(x)", json!({"x": ""})), json!(true));
    assert_eq!(eval_on("contains_key(\"a.b\")", json!({"a": {"b": 1}})), json!(true));
    assert_eq!(eval_on("is_set(\"a.c\")", json!({"a": {"b": 1}})), json!(false));
}

#[test]
fn objects_and_arrays() {
    assert_eq!(
        eval_on(
            r#"iif(id != null && id != "", to_object("sourceType", "Salesforce", "sourceID", id, "sourceKey", concat(id, "@o.Salesforce")), null)"#,
            json!({"id": "003"})
        ),
        json!({"sourceType": "Salesforce", "sourceID": "003", "sourceKey": "003@o.Salesforce"})
    );
    assert_eq!(eval(r#"explode("a, b,,c")"#), json!(["a", "b", "c"]));
    assert_eq!(eval(r#"explode("Buyer;Champion", ";")"#), json!(["Buyer", "Champion"]));
    assert_eq!(eval(r#"explode("a.b", "\\.")"#), json!(["a", "b"]));
    assert_eq!(eval(r#"explode(" ; ", ";")"#), Value::Null);
    assert_eq!(eval("to_array(false, 1, null, 2)"), json!([1, 2]));
    assert_eq!(eval("to_array(true, 1, null)"), json!([1, null]));
    assert_eq!(
        eval(r#"to_object("ECID", arrays_to_objects("id", explode("e1,e2")))"#),
        json!({"ECID": [{"id": "e1"}, {"id": "e2"}]})
    );
    assert_eq!(eval(r#"json_to_object("{\"a\": [1, 2]}")"#), json!({"a": [1, 2]}));
    let err = eval_err("json_to_object(x)", json!({"x": "{nope"}));
    assert_eq!((err.function, err.argument, err.code), ("json_to_object", Some(1), RowErrorCode::Invalid));
    assert_eq!(eval("size_of(to_array(true, 1, 2, 3))"), json!(3));
    assert_eq!(eval("first(\"1\", \"2\") == \"1\" && last(\"1\", \"2\") == \"2\""), json!(true));
}

#[test]
fn casts() {
    assert_eq!(eval(r#"to_integer("12")"#), json!(12));
    assert_eq!(eval(r#"to_integer("10.0")"#), json!(10));
    assert_eq!(eval(r#"to_bigint("9000000000")"#), json!(9_000_000_000_i64));
    assert_eq!(eval(r#"to_decimal("20.5")"#), json!(20.5));
    assert_eq!(eval(r#"to_float("5000000")"#), json!(5_000_000), "whole numbers stay integers");
    assert_eq!(eval(r#"to_boolean("TRUE")"#), json!(true));
    assert_eq!(eval(r#"to_boolean("0")"#), json!(false));
    assert_eq!(eval("to_string(12.5)"), json!("12.5"));
    assert_eq!(eval("string(true)"), json!("true"));
    assert_eq!(eval("to_integer(null)"), Value::Null);
    let err = eval_err("to_integer(x)", json!({"x": "10.5"}));
    assert_eq!((err.function, err.argument, err.code), ("to_integer", Some(1), RowErrorCode::BadNumber));
    assert_eq!(err.to_string(), r#"to_integer: argument 1: "10.5" is not a whole number"#);
    let err = eval_err("to_boolean(x)", json!({"x": "yes"}));
    assert_eq!((err.function, err.code), ("to_boolean", RowErrorCode::BadBoolean));
    let err = eval_err("to_decimal(x)", json!({"x": "1,000"}));
    assert_eq!(err.code, RowErrorCode::BadNumber);
}

#[test]
fn dates() {
    assert_eq!(eval(r#"date("2019-10-23 11:24", "yyyy-MM-dd HH:mm")"#), json!("2019-10-23T11:24:00.000Z"));
    assert_eq!(eval(r#"date("03/05/2024", "MM/dd/yyyy")"#), json!("2024-03-05T00:00:00.000Z"));
    assert_eq!(
        eval(r#"date("2024-03-05T15:22:11.000+01:00", "yyyy-MM-dd'T'HH:mm:ss.SSSX")"#),
        json!("2024-03-05T14:22:11.000Z")
    );
    assert_eq!(eval(r#"date("2024-03-05")"#), json!("2024-03-05T00:00:00.000Z"), "default formats");
    // The default is a date too, and comes out in the same form as a parsed one.
    assert_eq!(eval(r#"date("junk", "yyyy-MM-dd", "1970-01-01T00:00:00Z")"#), json!("1970-01-01T00:00:00.000Z"));
    assert_eq!(eval(r#"date("junk", "MM/dd/yyyy", "12/31/1999")"#), json!("1999-12-31T00:00:00.000Z"));
    assert_eq!(eval(r#"date(null, "MM/dd/yyyy", "2000-01-02")"#), json!("2000-01-02T00:00:00.000Z"));
    assert_eq!(eval(r#"date("junk", "MM/dd/yyyy", null)"#), Value::Null);
    let err = eval_err(r#"date("junk", "MM/dd/yyyy", d)"#, json!({"d": "soon"}));
    assert_eq!((err.argument, err.code), (Some(3), RowErrorCode::BadDate));
    assert_eq!(err.message, r#"the default "soon" is not a date (RFC 3339, YYYY-MM-DD or the pattern's form)"#);
    assert_eq!(eval(r#"date(null, "yyyy-MM-dd")"#), Value::Null);
    assert_eq!(eval(r#"format(date("3/5/2024 2:22 PM", "M/d/yyyy h:mm a"), "yyyy-MM-dd")"#), json!("2024-03-05"));
    let err = eval_err(r#"date(d, "yyyy-MM-dd")"#, json!({"d": "2024-02-30"}));
    assert_eq!((err.function, err.argument, err.code), ("date", Some(1), RowErrorCode::BadDate));
    assert_eq!(err.message, r#""2024-02-30" does not match the date pattern "yyyy-MM-dd""#);
    // A pattern read from a field can only be checked on each row; a literal one is checked once, at parse.
    let err = eval_err(r#"date(d, p)"#, json!({"d": "x", "p": "yyyy-QQ"}));
    assert_eq!((err.argument, err.message.as_str()), (Some(2), "the pattern letter `Q` is not supported"));
    assert_eq!(
        parse_err(r#"date(d, "yyyy-QQ")"#),
        (8, 17, "date: argument 2: the pattern letter `Q` is not supported".to_owned())
    );
    assert_eq!(
        parse_err(r#"d.format("yyyy-MM-DD")"#),
        (9, 21, "format: argument 2: the pattern letter `D` is not supported".to_owned())
    );
    assert_eq!(
        parse_err(r#"date(d, "MM/dd/yyyy", "never")"#),
        (
            22,
            29,
            r#"date: argument 3: the default "never" is not a date (RFC 3339, YYYY-MM-DD or the pattern's form)"#
                .to_owned()
        )
    );
}

#[test]
fn placeholders_are_substituted_once() {
    let mut expr = Expression::parse(r#"concat(Id, "@${CRM_ORG_ID}.${CRM_TYPE}", ${CRM_ORG_ID}, "${OTHER}")"#).unwrap();
    let values =
        Placeholders { crm_org_id: Some("00D1".into()), munchkin_id: None, crm_type: Some("Salesforce".into()) };
    expr.substitute(&values).unwrap();
    assert_eq!(expr.eval(&row(json!({"Id": "003"}))).unwrap(), json!("003@00D1.Salesforce00D1${OTHER}"));
    assert_eq!(expr.fields().len(), 1, "the placeholder reference is no longer a field");
    let mut expr = Expression::parse(r#"concat(id, "@${MUNCHKIN_ID}.Marketo")"#).unwrap();
    let err = expr.substitute(&values).unwrap_err();
    assert_eq!((err.span.start, err.span.end), (11, 36));
    assert_eq!(err.message, "the placeholder ${MUNCHKIN_ID} has no value");
}

#[test]
fn parse_errors_carry_spans_and_hints() {
    assert_eq!(parse_err("concat(a, b"), (11, 11, "expected `,` or `)`, found the end of the expression".into()));
    assert_eq!(parse_err("lowr(a)"), (0, 4, "unknown function `lowr` (did you mean `lower`?)".into()));
    assert_eq!(parse_err("iif(a, b)"), (0, 3, "iif takes 3 arguments, not 2".into()));
    assert_eq!(
        parse_err("to_object(\"a\")"),
        (0, 9, "to_object takes an even number of (at least 2) arguments, not 1".into())
    );
    assert_eq!(parse_err("a == == b"), (5, 7, "expected a value, found `==`".into()));
    assert_eq!(parse_err("a b"), (2, 3, "expected an operator or the end, found `b`".into()));
    assert_eq!(parse_err("x.frobnicate(1)"), (2, 12, "unknown function `frobnicate`".into()));
    let err = Expression::parse("concat(a,, b)").unwrap_err();
    assert_eq!(err.render("concat(a,, b)"), "concat(a,, b)\n         ^ expected a value, found `,`");
}

#[test]
fn reference_writer_round_trips() {
    for name in ["plain", "First Name", "sfdc.crmId", "a}b", "null", "9lives"] {
        let text = field_reference(name);
        let expr = Expression::parse(&text).unwrap();
        assert_eq!(expr.fields()[0].path, vec![name.to_owned()], "{text}");
    }
    assert_eq!(field_reference("sfdc.crmId"), r"${sfdc\.crmId}");
    let literal = string_literal("say \"hi\"\\");
    assert_eq!(eval(&literal), json!("say \"hi\"\\"));
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let err = Expression::parse(&deep).unwrap_err();
    assert_eq!(err.message, "the expression nests deeper than 128 levels");
    let nots = format!("{}true", "!".repeat(10_000));
    assert_eq!(Expression::parse(&nots).unwrap_err().message, "the expression nests deeper than 128 levels");
    // A long chain of one associative operator is a shallow tree: it parses, evaluates and drops.
    let ors = vec!["a == 3"; 20_000].join(" || ") + " || a == 7";
    let expr = Expression::parse(&ors).unwrap();
    assert_eq!(expr.eval(&row(json!({"a": 7}))).unwrap(), json!(true));
    assert_eq!(expr.eval(&row(json!({"a": 5}))).unwrap(), json!(false));
    let ands = vec!["true"; 20_000].join(" && ") + " && false";
    assert_eq!(Expression::parse(&ands).unwrap().eval(&Map::new()).unwrap(), json!(false));
    // Other chains nest one level per operator, and method chains one per call.
    let compares = vec!["1"; 20_000].join(" == ");
    assert_eq!(Expression::parse(&compares).unwrap_err().message, "the expression nests deeper than 128 levels");
    let calls = format!("a{}", ".equals(a)".repeat(20_000));
    assert_eq!(Expression::parse(&calls).unwrap_err().message, "the expression nests deeper than 128 levels");
    let fine = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(Expression::parse(&fine).unwrap().eval(&Map::new()).unwrap(), json!(1));
    let err = DatePattern::compile(&"[y]".repeat(13)).unwrap_err();
    assert_eq!(err, "the pattern has 13 optional sections (at most 12)");
}
