//! The docs page's renderer (issue 16): RapiDoc's script, bundled so that the page that
//! `openapi: { docs }` serves needs no CDN. Linked into an app only when its generated
//! router refers to it.

/// `rapidoc-min.js` of RapiDoc 9.3.8 (MIT; `assets/rapidoc/`).
pub static RAPIDOC_JS: &[u8] = include_bytes!("../assets/rapidoc/rapidoc-min.js");
