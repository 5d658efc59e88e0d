//! The [`Handler`] trait: how generated code calls a user's plain `async fn`.
//!
//! A handler is any `async fn` whose arguments are the route's path parameters in the order
//! they appear in the path, optionally preceded by `&Request`:
//!
//! ```ignore
//! async fn plaintext() -> &'static str { "Hello, World!" }
//! async fn hello(name: &str) -> String { format!("Hello, {name}!") }
//! async fn show(req: &Request<'_>, id: u64) -> Response {
//!     Response::text(format!("user {id}, asked by {:?}", req.identity()))
//! }
//! ```
//!
//! The trait is implemented for every such function through `AsyncFn`, so the call is
//! statically dispatched and the handler's future is stored inline, never boxed.

use std::future::Future;

use crate::http::request::Request;
use crate::http::response::{IntoResponse, Response};

/// Marks a handler that takes only its path parameters.
#[derive(Debug)]
pub enum ParamsOnly {}

/// Marks a handler that takes `&Request` before its path parameters.
#[derive(Debug)]
pub enum WithRequest {}

/// A request handler for a route with path parameters `Args` (a tuple, in path order).
///
/// `M` is [`ParamsOnly`] or [`WithRequest`]; it is inferred from the function's signature.
/// `R` names the route for diagnostics only: generated code passes a marker type such as
/// `route_GET_users_id__at_ember_yaml_line_12`, so a handler with the wrong signature is
/// reported with its route and spec line.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot handle {R}: its signature does not fit the route",
    label = "wrong signature for {R}",
    note = "the route's arguments are `{Args}`: its path parameters in path order (for a user AI route, then the chat request and the model); a handler is an `async fn` taking them in that order, optionally preceded by `&Request<'_>`, and returning a type that implements `IntoResponse`"
)]
pub trait Handler<Args, M, R = ()> {
    /// Calls the handler.
    fn call<'a>(&'a self, req: &'a Request<'a>, args: Args) -> impl Future<Output = Response> + 'a
    where
        Args: 'a;
}

macro_rules! impl_handler {
    ($($p:ident),*) => {
        impl<F, R, Route, $($p,)*> Handler<($($p,)*), ParamsOnly, Route> for F
        where
            F: AsyncFn($($p),*) -> R,
            R: IntoResponse,
        {
            #[allow(non_snake_case, unused_variables)]
            fn call<'a>(&'a self, req: &'a Request<'a>, args: ($($p,)*)) -> impl Future<Output = Response> + 'a
            where
                ($($p,)*): 'a,
            {
                let ($($p,)*) = args;
                async move { (self)($($p),*).await.into_response() }
            }
        }

        impl<F, R, Route, $($p,)*> Handler<($($p,)*), WithRequest, Route> for F
        where
            F: for<'r> AsyncFn(&'r Request<'r>, $($p),*) -> R,
            R: IntoResponse,
        {
            #[allow(non_snake_case)]
            fn call<'a>(&'a self, req: &'a Request<'a>, args: ($($p,)*)) -> impl Future<Output = Response> + 'a
            where
                ($($p,)*): 'a,
            {
                let ($($p,)*) = args;
                async move { (self)(req, $($p),*).await.into_response() }
            }
        }
    };
}

impl_handler!();
impl_handler!(P1);
impl_handler!(P1, P2);
impl_handler!(P1, P2, P3);
impl_handler!(P1, P2, P3, P4);
impl_handler!(P1, P2, P3, P4, P5);
impl_handler!(P1, P2, P3, P4, P5, P6);
impl_handler!(P1, P2, P3, P4, P5, P6, P7);
impl_handler!(P1, P2, P3, P4, P5, P6, P7, P8);

/// Calls `handler` with `args` for route `R`, choosing the [`Handler`] impl from the
/// function's signature.
///
/// Generated code calls this rather than the trait method so that a mismatched signature is
/// reported on the handler path the user wrote, naming the route.
pub fn call<'a, R, H, Args, M>(
    handler: &'a H,
    req: &'a Request<'a>,
    args: Args,
) -> impl Future<Output = Response> + 'a
where
    H: Handler<Args, M, R>,
    Args: 'a,
{
    handler.call(req, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::method::Method;
    use crate::http::request::Version;

    async fn none() -> &'static str {
        "none"
    }
    async fn with_req(req: &Request<'_>) -> String {
        req.path().to_owned()
    }
    async fn one(name: &str) -> String {
        format!("one {name}")
    }
    async fn two(req: &Request<'_>, a: u64, b: &str) -> String {
        format!("{} {a} {b}", req.path())
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt")
            .block_on(f)
    }

    #[test]
    fn dispatches_by_signature() {
        let req = Request::from_parts(Method::Get, "/p", Version::Http11, &[], b"");
        let body = |r: Response| String::from_utf8(r.body().to_vec()).expect("utf8");
        assert_eq!(body(block_on(call::<(), _, _, _>(&none, &req, ()))), "none");
        assert_eq!(
            body(block_on(call::<(), _, _, _>(&with_req, &req, ()))),
            "/p"
        );
        assert_eq!(
            body(block_on(call::<(), _, _, _>(&one, &req, ("x",)))),
            "one x"
        );
        assert_eq!(
            body(block_on(call::<(), _, _, _>(&two, &req, (7u64, "y")))),
            "/p 7 y"
        );
    }
}
