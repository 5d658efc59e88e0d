//! `openapi: { path, docs }` (issue 16): the e2e app serves its OpenAPI document, the docs
//! page and the bundled renderer's script, on both backends, each on a fresh server.

use ember_tests::{App, BACKENDS, Client, start};
use serde_json::Value;

#[test]
fn the_document_and_docs_page_are_served_on_both_backends() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let mut c = Client::connect(server.local_addr());
        let doc = c.get("/openapi.json");
        assert_eq!(doc.status, 200, "{backend:?}");
        assert_eq!(doc.header("content-type"), Some("application/json"));
        let v: Value = serde_json::from_slice(&doc.body).expect("JSON");
        assert_eq!(v["openapi"], "3.1.0");
        assert_eq!(v["info"]["title"], "Ember e2e");
        assert_eq!(v["info"]["version"], "1.0.0");
        // A typed path parameter, and the document does not list its own routes.
        let id = &v["paths"]["/users/{id}"]["get"]["parameters"][0];
        assert_eq!(id["schema"]["format"], "uint64", "{id}");
        assert!(v["paths"].get("/openapi.json").is_none());
        assert!(v["paths"].get("/docs").is_none());

        let page = c.get("/docs");
        assert_eq!(page.status, 200);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let html = page.text();
        assert!(
            html.contains("<rapi-doc spec-url=\"/openapi.json\""),
            "{html}"
        );
        let script = html
            .split("src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("the script's path")
            .to_owned();
        assert!(script.starts_with("/docs/rapidoc-"), "{script}");

        let js = c.get(&script);
        assert_eq!(js.status, 200);
        assert_eq!(
            js.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            js.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert!(js.body.len() > 500_000, "{}", js.body.len());
        assert!(
            String::from_utf8_lossy(&js.body[..]).contains("rapi-doc"),
            "not RapiDoc's script"
        );
        // Not a prefix match: a path under the page is a 404.
        assert_eq!(c.get("/docs/other.js").status, 404);
    }
}
