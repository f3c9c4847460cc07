//! One streamed completion request, timed on the monotonic clock, as an AIPerf request record.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

use super::prompt::prompt;
use super::sse::{excerpt, parse_event, Event, SseDecoder, Usage};
use super::target::{Api, Target};
use crate::aiperf::RequestRecord;

/// The HTTP/1.1 client of the load generator: pooled keep-alive connections, no Nagle delay.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client for plain-HTTP OpenAI-compatible servers.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .build(connector)
}

/// The shape of one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestSpec {
    /// Prompt tokens.
    pub isl: u32,
    /// Output tokens asked for (`max_tokens` = `min_tokens`, `ignore_eos`).
    pub osl: u32,
    /// Seed of the prompt's words.
    pub seed: u64,
}

/// A finished request: its record (times relative to the run's origin) and when it ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The AIPerf record.
    pub record: RequestRecord,
    /// When the last byte arrived or the request failed.
    pub end: Instant,
}

/// The JSON body of a streamed request, with the fields that make the output exactly `osl`
/// tokens on vLLM, SGLang, TensorRT-LLM and Dynamo (as Dynamo's profiler asks aiperf to send).
pub fn request_body(target: &Target, spec: &RequestSpec) -> Bytes {
    let text = prompt(spec.isl, spec.seed);
    let mut body = serde_json::json!({
        "model": target.model,
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": spec.osl,
        "min_tokens": spec.osl,
        "ignore_eos": true,
    });
    match target.api {
        Api::Chat => body["messages"] = serde_json::json!([{"role": "user", "content": text}]),
        Api::Completions => body["prompt"] = text.into(),
    }
    Bytes::from(serde_json::to_vec(&body).expect("a request body serializes"))
}

/// Sends one request and reads its stream to the end, within `timeout` for the whole request.
/// Never fails: a failure is a record with an `error` reason.
pub async fn send(
    client: &HttpClient,
    target: &Target,
    spec: &RequestSpec,
    timeout: Duration,
    origin: Instant,
) -> Outcome {
    let request = hyper::Request::post(target.uri(target.api.path()))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "text/event-stream")
        .body(Full::new(request_body(target, spec)))
        .expect("a POST with a checked URI builds");
    let start = Instant::now();
    let mut progress = Progress::default();
    let result = tokio::time::timeout(timeout, stream(client, request, &mut progress)).await;
    let end = Instant::now();
    let error = match result {
        Err(_) => Some(format!(
            "timeout after {:.1} s ({} tokens received)",
            timeout.as_secs_f64(),
            progress.chunks
        )),
        Ok(Err(reason)) => Some(reason),
        Ok(Ok(())) if progress.first.is_none() => Some("the response carried no tokens".to_string()),
        Ok(Ok(())) => None,
    };
    let ms = |t: Instant| t.duration_since(start).as_secs_f64() * 1e3;
    let usage = progress.usage.unwrap_or_default();
    let ok = error.is_none();
    let record = RequestRecord {
        start_ms: start.duration_since(origin).as_secs_f64() * 1e3,
        ttft_ms: progress.first.map(ms).filter(|_| ok),
        latency_ms: progress.last.map(ms).filter(|_| ok),
        input_tokens: usage.prompt_tokens.unwrap_or(spec.isl),
        output_tokens: usage.completion_tokens.filter(|_| ok).unwrap_or(progress.chunks),
        error,
    };
    Outcome { record, end }
}

/// What has arrived so far.
#[derive(Default)]
struct Progress {
    first: Option<Instant>,
    last: Option<Instant>,
    chunks: u32,
    usage: Option<Usage>,
    done: bool,
}

impl Progress {
    fn apply(&mut self, data: &str, at: Instant) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        match parse_event(data)? {
            Event::Done => self.done = true,
            Event::Chunk(chunk) => {
                if chunk.has_content {
                    self.first.get_or_insert(at);
                    self.last = Some(at);
                    self.chunks += 1;
                }
                if chunk.usage.is_some() {
                    self.usage = chunk.usage;
                }
            }
        }
        Ok(())
    }
}

async fn stream(
    client: &HttpClient,
    request: hyper::Request<Full<Bytes>>,
    progress: &mut Progress,
) -> Result<(), String> {
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("request failed: {}", chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(format!(
            "http {status}: {}",
            excerpt(String::from_utf8_lossy(&body).trim())
        ));
    }
    let mut body = response.into_body();
    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("stream broken after {} tokens: {}", progress.chunks, chain(&e)))?;
        let Ok(data) = frame.into_data() else { continue };
        let now = Instant::now();
        decoder.feed(&data, &mut events)?;
        for event in events.drain(..) {
            progress.apply(&event, now)?;
        }
    }
    decoder.finish(&mut events);
    let now = Instant::now();
    for event in events.drain(..) {
        progress.apply(&event, now)?;
    }
    if !progress.done {
        return Err(format!(
            "stream closed before `data: [DONE]` after {} tokens",
            progress.chunks
        ));
    }
    Ok(())
}

/// An error and its causes on one line.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A GET of `path` on the target's server: its status and body.
pub async fn get(client: &HttpClient, target: &Target, path: &str, timeout: Duration) -> Result<(u16, Bytes), String> {
    let request = hyper::Request::get(target.uri(path))
        .body(Full::new(Bytes::new()))
        .expect("a GET with a checked URI builds");
    let exchange = async {
        let response = client.request(request).await.map_err(|e| chain(&e))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| chain(&e))?.to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {:.0} s", timeout.as_secs_f64()))?
}
