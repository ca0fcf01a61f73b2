//! Tokenizers over the `tokenizers` crate: BERT WordPiece from a vocab.txt (with a cased or
//! uncased basic tokenizer, as BERT / BioMegatron use) or anything a tokenizer.json describes.
//! Encodings never add special tokens; offsets are UTF-16 code units into the ORIGINAL string
//! (JavaScript string indices), so callers can slice the text they passed in.

use std::collections::HashMap;

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Encoding, Tokenizer};

use crate::error::TextError;
use crate::spiece::read_spiece;
use crate::spiece_tokenizer::{spiece_tokenizer, SpieceConfig, SpieceFlavor};

/// Longest word (in characters, after normalization) WordPiece splits; longer ones become [UNK].
pub const MAX_CHARS_PER_WORD: usize = 100;

/// Fraction of (non-special) vocabulary entries with an upper-case letter below which a
/// vocabulary is taken to be uncased. Shared vocabs: bert-base-uncased 0.007%, PubMedBERT 0.24%,
/// SciBERT 0.50%, bert-base-cased 28.9%.
pub const UNCASED_MAX_UPPER_FRACTION: f64 = 0.02;

/// BERT's special tokens, kept whole when they appear in a text.
pub const BERT_SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Ids of the special tokens a BERT-style model needs; `None` where the vocabulary lacks one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpecialIds {
    pub cls: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub unk: Option<u32>,
    pub mask: Option<u32>,
}

/// The result of encoding a text or a list of words (no special tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextEncoding {
    pub ids: Vec<u32>,
    pub tokens: Vec<String>,
    /// `[start, end)` in UTF-16 code units: into the text for `encode`, into the token's own
    /// word for `encode_words` (as Hugging Face does for pre-tokenized input).
    pub offsets_utf16: Vec<(u32, u32)>,
    /// For each sub-token, the index of the word it belongs to: the basic pre-tokenizer's words
    /// for `encode`, the caller's words for `encode_words`.
    pub word_ids: Vec<u32>,
}

impl TextEncoding {
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A tokenizer: `Send + Sync`, cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    lowercase: bool,
    special: SpecialIds,
    source: String,
}

/// Parse vocab.txt lines (one entry per line, `\n` or `\r\n`). Rejects empty files,
/// duplicate entries (naming both lines) and a missing `[UNK]`.
pub fn parse_vocab_txt(vocab: &str, source: &str) -> Result<Vec<String>, TextError> {
    let mut entries: Vec<String> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let body = vocab.strip_prefix('\u{feff}').unwrap_or(vocab);
    let mut lines: Vec<&str> = body.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i + 1;
        let tok = raw.strip_suffix('\r').unwrap_or(raw);
        // A blank line is an entry (SciBERT's vocab has one): dropping it would shift every id.
        if let Some(first) = seen.insert(tok, line_no) {
            return Err(TextError::vocab(
                source,
                Some(line_no),
                format!("duplicate vocabulary entry {tok:?} (first seen on line {first})"),
            ));
        }
        entries.push(tok.to_string());
    }
    if entries.is_empty() {
        return Err(TextError::vocab(source, None, "vocabulary is empty"));
    }
    if !seen.contains_key("[UNK]") {
        return Err(TextError::vocab(source, None, "vocabulary has no [UNK] entry"));
    }
    Ok(entries)
}

fn is_special_entry(tok: &str) -> bool {
    tok.len() > 2 && tok.starts_with('[') && tok.ends_with(']')
}

/// Casing detection: a vocabulary is uncased when almost none of its entries (special `[...]`
/// entries excluded) contain an upper-case letter.
pub fn detect_lowercase<S: AsRef<str>>(entries: &[S]) -> bool {
    let total = entries.len().max(1) as f64;
    let upper = entries.iter().map(|e| e.as_ref()).filter(|e| !is_special_entry(e) && e.chars().any(char::is_uppercase)).count() as f64;
    upper / total < UNCASED_MAX_UPPER_FRACTION
}

fn find_special(inner: &Tokenizer, candidates: &[&str]) -> Option<u32> {
    candidates.iter().find_map(|c| inner.token_to_id(c))
}

fn special_ids_of(inner: &Tokenizer) -> SpecialIds {
    SpecialIds {
        cls: find_special(inner, &["[CLS]", "<cls>", "<s>"]),
        sep: find_special(inner, &["[SEP]", "<sep>", "</s>"]),
        pad: find_special(inner, &["[PAD]", "<pad>"]),
        unk: find_special(inner, &["[UNK]", "<unk>"]),
        mask: find_special(inner, &["[MASK]", "<mask>"]),
    }
}

