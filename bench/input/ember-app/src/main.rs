//! Ember serving the typed-input benchmark's routes (see `../README.md`).

/// The handlers and the body type.
#[allow(dead_code)]
pub mod handlers {
    use ember_runtime::{Request, Response, StatusCode};
    use serde::Deserialize;

    /// The 1 KiB JSON body.
    #[derive(Debug, Deserialize)]
    pub struct Order {
        id: u64,
        customer: String,
        email: String,
        express: bool,
        note: String,
        tags: Vec<String>,
        items: Vec<Item>,
    }

    /// A line of an [`Order`].
    #[derive(Debug, Deserialize)]
    pub struct Item {
        sku: String,
        qty: u32,
        price_cents: u64,
    }

    fn total(o: &Order) -> u64 {
        o.items
            .iter()
            .map(|i| u64::from(i.qty) * i.price_cents)
            .sum::<u64>()
            + o.id % 2
    }

    /// `GET /plaintext`
    pub async fn plaintext() -> &'static str {
        "Hello, World!"
    }

    /// `POST /json`: the typed body, answered with the order's total.
    pub async fn order(o: Order) -> String {
        total(&o).to_string()
    }

    /// `POST /json-raw`: the same, parsed by hand (a route without declared input).
    pub async fn order_raw(req: &Request<'_>) -> Response {
        match serde_json::from_slice::<Order>(req.body()) {
            Ok(o) => Response::text(total(&o).to_string()),
            Err(_) => Response::new(StatusCode::BAD_REQUEST),
        }
    }
}

ember_runtime::include_app!();

fn main() -> std::io::Result<()> {
    ember_runtime::run(App)
}
