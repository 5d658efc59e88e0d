//! The sans-IO HTTP/1.1 core: request-head parsing and framing, response encoding, the
//! cached `Date` header. Nothing here touches a socket, so every rule is tested byte for byte.

pub(crate) mod chunked;
pub(crate) mod date;
pub(crate) mod method;
pub(crate) mod parse;
pub(crate) mod recycle;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod status;
