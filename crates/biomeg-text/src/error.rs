//! One error type for the text crate. Every variant carries enough context (file name, line,
//! word index) to point at the culprit, and maps to a stable code used by the JS bindings.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// vocab.txt problems: duplicate entries, no [UNK], empty file, empty lines.
    BadVocab { source: String, line: Option<usize>, msg: String },
    /// tokenizer.json that does not parse or lacks what we need.
    BadTokenizer { source: String, msg: String },
    /// NER data that is inconsistent (label syntax, lengths that do not add up).
    BadData { source: String, msg: String },
    /// A caller passed an argument out of range (unknown scheme, sizes, ...).
    BadArgument(String),
    /// The tokenizers crate failed while encoding.
    Tokenize(String),
    /// Vocabulary training failed.
    Train(String),
    /// The feature is not available in this build (e.g. on wasm).
    Unsupported(String),
}

impl TextError {
    /// Stable code, surfaced as `err.code` in JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            TextError::BadVocab { .. } => "BIOMEG_BAD_VOCAB",
            TextError::BadTokenizer { .. } => "BIOMEG_BAD_TOKENIZER",
            TextError::BadData { .. } => "BIOMEG_BAD_DATA",
            TextError::BadArgument(_) => "BIOMEG_BAD_ARGUMENT",
            TextError::Tokenize(_) => "BIOMEG_TOKENIZE",
            TextError::Train(_) => "BIOMEG_TRAIN",
            TextError::Unsupported(_) => "BIOMEG_UNSUPPORTED",
        }
    }

    pub(crate) fn vocab(source: &str, line: Option<usize>, msg: impl Into<String>) -> Self {
        TextError::BadVocab { source: source.to_string(), line, msg: msg.into() }
    }
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::BadVocab { source, line: Some(l), msg } => write!(f, "{source}:{l}: {msg}"),
            TextError::BadVocab { source, line: None, msg } => write!(f, "{source}: {msg}"),
            TextError::BadTokenizer { source, msg } => write!(f, "{source}: {msg}"),
            TextError::BadData { source, msg } => write!(f, "{source}: {msg}"),
            TextError::BadArgument(m) => write!(f, "bad argument: {m}"),
            TextError::Tokenize(m) => write!(f, "tokenization failed: {m}"),
            TextError::Train(m) => write!(f, "vocabulary training failed: {m}"),
            TextError::Unsupported(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for TextError {}
