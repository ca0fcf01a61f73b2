//! Text bindings (napi): the `Tokenizer` class over `biomeg_text::TextTokenizer`, plus the
//! break-out analysis, label alignment and vocabulary training. Conversion only; no logic here.
//! The wasm binding (bindings/wasm/src/text.rs) exports the same names and shapes.

use std::sync::Arc;

use biomeg_text as bt;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{guard, safe};

/// An encoding: flattened offsets `[start0, end0, start1, end1, ...]` in UTF-16 code units.
#[napi(object)]
pub struct Encoded {
    pub ids: Uint32Array,
    pub offsets: Uint32Array,
    pub word_ids: Uint32Array,
    pub tokens: Vec<String>,
}

#[napi(object, use_nullable = true)]
pub struct SpecialIds {
    pub cls: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub unk: Option<u32>,
    pub mask: Option<u32>,
}

fn encoded(e: bt::TextEncoding) -> Encoded {
    let offsets: Vec<u32> = e.offsets_utf16.iter().flat_map(|&(s, t)| [s, t]).collect();
    Encoded { ids: Uint32Array::new(e.ids), offsets: Uint32Array::new(offsets), word_ids: Uint32Array::new(e.word_ids), tokens: e.tokens }
}

#[napi]
pub struct Tokenizer {
    inner: Arc<bt::TextTokenizer>,
}

impl Tokenizer {
    fn new(t: bt::TextTokenizer) -> Self {
        Tokenizer { inner: Arc::new(t) }
    }
}

#[napi]
impl Tokenizer {
    /// BERT WordPiece from the text of a vocab.txt; `lowercase` null/undefined = detect.
    #[napi(factory)]
    pub fn from_vocab(vocab_text: String, lowercase: Option<bool>, source: String) -> Result<Tokenizer> {
        guard(|| bt::TextTokenizer::from_vocab_txt(&vocab_text, lowercase, &source)).map(Tokenizer::new)
    }

    /// Any tokenizer described by a Hugging Face tokenizer.json.
    #[napi(factory)]
    pub fn from_tokenizer_json(json: String, source: String) -> Result<Tokenizer> {
        guard(|| bt::TextTokenizer::from_tokenizer_json(&json, &source)).map(Tokenizer::new)
    }

    /// A unigram SentencePiece model from the bytes of a spiece.model, with the text of the
    /// directory's tokenizer_config.json (null: ALBERT's defaults).
    #[napi(factory)]
    pub fn from_spiece(bytes: Uint8Array, source: String, config_json: Option<String>, config_source: String) -> Result<Tokenizer> {
        guard(|| bt::TextTokenizer::from_spiece(&bytes, &source, config_json.as_deref(), &config_source)).map(Tokenizer::new)
    }

    #[napi]
    pub fn encode(&self, text: String) -> Result<Encoded> {
        guard(|| self.inner.encode(&text).map(encoded))
    }

    #[napi]
    pub fn encode_words(&self, words: Vec<String>) -> Result<Encoded> {
        guard(|| self.inner.encode_words(&words).map(encoded))
    }

    #[napi]
    pub fn token_to_id(&self, token: String) -> Result<Option<u32>> {
        safe(|| self.inner.token_to_id(&token))
    }

    #[napi]
    pub fn id_to_token(&self, id: u32) -> Result<Option<String>> {
        safe(|| self.inner.id_to_token(id))
    }

    #[napi]
    pub fn vocab_size(&self) -> Result<u32> {
        safe(|| self.inner.vocab_size() as u32)
    }

    #[napi]
    pub fn lowercase(&self) -> Result<bool> {
        safe(|| self.inner.lowercase())
    }

    #[napi]
    pub fn special_ids(&self) -> Result<SpecialIds> {
        safe(|| {
            let s = self.inner.special_ids();
            SpecialIds { cls: s.cls, sep: s.sep, pad: s.pad, unk: s.unk, mask: s.mask }
        })
    }

    /// Break-out analysis of NER data, packed: all words concatenated (`text`) with their UTF-16
    /// lengths, sentence lengths, label names and one label id per word. Returns JSON.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn breakout(
        &self,
        text: String,
        word_lengths: Uint32Array,
        sentence_lengths: Uint32Array,
        label_names: Vec<String>,
        label_ids: Uint32Array,
        top_k: u32,
        source: String,
    ) -> Result<String> {
        let opts = bt::BreakoutOptions { top_k: top_k as usize, source };
        guard(|| bt::breakout_packed_json(&self.inner, &text, &word_lengths, &sentence_lengths, &label_names, &label_ids, &opts))
    }

    /// Figure-1-style examples (JSON): each word's sub-tokens and its labels under both schemes.
    #[napi]
    pub fn label_examples(&self, words: Vec<String>, labels: Vec<String>) -> Result<String> {
        guard(|| bt::label_examples_json(&self.inner, &words, &labels))
    }
}

/// Sub-token labels from word labels; scheme "all" (every sub-token) or "first" (others masked).
#[napi]
pub fn align_labels(word_ids: Uint32Array, labels: Int32Array, scheme: String, ignore_index: i32) -> Result<Int32Array> {
    guard(|| {
        let scheme: bt::LabelScheme = scheme.parse()?;
        bt::align_labels(&word_ids, &labels, scheme, ignore_index)
    })
    .map(Int32Array::new)
}

/// Learn a vocabulary; options and result as JSON (see `biomeg_text::train_vocab_json`).
#[napi]
pub fn train_vocab(corpus: String, options_json: String) -> Result<String> {
    guard(|| bt::train_vocab_json(&corpus, &options_json))
}
