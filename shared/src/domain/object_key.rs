//! Where a delivery lands inside a destination: a per-destination template of the object key,
//! validated once, and rendered the same way for the same delivery every time (so asking again
//! for a delivery writes the same object, never a second one).

use std::fmt;

use thiserror::Error;
use time::OffsetDateTime;

use super::Folder;

/// S3's limit on an object key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Today's dated layout under the destination's folder.
pub const DEFAULT_KEY_TEMPLATE: &str = "{folder}{yyyy}/{mm}/{dd}/{deliveryId}-{name}";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyTemplateError {
    #[error("must start with {{folder}}, so that every object stays in the destination's folder")]
    OutsideFolder,
    #[error("must contain {{deliveryId}}, so that two deliveries never share a key")]
    NoDeliveryId,
    #[error(
        "unknown placeholder {{{0}}}; use {{folder}}, {{yyyy}}, {{mm}}, {{dd}}, {{hh}}, {{deliveryId}} or {{name}}"
    )]
    UnknownPlaceholder(String),
    #[error("has an unclosed or stray brace")]
    Unbalanced,
    #[error(
        "must not contain '..', '//' (the folder already ends in '/'), a backslash or control characters"
    )]
    UnsafeText,
    #[error("is longer than {MAX_KEY_BYTES} bytes")]
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    Folder,
    Year,
    Month,
    Day,
    Hour,
    DeliveryId,
    Name,
}

impl Placeholder {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "folder" => Self::Folder,
            "yyyy" => Self::Year,
            "mm" => Self::Month,
            "dd" => Self::Day,
            "hh" => Self::Hour,
            "deliveryId" => Self::DeliveryId,
            "name" => Self::Name,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(Placeholder),
}

/// A validated object key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    raw: String,
    pieces: Vec<Piece>,
}

fn unsafe_text(text: &str) -> bool {
    text.contains("..")
        || text.contains("//")
        || text.contains('\\')
        || text.chars().any(char::is_control)
}

impl KeyTemplate {
    pub fn new(raw: &str) -> Result<Self, KeyTemplateError> {
        if raw.len() > MAX_KEY_BYTES {
            return Err(KeyTemplateError::TooLong);
        }
        let mut pieces = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(at) if rest[at..].starts_with('}') => {
                    return Err(KeyTemplateError::Unbalanced);
                }
                Some(at) => {
                    if at > 0 {
                        pieces.push(Piece::Text(rest[..at].to_owned()));
                    }
                    let close = rest[at..].find('}').ok_or(KeyTemplateError::Unbalanced)? + at;
                    let name = &rest[at + 1..close];
                    if name.contains('{') {
                        return Err(KeyTemplateError::Unbalanced);
                    }
                    let placeholder = Placeholder::parse(name)
                        .ok_or_else(|| KeyTemplateError::UnknownPlaceholder(name.to_owned()))?;
                    pieces.push(Piece::Value(placeholder));
                    rest = &rest[close + 1..];
                }
                None => {
                    pieces.push(Piece::Text(rest.to_owned()));
                    rest = "";
                }
            }
        }
        if pieces.first() != Some(&Piece::Value(Placeholder::Folder))
            || pieces[1..].contains(&Piece::Value(Placeholder::Folder))
        {
            return Err(KeyTemplateError::OutsideFolder);
        }
        if !pieces.contains(&Piece::Value(Placeholder::DeliveryId)) {
            return Err(KeyTemplateError::NoDeliveryId);
        }
        let text: String = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Value(_) => "x",
            })
            .collect();
        if unsafe_text(&text) || text.starts_with("x/") {
            return Err(KeyTemplateError::UnsafeText);
        }
        Ok(Self {
            raw: raw.to_owned(),
            pieces,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The key of one delivery: `folder`, the UTC date parts of `requested_at`, its id and name.
    ///
    /// # Errors
    /// `TooLong` when the rendered key exceeds S3's 1,024 bytes.
    pub fn render(
        &self,
        folder: &Folder,
        requested_at: OffsetDateTime,
        delivery_id: &str,
        name: &str,
    ) -> Result<String, KeyTemplateError> {
        let at = requested_at.to_offset(time::UtcOffset::UTC);
        let mut key = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => key.push_str(text),
                Piece::Value(Placeholder::Folder) => key.push_str(folder.as_str()),
                Piece::Value(Placeholder::Year) => key.push_str(&format!("{:04}", at.year())),
                Piece::Value(Placeholder::Month) => {
                    key.push_str(&format!("{:02}", u8::from(at.month())));
                }
                Piece::Value(Placeholder::Day) => key.push_str(&format!("{:02}", at.day())),
                Piece::Value(Placeholder::Hour) => key.push_str(&format!("{:02}", at.hour())),
                Piece::Value(Placeholder::DeliveryId) => key.push_str(delivery_id),
                Piece::Value(Placeholder::Name) => key.push_str(name),
            }
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyTemplateError::TooLong);
        }
        Ok(key)
    }
}

