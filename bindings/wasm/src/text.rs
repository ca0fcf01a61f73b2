//! Text bindings (wasm-bindgen): the same names and shapes as the Node binding
//! (bindings/node/src/text.rs). Conversion only; no logic here. Parameters are camelCase so the
//! generated .d.ts matches the Node one.
#![allow(non_snake_case)]

use biomeg_text as bt;
use js_sys::{Array, Object, Reflect, Uint32Array};
use wasm_bindgen::prelude::*;

use crate::coded;

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn opt_u32(v: Option<u32>) -> JsValue {
    v.map(JsValue::from).unwrap_or(JsValue::NULL)
}

fn strings(v: &[String]) -> Array {
    v.iter().map(|s| JsValue::from_str(s)).collect()
}

/// `{ ids, offsets, wordIds, tokens }` with flattened UTF-16 offsets, as on Node.
fn encoded(e: bt::TextEncoding) -> Object {
    let offsets: Vec<u32> = e.offsets_utf16.iter().flat_map(|&(s, t)| [s, t]).collect();
    let obj = Object::new();
    set(&obj, "ids", &Uint32Array::from(&e.ids[..]).into());
    set(&obj, "offsets", &Uint32Array::from(&offsets[..]).into());
    set(&obj, "wordIds", &Uint32Array::from(&e.word_ids[..]).into());
    set(&obj, "tokens", &strings(&e.tokens).into());
    obj
}

#[wasm_bindgen]
pub struct Tokenizer {
    inner: bt::TextTokenizer,
}

#[wasm_bindgen]
impl Tokenizer {
    #[wasm_bindgen(js_name = fromVocab)]
    pub fn from_vocab(vocabText: &str, lowercase: Option<bool>, source: &str) -> Result<Tokenizer, JsValue> {
        let t = bt::TextTokenizer::from_vocab_txt(vocabText, lowercase, source).map_err(coded)?;
        Ok(Tokenizer { inner: t })
    }

    #[wasm_bindgen(js_name = fromTokenizerJson)]
    pub fn from_tokenizer_json(json: &str, source: &str) -> Result<Tokenizer, JsValue> {
        let t = bt::TextTokenizer::from_tokenizer_json(json, source).map_err(coded)?;
        Ok(Tokenizer { inner: t })
    }

    #[wasm_bindgen(js_name = fromSpiece)]
    pub fn from_spiece(bytes: &[u8], source: &str, configJson: Option<String>, configSource: &str) -> Result<Tokenizer, JsValue> {
        let t = bt::TextTokenizer::from_spiece(bytes, source, configJson.as_deref(), configSource).map_err(coded)?;
        Ok(Tokenizer { inner: t })
    }

    #[wasm_bindgen(unchecked_return_type = "Encoded")]
    pub fn encode(&self, text: &str) -> Result<Object, JsValue> {
        self.inner.encode(text).map(encoded).map_err(coded)
    }

    #[wasm_bindgen(js_name = encodeWords, unchecked_return_type = "Encoded")]
    pub fn encode_words(&self, words: Vec<String>) -> Result<Object, JsValue> {
        self.inner.encode_words(&words).map(encoded).map_err(coded)
    }

    #[wasm_bindgen(js_name = tokenToId)]
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    #[wasm_bindgen(js_name = idToToken)]
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    #[wasm_bindgen(js_name = vocabSize)]
    pub fn vocab_size(&self) -> u32 {
        self.inner.vocab_size() as u32
    }

    pub fn lowercase(&self) -> bool {
        self.inner.lowercase()
    }

    #[wasm_bindgen(js_name = specialIds, unchecked_return_type = "SpecialIds")]
    pub fn special_ids(&self) -> Object {
        let s = self.inner.special_ids();
        let obj = Object::new();
        for (k, v) in [("cls", s.cls), ("sep", s.sep), ("pad", s.pad), ("unk", s.unk), ("mask", s.mask)] {
            set(&obj, k, &opt_u32(v));
        }
        obj
    }

    #[allow(clippy::too_many_arguments)]
    pub fn breakout(
        &self,
        text: &str,
        wordLengths: &[u32],
        sentenceLengths: &[u32],
        labelNames: Vec<String>,
        labelIds: &[u32],
        topK: u32,
        source: String,
    ) -> Result<String, JsValue> {
        let opts = bt::BreakoutOptions { top_k: topK as usize, source };
        bt::breakout_packed_json(&self.inner, text, wordLengths, sentenceLengths, &labelNames, labelIds, &opts).map_err(coded)
    }

    #[wasm_bindgen(js_name = labelExamples)]
    pub fn label_examples(&self, words: Vec<String>, labels: Vec<String>) -> Result<String, JsValue> {
        bt::label_examples_json(&self.inner, &words, &labels).map_err(coded)
    }
}

#[wasm_bindgen(js_name = alignLabels)]
pub fn align_labels(wordIds: &[u32], labels: &[i32], scheme: &str, ignoreIndex: i32) -> Result<Vec<i32>, JsValue> {
    let scheme: bt::LabelScheme = scheme.parse().map_err(coded)?;
    bt::align_labels(wordIds, labels, scheme, ignoreIndex).map_err(coded)
}

#[wasm_bindgen(js_name = trainVocab)]
pub fn train_vocab(corpus: &str, optionsJson: &str) -> Result<String, JsValue> {
    bt::train_vocab_json(corpus, optionsJson).map_err(coded)
}
