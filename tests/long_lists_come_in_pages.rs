//! Every list of elements or spaces comes in pages: `?limit=N` (at most 500)
//! and the `nextAfter` cursor; following the pages gives every item once, in
//! id order, and a limit outside 1..=500 is a 400.

mod common;

use std::collections::BTreeSet;

use common::api::{self, call};
use common::{create_admin, remove_database, start_server_on, temporary_database};
use serde_json::Value;

fn ids(pages: &[Vec<Value>]) -> Vec<i64> {
    pages
        .iter()
        .flatten()
        .map(|item| item["id"].as_i64().expect("an id"))
        .collect()
}

#[test]
fn elements_and_spaces_are_listed_a_page_at_a_time() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (server_process, server) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let boss = api::log_in(server, "boss", "boss password").await;
        let mut element = 0;
        for _ in 0..7 {
            element = api::create_element(server, &boss).await;
        }

        // The catalogue: pages of 3 hold what one page of 500 holds.
        let whole = api::every_page(server, "/api/v1/elements", "elements", 500, None).await;
        assert_eq!(whole.len(), 1);
        let paged = api::every_page(server, "/api/v1/elements", "elements", 3, None).await;
        assert!(paged.len() >= 3, "{paged:?}");
        assert!(paged.iter().all(|page| page.len() <= 3));
        let listed = ids(&paged);
        assert_eq!(listed, ids(&whole));
        assert!(listed.is_sorted() && listed.len() >= 7, "{listed:?}");
        assert!(listed.contains(&element));

        // A space's elements.
        let ada = api::sign_up(server, "ada", "password1").await;
        let mut spaces = Vec::new();
        for index in 0..3 {
            let (status, space) = api::create_space(server, &ada, &format!("room {index}")).await;
            assert_eq!(status, 200, "{space}");
            spaces.push(space["spaceId"].as_i64().expect("id"));
        }
        for index in 0..5 {
            let (status, body) = api::place(server, &ada, element, spaces[0], index, 1).await;
            assert_eq!(status, 200, "{body}");
        }
        let path = format!("/api/v1/space/{}", spaces[0]);
        let pages = api::every_page(server, &path, "elements", 2, Some(&ada)).await;
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            [2, 2, 1],
            "{pages:?}"
        );
        let placements = ids(&pages);
        assert!(placements.is_sorted());
        assert_eq!(placements.iter().collect::<BTreeSet<_>>().len(), 5);

        // The caller's spaces: the hosted one first, then each of hers once.
        let pages = api::every_page(server, "/api/v1/space/all", "spaces", 2, Some(&ada)).await;
        assert_eq!(pages[0][0]["hosted"], true, "{pages:?}");
        let listed = ids(&pages);
        let unique: BTreeSet<i64> = listed.iter().copied().collect();
        assert_eq!(unique.len(), listed.len(), "no space twice: {listed:?}");
        assert!(
            spaces.iter().all(|space| unique.contains(space)),
            "{listed:?}"
        );

        // Bad pages are 400s with a JSON error.
        for query in ["limit=0", "limit=501", "limit=many", "after=x", "page=2"] {
            for path in ["/api/v1/elements", path.as_str()] {
                let (status, body) =
                    call(server, "GET", &format!("{path}?{query}"), None, Some(&ada)).await;
                assert_eq!(status, 400, "{path}?{query}: {body}");
                assert!(body["error"].is_string(), "{body}");
            }
        }
    });
    drop(server_process);
    remove_database(&database);
}
