//! The key prefix ("folder") inside the bucket that a destination writes under.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Leaves at least 512 bytes of S3's 1,024-byte key limit for the object names we write.
pub const MAX_FOLDER_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FolderError {
    #[error("must be at most {MAX_FOLDER_BYTES} bytes long")]
    TooLong,
    #[error("must not contain empty segments ('//')")]
    EmptySegment,
    #[error("must not contain '.' or '..' segments")]
    DotSegment,
    #[error("must not contain control characters")]
    ControlCharacter,
    /// IAM treats `*` and `?` as wildcards and `${…}` as policy variables in resource ARNs: letting
    /// them through would grant more than the folder.
    #[error("must not contain {0:?} (it has a special meaning in IAM policy resources)")]
    PolicyMetacharacter(char),
}

/// A normalised key prefix: no leading slash, exactly one trailing slash, or empty for the whole bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Folder(String);

impl Folder {
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Accepts `exports`, `/exports/daily/`, `exports/daily` alike; `""` and `"/"` mean the whole bucket.
    pub fn new(raw: &str) -> Result<Self, FolderError> {
        if raw.chars().any(char::is_control) {
            return Err(FolderError::ControlCharacter);
        }
        if let Some(c) = raw
            .chars()
            .find(|c| matches!(c, '*' | '?' | '$' | '{' | '}'))
        {
            return Err(FolderError::PolicyMetacharacter(c));
        }
        let trimmed = raw.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(Self::root());
        }
        for segment in trimmed.split('/') {
            match segment {
                "" => return Err(FolderError::EmptySegment),
                "." | ".." => return Err(FolderError::DotSegment),
                _ => {}
            }
        }
        let normalised = format!("{trimmed}/");
        if normalised.len() > MAX_FOLDER_BYTES {
            return Err(FolderError::TooLong);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The object key of `name` inside this folder.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }
}

impl fmt::Display for Folder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Folder {
    type Error = FolderError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Folder> for String {
    fn from(value: Folder) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_slashes() {
        for raw in [
            "exports/daily",
            "/exports/daily",
            "exports/daily/",
            "//exports/daily//",
        ] {
            assert_eq!(
                Folder::new(raw).unwrap().as_str(),
                "exports/daily/",
                "{raw}"
            );
        }
        assert_eq!(Folder::new("").unwrap(), Folder::root());
        assert_eq!(Folder::new("/").unwrap(), Folder::root());
        // (and it is stored as the normalised prefix)
        let stored = serde_json::to_value(Folder::new("/exports").unwrap()).unwrap();
        assert_eq!(stored, "exports/");
    }

    #[test]
    fn rejects_unsafe_prefixes() {
        assert_eq!(Folder::new("a//b"), Err(FolderError::EmptySegment));
        assert_eq!(Folder::new("a/../b"), Err(FolderError::DotSegment));
        assert_eq!(Folder::new("./a"), Err(FolderError::DotSegment));
        assert_eq!(Folder::new("a\nb"), Err(FolderError::ControlCharacter));
        assert_eq!(Folder::new("*"), Err(FolderError::PolicyMetacharacter('*')));
        assert_eq!(
            Folder::new("a?"),
            Err(FolderError::PolicyMetacharacter('?'))
        );
        assert_eq!(
            Folder::new("${aws:username}"),
            Err(FolderError::PolicyMetacharacter('$'))
        );
        assert_eq!(Folder::new(&"a".repeat(600)), Err(FolderError::TooLong));
    }

    #[test]
    fn keys_live_under_the_folder() {
        assert_eq!(Folder::new("x/y").unwrap().key("f"), "x/y/f");
        assert_eq!(Folder::root().key("f"), "f");
    }
}
