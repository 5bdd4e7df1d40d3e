//! Integration tests: every documented example parses and round-trips, AST shapes, spans, errors,
//! and a no-panic sweep over truncated and randomly generated inputs.

use rapport_pql::ast::{
    AggregateFn, BinaryOp, CompareOp, Direction, ExprKind, Literal, PathRoot, PeriodRelative, Quantifier,
    TimeConstraintKind, TimeLiteral, TimeUnit, UnaryOp,
};
use rapport_pql::{parse, parse_expr, Diagnostic, Expr, Query, Span};

/// Section e.2 of the domain reference, rows 1 to 36, in order.
const DOC_EXAMPLES: [&str; 36] = [
    r#"homeAddress.stateProvince = workAddress.stateProvince"#,
    r#"$1.homeAddress.stateProvince = $1.homeAddress.stateProvince"#,
    r#"(Profile) => Profile.homeAddress.stateProvince = Profile.workAddress.stateProvince"#,
    r#"homeAddress.countryISO = "CA""#,
    r#"homeAddress.countryISO = "CA" and person.birthYear = 1985"#,
    r#"not (homeAddress.countryISO = "CA")"#,
    r#"if (homeAddress.countryISO = "CA", 1, 2)"#,
    r#"person.birthMonth in [3, 6, 9]"#,
    r#"person.birthMonth notIn [3, 6, 9]"#,
    r#"person.favoriteColors.intersects(["red", "blue", "green"])"#,
    r#"person.favoriteColors.includes("red")"#,
    r#"person.orders.storeId.distinct().count() > 1"#,
    r#"orders.topN(price, 5)"#,
    r#"city like "%es%""#,
    r#"person.name.startsWith("Joe")"#,
    r#"person.emailAddress.endsWith(".com")"#,
    r#"person.name.matches("(?i)^John")"#,
    r#"person.birthMonth = currentMonth()"#,
    r#"product.saleDate occurs last week"#,
    r#"product.saleDate occurs between date(2015, 1, 8) and date(2017, 7, 1)"#,
    r#"product.saleDate occurs = 3 hours before now"#,
    r#"exists E from xEvent where (E.commerce.item.price > 50), I from E.productListItems where I.SKU = "PS""#,
    r#"orders.count()"#,
    r#"orders.sum(order.price)"#,
    r#"xEvent[productListItems[SKU="PS"]]"#,
    r#"xEvent[productListItems[SKU="PS" or ^^.person.gender="female"]]"#,
    r#"let S = (sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = "USD") in (S > 100 and S < 1000)"#,
    r#"identityMap.get("example@example.com")"#,
    r#"person.homeAddress.isNull()"#,
    r#"person.age % 5 = 0"#,
    r#"CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(today)])"#,
    r#"workAddress.country.equals("Canada", false) and CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(today)])"#,
    r#"inSegment("e3be6d7f-1727-401f-a41e-c296b45f607a") and CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(<= 24 hours before now)])"#,
    r#"inSegment("e3be6d7f-1727-401f-a41e-c296b45f607a") and inSegment("9e1646bb-57ff-4309-ba59-17d6c5bab6a1")"#,
    r#"select var1 from xEvent where var1._experience.analytics.endUser.firstWeb.webPageDetails.isHomePage = false"#,
    r#"xEvent.metrics.commerce.abandons.value > 0"#,
];

const BODEA: &str = r#"extendedWorkDetails.departments.includes("Sales") and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)"#;

