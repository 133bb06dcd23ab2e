//! JSON values written as YAML, the way people read manifests: block
//! mappings and sequences, multi-line text as literal blocks, and any
//! string that YAML could read as something else (`"80"`, `"true"`,
//! `"0.5"`) quoted. Quoted strings are JSON strings, which YAML reads the
//! same, so the output means exactly the value given.
//!
//! Keys come in alphabetical order, as `kubectl get -o yaml` writes them,
//! except that `apiVersion`, `kind`, `metadata` and `name` come first: a
//! reader sees what an object or list item is before what it holds.

use serde_json::Value;

/// One YAML document for `value`, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0),
        scalar => {
            out.push_str(&scalar_text(scalar, 0));
            out.push('\n');
        }
    }
    out
}

/// Keys written before the others, in this order.
const FIRST_KEYS: [&str; 4] = ["apiVersion", "kind", "metadata", "name"];

fn ordered(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    let rank = |key: &str| {
        FIRST_KEYS
            .iter()
            .position(|k| *k == key)
            .unwrap_or(FIRST_KEYS.len())
    };
    entries.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then_with(|| a.0.cmp(b.0)));
    entries
}

fn write_mapping(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (index, (key, value)) in ordered(map).into_iter().enumerate() {
        // The first key of a mapping inside a sequence item follows its `- `.
        if index > 0 || !out.ends_with("- ") {
            push_indent(out, indent);
        }
        out.push_str(&key_text(key));
        out.push(':');
        write_value(out, value, indent);
    }
}

fn write_sequence(out: &mut String, items: &[Value], indent: usize) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 || !out.ends_with("- ") {
            push_indent(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_mapping(out, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => write_sequence(out, inner, indent + 2),
            scalar => {
                out.push_str(&scalar_text(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// What follows `key:`: a nested block on the next lines, or a scalar.
fn write_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_mapping(out, map, indent + 2);
        }
        // Sequences under a key sit at the key's indentation, as kubectl writes them.
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_sequence(out, items, indent);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, indent + 2));
            out.push('\n');
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar (or an empty collection) on one line, or a literal block
/// indented by `indent` for text of several lines.
fn scalar_text(value: &Value, indent: usize) -> String {
    match value {
        Value::String(text) => string_text(text, indent),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

fn key_text(key: &str) -> String {
    if is_plain(key) {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

fn string_text(text: &str, indent: usize) -> String {
    if is_plain(text) {
        return text.to_owned();
    }
    if let Some(block) = literal_block(text, indent) {
        return block;
    }
    Value::String(text.to_owned()).to_string()
}

/// `|` (or `|-` without a final newline) and the lines, when the text
/// can be kept exactly that way: no carriage return or tab, a first line
/// that does not start with a space (it sets the block's indentation), no
/// trailing spaces and at most one final newline.
fn literal_block(text: &str, indent: usize) -> Option<String> {
    let (lines, chomp) = match text.strip_suffix('\n') {
        Some(body) => (body, "|"),
        None => (text, "|-"),
    };
    let fits = lines.contains('\n')
        && !lines.ends_with('\n')
        && !lines.starts_with([' ', '\n'])
        && !lines.contains(['\r', '\t'])
        && lines.split('\n').all(|line| !line.ends_with(' '));
    if !fits {
        return None;
    }
    let mut block = chomp.to_owned();
    for line in lines.split('\n') {
        block.push('\n');
        if !line.is_empty() {
            block.extend(std::iter::repeat_n(' ', indent));
            block.push_str(line);
        }
    }
    Some(block)
}

/// Text YAML reads back as this same string without quotes: names, paths,
/// images and label values. Anything that could be a number, a boolean,
/// null, or YAML syntax is quoted instead.
fn is_plain(text: &str) -> bool {
    const RESERVED: [&str; 11] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", "",
    ];
    let first = text.chars().next();
    first.is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@'))
        // `:` ends a key only before a space or at the end.
        && !text.ends_with(':')
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str())
        // `1e5`-like text does not start with a letter; `e5`, `inf` and
        // `nan` do, and YAML 1.1 readers may take `.inf`-like words as numbers.
        && !matches!(text.to_ascii_lowercase().as_str(), "inf" | "nan")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifests_read_as_people_write_them() {
        let value = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "scorer", "labels": {"app.kubernetes.io/name": "inferd"}},
            "data": {"port": "5001", "on": "true", "text": "{\n  \"a\": 1\n\n}\n", "empty": {}},
            "list": [{"name": "a", "value": "0.5"}, "plain", ["x"], 3, true, null, "a: b", "inferd:0.2"],
        });
        let expected = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: scorer
  labels:
    app.kubernetes.io/name: inferd
data:
  empty: {}
  "on": "true"
  port: "5001"
  text: |
    {
      "a": 1

    }
list:
- name: a
  value: "0.5"
- plain
- - x
- 3
- true
- null
- "a: b"
- inferd:0.2
"#;
        assert_eq!(to_yaml(&value), expected);
    }

    #[test]
    fn text_of_several_lines_is_a_literal_block() {
        let text =
            to_yaml(&json!({"pem": "-----BEGIN X-----\nabc\n-----END X-----\n", "two": "a\nb"}));
        assert_eq!(
            text,
            "pem: |\n  -----BEGIN X-----\n  abc\n  -----END X-----\ntwo: |-\n  a\n  b\n"
        );
    }
}
