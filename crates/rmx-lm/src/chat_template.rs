//! Chat templates rendered the way transformers renders them: Jinja with `trim_blocks` and
//! `lstrip_blocks`, loop controls, Python string/dict/list methods (minijinja-contrib's
//! pycompat), `raise_exception`, `strftime_now`, and a `tojson` that writes what Python's
//! `json.dumps` writes (`", "` and `": "` separators, no HTML escaping, optional indent).

use crate::error::{LmError, Result};
use minijinja::{Environment, Error as JinjaError, ErrorKind, Value};
use serde_json::Value as Json;

/// A chat message: a role and its text (more fields, such as tool calls, are passed through).
pub type Message = serde_json::Map<String, Json>;

/// Renders `template` for `messages`; `extra` adds variables (`bos_token`, `enable_thinking`...).
///
/// ```
/// let tpl = "{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
/// let msgs = vec![rmx_lm::chat_template::message("user", " hi ")];
/// let text = rmx_lm::chat_template::render(tpl, &msgs, true, &serde_json::Map::new())?;
/// assert_eq!(text, "<|user|>hi\n<|assistant|>");
/// # Ok::<(), rmx_lm::LmError>(())
/// ```
pub fn render(template: &str, messages: &[Message], add_generation_prompt: bool, extra: &serde_json::Map<String, Json>) -> Result<String> {
    let env = environment()?;
    let tpl = env.template_from_str(template).map_err(template_error)?;
    let mut ctx = extra.clone();
    ctx.insert("messages".into(), Json::Array(messages.iter().cloned().map(Json::Object).collect()));
    ctx.insert("add_generation_prompt".into(), Json::Bool(add_generation_prompt));
    tpl.render(minijinja::value::Serde(&ctx)).map_err(template_error)
}

/// `{"role": role, "content": content}`.
pub fn message(role: &str, content: &str) -> Message {
    let mut m = Message::new();
    m.insert("role".into(), Json::String(role.into()));
    m.insert("content".into(), Json::String(content.into()));
    m
}

fn template_error(e: JinjaError) -> LmError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    LmError::Template(text)
}

fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build().map_err(template_error)?;
    env.set_syntax(syntax);
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |message: String| -> std::result::Result<Value, JinjaError> {
        Err(JinjaError::new(ErrorKind::InvalidOperation, message))
    });
    env.add_function("strftime_now", |format: String| -> String { strftime_now(&format) });
    env.add_filter("tojson", tojson);
    Ok(env)
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent)`.
fn tojson(value: Value, kwargs: minijinja::value::Kwargs) -> std::result::Result<Value, JinjaError> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value).map_err(|e| JinjaError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = String::new();
    write_python_json(&json, indent, 0, &mut out);
    Ok(Value::from_safe_string(out))
}

fn write_python_json(v: &Json, indent: Option<usize>, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v {
        Json::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_python_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        Json::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                out.push_str(&Json::String(k.clone()).to_string());
                out.push_str(": ");
                write_python_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `time.strftime(format)` in UTC for the directives chat templates use
/// (`%d %m %Y %y %b %B %a %A %H %M %S %j %%`).
fn strftime_now(format: &str) -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format_utc(secs, format)
}

fn format_utc(secs: u64, format: &str) -> String {
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    let days = secs / 86400;
    let (y, m, d) = civil_from_days(days as i64);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = cumulative[m as usize - 1] + d + u32::from(leap && m > 2);
    let (h, min, s) = ((secs % 86400) / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y % 100)),
            Some('b') => out.push_str(&MONTHS[m as usize - 1][..3]),
            Some('B') => out.push_str(MONTHS[m as usize - 1]),
            Some('a') => out.push_str(&DAYS[(days % 7) as usize][..3]),
            Some('A') => out.push_str(DAYS[(days % 7) as usize]),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{min:02}")),
            Some('S') => out.push_str(&format!("{s:02}")),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_json_match_python() {
        // 2024-02-29 13:05:09 UTC (a Thursday).
        assert_eq!(format_utc(1_709_211_909, "%d %b %Y %H:%M:%S %A %j"), "29 Feb 2024 13:05:09 Thursday 060");
        let mut out = String::new();
        write_python_json(&serde_json::json!({"a": [1, "x<y>"], "b": {}}), None, 0, &mut out);
        assert_eq!(out, r#"{"a": [1, "x<y>"], "b": {}}"#);
        out.clear();
        write_python_json(&serde_json::json!({"a": [1]}), Some(2), 0, &mut out);
        assert_eq!(out, "{\n  \"a\": [\n    1\n  ]\n}");
    }
}
