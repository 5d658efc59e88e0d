//! The routes `openapi:` serves (issue 16): the document as compact JSON and the docs page
//! as HTML, both string constants made at build time, and the bundled renderer's script.

use crate::code::{Code, Str, close, open, w};
use crate::plan::Plan;
use crate::plan::openapi::{SERVED_HANDLERS, docs_script_path};

/// The served document, the docs page and their functions (named by `SERVED_HANDLERS`),
/// when the spec serves them; nothing otherwise.
pub(super) fn emit_statics(c: &mut Code, plan: &Plan) {
    let Some(o) = &plan.openapi else {
        return;
    };
    let Some(path) = &o.path else {
        return;
    };
    let json = serde_json::to_string(&crate::openapi::document(plan)).unwrap_or_default();
    c.blank();
    w!(
        c,
        "/// The OpenAPI document (`openapi.path`), made at build time."
    );
    w!(c, "const OPENAPI_JSON: &str = {};", Str(&json));
    c.blank();
    w!(c, "/// `GET {path}`: the OpenAPI document.");
    open!(c, "async fn {}() -> Response {{", SERVED_HANDLERS[0]);
    w!(
        c,
        "Response::bytes(OPENAPI_JSON.as_bytes()).with_content_type(\"application/json\")"
    );
    close!(c, "}}");
    let Some(docs) = &o.docs else {
        return;
    };
    let title = o.title.as_deref().unwrap_or(&plan.app);
    let page = docs_page(title, path, &docs_script_path(docs));
    c.blank();
    w!(c, "/// The docs page (`openapi.docs`).");
    w!(c, "const OPENAPI_DOCS: &str = {};", Str(&page));
    c.blank();
    w!(c, "/// `GET {docs}`: the docs page.");
    open!(c, "async fn {}() -> Response {{", SERVED_HANDLERS[1]);
    w!(
        c,
        "Response::bytes(OPENAPI_DOCS.as_bytes()).with_content_type(\"text/html; charset=utf-8\")"
    );
    close!(c, "}}");
    c.blank();
    w!(
        c,
        "/// The docs page's renderer (bundled; its path names its version, so it is cached for a year)."
    );
    open!(c, "async fn {}() -> Response {{", SERVED_HANDLERS[2]);
    w!(
        c,
        "Response::bytes(::ember_runtime::__private::openapi::RAPIDOC_JS)"
    );
    w!(
        c,
        "    .with_content_type(\"text/javascript; charset=utf-8\")"
    );
    w!(
        c,
        "    .header(\"Cache-Control\", \"public, max-age=31536000, immutable\")"
    );
    close!(c, "}}");
}

/// The docs page: RapiDoc over the document at `spec_url`, its script at `script`.
fn docs_page(title: &str, spec_url: &str, script: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<script type=\"module\" src=\"{}\"></script>\n</head>\n<body>\n\
         <rapi-doc spec-url=\"{}\" render-style=\"read\" show-header=\"false\" \
         allow-spec-url-load=\"false\" allow-spec-file-load=\"false\"></rapi-doc>\n\
         </body>\n</html>\n",
        html_escape(title),
        html_escape(script),
        html_escape(spec_url)
    )
}

/// `text` with the HTML special characters escaped.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_the_title_and_names_its_document_and_script() {
        let page = docs_page("A <b>&\"", "/openapi.json", "/docs/rapidoc-9.3.8.min.js");
        assert!(
            page.contains("<title>A &lt;b&gt;&amp;&quot;</title>"),
            "{page}"
        );
        assert!(page.contains("spec-url=\"/openapi.json\""), "{page}");
        assert!(
            page.contains("src=\"/docs/rapidoc-9.3.8.min.js\""),
            "{page}"
        );
    }

    #[test]
    fn apps_without_openapi_generate_nothing() {
        let plan = crate::compile(
            "routes:\n  GET /: h\n",
            "t.yaml",
            &mut |_| unreachable!(),
            &|_| None,
        )
        .expect("valid");
        let mut c = Code::new();
        emit_statics(&mut c, &plan);
        assert_eq!(c.finish().trim(), "");
    }
}
