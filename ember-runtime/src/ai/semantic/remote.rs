//! [`Remote`]: an OpenAI-compatible `/v1/embeddings` upstream as an [`Embedder`], over the
//! AI runtime's pooled hyper client.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use super::embed::{EmbedError, Embedder};
use crate::ai::client;

/// The most an embeddings answer may hold.
const MAX_BODY: usize = 32 << 20;

/// An embeddings upstream, resolved at start-up.
#[derive(Debug)]
pub(crate) struct Remote {
    uri: Result<http::Uri, String>,
    model: &'static str,
    auth: Option<HeaderValue>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

impl Remote {
    /// `{base}/embeddings` (the env override when set), the key from `api_key_env`.
    pub(crate) fn resolve(
        base_url: Option<&'static str>,
        base_url_env: Option<&'static str>,
        model: &'static str,
        api_key_env: Option<&'static str>,
        timeout: Duration,
    ) -> Remote {
        let env = |name: Option<&str>| {
            name.and_then(|n| std::env::var(n).ok())
                .filter(|v| !v.trim().is_empty())
        };
        let base = env(base_url_env).or_else(|| base_url.map(str::to_owned));
        let uri = match base {
            None => Err(format!(
                "no base URL (set {})",
                base_url_env.unwrap_or("base_url")
            )),
            Some(b) => {
                let full = format!("{}/embeddings", b.trim().trim_end_matches('/'));
                full.parse::<http::Uri>()
                    .map_err(|e| format!("bad base URL `{b}`: {e}"))
            }
        };
        if let Err(e) = &uri {
            tracing::error!("semantic cache embedder unusable: {e}");
        }
        let auth = env(api_key_env)
            .and_then(|k| HeaderValue::from_str(&format!("Bearer {}", k.trim())).ok());
        Remote {
            uri,
            model,
            auth,
            timeout,
        }
    }

    async fn call(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let uri = self.uri.as_ref().map_err(|e| EmbedError(e.clone()))?;
        let body = serde_json::to_vec(&serde_json::json!({
            "model": self.model, "input": texts, "encoding_format": "float"
        }))
        .map_err(|e| EmbedError(e.to_string()))?;
        let mut req = http::Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri.clone();
        let h = req.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(a) = &self.auth {
            h.insert(AUTHORIZATION, a.clone());
        }
        let work = async {
            let resp = client::send(req)
                .await
                .map_err(|e| EmbedError(format!("embeddings upstream: {e}")))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| EmbedError(format!("embeddings upstream: {e}")))?
                .to_bytes();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(EmbedError(format!(
                    "embeddings upstream answered {status}: {text}"
                )));
            }
            let mut a: Answer = serde_json::from_slice(&body)
                .map_err(|e| EmbedError(format!("not an embeddings answer: {e}")))?;
            if a.data.len() != texts.len() {
                return Err(EmbedError(format!(
                    "{} embeddings for {} inputs",
                    a.data.len(),
                    texts.len()
                )));
            }
            a.data.sort_by_key(|i| i.index);
            Ok(a.data.into_iter().map(|i| i.embedding).collect())
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| EmbedError(format!("no embeddings within {:?}", self.timeout)))?
    }
}

impl Embedder for Remote {
    fn embed(&self, texts: &[&str]) -> impl Future<Output = Result<Vec<Vec<f32>>, EmbedError>> {
        self.call(texts)
    }
}
