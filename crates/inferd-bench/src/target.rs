//! What to load: the URL (loopback only), the body, the request bytes,
//! and the JSON documents a body is made from (`/swagger.json`'s example).

use std::net::SocketAddr;

use bytes::Bytes;

use crate::BenchError;
use crate::conn::Conn;

/// A parsed `http://host:port/path` on loopback.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `host:port` as given, for the Host header.
    pub authority: String,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, BenchError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            BenchError::Usage(format!("'{url}': only http:// URLs are supported"))
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| BenchError::Usage(format!("'{url}': bad port '{p}'")))?,
            ),
            None => (authority, 80),
        };
        let ip = match host {
            "localhost" => "127.0.0.1",
            "[::1]" => "::1",
            other => other,
        };
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|_| BenchError::NotLoopback(host.to_owned()))?;
        if !ip.is_loopback() {
            return Err(BenchError::NotLoopback(host.to_owned()));
        }
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The same server at another path.
    pub fn at(&self, path: &str) -> Target {
        Target {
            path: path.to_owned(),
            ..self.clone()
        }
    }

    /// The bytes of one request: POST with a JSON body, or GET without one.
    pub fn request(&self, body: Option<&[u8]>, headers: &[(String, String)]) -> Bytes {
        let mut out = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
        let method = if body.is_some() { "POST" } else { "GET" };
        out.extend_from_slice(
            format!(
                "{method} {} HTTP/1.1\r\nHost: {}\r\n",
                self.path, self.authority
            )
            .as_bytes(),
        );
        let mut typed = false;
        for (name, value) in headers {
            typed |= name.eq_ignore_ascii_case("content-type");
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if let Some(body) = body {
            if !typed {
                out.extend_from_slice(b"Content-Type: application/json\r\n");
            }
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        } else {
            out.extend_from_slice(b"\r\n");
        }
        Bytes::from(out)
    }

    /// GETs `path` from the same server and reads the answer as JSON. The
    /// error says which step failed, for the caller's message.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, String> {
        let get = self.at(path);
        let response = Conn::new(get.addr)
            .send(&get.request(None, &[]), std::time::Duration::from_secs(10))
            .await
            .map_err(|e| format!("GET {path} failed: {e}"))?;
        if response.status != 200 {
            return Err(format!("GET {path} answered {}", response.status));
        }
        serde_json::from_slice(&response.body).map_err(|e| format!("{path} is not JSON: {e}"))
    }
}

/// The example request body in a Swagger 2.0 or OpenAPI 3 document: the
/// `example` of the `ServiceInput` definition (the scoring contract's name),
/// else the first `example` found under the scoring path's request.
pub fn example_from_swagger(doc: &serde_json::Value) -> Option<serde_json::Value> {
    let named = [
        doc.pointer("/definitions/ServiceInput/example"),
        doc.pointer("/components/schemas/ServiceInput/example"),
    ];
    if let Some(found) = named.into_iter().flatten().next() {
        return Some(found.clone());
    }
    let paths = doc.get("paths")?.as_object()?;
    paths
        .iter()
        .filter(|(path, _)| path.ends_with("score"))
        .find_map(|(_, item)| first_example(item.get("post")?))
}

fn first_example(value: &serde_json::Value) -> Option<serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map
            .get("example")
            .cloned()
            .or_else(|| map.values().find_map(first_example)),
        serde_json::Value::Array(items) => items.iter().find_map(first_example),
        _ => None,
    }
}

/// The example body of `model`'s scoring path: its own `ServiceInput_{model}`
/// (the name a server of several models gives each), else the document's
/// [`example_from_swagger`].
pub fn example_for_model(doc: &serde_json::Value, model: &str) -> Option<serde_json::Value> {
    let name = format!("ServiceInput_{model}");
    let own = [
        doc.get("definitions").and_then(|d| d.get(&name)),
        doc.pointer("/components/schemas")
            .and_then(|d| d.get(&name)),
    ];
    own.into_iter()
        .flatten()
        .find_map(|schema| schema.get("example").cloned())
        .or_else(|| example_from_swagger(doc))
}

/// Fetches `/swagger.json` from the target's server and takes its example.
pub async fn body_from_swagger(target: &Target) -> Result<Bytes, BenchError> {
    let doc = target
        .get_json("/swagger.json")
        .await
        .map_err(|e| BenchError::NoBody(format!("{e}; give --body FILE")))?;
    let example = example_from_swagger(&doc).ok_or_else(|| {
        BenchError::NoBody("/swagger.json has no ServiceInput example; give --body FILE".into())
    })?;
    Ok(Bytes::from(example.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_loopback_urls() {
        let t = Target::parse("http://127.0.0.1:5001/score").unwrap();
        assert_eq!(t.addr.port(), 5001);
        assert_eq!(t.path, "/score");
        assert!(Target::parse("http://localhost:8080").is_ok());
        assert!(matches!(
            Target::parse("http://10.0.0.1:80/score"),
            Err(BenchError::NotLoopback(_))
        ));
        assert!(matches!(
            Target::parse("http://example.com/score"),
            Err(BenchError::NotLoopback(_))
        ));
        assert!(matches!(
            Target::parse("https://127.0.0.1/"),
            Err(BenchError::Usage(_))
        ));
    }

    #[test]
    fn requests_carry_length_and_type() {
        let t = Target::parse("http://127.0.0.1:1/score").unwrap();
        let bytes = t.request(Some(b"{}"), &[("X-A".into(), "b".into())]);
        assert_eq!(
            &bytes[..],
            b"POST /score HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-A: b\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn the_example_is_found_in_swagger_or_openapi() {
        let swagger = json!({"definitions": {"ServiceInput": {"example": {"data": [[1]]}}}});
        assert_eq!(example_from_swagger(&swagger), Some(json!({"data": [[1]]})));
        let openapi = json!({"paths": {"/score": {"post": {"requestBody": {"content": {
            "application/json": {"schema": {"type": "object"}, "example": {"data": [2]}}}}}}}});
        assert_eq!(example_from_swagger(&openapi), Some(json!({"data": [2]})));
        assert_eq!(example_from_swagger(&json!({"paths": {}})), None);
    }

    #[test]
    fn a_model_of_several_has_its_own_example() {
        let swagger = json!({"definitions": {
            "ServiceInput": {"example": {"data": [[1]]}},
            "ServiceInput_b": {"example": {"data": [[2]]}}
        }});
        assert_eq!(
            example_for_model(&swagger, "b"),
            Some(json!({"data": [[2]]}))
        );
        // Another model's, or the only model's: the default example.
        assert_eq!(
            example_for_model(&swagger, "c"),
            Some(json!({"data": [[1]]}))
        );
        let openapi = json!({"components": {"schemas": {
            "ServiceInput_b": {"example": {"data": [3]}}
        }}});
        assert_eq!(example_for_model(&openapi, "b"), Some(json!({"data": [3]})));
    }
}