/// Does a tokenizer.json normalizer lowercase? (BertNormalizer{lowercase:true} or Lowercase,
/// possibly inside a Sequence.)
fn json_lowercases(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            let ty = m.get("type").and_then(|t| t.as_str()).unwrap_or("");
            if ty == "Lowercase" {
                return true;
            }
            if ty == "BertNormalizer" && m.get("lowercase").and_then(|b| b.as_bool()) == Some(true) {
                return true;
            }
            m.get("normalizers").map(json_lowercases).unwrap_or(false)
        }
        serde_json::Value::Array(a) => a.iter().any(json_lowercases),
        _ => false,
    }
}

/// Byte offset -> UTF-16 offset table for `s` (length `s.len() + 1`).
pub(crate) fn utf16_table(s: &str) -> Vec<u32> {
    let mut table = vec![0u32; s.len() + 1];
    let mut u = 0u32;
    for (b, c) in s.char_indices() {
        let w = c.len_utf8();
        for k in 0..w {
            table[b + k] = u;
        }
        u += c.len_utf16() as u32;
    }
    table[s.len()] = u;
    table
}

fn byte_to_utf16(s: &str, b: usize) -> u32 {
    let b = b.min(s.len());
    if s.is_ascii() {
        return b as u32;
    }
    // floor to a char boundary, then count
    let mut b = b;
    while !s.is_char_boundary(b) {
        b -= 1;
    }
    s[..b].encode_utf16().count() as u32
}

impl TextTokenizer {
    /// BERT WordPiece from the text of a vocab.txt. `lowercase: None` detects the casing from
    /// the vocabulary (see [`detect_lowercase`]). `source` names the file in error messages.
    pub fn from_vocab_txt(vocab: &str, lowercase: Option<bool>, source: &str) -> Result<Self, TextError> {
        let entries = parse_vocab_txt(vocab, source)?;
        let lowercase = lowercase.unwrap_or_else(|| detect_lowercase(&entries));
        let map: ahash::AHashMap<String, u32> = entries.into_iter().enumerate().map(|(i, t)| (t, i as u32)).collect();
        let model = WordPiece::builder()
            .vocab(map)
            .unk_token("[UNK]".to_string())
            .continuing_subword_prefix("##".to_string())
            .max_input_chars_per_word(MAX_CHARS_PER_WORD)
            .build()
            .map_err(|e| TextError::vocab(source, None, e.to_string()))?;
        let mut inner = Tokenizer::new(model);
        inner.with_normalizer(Some(BertNormalizer::new(true, true, Some(lowercase), lowercase)));
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        // As Hugging Face does: the special tokens in the vocabulary are matched in the raw text
        // ("[CLS]" stays one token) and never split or lowercased.
        let specials: Vec<AddedToken> =
            BERT_SPECIALS.iter().filter(|t| inner.token_to_id(t).is_some()).map(|t| AddedToken::from(*t, true)).collect();
        inner.add_special_tokens(&specials);
        let special = special_ids_of(&inner);
        Ok(TextTokenizer { inner, lowercase, special, source: source.to_string() })
    }

