//! `ops/`: the Grafana dashboard and the Prometheus alert rules, checked without Grafana or
//! Prometheus. Every metric, label and label value their PromQL names is one a running server
//! exports (scraped after it has made every kind of sample), so renaming a metric, a label or
//! a value fails here instead of leaving a dashboard empty or an alert silent; the dashboard
//! takes its data source from a variable and shows every family; every alert has a duration, a
//! severity, a runbook and promtool tests that fire it and keep it quiet. (`.ci/run` runs
//! `promtool check rules` and `promtool test rules` on the same files.)
//!
//! The PromQL is read by a small scanner ([`scan`]), enough for selectors, matchers, grouping
//! clauses, functions and `label_replace`; the rule files by a line reader ([`yaml_values`])
//! that knows `key: value` and block scalars (`|`, `>-`), the style of the files.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use serde_json::{json, Value};
use stripe_graphql::{events::WebhookSettings, secret::SecretString};
use stripe_sandbox::{demo::AVA, Fault};

use crate::helpers::spawn_app_with;

const WEBHOOK_SECRET: &str = "whsec_monitoring_test_secret";

/// Labels Prometheus attaches to every scraped series (the target's), not the server.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// Series Prometheus makes itself for each target: the rules may use them.
const PROMETHEUS_SERIES: [&str; 1] = ["up"];