impl Default for KeyTemplate {
    fn default() -> Self {
        Self::new(DEFAULT_KEY_TEMPLATE).expect("the default template is valid")
    }
}

impl fmt::Display for KeyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn render(template: &str, folder: &str) -> String {
        KeyTemplate::new(template)
            .unwrap()
            .render(
                &Folder::new(folder).unwrap(),
                datetime!(2026-12-05 23:30 -02:00),
                "d-42",
                "report.csv",
            )
            .unwrap()
    }

    #[test]
    fn the_default_layout_is_dated_under_the_folder() {
        // GIVEN a delivery requested at 23:30 on 5 December at UTC-2 (01:30 on 6 December UTC)
        // WHEN rendered with the default template THEN the date parts are UTC's
        assert_eq!(
            render(DEFAULT_KEY_TEMPLATE, "exports"),
            "exports/2026/12/06/d-42-report.csv"
        );
        assert_eq!(
            render(DEFAULT_KEY_TEMPLATE, ""),
            "2026/12/06/d-42-report.csv"
        );
    }

    #[test]
    fn the_same_delivery_always_gets_the_same_key() {
        let template =
            KeyTemplate::new("{folder}{yyyy}-{mm}-{dd}T{hh}/{name}.{deliveryId}").unwrap();
        let folder = Folder::new("a/b").unwrap();
        let at = datetime!(2026-01-02 03:04 UTC);
        let first = template.render(&folder, at, "id", "n").unwrap();
        assert_eq!(first, template.render(&folder, at, "id", "n").unwrap());
        assert_eq!(first, "a/b/2026-01-02T03/n.id");
    }

    #[test]
    fn templates_that_could_leave_the_folder_or_collide_are_refused() {
        use KeyTemplateError::*;
        for (template, error) in [
            ("{yyyy}/{deliveryId}", OutsideFolder),
            ("x/{folder}{deliveryId}", OutsideFolder),
            ("{folder}{folder}{deliveryId}", OutsideFolder),
            ("{folder}{name}", NoDeliveryId),
            ("{folder}../{deliveryId}", UnsafeText),
            ("{folder}/{deliveryId}", UnsafeText),
            ("{folder}a//{deliveryId}", UnsafeText),
            ("{folder}a\\{deliveryId}", UnsafeText),
            ("{folder}a\n{deliveryId}", UnsafeText),
            ("{folder}{deliveryId}{", Unbalanced),
            ("{folder}{deliveryId}}", Unbalanced),
            ("{folder}{de{x}}", Unbalanced),
            (
                "{folder}{tenant}{deliveryId}",
                UnknownPlaceholder("tenant".into()),
            ),
        ] {
            assert_eq!(KeyTemplate::new(template), Err(error), "{template}");
        }
        let long = format!("{{folder}}{{deliveryId}}{}", "a".repeat(MAX_KEY_BYTES));
        assert_eq!(KeyTemplate::new(&long), Err(TooLong));
    }

    #[test]
    fn a_rendered_key_over_s3s_limit_is_refused() {
        let template = KeyTemplate::default();
        let at = datetime!(2026-01-02 03:04 UTC);
        let render = |name: &str| template.render(&Folder::root(), at, "id", name);
        let name = "n".repeat(MAX_KEY_BYTES);
        assert_eq!(render(&name), Err(KeyTemplateError::TooLong));
        // (and a key of exactly the limit is S3's to take)
        let fixed = render("").unwrap().len();
        let longest = render(&name[..MAX_KEY_BYTES - fixed]).unwrap();
        assert_eq!(longest.len(), MAX_KEY_BYTES);
    }

    #[test]
    fn a_template_reads_back_as_written() {
        let raw = "{folder}{yyyy}/{name}.{deliveryId}";
        assert_eq!(KeyTemplate::new(raw).unwrap().to_string(), raw);
    }
}
