//! The space and catalogue routes through the real binary: admins fill the
//! catalogues and make template maps; a user makes a space from a template,
//! places and removes elements; nobody else may change it; bad input is a 4xx.

mod common;

use std::net::SocketAddr;

use common::{create_admin, remove_database, start_server_on, temporary_database};
use loadbot::http::{self, HttpError};
use serde_json::Value;

struct Api {
    server: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    /// (status, parsed body or null).
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, Value) {
        match self
            .runtime
            .block_on(http::send(self.server, method, path, body, token))
        {
            Ok(text) => (200, serde_json::from_str(&text).unwrap_or(Value::Null)),
            Err(HttpError::Status { status, body }) => {
                (status, serde_json::from_str(&body).unwrap_or(Value::Null))
            }
            Err(other) => panic!("{method} {path}: {other}"),
        }
    }

    fn token(&self, username: &str, password: &str) -> String {
        let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
        let (status, answer) = self.call("POST", "/api/v1/login", Some(&body), None);
        assert_eq!(status, 200, "{answer}");
        answer["token"].as_str().expect("token").to_owned()
    }
}

#[test]
fn owners_and_admins_change_spaces_and_nobody_else_does() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (_server, server) = start_server_on(&database);
    let api = Api {
        server,
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    };
    let mut ids = Vec::new();
    for user in ["ada", "bob"] {
        let body = format!(r#"{{"username":"{user}","password":"password1","type":"user"}}"#);
        let (status, created) = api.call("POST", "/api/v1/signup", Some(&body), None);
        assert_eq!(status, 200);
        ids.push(created["userId"].as_i64().expect("user id"));
    }
    let boss = api.token("boss", "boss password");
    let ada = api.token("ada", "password1");
    let bob = api.token("bob", "password1");

    // Admins fill the catalogues; users may not.
    let element =
        r#"{"imageUrl":"https://example.invalid/chair.png","width":1,"height":1,"static":true}"#;
    assert_eq!(
        api.call("POST", "/api/v1/admin/element", Some(element), Some(&ada))
            .0,
        403
    );
    assert_eq!(
        api.call("POST", "/api/v1/admin/element", Some(element), None)
            .0,
        401
    );
    let (status, created) = api.call("POST", "/api/v1/admin/element", Some(element), Some(&boss));
    assert_eq!(status, 200, "{created}");
    let chair = created["id"].as_i64().expect("id");
    let (status, _) = api.call(
        "PUT",
        &format!("/api/v1/admin/element/{chair}"),
        Some(r#"{"imageUrl":"https://example.invalid/chair2.png"}"#),
        Some(&boss),
    );
    assert_eq!(status, 200);
    let (status, avatar) = api.call(
        "POST",
        "/api/v1/admin/avatar",
        Some(r#"{"imageUrl":"https://example.invalid/cat.png","name":"cat"}"#),
        Some(&boss),
    );
    assert_eq!(status, 200);
    let avatar = avatar["avatarId"].as_i64().expect("id");
    let map = format!(
        r#"{{"thumbnail":"https://example.invalid/t.png","dimensions":"100x200","name":"office","defaultElements":[{{"elementId":{chair},"x":20,"y":20}}]}}"#
    );
    let (status, map) = api.call("POST", "/api/v1/admin/map", Some(&map), Some(&boss));
    assert_eq!(status, 200, "{map}");
    let map = map["id"].as_i64().expect("id");

    // Anyone reads the catalogues (after the starter ones of a fresh world).
    let (_, avatars) = api.call("GET", "/api/v1/avatars", None, None);
    let avatars = avatars["avatars"].as_array().expect("a list");
    assert!(avatars.len() > 1, "{avatars:?}");
    assert_eq!(avatars.last().expect("one")["name"], "cat");
    let (_, elements) = api.call("GET", "/api/v1/elements", None, None);
    let ours = elements["elements"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|element| element["id"].as_i64() == Some(chair))
        .cloned()
        .unwrap_or_else(|| panic!("element {chair} in {elements}"));
    assert_eq!(ours["imageUrl"], "https://example.invalid/chair2.png");
    let metadata = format!(r#"{{"avatarId":{avatar}}}"#);
    assert_eq!(
        api.call("POST", "/api/v1/user/metadata", Some(&metadata), Some(&ada))
            .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/user/metadata",
            Some(r#"{"avatarId":999}"#),
            Some(&ada)
        )
        .0,
        400
    );

    // Ada's space from the template carries its element and size.
    let new_space = format!(r#"{{"name":"my office","dimensions":"10x10","mapId":{map}}}"#);
    let (status, space) = api.call("POST", "/api/v1/space", Some(&new_space), Some(&ada));
    assert_eq!(status, 200, "{space}");
    let space = space["spaceId"].as_i64().expect("id");
    let (_, fetched) = api.call("GET", &format!("/api/v1/space/{space}"), None, Some(&ada));
    assert_eq!(fetched["dimensions"], "100x200");
    assert_eq!(fetched["elements"].as_array().map(Vec::len), Some(1));
    // Listed: the hosted plaza first, then her space and the template.
    let (_, listed) = api.call("GET", "/api/v1/space/all", None, Some(&ada));
    let listed = listed["spaces"].as_array().expect("a list");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(
        (&listed[0]["name"], &listed[0]["hosted"]),
        (&"plaza".into(), &true.into())
    );
    assert!(listed.iter().any(|listed| listed["id"] == space));

    // Placing: the owner may, another user may not (he sees her shared
    // space, but it is not his); outside the space is a 400.
    let place = |x: i32| format!(r#"{{"elementId":{chair},"spaceId":{space},"x":{x},"y":5}}"#);
    assert_eq!(
        api.call("POST", "/api/v1/space/element", Some(&place(5)), Some(&bob))
            .0,
        403
    );
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/space/element",
            Some(&place(500)),
            Some(&ada)
        )
        .0,
        400
    );
    let (status, placed) = api.call("POST", "/api/v1/space/element", Some(&place(5)), Some(&ada));
    assert_eq!(status, 200);
    let removal = format!(r#"{{"id":{}}}"#, placed["id"].as_i64().expect("id"));
    assert_eq!(
        api.call(
            "DELETE",
            "/api/v1/space/element",
            Some(&removal),
            Some(&bob)
        )
        .0,
        403
    );
    assert_eq!(
        api.call(
            "DELETE",
            "/api/v1/space/element",
            Some(&removal),
            Some(&ada)
        )
        .0,
        200
    );
    assert_eq!(
        api.call(
            "DELETE",
            "/api/v1/space/element",
            Some(&removal),
            Some(&ada)
        )
        .0,
        404
    );

    // Bad input is a 4xx with a message.
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/space",
            r#"{"name":"x","dimensions":"10by10"}"#,
        ),
        (
            "POST",
            "/api/v1/space",
            r#"{"name":"x","dimensions":"0x10"}"#,
        ),
        (
            "POST",
            "/api/v1/space",
            r#"{"name":"","dimensions":"10x10"}"#,
        ),
        (
            "POST",
            "/api/v1/space",
            r#"{"name":"x","dimensions":"10x10","mapId":424242}"#,
        ),
        ("POST", "/api/v1/space", r#"[1,2,3]"#),
        ("GET", "/api/v1/space/not-a-number", ""),
        ("GET", "/api/v1/space/424242", ""),
    ] {
        let body = (!body.is_empty()).then_some(body);
        let (status, answer) = api.call(method, path, body, Some(&ada));
        assert!(
            (400..500).contains(&status),
            "{method} {path} {body:?}: {status}"
        );
        if status != 404 || path.ends_with("424242") {
            assert!(answer["error"].is_string() || status == 404, "{answer}");
        }
    }

    // Moderation: blocking and reporting someone who exists.
    let bob_id = ids[1];
    let block = format!(r#"{{"userId":{bob_id}}}"#);
    assert_eq!(
        api.call("POST", "/api/v1/user/block", Some(&block), Some(&ada))
            .0,
        200
    );
    assert_eq!(
        api.call("POST", "/api/v1/user/block", Some(&block), Some(&ada))
            .0,
        200
    );
    assert_eq!(
        api.call("POST", "/api/v1/user/block", Some(&block), Some(&bob))
            .0,
        400,
        "not oneself"
    );
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/user/block",
            Some(r#"{"userId":424242}"#),
            Some(&ada)
        )
        .0,
        404
    );
    let report = format!(r#"{{"userId":{bob_id},"reason":"spam in the plaza"}}"#);
    let (status, filed) = api.call("POST", "/api/v1/user/report", Some(&report), Some(&ada));
    assert_eq!(status, 200);
    assert!(filed["id"].as_i64().is_some());
    let empty_reason = format!(r#"{{"userId":{bob_id},"reason":"   "}}"#);
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/user/report",
            Some(&empty_reason),
            Some(&ada)
        )
        .0,
        400
    );

    // The plaza this server runs: an admin's placement there reaches the zone
    // at once (the chair blocks movement), and so does its removal.
    let plaza = listed[0]["id"].as_i64().expect("the hosted space");
    let blocking = |api: &Api| -> f64 {
        let metrics = api
            .runtime
            .block_on(http::get(api.server, "/metrics"))
            .expect("metrics");
        http::prometheus_value(&metrics, "meridian_static_elements").expect("the gauge")
    };
    let wait_for = |api: &Api, want: f64| {
        for _ in 0..100 {
            if blocking(api) == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!(
            "the zone holds {} blocking elements, not {want}",
            blocking(api)
        );
    };
    let before = blocking(&api);
    let chair_in_plaza = format!(r#"{{"elementId":{chair},"spaceId":{plaza},"x":2,"y":2}}"#);
    let (status, placed) = api.call(
        "POST",
        "/api/v1/space/element",
        Some(&chair_in_plaza),
        Some(&boss),
    );
    assert_eq!(status, 200, "{placed}");
    wait_for(&api, before + 1.0);
    let removal = format!(r#"{{"id":{}}}"#, placed["id"].as_i64().expect("id"));
    assert_eq!(
        api.call(
            "DELETE",
            "/api/v1/space/element",
            Some(&removal),
            Some(&boss)
        )
        .0,
        200
    );
    wait_for(&api, before);

    // Deleting: not bob's; the owner's; then gone.
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/space/{space}"),
            None,
            Some(&bob)
        )
        .0,
        403
    );
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/space/{space}"),
            None,
            Some(&ada)
        )
        .0,
        200
    );
    assert_eq!(
        api.call("GET", &format!("/api/v1/space/{space}"), None, None)
            .0,
        404
    );
    remove_database(&database);
}