/// Further forms of the grammar sketch, the B2B proposal and relationship navigation.
const MORE_EXAMPLES: &[&str] = &[
    BODEA,
    r#"extendedWorkDetails.departments.includes("Sales") and exists A from Account where (exists O from A.Opportunities where O.isClosed = false)"#,
    r#"exists O from opportunities where O.account.accountName = "Acme" and O.people.count() > 2"#,
    r#"exists A from accounts: A.parentAccount.annualRevenue.amount > 100000000"#,
    r#"forall O from opportunities where O.isClosed = true, P from O.people where P.personRole = "Decision Maker""#,
    r#"product.saleDate occurs <= 24 hours before now"#,
    r#"product.saleDate occurs before today"#,
    r#"product.saleDate occurs after yesterday"#,
    r#"product.saleDate occurs 2 days from tomorrow"#,
    r#"product.saleDate occurs on today"#,
    r#"product.saleDate occurs this month"#,
    r#"product.saleDate occurs next century"#,
    r#"product.saleDate occurs last millennium"#,
    r#"product.saleDate occurs > 1 decade before now"#,
    r#"product.saleDate occurs != 5 millennia after now"#,
    r#"product.saleDate occurs >= 3 centuries before date(2020, 1, 1)"#,
    r#"product.saleDate occurs = 1 millisecond before person.birthDate"#,
    r#"product.saleDate occurs on date(2024, 2, 29)"#,
    r#"product.saleDate occurs between yesterday and tomorrow"#,
    r#"a = -201 and b = 3.14 and c = -1.5e-3 and d = null and e != true"#,
    r#"s = "quote \" and backslash \\ here" and t.matches("\\w+")"#,
    r#"-x.y * (a + b) - c / d % 4 >= 7"#,
    r#"!(a = 1) or not (b = 2)"#,
    r#"(P1, P2) => P1.person.name = P2.person.name and $2.x = $1.x"#,
    r#"xEvent[productListItems[SKU = "PS"]].count() > 0"#,
    r#"identityMap.get("email").values().head().id = "x""#,
    r#"let T = xEvent.count() in T > 3 and T < 10"#,
    r#"let V = (a in [1, 2]) in V"#,
    r#"CHAIN(xEvent, timestamp, [C0: WHAT(eventType = "view"), C1: WHAT(eventType = "buy") WHEN(before now)])"#,
    r#"inSegment("seg-1") and not (inSegment("seg-2"))"#,
    r#"if(a > 1, "big", if(a > 0, "small", "none")) = "big""#,
    r#"select E from xEvent: E.web.webPageDetails.name like "pricing%""#,
    r#"sum X.price over X from orders > 10"#,
    r#"xEvent[timestamp occurs last week].eventType = "x""#,
    r#"person.age > currentYear() - 1990 and person.birthDate.getMonth() = currentMonth()"#,
    r#"[] = [1, [2, "three"], null]"#,
    r#"orders.max(price) - orders.min(price) > orders.average(price)"#,
    // From docs/segment-language.md.
    "extendedWorkDetails.departments.includes(\"Sales\")\n  and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)",
    r#"exists A from accounts where A.parentAccount.annualRevenue.amount > 100000000"#,
    r#"exists O from opportunities where O.account.billingAddress.country = "Canada""#,
    r#"exists A from accounts where A.people.count() > 2 and A.opportunities.count() > 0"#,
    r#"product.saleDate occurs before person.birthDate"#,
    r#"let S = (sum X.price over X from xEvent where X.currency = "USD") in (S > 100 and S < 1000)"#,
];

fn all_examples() -> impl Iterator<Item = &'static str> {
    DOC_EXAMPLES.iter().copied().chain(MORE_EXAMPLES.iter().copied())
}

fn parse_ok(text: &str) -> Query {
    parse(text).unwrap_or_else(|d| panic!("failed to parse {text:?}:\n{}", d.render(text)))
}

fn err(text: &str) -> Diagnostic {
    match parse(text) {
        Ok(q) => panic!("expected an error for {text:?}, parsed {q}"),
        Err(d) => d,
    }
}

fn assert_round_trips(text: &str) {
    let query = parse_ok(text);
    let printed = query.to_string();
    let reparsed =
        parse(&printed).unwrap_or_else(|d| panic!("printed form of {text:?} fails:\n{}", d.render(&printed)));
    assert!(query.eq_ignoring_spans(&reparsed), "round trip changed the tree\n  in:  {text}\n  out: {printed}");
    assert_eq!(reparsed.to_string(), printed, "printing is not idempotent for {text:?}");
}

fn expr(text: &str) -> Expr {
    parse_ok(text).body
}

