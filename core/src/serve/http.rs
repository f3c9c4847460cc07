//! The OpenAI-compatible HTTP side of `profcmp serve`: routes, request parsing, and SSE streams
//! whose tokens are paced by the schedule.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;
use tokio::time::Instant;

use super::schedule::{Arrival, Book, Timing};
use crate::endpoint::{count_tokens, output_word, ServedGraph, DEPLOYMENT_PATH};

/// A response body: a whole JSON document or an event stream.
pub type Body = BoxBody<Bytes, Infallible>;

/// Output tokens when a request asks for none (OpenAI's completions default).
const DEFAULT_MAX_TOKENS: u32 = 16;
/// Largest request body accepted (our choice: 8 MiB holds a prompt far beyond any context
/// window at a few bytes per token).
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// What every connection shares.
pub struct State {
    /// The served model name.
    pub model: String,
    /// The context window, tokens.
    pub max_context_tokens: u32,
    /// The graph, as advertised.
    pub graph: ServedGraph,
    /// Server start: virtual time 0.
    pub origin: Instant,
    /// Virtual ms per real ms.
    pub speedup: f64,
    /// Timings of open requests.
    pub book: Arc<Book>,
    /// Bumped after each replay.
    pub changed: watch::Receiver<u64>,
    /// Arrivals to the scheduler.
    pub arrivals: mpsc::Sender<Arrival>,
    /// Next request id.
    pub next_id: AtomicU64,
}

impl State {
    /// The real instant of virtual time `ms`.
    fn instant(&self, ms: f64) -> Instant {
        self.origin + Duration::from_secs_f64((ms / self.speedup / 1e3).max(0.0))
    }

    /// Virtual ms now.
    fn now_ms(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * 1e3 * self.speedup
    }
}

/// Serves one HTTP request.
pub async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_string();
    let response = match (request.method(), path.as_str()) {
        (&Method::GET, "/v1/models") => json(
            StatusCode::OK,
            serde_json::json!({
                "object": "list",
                "data": [{"id": state.model, "object": "model", "created": 0, "owned_by": "profcmp"}],
            }),
        ),
        (&Method::GET, DEPLOYMENT_PATH) => json(StatusCode::OK, serde_json::to_value(state.graph).unwrap_or_default()),
        (&Method::GET, "/health") => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        (&Method::POST, "/v1/chat/completions") => completion(state, request, Api::Chat).await,
        (&Method::POST, "/v1/completions") => completion(state, request, Api::Completions).await,
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("no route for {} {path}", request.method()),
        ),
    };
    Ok(response)
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Chat,
    Completions,
}

/// What a completion request asks for.
struct Ask {
    isl: u32,
    osl: u32,
    stream: bool,
    include_usage: bool,
}

async fn completion(state: Arc<State>, request: Request<Incoming>, api: Api) -> Response<Body> {
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            let message = format!("cannot read the request body (at most {MAX_BODY_BYTES} bytes): {e}");
            return error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let ask = match parse(&state, &body, api) {
        Ok(ask) => ask,
        Err((status, message)) => return error(status, &message),
    };
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let arrival = Arrival {
        id,
        at_ms: state.now_ms(),
        isl: ask.isl,
        osl: ask.osl,
    };
    state.book.open(id);
    if state.arrivals.send(arrival).is_err() {
        state.book.close(id);
        return error(StatusCode::SERVICE_UNAVAILABLE, "the simulated cluster has stopped");
    }
    if ask.stream {
        let (sender, body) = Channel::<Bytes, Infallible>::new(16);
        tokio::spawn(stream(state, id, api, ask, sender));
        return Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache")
            .body(body.boxed())
            .expect("a static response builds");
    }
    let mut changed = state.changed.clone();
    let outcome = wait_for_token(&state, id, ask.osl - 1, ask.osl, &mut changed).await;
    state.book.close(id);
    if let Err(reason) = outcome {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &reason);
    }
    let text: String = (0..ask.osl).map(word).collect();
    let choice = match api {
        Api::Chat => {
            serde_json::json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"})
        }
        Api::Completions => serde_json::json!({"index": 0, "text": text, "finish_reason": "length"}),
    };
    json(
        StatusCode::OK,
        serde_json::json!({
            "id": format!("cmpl-{id}"),
            "object": if api == Api::Chat { "chat.completion" } else { "text_completion" },
            "created": 0,
            "model": state.model,
            "choices": [choice],
            "usage": usage(&ask),
        }),
    )
}