fn ops_file(path: &str) -> String {
    let path = format!("{}/ops/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

// ---- What the server exports

/// One scrape: every sample name with the values of each of its labels, and the families
/// (`# TYPE` lines).
#[derive(Debug, Default)]
struct Exported {
    samples: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    families: BTreeSet<String>,
}

impl Exported {
    fn parse(text: &str) -> Exported {
        let mut exported = Exported::default();
        for line in text.lines() {
            if let Some(family) = line.strip_prefix("# TYPE ") {
                let name = family.split(' ').next().expect("a family name");
                exported.families.insert(name.to_owned());
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let end = line.find(['{', ' ']).expect("a sample line");
            let labels = exported.samples.entry(line[..end].to_owned()).or_default();
            if line[end..].starts_with('{') {
                for (label, value) in sample_labels(&line[end + 1..]) {
                    labels.entry(label).or_default().insert(value);
                }
            }
        }
        exported
    }

    /// Every label name any sample has.
    fn all_labels(&self) -> BTreeSet<String> {
        self.samples
            .values()
            .flat_map(|l| l.keys().cloned())
            .collect()
    }
}

/// The `label="value"` pairs of a sample line, from just after its `{`.
fn sample_labels(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text;
    while !rest.starts_with('}') {
        let (label, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let close = loop {
            match chars.next().expect("a closing quote") {
                (_, '\\') => match chars.next().expect("an escape").1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        pairs.push((label.trim_start_matches(',').to_owned(), value));
        rest = &after[close + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    pairs
}

/// Scrapes a server that has made every kind of sample the dashboard and rules look at: Stripe
/// answers 200, 429 and 503 and no answer (retried each), a customer and a price call, cache
/// hits and misses, a webhook applied and one rejected. The cache-event, GraphQL-outcome and
/// Redis series exist from startup.
async fn exported() -> Exported {
    let app = spawn_app_with(|o| {
        o.config.webhook = Some(WebhookSettings {
            secret: SecretString::new(WEBHOOK_SECRET),
            tolerance: Duration::from_secs(300),
        });
        // A hanging call gives up (status `error`) quickly; the retry then succeeds.
        o.config.client.timeout = Duration::from_secs(1);
    })
    .await;
    app.sandbox
        .send_webhooks_to(&format!("{}/webhooks/stripe", app.base), WEBHOOK_SECRET);
    let customer = format!("{{ customer(id: \"{AVA}\") {{ name }} }}");
    for (n, fault) in [Fault::Status(429), Fault::Status(503), Fault::Hang]
        .into_iter()
        .enumerate()
    {
        // The change's webhook evicts Ava, so the next query calls Stripe and meets the fault.
        let name = format!("Ava Monitored {n}");
        app.sandbox
            .update("customer", AVA, |c| c["name"] = json!(name))
            .await
            .unwrap();
        app.fail_next(None, fault, 1);
        let data = app.data(&customer).await;
        assert_eq!(data["customer"]["name"], json!(name));
    }
    app.data(&customer).await;
    let price = app.data("{ price(id: \"price_ProMonthly\") { id } }").await;
    assert_eq!(price["price"]["id"], json!("price_ProMonthly"));
    let unsigned = app
        .http
        .post(format!("{}/webhooks/stripe", app.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 400);

    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = Exported::parse(&text);
    let statuses = &exported.samples["stripe_graphql_stripe_requests_total"]["status"];
    for status in ["200", "429", "503", "error"] {
        assert!(statuses.contains(status), "status {status} in:\n{text}");
    }
    let outcomes = &exported.samples["stripe_graphql_webhook_events_total"]["outcome"];
    assert!(
        outcomes.contains("applied") && outcomes.contains("rejected"),
        "{text}"
    );
    exported
}

// ---- PromQL, as far as these files need it

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Number,
    Open(char),
    Close(char),
    Comma,
    Op(String),
}

/// PromQL's functions (Prometheus 2.x). A name followed by `(` that is not one of these, nor an
/// aggregation, is a typo.
const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// Keywords followed by a list of label names in parentheses.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

fn lex(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut depth = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '"' | '\'' | '`' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("an unclosed string in {expr}")),
                        Some(&'\\') if c != '`' => {
                            value.push(*chars.get(i + 1).ok_or("a dangling escape")?);
                            i += 2;
                        }
                        Some(&q) if q == c => break,
                        Some(&other) => {
                            value.push(other);
                            i += 1;
                        }
                    }
                }
                i += 1;
                tokens.push(Token::Str(value));
            }
            // A range or subquery (`[5m]`, `[$__rate_interval]`, `[1h:5m]`): no names inside.
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .ok_or_else(|| format!("an unclosed [ in {expr}"))?;
                i += close + 1;
            }
            '(' | '{' => {
                depth.push(c);
                tokens.push(Token::Open(c));
                i += 1;
            }
            ')' | '}' => {
                let open = if c == ')' { '(' } else { '{' };
                if depth.pop() != Some(open) {
                    return Err(format!("an unbalanced {c} in {expr}"));
                }
                tokens.push(Token::Close(c));
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
                {
                    i += 1;
                }
                tokens.push(Token::Number);
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if ["==", "!=", "=~", "!~", ">=", "<="].contains(&two.as_str()) {
                    two
                } else if "=<>+-*/%^".contains(c) {
                    c.to_string()
                } else {
                    return Err(format!("unexpected {c:?} in {expr}"));
                };
                i += op.len();
                tokens.push(Token::Op(op));
            }
        }
    }
    if let Some(open) = depth.pop() {
        return Err(format!("an unclosed {open} in {expr}"));
    }
    Ok(tokens)
}

#[derive(Debug, Clone, PartialEq)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Selector {
    metric: String,
    matchers: Vec<Matcher>,
}

/// What one PromQL expression names.
#[derive(Debug, Default)]
struct Scan {
    selectors: Vec<Selector>,
    /// Labels of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
    grouping: Vec<String>,
    /// Labels `label_replace` makes.
    created: Vec<String>,
    /// Whether an aggregation (`sum`, `max`…) shapes the result's labels.
    aggregates: bool,
}

