//! `meridian serve --log-format json` writes its log to standard error as one
//! JSON object a line, each with `timestamp`, `level` and `target`; an HTTP
//! request is logged in its `http_request` span (method, route template) with
//! the status it was answered; a library's events (sqlx's statements, asked
//! for with `RUST_LOG`) reach the same output; standard output stays empty.

mod common;

use common::logs::{get, start_logging_to_file};
use serde_json::Value;

#[test]
fn every_line_is_json_and_a_request_has_its_span() {
    let running = start_logging_to_file(
        &["--log-format", "json"],
        &[("RUST_LOG", "info,sqlx::query=debug")],
    );
    let answer = get(running.http_address, "/api/v1/space/all?limit=1");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let lines = running.stop();
    assert!(!lines.is_empty(), "the server logged nothing");

    let events: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line:?}")))
        .collect();
    for event in &events {
        for field in ["timestamp", "level", "target"] {
            assert!(event.get(field).is_some(), "no {field} in {event}");
        }
    }

    // The request, in its span: the route's template, not its query.
    let answered = events
        .iter()
        .find(|event| {
            event["message"] == "answered" && event["span"]["route"] == "/api/v1/space/all"
        })
        .unwrap_or_else(|| panic!("no answered request in:\n{}", lines.join("\n")));
    assert_eq!(answered["level"], "INFO");
    assert_eq!(answered["status"], 401);
    assert_eq!(answered["span"]["name"], "http_request");
    assert_eq!(answered["span"]["method"], "GET");
    assert!(answered["latency_us"].is_u64(), "{answered}");

    // Start-up: where it listens, and the line the tests wait for.
    let ready = events
        .iter()
        .find(|event| {
            event["message"]
                .as_str()
                .is_some_and(|message| message.contains("stop with"))
        })
        .expect("the ready line");
    assert!(
        ready["http"]
            .as_str()
            .is_some_and(|http| http.ends_with(&running_port(&ready["http"]))),
        "{ready}"
    );

    // A library's events, through the same subscriber.
    assert!(
        events
            .iter()
            .any(|event| event["target"] == "sqlx::query" && event["level"] == "DEBUG"),
        "no sqlx statement in:\n{}",
        lines.join("\n")
    );
    assert!(
        events.iter().any(|event| event["message"] == "stopped"),
        "no stop line"
    );
}

/// The port of an `http://ADDRESS` value (checks it parses as an address).
fn running_port(http: &Value) -> String {
    let text = http.as_str().unwrap_or_default();
    let address: std::net::SocketAddr = text
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|_| panic!("an address in {text}"));
    address.port().to_string()
}
