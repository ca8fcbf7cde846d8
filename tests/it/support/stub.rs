//! A programmable ARM stand-in on 127.0.0.1 (axum): each test gives a function from the request
//! (and its index) to a [`Reply`]; every request is recorded. `Reply::Drop` sends the status line
//! and then breaks the body stream, so the client sees the connection die mid-answer.

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

impl Recorded {
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers.get(n).and_then(|v| v.to_str().ok())
    }
    pub fn api_version(&self) -> Option<&str> {
        self.query.split('&').find_map(|p| p.strip_prefix("api-version="))
    }
}

pub enum Reply {
    Json(u16, Vec<(String, String)>, serde_json::Value),
    Empty(u16, Vec<(String, String)>),
    Drop,
}

pub fn json(status: u16, body: serde_json::Value) -> Reply {
    Reply::Json(status, Vec::new(), body)
}

pub fn with_headers(status: u16, headers: &[(&str, &str)], body: serde_json::Value) -> Reply {
    Reply::Json(status, headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), body)
}

type Handler = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

pub struct Stub {
    pub url: String,
    pub log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stub {
    pub async fn start(f: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Stub {
        let handler: Handler = Arc::new(f);
        let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let counter = Arc::new(AtomicUsize::new(0));
        let (h, l, c) = (handler.clone(), log.clone(), counter.clone());
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let (h, l, c) = (h.clone(), l.clone(), c.clone());
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                let rec = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or_default().to_owned(),
                    headers: parts.headers.clone(),
                    body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
                };
                let i = c.fetch_add(1, Ordering::SeqCst);
                l.lock().unwrap().push(rec.clone());
                let reply = h(&rec, i);
                let mut b = Response::builder();
                let (status, headers, body) = match reply {
                    Reply::Json(s, hs, v) => (s, hs, Body::from(serde_json::to_vec(&v).unwrap())),
                    Reply::Empty(s, hs) => (s, hs, Body::empty()),
                    Reply::Drop => {
                        let s = futures::stream::once(async {
                            Err::<bytes::Bytes, std::io::Error>(std::io::Error::other(
                                "dropped by the stub",
                            ))
                        });
                        (200, Vec::new(), Body::from_stream(s))
                    }
                };
                b = b
                    .status(StatusCode::from_u16(status).unwrap())
                    .header("content-type", "application/json");
                // Defaults a handler may replace by naming the header itself.
                let named = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
                if !named("x-ms-request-id") {
                    b = b.header("x-ms-request-id", format!("req-{i}"));
                }
                if !named("x-ms-correlation-request-id") {
                    b = b.header("x-ms-correlation-request-id", "corr-stub");
                }
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                b.body(body).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Stub { url, log, task }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// `METHOD path?api-version` of every request, in order: the sequence tests assert on.
    pub fn sequence(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                let v =
                    r.query.split('&').find_map(|p| p.strip_prefix("api-version=")).unwrap_or("-");
                format!("{} {} {v}", r.method, r.path)
            })
            .collect()
    }
}
