//! The access line: one per request, target `inferd::access`, with the
//! request id, method, path, status, model and version (scoring), queue,
//! score and total milliseconds, and bytes in and out. The query string is
//! never in it (a `GET /score?data=...` carries the request's data there),
//! and no header but the request id: nothing secret reaches the log.
//!
//! One formatter writes it in both log formats, field by field, with the
//! same shape as the subscriber's own lines: a JSON line (`timestamp`,
//! `level`, `fields`, `target`) or a text line (`<time>  INFO
//! inferd::access: access request_id="..." ...`). It is written directly
//! rather than as a `tracing` event: through the subscriber's JSON
//! formatter the line cost about 27,000 instructions (callgrind), more
//! than serving a small model.

use std::time::{Duration, SystemTime};

use crate::LogFormat;
use crate::{millis, timestamp};

/// The facts of one access line.
#[derive(Debug, Clone, Copy)]
pub struct AccessLine<'a> {
    /// The client's, or one the server made up: any byte a header value
    /// may hold (obs-text included), so not necessarily UTF-8.
    pub request_id: &'a [u8],
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    /// Name and version of the model, for scoring requests.
    pub model: Option<(&'a str, u32)>,
    pub queue: Option<Duration>,
    pub score: Option<Duration>,
    pub total: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl AccessLine<'_> {
    /// Appends the line, newline included, as written `at`.
    pub fn write(&self, format: LogFormat, at: SystemTime, out: &mut Vec<u8>) {
        let mut line = Fields::start(format, at, out);
        line.text("request_id", &String::from_utf8_lossy(self.request_id));
        line.text("method", self.method);
        line.text("path", self.path);
        line.number("status", self.status.into());
        if let Some((model, version)) = self.model {
            line.text("model", model);
            line.number("version", version.into());
        }
        if let Some(queue) = self.queue {
            line.millis("queue_ms", queue);
        }
        if let Some(score) = self.score {
            line.millis("score_ms", score);
        }
        line.millis("total_ms", self.total);
        line.number("bytes_in", self.bytes_in);
        line.number("bytes_out", self.bytes_out);
        line.end();
    }
}

/// A line being written, field by field, in one of the formats.
struct Fields<'a> {
    format: LogFormat,
    out: &'a mut Vec<u8>,
}