    /// Any tokenizer a Hugging Face tokenizer.json describes (e.g. a unigram vocabulary trained
    /// by `biomeg vocab train`). Post-processing (special tokens) is never applied.
    pub fn from_tokenizer_json(json: &str, source: &str) -> Result<Self, TextError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| TextError::BadTokenizer { source: source.to_string(), msg: format!("not valid JSON: {e}") })?;
        let mut inner: Tokenizer =
            json.parse().map_err(|e| TextError::BadTokenizer { source: source.to_string(), msg: format!("not a tokenizer.json: {e}") })?;
        // Windowing and padding are the pipelines' job: a tokenizer.json that pads or truncates
        // to a fixed length (all-MiniLM-L6-v2's pads to 128) must not do it here.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| TextError::BadTokenizer { source: source.to_string(), msg: format!("cannot disable truncation: {e}") })?;
        let lowercase = value.get("normalizer").map(json_lowercases).unwrap_or(false);
        let special = special_ids_of(&inner);
        Ok(TextTokenizer { inner, lowercase, special, source: source.to_string() })
    }

    /// A unigram SentencePiece model from the bytes of a `spiece.model` (`source` names it), built
    /// as Hugging Face builds ALBERT's (or T5's) tokenizer from it, with the settings of the model
    /// directory's tokenizer_config.json (`config_json`, named `config_source`; `None`: ALBERT's
    /// defaults). See [`crate::spiece_tokenizer`].
    pub fn from_spiece(bytes: &[u8], source: &str, config_json: Option<&str>, config_source: &str) -> Result<Self, TextError> {
        let cfg = SpieceConfig::from_json(config_json, config_source)?;
        let model = read_spiece(bytes, source)?;
        let inner = spiece_tokenizer(&model, &cfg, source)?;
        // the names tokenizer_config.json gives; the model's own unk id
        let id = |i: usize| cfg.special_tokens[i].as_deref().and_then(|t| inner.token_to_id(t));
        let special = SpecialIds { cls: id(0), sep: id(1), pad: id(2), unk: Some(model.trainer.unk_id as u32), mask: id(4) };
        let lowercase = cfg.flavor == SpieceFlavor::Albert && cfg.do_lower_case;
        Ok(TextTokenizer { inner, lowercase, special, source: source.to_string() })
    }

    /// The file name given at construction (for messages).
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    fn tok_err(&self, e: impl std::fmt::Display) -> TextError {
        TextError::Tokenize(format!("{}: {e}", self.source))
    }

    /// Encode a text (no special tokens). Offsets are UTF-16 code units into `text`.
    pub fn encode(&self, text: &str) -> Result<TextEncoding, TextError> {
        let enc = self.inner.encode(text, false).map_err(|e| self.tok_err(e))?;
        let ascii = text.is_ascii();
        let table = if ascii { Vec::new() } else { utf16_table(text) };
        let conv = |b: usize| -> u32 {
            if ascii {
                b as u32
            } else {
                table[b.min(text.len())]
            }
        };
        Ok(Self::convert(&enc, |_, (s, e)| (conv(s), conv(e))))
    }

    /// Encode pre-tokenized words (each normalized and split by the basic pre-tokenizer on its
    /// own, like Hugging Face's `is_split_into_words`). `word_ids` index into `words`; offsets are
    /// UTF-16 code units into each token's own word.
    pub fn encode_words<S: AsRef<str>>(&self, words: &[S]) -> Result<TextEncoding, TextError> {
        let refs: Vec<&str> = words.iter().map(|w| w.as_ref()).collect();
        if refs.is_empty() {
            return Ok(TextEncoding::default());
        }
        let enc = self.inner.encode(&refs[..], false).map_err(|e| self.tok_err(e))?;
        Ok(Self::convert(&enc, |w, (s, e)| {
            let word = refs.get(w as usize).copied().unwrap_or("");
            (byte_to_utf16(word, s), byte_to_utf16(word, e))
        }))
    }

    fn convert(enc: &Encoding, mut off: impl FnMut(u32, (usize, usize)) -> (u32, u32)) -> TextEncoding {
        let word_ids: Vec<u32> = enc.get_word_ids().iter().map(|w| w.unwrap_or(u32::MAX)).collect();
        let offsets_utf16 = enc.get_offsets().iter().zip(&word_ids).map(|(&o, &w)| off(w, o)).collect();
        TextEncoding { ids: enc.get_ids().to_vec(), tokens: enc.get_tokens().to_vec(), offsets_utf16, word_ids }
    }

    /// Sub-tokens of one word (as `encode_words(&[word])` would give), without offsets.
    pub fn word_pieces(&self, word: &str) -> Result<(Vec<u32>, Vec<String>), TextError> {
        let enc = self.inner.encode(&[word][..], false).map_err(|e| self.tok_err(e))?;
        Ok((enc.get_ids().to_vec(), enc.get_tokens().to_vec()))
    }

    /// Sub-token ids of one word (no token strings or offsets: the fast path of the analysis).
    pub fn word_piece_ids(&self, word: &str) -> Result<Vec<u32>, TextError> {
        let enc = self.inner.encode_fast(&[word][..], false).map_err(|e| self.tok_err(e))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn token_to_id(&self, tok: &str) -> Option<u32> {
        self.inner.token_to_id(tok)
    }
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
    /// Number of entries, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
    /// Whether the basic tokenizer lowercases (and strips accents) before WordPiece.
    pub fn lowercase(&self) -> bool {
        self.lowercase
    }
    pub fn special_ids(&self) -> SpecialIds {
        self.special
    }
}