fn scan(expr: &str) -> Result<Scan, String> {
    let tokens = lex(expr)?;
    let mut found = Scan::default();
    let mut i = 0;
    while i < tokens.len() {
        let Token::Ident(word) = &tokens[i] else {
            if tokens[i] == Token::Open('{') {
                return Err(format!("a selector without a metric name in {expr}"));
            }
            i += 1;
            continue;
        };
        let next = tokens.get(i + 1);
        i += 1;
        if GROUPING.contains(&word.as_str()) {
            if next == Some(&Token::Open('(')) {
                i += 1;
                while let Some(token) = tokens.get(i) {
                    i += 1;
                    match token {
                        Token::Ident(label) => found.grouping.push(label.clone()),
                        Token::Comma => {}
                        Token::Close(')') => break,
                        other => return Err(format!("{other:?} in a label list of {expr}")),
                    }
                }
            }
        } else if KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
            // An operator or a literal: names nothing.
        } else if AGGREGATIONS.contains(&word.as_str()) {
            found.aggregates = true;
        } else if next == Some(&Token::Open('(')) {
            if !FUNCTIONS.contains(&word.as_str()) {
                return Err(format!("unknown function {word} in {expr}"));
            }
            if word == "label_replace" {
                // The destination label is the string after the first argument.
                let mut depth = 0;
                let mut j = i;
                while let Some(token) = tokens.get(j) {
                    match token {
                        Token::Open(_) => depth += 1,
                        Token::Close(_) => depth -= 1,
                        Token::Comma if depth == 1 => break,
                        _ => {}
                    }
                    j += 1;
                }
                match tokens.get(j + 1) {
                    Some(Token::Str(label)) => found.created.push(label.clone()),
                    other => return Err(format!("label_replace's label is {other:?} in {expr}")),
                }
            }
        } else {
            let mut selector = Selector {
                metric: word.clone(),
                matchers: Vec::new(),
            };
            if next == Some(&Token::Open('{')) {
                i += 1;
                loop {
                    match &tokens[i..] {
                        [Token::Close('}'), ..] => {
                            i += 1;
                            break;
                        }
                        [Token::Ident(label), Token::Op(op), Token::Str(value), rest @ ..]
                            if ["=", "!=", "=~", "!~"].contains(&op.as_str()) =>
                        {
                            selector.matchers.push(Matcher {
                                label: label.clone(),
                                op: op.clone(),
                                value: value.clone(),
                            });
                            i += 3;
                            if rest.first() == Some(&Token::Comma) {
                                i += 1;
                            }
                        }
                        other => {
                            return Err(format!(
                                "a matcher expected at {:?} in {expr}",
                                other.first()
                            ))
                        }
                    }
                }
            }
            found.selectors.push(selector);
        }
    }
    Ok(found)
}

/// The values a matcher can match, when it says them: `=` its value, `=~` the plain
/// alternatives of its regex (`hit|miss`; `5..` says none). Grafana variables say none.
fn named_values(matcher: &Matcher) -> Vec<&str> {
    let plain = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match matcher.op.as_str() {
        "=" if !matcher.value.contains('$') => vec![matcher.value.as_str()],
        "=~" => matcher.value.split('|').filter(|v| plain(v)).collect(),
        _ => Vec::new(),
    }
}

/// Checks one expression (from `place`) against the scrape; returns its scan. Metric names must
/// be exported; matcher labels must be the metric's (or the target's); the values a matcher
/// names must be among the values exported; grouping labels must exist somewhere.
fn check_expr(exported: &Exported, place: &str, expr: &str, problems: &mut Vec<String>) -> Scan {
    let found = match scan(expr) {
        Ok(found) => found,
        Err(e) => {
            problems.push(format!("{place}: {e}"));
            return Scan::default();
        }
    };
    if found.selectors.is_empty() {
        problems.push(format!("{place}: no metric in {expr}"));
    }
    for selector in &found.selectors {
        if PROMETHEUS_SERIES.contains(&selector.metric.as_str()) {
            continue;
        }
        let Some(labels) = exported.samples.get(&selector.metric) else {
            problems.push(format!(
                "{place}: {} is not exported (the server exports {:?})",
                selector.metric,
                exported.samples.keys().collect::<Vec<_>>()
            ));
            continue;
        };
        for matcher in &selector.matchers {
            if TARGET_LABELS.contains(&matcher.label.as_str()) {
                continue;
            }
            let Some(values) = labels.get(&matcher.label) else {
                problems.push(format!(
                    "{place}: {} has no label {} (it has {:?})",
                    selector.metric,
                    matcher.label,
                    labels.keys().collect::<Vec<_>>()
                ));
                continue;
            };
            for value in named_values(matcher) {
                if !values.contains(value) {
                    problems.push(format!(
                        "{place}: {}{{{}}} is never {value:?} (exported: {values:?})",
                        selector.metric, matcher.label
                    ));
                }
            }
        }
    }
    let known = exported.all_labels();
    for label in &found.grouping {
        if !known.contains(label)
            && !TARGET_LABELS.contains(&label.as_str())
            && !found.created.contains(label)
        {
            problems.push(format!(
                "{place}: no series has the label {label} in {expr}"
            ));
        }
    }
    found
}