fn path_names(e: &Expr) -> (PathRoot, Vec<String>) {
    match &e.kind {
        ExprKind::Path(p) => (p.root.clone(), p.segments.iter().map(|s| s.name.clone()).collect()),
        other => panic!("expected a path, got {other:?}"),
    }
}

fn strip_root(root: PathRoot) -> String {
    match root {
        PathRoot::Implicit => "implicit".into(),
        PathRoot::Param { index, name } => format!("param {index} {:?}", name.map(|n| n.name)),
        PathRoot::Var(v) => format!("var {}", v.name),
        PathRoot::Caret(n) => format!("caret {n}"),
    }
}

#[test]
fn every_documented_example_parses() {
    for text in all_examples() {
        parse_ok(text);
    }
}

#[test]
fn every_example_round_trips_through_the_printer() {
    for text in all_examples() {
        assert_round_trips(text);
    }
}

#[test]
fn prints_canonical_forms() {
    let cases = [
        (DOC_EXAMPLES[5], r#"not (homeAddress.countryISO = "CA")"#),
        (DOC_EXAMPLES[6], r#"if(homeAddress.countryISO = "CA", 1, 2)"#),
        (DOC_EXAMPLES[24], r#"xEvent[productListItems[SKU = "PS"]]"#),
        (
            DOC_EXAMPLES[26],
            r#"let S = (sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = "USD") in S > 100 and S < 1000"#,
        ),
        (
            BODEA,
            r#"extendedWorkDetails.departments.includes("Sales") and exists A from accounts where exists O from A.opportunities where O.isClosed = false"#,
        ),
        ("(a or b) and c", "(a or b) and c"),
        ("a or (b and c)", "a or b and c"),
        ("(a - b) - c", "a - b - c"),
        ("a - (b - c)", "a - (b - c)"),
        ("(exists X from y where X) and z", "(exists X from y where X) and z"),
        ("- (5)", "-(5)"),
        ("-(-x)", "-(-x)"),
        ("!(a)", "not (a)"),
        ("x occurs 1 days before now", "x occurs 1 day before now"),
        ("x occurs on last weeks", "x occurs last week"),
        ("(Profile) => Profile.a = $1.a", "(Profile) => Profile.a = $1.a"),
        ("select X from a : X.b", "select X from a where X.b"),
        (
            r#"let S = (sum X.price over X from xEvent where X.currency = "USD") in (S > 100 and S < 1000)"#,
            r#"let S = (sum X.price over X from xEvent where X.currency = "USD") in S > 100 and S < 1000"#,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_ok(input).to_string(), expected, "for {input:?}");
    }
}

#[test]
fn bodea_audience_has_the_expected_shape() {
    let body = expr(BODEA);
    let ExprKind::Binary { op: BinaryOp::And, lhs, rhs } = body.kind else { panic!("expected `and`: {body:?}") };

    let ExprKind::Call { target: Some(target), name, args } = lhs.kind else { panic!("expected a method call") };
    assert_eq!(name.name, "includes");
    assert_eq!(
        path_names(&target),
        (PathRoot::Implicit, vec!["extendedWorkDetails".to_owned(), "departments".to_owned()])
    );
    assert!(matches!(&args[..], [Expr { kind: ExprKind::Literal(Literal::String(s)), .. }] if s == "Sales"));

    let ExprKind::Quantified { quantifier: Quantifier::Exists, bindings } = rhs.kind else { panic!("expected exists") };
    let [outer] = &bindings[..] else { panic!("one binding expected") };
    assert_eq!(outer.var.name, "A");
    assert_eq!(path_names(&outer.source), (PathRoot::Implicit, vec!["accounts".to_owned()]));

    let ExprKind::Quantified { quantifier: Quantifier::Exists, bindings } = &outer.condition.kind else {
        panic!("expected nested exists")
    };
    let [inner] = &bindings[..] else { panic!("one binding expected") };
    assert_eq!(inner.var.name, "O");
    let (root, segments) = path_names(&inner.source);
    assert_eq!((strip_root(root), segments), ("var A".to_owned(), vec!["opportunities".to_owned()]));
    let ExprKind::Binary { op: BinaryOp::Compare(CompareOp::Eq), lhs, rhs } = &inner.condition.kind else {
        panic!("expected `=`")
    };
    let (root, segments) = path_names(lhs);
    assert_eq!((strip_root(root), segments), ("var O".to_owned(), vec!["isClosed".to_owned()]));
    assert!(matches!(rhs.kind, ExprKind::Literal(Literal::Bool(false))));

    // Spans: the whole text, the source `A.opportunities`, the parenthesised condition.
    let body = expr(BODEA);
    assert_eq!(body.span, Span::new(0, BODEA.len()));
    let start = BODEA.find("A.opportunities").unwrap();
    assert_eq!(inner.source.span, Span::new(start, start + "A.opportunities".len()));
    assert_eq!(outer.condition.span, Span::new(BODEA.find("(exists O").unwrap(), BODEA.len()));
}

#[test]
fn and_binds_tighter_than_or() {
    let body = expr("a = 1 or b = 2 and c = 3");
    let ExprKind::Binary { op: BinaryOp::Or, lhs, rhs } = body.kind else { panic!("expected `or` at the top") };
    assert!(matches!(lhs.kind, ExprKind::Binary { op: BinaryOp::Compare(CompareOp::Eq), .. }));
    let ExprKind::Binary { op: BinaryOp::And, lhs: b, rhs: c } = rhs.kind else { panic!("expected `and`") };
    assert_eq!(b.span, Span::new(9, 14));
    assert_eq!(c.span, Span::new(19, 24));
    assert!(expr("a = 1 or b = 2 and c = 3").eq_ignoring_spans(&expr("a = 1 or (b = 2 and c = 3)")));
}

#[test]
fn arithmetic_follows_the_usual_precedence() {
    assert!(expr("1 + 2 * 3 - 4 % 2 = x").eq_ignoring_spans(&expr("((1 + (2 * 3)) - (4 % 2)) = x")));
    assert!(expr("not a = 1 and b").eq_ignoring_spans(&expr("(not (a = 1)) and b")));
    assert!(expr("-a.b * 2").eq_ignoring_spans(&expr("(-(a.b)) * 2")));
    let ExprKind::Literal(Literal::Int(-201)) = expr("-201").kind else { panic!("negative literal expected") };
    let ExprKind::Literal(Literal::Int(i64::MIN)) = expr("-9223372036854775808").kind else { panic!("i64::MIN") };
    let ExprKind::Binary { op: BinaryOp::Sub, .. } = expr("a -5").kind else { panic!("subtraction expected") };
}

#[test]
fn paths_are_single_nodes_with_resolved_roots() {
    let (root, segs) = path_names(&expr("person.name.firstName"));
    assert_eq!((strip_root(root), segs.len()), ("implicit".to_owned(), 3));
    let (root, segs) = path_names(&expr("$2.a"));
    assert_eq!((strip_root(root), segs), ("param 2 None".to_owned(), vec!["a".to_owned()]));
    let (root, _) = path_names(&expr("(Profile) => Profile.homeAddress"));
    assert_eq!(strip_root(root), "param 1 Some(\"Profile\")");

    let ExprKind::Filter { predicate, .. } = expr(DOC_EXAMPLES[25]).kind else { panic!("filter expected") };
    let ExprKind::Filter { predicate, .. } = predicate.kind else { panic!("nested filter expected") };
    let ExprKind::Binary { op: BinaryOp::Or, rhs, .. } = predicate.kind else { panic!("`or` expected") };
    let ExprKind::Binary { lhs, .. } = rhs.kind else { panic!("comparison expected") };
    let (root, segs) = path_names(&lhs);
    assert_eq!((strip_root(root), segs), ("caret 2".to_owned(), vec!["person".to_owned(), "gender".to_owned()]));

    // A field access after a call is a member access; after a filter too.
    let ExprKind::Member { segments, .. } = expr("a.get(\"k\").id.x").kind else { panic!("member expected") };
    assert_eq!(segments.len(), 2);
    // Variables go out of scope after their binder.
    let ExprKind::Binary { rhs, .. } = expr("(exists X from a where X.b) and X.c").kind else { panic!() };
    let (root, _) = path_names(&rhs);
    assert_eq!(strip_root(root), "implicit");
}

#[test]
fn quantifier_bindings_chain_and_see_earlier_variables() {
    let ExprKind::Quantified { bindings, .. } = expr(DOC_EXAMPLES[21]).kind else { panic!("exists expected") };
    assert_eq!(bindings.len(), 2);
    assert_eq!(bindings[1].var.name, "I");
    let (root, segs) = path_names(&bindings[1].source);
    assert_eq!((strip_root(root), segs), ("var E".to_owned(), vec!["productListItems".to_owned()]));
}

#[test]
fn let_and_sum_over_bind_their_variables() {
    let ExprKind::Let { var, value, body } = expr(DOC_EXAMPLES[26]).kind else { panic!("let expected") };
    assert_eq!(var.name, "S");
    let ExprKind::Aggregate { func: AggregateFn::Sum, value: summed, var, condition: Some(condition), .. } = value.kind
    else {
        panic!("sum expected")
    };
    assert_eq!(var.name, "X");
    assert_eq!(strip_root(path_names(&summed).0), "var X");
    let ExprKind::Binary { lhs, .. } = condition.kind else { panic!() };
    assert_eq!(strip_root(path_names(&lhs).0), "var X");
    let ExprKind::Binary { op: BinaryOp::And, lhs, .. } = body.kind else { panic!("and expected") };
    let ExprKind::Binary { lhs, .. } = lhs.kind else { panic!() };
    let (root, segments) = path_names(&lhs);
    assert_eq!((strip_root(root), segments.len()), ("var S".to_owned(), 0));
}

#[test]
fn occurs_forms_parse_to_time_constraints() {
    let constraint = |text: &str| match expr(text).kind {
        ExprKind::Occurs { constraint, .. } => constraint.kind,
        other => panic!("occurs expected, got {other:?}"),
    };
    assert!(matches!(
        constraint("t occurs last week"),
        TimeConstraintKind::On(e) if matches!(e.kind, ExprKind::Time(TimeLiteral::Period { relative: PeriodRelative::Last, unit: TimeUnit::Week }))
    ));
    assert!(matches!(
        constraint("t occurs = 3 hours before now"),
        TimeConstraintKind::Offset { comparison: Some(CompareOp::Eq), amount: 3, unit: TimeUnit::Hour, direction: Direction::Before, anchor }
            if matches!(anchor.kind, ExprKind::Time(TimeLiteral::Now))
    ));
    assert!(matches!(
        constraint("t occurs <= 24 hours before now"),
        TimeConstraintKind::Offset { comparison: Some(CompareOp::Le), amount: 24, .. }
    ));
    assert!(matches!(
        constraint("t occurs before today"),
        TimeConstraintKind::Relative { direction: Direction::Before, .. }
    ));
    assert!(matches!(constraint("t occurs on today"), TimeConstraintKind::On(_)));
    let TimeConstraintKind::Between { start, end } = constraint(DOC_EXAMPLES[19]) else { panic!("between expected") };
    assert!(
        matches!(&start.kind, ExprKind::Call { target: None, name, args } if name.name == "date" && args.len() == 3)
    );
    assert!(matches!(&end.kind, ExprKind::Call { target: None, .. }));
    for (word, unit) in [
        ("millisecond", TimeUnit::Millisecond),
        ("seconds", TimeUnit::Second),
        ("century", TimeUnit::Century),
        ("centuries", TimeUnit::Century),
        ("millennium", TimeUnit::Millennium),
        ("millennia", TimeUnit::Millennium),
        ("decades", TimeUnit::Decade),
    ] {
        let text = format!("t occurs 2 {word} after now");
        assert!(matches!(constraint(&text), TimeConstraintKind::Offset { unit: u, .. } if u == unit), "{text}");
    }
}

#[test]
fn chain_steps_have_optional_when() {
    let ExprKind::Chain { steps, .. } =
        expr(MORE_EXAMPLES.iter().find(|t| t.starts_with("CHAIN")).expect("a CHAIN example")).kind
    else {
        panic!("chain expected")
    };
    assert_eq!(steps.len(), 2);
    assert!(steps[0].when.is_none());
    assert!(matches!(&steps[1].when, Some(w) if matches!(w.kind, TimeConstraintKind::Relative { .. })));
    assert_eq!(steps[1].label.name, "C1");
}

#[test]
fn not_and_bang_are_the_same_operator() {
    assert!(expr("!(a)").eq_ignoring_spans(&expr("not (a)")));
    assert!(matches!(expr("not (a)").kind, ExprKind::Unary { op: UnaryOp::Not, .. }));
}

#[test]
fn parse_expr_parses_a_bare_expression() {
    assert!(parse_expr("a = 1").is_ok());
    assert!(parse_expr("(P) => P.a").is_err());
}

// ---- diagnostics ----

fn assert_error(text: &str, span: (usize, usize), message: &str, hint: Option<&str>) {
    let diag = err(text);
    assert_eq!(
        (diag.span, diag.message.as_str(), diag.hint.as_deref()),
        (Span::new(span.0, span.1), message, hint),
        "for {text:?}"
    );
}

#[test]
fn reports_unclosed_parenthesis_at_the_opener() {
    let text = "exists A from accounts where (A.x = 1";
    assert_error(text, (29, 30), "unclosed `(`: expected `)` but found end of input", Some("add `)` to close it"));
    assert_eq!(
        err(text).render(text),
        "error: unclosed `(`: expected `)` but found end of input\n --> 1:30\n  |\n\
         1 | exists A from accounts where (A.x = 1\n  |                              ^\n  = hint: add `)` to close it\n"
    );
    assert_error("f(a, b]", (6, 7), "expected `,` or `)` but found `]`", Some("to close the `(` at 1:2"));
    assert_error(
        "[1, 2",
        (0, 1),
        "unclosed `[`: expected `,` or `]` but found end of input",
        Some("add `]` to close it"),
    );
}

#[test]
fn reports_missing_binding_keywords() {
    assert_error(
        "exists A from accounts A.x = 1",
        (23, 24),
        "expected `where` or `:` after the binding's source but found `A`",
        None,
    );
    assert_error(
        "exists A in accounts where A.x",
        (9, 11),
        "expected `from` after the variable `A` but found `in`",
        None,
    );
    assert_error("exists from x where y", (7, 11), "expected a variable name after `exists` but found `from`", None);
    assert_error("select where", (7, 12), "expected a variable name after `select` but found `where`", None);
    assert_error("let V = 1 V", (10, 11), "expected `in` after the value of `let V` but found `V`", None);
}

#[test]
fn reports_lexical_errors() {
    assert_error("a = \"abc", (4, 5), "unterminated string literal", Some("add a closing `\"`"));
    assert_error("a # b", (2, 3), "unknown character `#`", None);
    assert_error("a == 1", (2, 4), "unknown operator `==`", Some("PQL compares with a single `=`"));
    assert_error("a = 1 && b = 2", (6, 8), "unknown operator `&&`", Some("use `and`"));
    assert_error("a = 'x'", (4, 5), "unknown character `'`", Some("PQL strings use double quotes: \"text\""));
}

#[test]
fn reports_trailing_input() {
    assert_error("a = 1)", (5, 6), "unmatched `)`", None);
    assert_error(
        "a = 1 AND b = 2",
        (6, 9),
        "unexpected `AND` after a complete expression",
        Some("keywords are case-sensitive: write `and`"),
    );
    assert_error(
        "exist A from a where A.b",
        (6, 7),
        "unexpected `A` after a complete expression",
        Some("did you mean `exists`?"),
    );
    assert_error("a = 1 2", (6, 7), "unexpected number `2` after a complete expression", None);
    assert_error(
        "Profile => Profile.a",
        (8, 10),
        "unexpected `=>`",
        Some("a lambda head comes first and needs parentheses: `(Profile) => ...`"),
    );
}

#[test]
fn reports_grammar_errors() {
    assert_error("a = ", (4, 4), "expected an expression but found end of input", None);
    assert_error(
        "a = b = c",
        (6, 7),
        "`=` cannot follow a comparison",
        Some("comparisons do not chain; add parentheses to say which comes first"),
    );
    assert_error("a and where", (6, 11), "expected an expression but found keyword `where`", None);
    assert_error("^.a = 1", (0, 1), "`^` can only be used inside a filter `[...]`", None);
    assert_error("x[^^.a]", (2, 4), "`^^` climbs 2 levels but only 1 filter encloses it", None);
    assert_error("if(a, b)", (0, 8), "`if` takes 3 arguments (test, then, else)", None);
    assert_error(
        "t occurs 3 hour ago",
        (16, 19),
        "expected `before`, `after` or `from` after `3 hours` but found `ago`",
        None,
    );
    assert_error(
        "t occurs 3 hurs before now",
        (11, 15),
        "expected a time unit such as `hours` or `days` but found `hurs`",
        Some("did you mean `hours`?"),
    );
    assert_error(
        "t occurs between today or now",
        (23, 25),
        "expected `and` between the two times of `between` but found `or`",
        None,
    );
    assert_error("a.", (2, 2), "expected a field name after `.` but found end of input", None);
    assert_error("(A, A) => A", (4, 5), "parameter `A` is declared twice", None);
    assert_error("a = 9223372036854775808", (4, 23), "integer `9223372036854775808` is out of range", None);
    assert_error(
        "CHAIN(xEvent, timestamp, [C0: WHEN(today)])",
        (30, 34),
        "expected `WHAT(...)` after `C0:` but found `WHEN`",
        None,
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(err(&text).message, "expression nests too deeply");
    let text = format!("{}a", "not ".repeat(5000));
    assert_eq!(err(&text).message, "expression nests too deeply");
    let text = format!("{}a", "-".repeat(5000));
    assert_eq!(err(&text).message, "expression nests too deeply");
}

// ---- no-panic sweeps ----

#[test]
fn truncated_examples_never_panic() {
    for text in all_examples() {
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let prefix = &text[..end];
            match parse(prefix) {
                Ok(query) => assert_round_trips_query(prefix, &query),
                Err(diag) => {
                    assert!(diag.span.start <= diag.span.end && diag.span.end <= prefix.len(), "{prefix:?}");
                    let _ = diag.render(prefix);
                }
            }
            // Suffixes exercise unbalanced closers.
            let suffix = &text[end..];
            if let Err(diag) = parse(suffix) {
                let _ = diag.render(suffix);
            }
        }
    }
}

fn assert_round_trips_query(text: &str, query: &Query) {
    let printed = query.to_string();
    let reparsed =
        parse(&printed).unwrap_or_else(|d| panic!("printed form of {text:?} fails:\n{}", d.render(&printed)));
    assert!(query.eq_ignoring_spans(&reparsed), "round trip changed the tree\n  in:  {text}\n  out: {printed}");
}

/// A tiny deterministic generator (xorshift), so the randomized test needs no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Random text from the grammar; parenthesisation is random, so parsed trees take varied shapes.
fn gen_expr(rng: &mut Rng, depth: usize, vars: &mut Vec<String>) -> String {
    let leaf = depth == 0 || rng.below(4) == 0;
    if leaf {
        return match rng.below(9) {
            0 => rng.pick(&["1", "-2", "3.5", "-0.25", "1e30", "0"]).to_owned(),
            1 => rng.pick(&["\"a\"", "\"q\\\"\"", "\"\\\\w\"", "\"\""]).to_owned(),
            2 => rng.pick(&["true", "false", "null", "now", "today", "last week", "next centuries"]).to_owned(),
            3 => rng.pick(&["$1.a", "^.b", "^^.c.d"]).to_owned(),
            4 if !vars.is_empty() => {
                let v = vars[rng.below(vars.len())].clone();
                if rng.below(2) == 0 {
                    v
                } else {
                    format!("{v}.f")
                }
            }
            5 => "f()".to_owned(),
            _ => rng.pick(&["a", "b.c", "x.y.z", "xEvent", "person.age"]).to_owned(),
        };
    }
    let d = depth - 1;
    let sub = |rng: &mut Rng, vars: &mut Vec<String>| {
        let e = gen_expr(rng, d, vars);
        if rng.below(3) == 0 {
            format!("({e})")
        } else {
            e
        }
    };
    match rng.below(17) {
        0 => format!("{} {} {}", sub(rng, vars), rng.pick(&["and", "or"]), sub(rng, vars)),
        1 => format!("{} {} {}", sub(rng, vars), rng.pick(&["=", "!=", "<", "<=", ">", ">="]), sub(rng, vars)),
        2 => format!("{} {} {}", sub(rng, vars), rng.pick(&["+", "-", "*", "/", "%"]), sub(rng, vars)),
        3 => format!("{}({})", rng.pick(&["not ", "!", "-"]), sub(rng, vars)),
        4 => format!("-{}", sub(rng, vars)),
        5 => format!("{} {} [{}, {}]", sub(rng, vars), rng.pick(&["in", "notIn"]), sub(rng, vars), sub(rng, vars)),
        6 => format!("{} like \"%x_\"", sub(rng, vars)),
        7 => format!("{}.m({})", sub(rng, vars), sub(rng, vars)),
        8 => format!("{}[{}]", sub(rng, vars), sub(rng, vars)),
        9 => format!("if({}, {}, {})", sub(rng, vars), sub(rng, vars), sub(rng, vars)),
        10 | 11 => {
            let v = format!("V{}", vars.len());
            let source = sub(rng, vars);
            vars.push(v.clone());
            let cond = sub(rng, vars);
            let out = match rng.below(4) {
                0 => format!("exists {v} from {source} where {cond}"),
                1 => {
                    let w = format!("W{}", vars.len());
                    let source2 = sub(rng, vars);
                    vars.push(w.clone());
                    let cond2 = sub(rng, vars);
                    vars.pop();
                    format!("forall {v} from {source}: {cond}, {w} from {source2} where {cond2}")
                }
                2 => format!("select {v} from {source} where {cond}"),
                _ => format!("sum {cond} over {v} from {source} where {cond}"),
            };
            vars.pop();
            out
        }
        12 => {
            let v = format!("L{}", vars.len());
            let value = sub(rng, vars);
            vars.push(v.clone());
            let body = sub(rng, vars);
            vars.pop();
            format!("let {v} = {value} in {body}")
        }
        13 => {
            let time = rng.pick(&[
                "last week",
                "between date(2015, 1, 8) and today",
                "= 3 hours before now",
                "<= 1 day after x.t",
                "before today",
                "on date(2020, 1, 1)",
                "this month",
                "2 millennia from (now)",
            ]);
            format!("{} occurs {time}", sub(rng, vars))
        }
        14 => format!(
            "CHAIN(xEvent, timestamp, [C0: WHAT({}), C1: WHAT({}) WHEN(< 2 days before now)])",
            sub(rng, vars),
            sub(rng, vars)
        ),
        15 => format!("[{}]", sub(rng, vars)),
        _ => format!("{}.k.l", sub(rng, vars)),
    }
}

#[test]
fn random_expressions_round_trip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for _ in 0..3000 {
        let text = gen_expr(&mut rng, 4, &mut Vec::new());
        // Carets only make sense inside filters; wrap everything in one.
        let text = format!("xEvent[items[{text}]]");
        match parse(&text) {
            Ok(query) => {
                parsed += 1;
                if std::env::var_os("PQL_SHOW").is_some() {
                    println!("{text}\n  => {query}");
                }
                assert_round_trips_query(&text, &query);
            }
            Err(diag) => {
                // Some generated texts are legitimately invalid (e.g. `in` inside a `let` value).
                let _ = diag.render(&text);
            }
        }
    }
    assert!(parsed > 2000, "only {parsed} generated expressions parsed");
}