impl<'a> Fields<'a> {
    fn start(format: LogFormat, at: SystemTime, out: &'a mut Vec<u8>) -> Fields<'a> {
        match format {
            LogFormat::Json => {
                out.extend_from_slice(b"{\"timestamp\":\"");
                timestamp::push(out, at);
                out.extend_from_slice(b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"access\"");
            }
            LogFormat::Text => {
                timestamp::push(out, at);
                out.extend_from_slice(b"  INFO inferd::access: access");
            }
        }
        Fields { format, out }
    }

    fn name(&mut self, name: &str) {
        match self.format {
            LogFormat::Json => {
                self.out.extend_from_slice(b",\"");
                self.out.extend_from_slice(name.as_bytes());
                self.out.extend_from_slice(b"\":");
            }
            LogFormat::Text => {
                self.out.push(b' ');
                self.out.extend_from_slice(name.as_bytes());
                self.out.push(b'=');
            }
        }
    }

    /// Quoted, with what JSON escapes escaped in both formats: no control
    /// byte of a client's text reaches the log.
    fn text(&mut self, name: &str, value: &str) {
        self.name(name);
        serde_json::to_writer(&mut *self.out, value).expect("writing to a Vec cannot fail");
    }

    fn number(&mut self, name: &str, value: u64) {
        self.name(name);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    fn millis(&mut self, name: &str, value: Duration) {
        self.name(name);
        millis::push(self.out, value);
    }

    fn end(self) {
        match self.format {
            LogFormat::Json => self
                .out
                .extend_from_slice(b"},\"target\":\"inferd::access\"}\n"),
            LogFormat::Text => self.out.push(b'\n'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(model: Option<(&'a str, u32)>, request_id: &'a [u8]) -> AccessLine<'a> {
        AccessLine {
            request_id,
            method: "POST",
            path: "/score",
            status: 200,
            model,
            queue: Some(Duration::from_nanos(12_500)),
            score: Some(Duration::from_micros(3_200)),
            total: Duration::from_nanos(12_345_600),
            bytes_in: 40,
            bytes_out: 12,
        }
    }

    fn written(line: &AccessLine<'_>, format: LogFormat) -> String {
        let mut out = b"earlier line\n".to_vec();
        line.write(format, SystemTime::now(), &mut out);
        // Appended after what the buffer held, untouched.
        let text = out.split_off(b"earlier line\n".len());
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn the_json_line_has_every_field() {
        let text = written(
            &facts(Some(("diabetes-ridge", 1)), b"id-1"),
            LogFormat::Json,
        );
        assert!(text.ends_with('\n'));
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let fields = &parsed["fields"];
        assert_eq!(fields["message"], "access");
        assert_eq!(fields["request_id"], "id-1");
        assert_eq!(fields["method"], "POST");
        assert_eq!(fields["path"], "/score");
        assert_eq!(fields["status"], 200);
        assert_eq!(fields["model"], "diabetes-ridge");
        assert_eq!(fields["version"], 1);
        assert_eq!(fields["queue_ms"], 0.013);
        assert_eq!(fields["score_ms"], 3.2);
        assert_eq!(fields["total_ms"], 12.346);
        assert_eq!(
            (fields["bytes_in"].clone(), fields["bytes_out"].clone()),
            (40.into(), 12.into())
        );
        assert_eq!(parsed["target"], "inferd::access");
        assert_eq!(parsed["level"], "INFO");
        let stamp = parsed["timestamp"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{stamp}"
        );
    }

    #[test]
    fn absent_parts_are_left_out() {
        let bare = AccessLine {
            model: None,
            queue: None,
            score: None,
            ..facts(None, b"id-2")
        };
        let parsed: serde_json::Value =
            serde_json::from_str(&written(&bare, LogFormat::Json)).unwrap();
        for absent in ["model", "version", "queue_ms", "score_ms"] {
            assert!(parsed["fields"].get(absent).is_none(), "{absent}");
        }
        assert_eq!(parsed["fields"]["total_ms"], 12.346);
    }

    #[test]
    fn the_text_line_has_the_same_fields() {
        let text = written(&facts(Some(("m", 3)), b"id-3"), LogFormat::Text);
        let (_, fields) = text.split_once("  INFO inferd::access: access ").unwrap();
        assert_eq!(
            fields,
            "request_id=\"id-3\" method=\"POST\" path=\"/score\" status=200 model=\"m\" \
             version=3 queue_ms=0.013 score_ms=3.200 total_ms=12.346 bytes_in=40 bytes_out=12\n"
        );
    }

    #[test]
    fn client_text_is_escaped_in_both_formats() {
        let nasty = "a\"b\\c\nd\u{1}e\r\tf\u{e9}\u{1f600}";
        for format in [LogFormat::Json, LogFormat::Text] {
            let line = AccessLine {
                path: nasty,
                ..facts(None, nasty.as_bytes())
            };
            let text = written(&line, format);
            let (body, end) = text.split_at(text.len() - 1);
            assert_eq!(end, "\n");
            assert!(
                !body.bytes().any(|b| b < 0x20),
                "a control byte reached the line"
            );
            if format == LogFormat::Json {
                let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(parsed["fields"]["request_id"], nasty);
                assert_eq!(parsed["fields"]["path"], nasty);
            }
        }
        // obs-text in a client's id is written as the replacement character.
        let odd = written(&facts(None, b"id-\xe9"), LogFormat::Json);
        let parsed: serde_json::Value = serde_json::from_str(&odd).unwrap();
        assert_eq!(parsed["fields"]["request_id"], "id-\u{fffd}");
    }
}