fn assert_none(problems: &[String]) {
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

// ---- The rule files, read line by line

/// Every value of `key` in `text` (`key: value`, `- key: value`, or a block scalar `key: |` /
/// `key: >-` whose lines are indented further), unquoted; a folded (`>`) block is joined with
/// spaces, a literal (`|`) one with newlines.
fn yaml_values(text: &str, key: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut values = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let entry = line.trim_start().trim_start_matches("- ");
        let Some(rest) = entry.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            let block: Vec<&str> = lines[n + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .collect();
            let joiner = if rest.starts_with('|') { "\n" } else { " " };
            values.push(block.join(joiner).trim().to_owned());
        } else {
            let unquoted = rest
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
                .unwrap_or(rest);
            values.push(unquoted.to_owned());
        }
    }
    values
}

/// The rules of alerts.yml, each as its own text (from its `- alert:` line to the next).
fn alert_blocks(text: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("- alert:") {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

fn one(block: &str, key: &str) -> String {
    let values = yaml_values(block, key);
    assert_eq!(values.len(), 1, "one {key} in:\n{block}");
    values.into_iter().next().unwrap()
}

// ---- The dashboard

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

fn dashboard() -> Value {
    serde_json::from_str(&ops_file("grafana/stripe-graphql.json")).expect("the dashboard is JSON")
}

/// `label_values(selector, label)`: the selector and the label.
fn label_values(query: &str) -> Option<(&str, &str)> {
    let inner = query.strip_prefix("label_values(")?.strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim(), label.trim()))
}

/// The `{{label}}`s of a legend or annotation template.
fn template_labels(template: &str) -> Vec<String> {
    template
        .split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}"))
        .map(|(inside, _)| inside.trim().trim_start_matches("$labels.").to_owned())
        .collect()
}