fn parse(state: &State, body: &[u8], api: Api) -> Result<Ask, (StatusCode, String)> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    let request: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let model = request["model"].as_str().unwrap_or_default();
    if model != state.model {
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "the model `{model}` does not exist; this server serves `{}`",
                state.model
            ),
        ));
    }
    let text_tokens = |value: &serde_json::Value| -> u32 {
        match value {
            serde_json::Value::String(text) => count_tokens(text),
            serde_json::Value::Array(parts) => parts
                .iter()
                .map(|part| match part {
                    serde_json::Value::Number(_) => 1,
                    serde_json::Value::String(text) => count_tokens(text),
                    other => other["text"].as_str().map_or(0, count_tokens),
                })
                .sum(),
            _ => 0,
        }
    };
    let isl = match api {
        Api::Chat => request["messages"]
            .as_array()
            .ok_or_else(|| bad("`messages` must be a list".into()))?
            .iter()
            .map(|message| text_tokens(&message["content"]))
            .sum(),
        Api::Completions => text_tokens(&request["prompt"]),
    };
    if isl == 0 {
        return Err(bad("the prompt is empty".into()));
    }
    // As vLLM (SamplingParams' check and OpenAIServing's context check): a given max_tokens must
    // be an integer >= 1, and the prompt plus it must fit the context window.
    let osl = match ["max_completion_tokens", "max_tokens"]
        .into_iter()
        .find(|k| !request[k].is_null())
    {
        None => DEFAULT_MAX_TOKENS,
        Some(key) => (request[key].as_u64())
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n >= 1)
            .ok_or_else(|| bad(format!("{key} must be an integer of at least 1, got {}", request[key])))?,
    };
    let needed = u64::from(isl) + u64::from(osl);
    if needed > u64::from(state.max_context_tokens) {
        return Err(bad(format!(
            "this model's context window is {} tokens, but the request needs {needed} ({isl} in the prompt, {osl} to generate); shorten the prompt or lower max_tokens",
            state.max_context_tokens
        )));
    }
    Ok(Ask {
        isl,
        osl,
        stream: request["stream"].as_bool().unwrap_or(false),
        include_usage: request["stream_options"]["include_usage"].as_bool().unwrap_or(false),
    })
}

/// Streams the tokens of request `id` as they fall due, then `[DONE]`.
async fn stream(state: Arc<State>, id: u64, api: Api, ask: Ask, mut sender: Sender<Bytes>) {
    let mut changed = state.changed.clone();
    let model = serde_json::to_string(&state.model).unwrap_or_default();
    let (object, open) = match api {
        Api::Chat => ("chat.completion.chunk", r#"{"role":"assistant","content":""}"#),
        Api::Completions => ("text_completion", ""),
    };
    let chunk = |choice: String| {
        Bytes::from(format!(
            "data: {{\"id\":\"cmpl-{id}\",\"object\":\"{object}\",\"created\":0,\"model\":{model},\"choices\":[{choice}]}}\n\n"
        ))
    };
    let delta = |text: &str, finish: &str| match api {
        Api::Chat => format!(r#"{{"index":0,"delta":{{{text}}},"finish_reason":{finish}}}"#),
        Api::Completions => format!(r#"{{"index":0,"text":"{text}","finish_reason":{finish}}}"#),
    };
    let mut alive = true;
    if api == Api::Chat {
        let role = format!(r#"{{"index":0,"delta":{open},"finish_reason":null}}"#);
        alive = sender.send_data(chunk(role)).await.is_ok();
    }
    for k in 0..ask.osl {
        if !alive {
            break;
        }
        if let Err(reason) = wait_for_token(&state, id, k, ask.osl, &mut changed).await {
            let message = serde_json::json!({"error": {"message": reason, "type": "server_error", "code": 500}});
            let _ = sender.send_data(Bytes::from(format!("data: {message}\n\n"))).await;
            state.book.close(id);
            return;
        }
        let text = match api {
            Api::Chat => format!(r#""content":"{}""#, word(k)),
            Api::Completions => word(k),
        };
        alive = sender.send_data(chunk(delta(&text, "null"))).await.is_ok();
    }
    state.book.close(id);
    if !alive {
        return;
    }
    let mut tail = chunk(delta("", r#""length""#)).to_vec();
    if ask.include_usage {
        let usage = format!(
            "data: {{\"id\":\"cmpl-{id}\",\"object\":\"{object}\",\"created\":0,\"model\":{model},\"choices\":[],\"usage\":{}}}\n\n",
            usage(&ask)
        );
        tail.extend_from_slice(usage.as_bytes());
    }
    tail.extend_from_slice(b"data: [DONE]\n\n");
    let _ = sender.send_data(Bytes::from(tail)).await;
}

/// Waits until token `k` of `n` of request `id` is due; the reason if the request failed.
async fn wait_for_token(
    state: &State,
    id: u64,
    k: u32,
    n: u32,
    changed: &mut watch::Receiver<u64>,
) -> Result<(), String> {
    loop {
        match state.book.timing(id) {
            None => {}
            Some(Timing::Failed(reason)) => return Err(reason),
            Some(Timing::Tokens { first_ms, last_ms }) => {
                let due = state.instant(Timing::token_ms(first_ms, last_ms, k, n));
                if Instant::now() >= due {
                    return Ok(());
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => return Ok(()),
                    moved = changed.changed() => if moved.is_err() {
                        return Err("the server is shutting down".into());
                    },
                }
                continue;
            }
        }
        if changed.changed().await.is_err() {
            return Err("the server is shutting down".into());
        }
    }
}

/// The `k`-th output token's text: a word, with a leading space after the first.
fn word(k: u32) -> String {
    if k == 0 {
        output_word(k).to_string()
    } else {
        format!(" {}", output_word(k))
    }
}

fn usage(ask: &Ask) -> serde_json::Value {
    serde_json::json!({"prompt_tokens": ask.isl, "completion_tokens": ask.osl, "total_tokens": ask.isl + ask.osl})
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(value.to_string())).boxed())
        .expect("a JSON response builds")
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let kind = if status.is_client_error() {
        "invalid_request_error"
    } else {
        "server_error"
    };
    json(
        status,
        serde_json::json!({"error": {"message": message, "type": kind, "code": status.as_u16()}}),
    )
}
