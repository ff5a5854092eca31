//! Each service's payload, as its published format has it.

use serde_json::{json, Value};

use super::message::{Message, RECOVERED};
use crate::config::NotifyKind;

/// Slack allows 50 blocks per message; Teams cards grow long: the rest is counted.
const MAX_ITEMS_SHOWN: usize = 40;

/// The body and headers of `message` for its notifier's service.
pub(super) fn render(message: &Message) -> (Vec<u8>, Vec<(&'static str, String)>) {
    let n = &message.notifier;
    let json_type = ("content-type", "application/json".to_owned());
    match n.kind {
        NotifyKind::Teams => (to_bytes(&teams(message)), vec![json_type]),
        NotifyKind::Slack => (to_bytes(&slack(message)), vec![json_type]),
        NotifyKind::Ntfy => {
            let mut headers = vec![
                ("content-type", "text/plain; charset=utf-8".to_owned()),
                ("title", header_text(&message.title)),
                ("priority", priority(message).to_owned()),
                ("tags", tags(message).to_owned()),
            ];
            if let Some(token) = &n.token {
                headers.push(("authorization", format!("Bearer {token}")));
            }
            (text(message).into_bytes(), headers)
        }
        NotifyKind::Webhook => {
            let body = message.report_json.clone();
            let mut headers = vec![json_type];
            if let Some(secret) = &n.secret {
                headers.push(("x-rounds-signature", format!("sha256={}", signature(secret, &body))));
            }
            (body, headers)
        }
        // Never sent over HTTP: email goes through `super::email`.
        NotifyKind::Email => (text(message).into_bytes(), Vec::new()),
    }
}

/// Hex HMAC-SHA256 of `body` with `secret`.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn to_bytes(value: &Value) -> Vec<u8> {
    // Serialising a Value built here cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The lines of the message, at most [`MAX_ITEMS_SHOWN`], then how many more.
pub(super) fn lines(message: &Message) -> Vec<String> {
    let mut lines: Vec<String> = message.items.iter().take(MAX_ITEMS_SHOWN).map(|i| i.line()).collect();
    let more = message.items.len().saturating_sub(MAX_ITEMS_SHOWN);
    if more > 0 {
        lines.push(format!("and {more} more: see the report"));
    }
    lines
}

/// Plain text: the title, then one line per check.
pub(super) fn text(message: &Message) -> String {
    let mut text = message.title.clone();
    for line in lines(message) {
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// An Adaptive Card in the message envelope a Teams Workflows ("When a Teams webhook request
/// is received") webhook takes.
fn teams(message: &Message) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium", "wrap": true
    })];
    body.extend(lines(message).into_iter().map(|line| json!({ "type": "TextBlock", "text": line, "wrap": true })));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            }
        }]
    })
}

/// Slack blocks (plain_text: nothing in a check's words is read as markup), with `text` as
/// the fallback notifications and old clients show.
fn slack(message: &Message) -> Value {
    let header: String = message.title.chars().take(150).collect();
    let mut blocks = vec![json!({ "type": "header", "text": { "type": "plain_text", "text": header } })];
    blocks.extend(lines(message).into_iter().map(|line| {
        let line: String = line.chars().take(3000).collect();
        json!({ "type": "section", "text": { "type": "plain_text", "text": line } })
    }));
    json!({ "text": text(message), "blocks": blocks })
}

/// ntfy's 1-5: urgent for a critical failure, high for other problems, default for recoveries.
fn priority(message: &Message) -> &'static str {
    if message.items.iter().any(|i| i.urgent) {
        "urgent"
    } else if message.items.iter().any(|i| i.change != RECOVERED) {
        "high"
    } else {
        "default"
    }
}

/// ntfy tags (emoji short codes first).
fn tags(message: &Message) -> &'static str {
    if message.items.iter().any(|i| i.change != RECOVERED) {
        "rotating_light,rounds"
    } else if message.items.is_empty() {
        "test_tube,rounds"
    } else {
        "white_check_mark,rounds"
    }
}

/// An HTTP header holds visible ASCII only: other text travels as RFC 2047 encoded words
/// (`=?UTF-8?B?...?=`), which ntfy decodes ("Röntgen" arrives as "Röntgen"); a control
/// character becomes `?` either way.
fn header_text(text: &str) -> String {
    let text: String = text.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    if text.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return text;
    }
    encoded_words(&text)
}

/// Whole characters per word, at most 45 bytes each: 60 base64 characters and the 12 of
/// `=?UTF-8?B??=`, within RFC 2047's 75. Decoders join adjacent words without the space.
fn encoded_words(text: &str) -> String {
    const MAX_BYTES: usize = 45;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > MAX_BYTES {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words.iter().map(|w| format!("=?UTF-8?B?{}?=", crate::secrets::base64(w.as_bytes()))).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_titles_stay_and_others_become_encoded_words() {
        assert_eq!(header_text("1 new problem on rounds-01"), "1 new problem on rounds-01");
        assert_eq!(header_text("Küche"), "=?UTF-8?B?S8O8Y2hl?=");
        assert_eq!(header_text("a\u{1b}b"), "a?b");
        let long = "Röntgen ".repeat(20);
        let encoded = header_text(&long);
        assert!(encoded.split(' ').all(|w| w.len() <= 75 && w.starts_with("=?UTF-8?B?")), "{encoded}");
        assert!(encoded.is_ascii());
    }
}