#[test]
fn the_promql_scanner_finds_names_labels_and_values_and_refuses_what_it_cannot_read() {
    let found = scan(
        r#"sum by (job, class) (label_replace(rate(a_total{job=~"$job", event=~"hit|miss", status="429"}[$__rate_interval]), "class", "${1}xx", "status", "(.)..")) / on (job) group_left max(b_bucket{le="+Inf"} offset 5m) > bool 0.5"#,
    )
    .unwrap();
    assert_eq!(
        found
            .selectors
            .iter()
            .map(|s| s.metric.as_str())
            .collect::<Vec<_>>(),
        ["a_total", "b_bucket"]
    );
    assert_eq!(
        found.selectors[0].matchers[1],
        Matcher {
            label: "event".into(),
            op: "=~".into(),
            value: "hit|miss".into()
        }
    );
    assert_eq!(
        named_values(&found.selectors[0].matchers[0]),
        Vec::<&str>::new()
    );
    assert_eq!(
        named_values(&found.selectors[0].matchers[1]),
        ["hit", "miss"]
    );
    assert_eq!(named_values(&found.selectors[0].matchers[2]), ["429"]);
    assert_eq!(found.grouping, ["job", "class", "job"]);
    assert_eq!(found.created, ["class"]);
    assert!(found.aggregates);
    assert!(!scan("up == 0").unwrap().aggregates);

    assert!(scan("histgram_quantile(0.99, a_bucket)").is_err());
    assert!(scan("sum(rate(a_total[5m])").is_err());
    assert!(scan(r#"{__name__="a_total"}"#).is_err());
    assert!(scan(r#"a_total{event="hit}"#).is_err());

    let exported =
        Exported::parse("# TYPE a counter\na_total{event=\"hit\",endpoint=\"GET /v1/x/{id}\"} 1\n");
    let mut problems = Vec::new();
    check_expr(
        &exported,
        "t",
        r#"sum by (event) (a_total{event="hit"})"#,
        &mut problems,
    );
    assert_none(&problems);
    for wrong in [
        r#"b_total"#,
        r#"a_total{outcome="ok"}"#,
        r#"a_total{event="miss"}"#,
        r#"a_total{event=~"hit|mis"}"#,
        r#"sum by (reason) (a_total)"#,
    ] {
        let mut problems = Vec::new();
        check_expr(&exported, "t", wrong, &mut problems);
        assert_eq!(problems.len(), 1, "{wrong}: {problems:?}");
    }
}

#[test]
fn the_yaml_reader_reads_inline_values_and_block_scalars() {
    let text = "  - alert: A\n    expr: |\n      sum(a)\n        > 1\n    for: 5m\n    annotations:\n      summary: \"s {{ $value }}\"\n      description: >-\n        one\n        two\n  - alert: B\n    expr: up == 0\n";
    assert_eq!(yaml_values(text, "alert"), ["A", "B"]);
    assert_eq!(yaml_values(text, "expr"), ["sum(a)\n> 1", "up == 0"]);
    assert_eq!(yaml_values(text, "summary"), ["s {{ $value }}"]);
    assert_eq!(yaml_values(text, "description"), ["one two"]);
    assert_eq!(alert_blocks(text).len(), 2);
    assert_eq!(
        template_labels("{{endpoint}} {{ class }} {{ $labels.job }}"),
        ["endpoint", "class", "job"]
    );
}

#[test]
fn the_dashboard_takes_its_prometheus_data_source_from_a_variable_and_its_panels_do_not_overlap() {
    let dashboard = dashboard();
    assert_eq!(dashboard["schemaVersion"], json!(39));
    assert_eq!(dashboard["uid"], json!("stripe-graphql"));
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let datasource = variables
        .iter()
        .find(|v| v["name"] == json!("datasource"))
        .expect("a datasource variable");
    assert_eq!(datasource["type"], json!("datasource"));
    assert_eq!(datasource["query"], json!("prometheus"));
    let from_variable = json!({ "type": "prometheus", "uid": "${datasource}" });

    let mut ids = BTreeSet::new();
    let mut cells = BTreeMap::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "{title}: id taken"
        );
        let pos = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| pos[k].as_u64().expect("gridPos"));
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: {pos}");
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), title) {
                    panic!("{title} overlaps {other}");
                }
            }
        }
        if panel["type"] == json!("row") {
            continue;
        }
        assert!(
            panel["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{title}: a description"
        );
        assert_eq!(panel["datasource"], from_variable, "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let mut ref_ids = BTreeSet::new();
        for target in targets {
            assert_eq!(target["datasource"], from_variable, "{title}");
            assert!(
                ref_ids.insert(target["refId"].as_str().expect("a refId")),
                "{title}"
            );
            assert!(
                target["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{title}"
            );
        }
    }
    for variable in variables.iter().filter(|v| v["type"] == json!("query")) {
        assert_eq!(variable["datasource"], from_variable, "{variable}");
    }
}

#[tokio::test]
async fn every_metric_label_and_value_the_dashboard_queries_is_one_the_server_exports() {
    let exported = exported().await;
    let dashboard = dashboard();
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    let mut known = exported.all_labels();
    known.extend(TARGET_LABELS.map(String::from));
    let mut queries = 0;
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            let found = check_expr(&exported, title, expr, &mut problems);
            queries += 1;
            for label in template_labels(target["legendFormat"].as_str().unwrap_or_default()) {
                if !known.contains(&label) && !found.created.contains(&label) {
                    problems.push(format!("{title}: the legend's {{{{{label}}}}} is no label"));
                }
            }
            used.extend(found.selectors.into_iter().map(|s| s.metric));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != json!("query") {
            continue;
        }
        let query = variable["query"]["query"].as_str().expect("a query");
        assert_eq!(variable["definition"], json!(query));
        let (selector, label) =
            label_values(query).unwrap_or_else(|| panic!("label_values(…) in {query}"));
        let found = check_expr(&exported, "a variable", selector, &mut problems);
        assert!(known.contains(label), "{query}");
        used.extend(found.selectors.into_iter().map(|s| s.metric));
    }
    assert_none(&problems);
    assert!(queries >= 20, "{queries} queries");

    // And every family the server exports is on the dashboard.
    for family in &exported.families {
        let shown = ["", "_bucket", "_count", "_sum"]
            .iter()
            .any(|suffix| used.contains(&format!("{family}{suffix}")));
        assert!(shown, "the family {family} is on no panel");
    }
}

