//! Word-label -> sub-token-label alignment for the two labelling schemes of BioMegatron's NER
//! study (docs/papers.md): (a) `All`: every sub-token carries its word's label (B B B B B);
//! (b) `First`: only the first sub-token does, the rest are masked out of loss and prediction
//! (B X X X X).

use std::str::FromStr;

use serde::Serialize;

use crate::error::TextError;
use crate::tokenizer::TextTokenizer;

/// Label value of a masked sub-token (PyTorch's cross-entropy `ignore_index`).
pub const IGNORE_INDEX: i32 = -100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelScheme {
    /// (a) every sub-token carries the word's label.
    All,
    /// (b) first sub-token only; the others are masked.
    First,
}

impl FromStr for LabelScheme {
    type Err = TextError;
    fn from_str(s: &str) -> Result<Self, TextError> {
        match s {
            "all" | "a" => Ok(LabelScheme::All),
            "first" | "b" => Ok(LabelScheme::First),
            _ => Err(TextError::BadArgument(format!("unknown labelling scheme {s:?} (expected \"all\" or \"first\")"))),
        }
    }
}

/// Sub-token labels from word labels. `word_ids[i]` is the word of sub-token `i` (as in
/// [`crate::TextEncoding::word_ids`]); `u32::MAX` (no word, e.g. a special token) gets `ignore`.
/// Under `First`, a sub-token whose word equals the previous sub-token's word gets `ignore`.
pub fn align_labels(word_ids: &[u32], word_labels: &[i32], scheme: LabelScheme, ignore: i32) -> Result<Vec<i32>, TextError> {
    let mut out = Vec::with_capacity(word_ids.len());
    let mut prev = u32::MAX;
    for (i, &w) in word_ids.iter().enumerate() {
        if w == u32::MAX {
            out.push(ignore);
            prev = w;
            continue;
        }
        let Some(&label) = word_labels.get(w as usize) else {
            return Err(TextError::BadArgument(format!(
                "sub-token {i} belongs to word {w} but only {} word labels were given",
                word_labels.len()
            )));
        };
        out.push(if scheme == LabelScheme::First && w == prev { ignore } else { label });
        prev = w;
    }
    Ok(out)
}

/// A Figure-1-style example: one word, its sub-tokens, and its label under both schemes
/// (`X` marks a masked sub-token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelExample {
    pub word: String,
    pub label: String,
    pub tokens: Vec<String>,
    pub all: Vec<String>,
    pub first: Vec<String>,
}

/// Examples for each word, the word labelled `labels[i]` (or `B` when no labels are given).
pub fn label_examples<S: AsRef<str>>(tok: &TextTokenizer, words: &[S], labels: &[S]) -> Result<Vec<LabelExample>, TextError> {
    if !labels.is_empty() && labels.len() != words.len() {
        return Err(TextError::BadArgument(format!("{} words but {} labels", words.len(), labels.len())));
    }
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let label = labels.get(i).map(|l| l.as_ref()).unwrap_or("B").to_string();
            let (_, tokens) = tok.word_pieces(w.as_ref())?;
            let all = vec![label.clone(); tokens.len()];
            let first = (0..tokens.len()).map(|k| if k == 0 { label.clone() } else { "X".to_string() }).collect();
            Ok(LabelExample { word: w.as_ref().to_string(), label, tokens, all, first })
        })
        .collect()
}

/// [`label_examples`] as a JSON array (the bindings' face).
pub fn label_examples_json<S: AsRef<str>>(tok: &TextTokenizer, words: &[S], labels: &[S]) -> Result<String, TextError> {
    let ex = label_examples(tok, words, labels)?;
    serde_json::to_string(&ex).map_err(|e| TextError::BadArgument(e.to_string()))
}
