//! Server-sent events of an OpenAI-compatible stream: framing, and what each chunk carries.

use serde::Deserialize;

/// Splits a byte stream into SSE events and yields each event's `data` (multi-line data joined
/// by `\n`). Lines end in `\n` or `\r\n`; comments and other fields are skipped.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    data: Option<String>,
}

impl SseDecoder {
    /// Feeds bytes; pushes the data of every event they complete onto `events`.
    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<String>) -> Result<(), String> {
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = self.buffer[start..].iter().position(|&b| b == b'\n') {
            let line_end = start + end;
            let line = &self.buffer[start..line_end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = std::str::from_utf8(line).map_err(|_| "malformed SSE: a line is not UTF-8".to_string())?;
            if line.is_empty() {
                events.extend(self.data.take());
            } else if let Some(value) = field_value(line, "data") {
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_string()),
                }
            }
            start = line_end + 1;
        }
        self.buffer.drain(..start);
        Ok(())
    }

    /// The end of the stream: an event whose blank line never came is still delivered.
    pub fn finish(&mut self, events: &mut Vec<String>) {
        if let Some(line) = std::str::from_utf8(&self.buffer).ok().filter(|l| !l.trim().is_empty()) {
            if let Some(value) = field_value(line.trim_end_matches('\r'), "data") {
                let data = self.data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
        }
        self.buffer.clear();
        events.extend(self.data.take());
    }
}

/// The value of `field: value` (one leading space removed), if the line is that field.
fn field_value<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(field)?;
    let value = rest.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

/// What one event means.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `data: [DONE]`: the stream is complete.
    Done,
    /// A completion chunk.
    Chunk(Chunk),
}

/// The parts of a completion chunk the load generator uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chunk {
    /// It carries generated text (a token, for one-token-per-chunk servers).
    pub has_content: bool,
    /// Token counts reported by the server (`usage`).
    pub usage: Option<Usage>,
}

/// A server's token counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct RawChunk {
    #[serde(default)]
    choices: Option<Vec<RawChoice>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawChoice {
    #[serde(default)]
    delta: Option<RawDelta>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
}

/// Interprets one event's data: `[DONE]`, a chat or completions chunk, or an error.
pub fn parse_event(data: &str) -> Result<Event, String> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Event::Done);
    }
    let raw: RawChunk =
        serde_json::from_str(data).map_err(|e| format!("malformed SSE data ({e}): {}", excerpt(data)))?;
    if let Some(error) = raw.error {
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .map_or_else(|| error.to_string(), str::to_string);
        return Err(format!("server error in the stream: {}", excerpt(&message)));
    }
    let non_empty = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    let has_content = raw.choices.unwrap_or_default().iter().any(|choice| {
        non_empty(&choice.text)
            || choice
                .delta
                .as_ref()
                .is_some_and(|d| non_empty(&d.content) || non_empty(&d.reasoning_content))
    });
    Ok(Event::Chunk(Chunk {
        has_content,
        usage: raw.usage,
    }))
}

/// The start of a long text, for error messages.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> Result<Vec<String>, String> {
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        for piece in pieces {
            decoder.feed(piece, &mut events)?;
        }
        decoder.finish(&mut events);
        Ok(events)
    }

    #[test]
    fn frames_events_across_arbitrary_splits() {
        let stream = b"data: {\"a\":1}\n\n: comment\r\nevent: x\r\ndata: one\r\ndata: two\r\n\r\ndata: [DONE]\n\n";
        let whole = decode(&[stream]).unwrap();
        assert_eq!(whole, ["{\"a\":1}", "one\ntwo", "[DONE]"]);
        for cut in 1..stream.len() {
            assert_eq!(
                decode(&[&stream[..cut], &stream[cut..]]).unwrap(),
                whole,
                "cut at {cut}"
            );
        }
        assert_eq!(decode(&[b"data:[DONE]"]).unwrap(), ["[DONE]"]);
        assert!(decode(&[b"data: \xff\n\n"]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn reads_chat_and_completions_chunks() {
        let chat = r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#;
        assert_eq!(parse_event(chat).unwrap(), Event::Chunk(Chunk::default()));
        let chat = r#"{"choices":[{"delta":{"content":" the"}}],"usage":null}"#;
        assert!(matches!(
            parse_event(chat).unwrap(),
            Event::Chunk(Chunk {
                has_content: true,
                usage: None
            })
        ));
        let text = r#"{"choices":[{"text":"x","finish_reason":null}]}"#;
        assert!(matches!(
            parse_event(text).unwrap(),
            Event::Chunk(Chunk { has_content: true, .. })
        ));
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        let Event::Chunk(chunk) = parse_event(usage).unwrap() else {
            panic!()
        };
        assert_eq!(chunk.usage.unwrap().completion_tokens, Some(3));
        assert_eq!(parse_event(" [DONE] ").unwrap(), Event::Done);
    }

    #[test]
    fn says_why_a_chunk_is_bad() {
        assert!(parse_event("{not json").unwrap_err().starts_with("malformed SSE data"));
        let error = r#"{"error":{"message":"out of KV cache","code":503}}"#;
        assert_eq!(
            parse_event(error).unwrap_err(),
            "server error in the stream: out of KV cache"
        );
    }
}