#[tokio::test]
async fn every_metric_label_and_value_the_alert_rules_and_their_tests_use_is_one_the_server_exports(
) {
    let exported = exported().await;
    let rules = ops_file("prometheus/alerts.yml");
    let mut problems = Vec::new();
    let blocks = alert_blocks(&rules);
    assert_eq!(
        blocks.len(),
        yaml_values(&rules, "expr").len(),
        "one expr per alert"
    );
    assert!(blocks.len() >= 8, "{} alerts", blocks.len());
    for block in &blocks {
        let name = one(block, "alert");
        let found = check_expr(&exported, &name, &one(block, "expr"), &mut problems);
        // What an annotation can name: the labels the expression keeps.
        let kept: BTreeSet<String> = if found.aggregates {
            found.grouping.iter().cloned().collect()
        } else {
            let mut labels: BTreeSet<String> = TARGET_LABELS.map(String::from).into();
            for selector in &found.selectors {
                if let Some(exported) = exported.samples.get(&selector.metric) {
                    labels.extend(exported.keys().cloned());
                }
            }
            labels
        };
        for key in ["summary", "description"] {
            for label in template_labels(&one(block, key)) {
                if label != "$value" && !label.starts_with("$value ") && !kept.contains(&label) {
                    problems.push(format!("{name}: {key} names {label}, which is not kept"));
                }
            }
        }
    }

    let tests = ops_file("prometheus/alerts.test.yml");
    let series = yaml_values(&tests, "series");
    assert!(series.len() >= 20, "{} input series", series.len());
    for selector in &series {
        let found = check_expr(&exported, "alerts.test.yml", selector, &mut problems);
        assert_eq!(found.selectors.len(), 1, "{selector}");
    }
    assert_none(&problems);
}

#[test]
fn every_alert_has_a_duration_a_severity_a_runbook_and_tests_that_fire_it_and_keep_it_quiet() {
    let rules = ops_file("prometheus/alerts.yml");
    let tests = ops_file("prometheus/alerts.test.yml");
    // Each `- eval_time:` case of the tests: its alert, and whether it expects it to fire.
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in tests.split("- eval_time:").skip(1) {
        let alert = one(case.split("\n  - ").next().unwrap(), "alertname");
        let fires = !case
            .split("\n  - ")
            .next()
            .unwrap()
            .contains("exp_alerts: []");
        let entry = cases.entry(alert).or_default();
        if fires {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    let blocks = alert_blocks(&rules);
    let mut names = BTreeSet::new();
    for block in &blocks {
        let name = one(block, "alert");
        assert!(names.insert(name.clone()), "{name} twice");
        assert!(name.starts_with("StripeGraphql"), "{name}");
        let duration = one(block, "for");
        assert!(
            duration.ends_with('m') && duration.trim_end_matches('m').parse::<u32>().unwrap() >= 2,
            "{name}: for {duration}"
        );
        let severity = one(block, "severity");
        assert!(
            ["critical", "warning"].contains(&severity.as_str()),
            "{name}: {severity}"
        );
        assert!(!one(block, "summary").is_empty(), "{name}");
        let description = one(block, "description");
        assert!(
            description.len() > 200 && description.contains("Check "),
            "{name}: the description says what it means and what to check: {description}"
        );
        let (fires, quiet) = cases.get(&name).copied().unwrap_or_default();
        assert!(fires >= 1, "{name}: no test where it fires");
        assert!(quiet >= 1, "{name}: no test where it must not fire");
    }
    let unknown: Vec<_> = cases.keys().filter(|a| !names.contains(*a)).collect();
    assert!(
        unknown.is_empty(),
        "tests of alerts that do not exist: {unknown:?}"
    );
}
