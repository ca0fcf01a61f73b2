//! A `tokenizers` pipeline from a raw SentencePiece model, built as Hugging Face transformers
//! (5.x) builds `AlbertTokenizer` (or `T5Tokenizer`) from a directory holding only `spiece.model`
//! and `tokenizer_config.json`:
//!
//! - model: Unigram over the pieces and their scores, unk = `trainer_spec.unk_id`;
//! - normalizer (ALBERT): Replace "``" and "''" by `"`, then NFKD + StripAccents unless
//!   `keep_accents`, Lowercase if `do_lower_case`, then the model's precompiled charsmap;
//!   (T5): the precompiled charsmap only;
//! - pre-tokenizer: WhitespaceSplit, then Metaspace (`▁`, prepended to every word unless
//!   `add_prefix_space` is false; ALBERT's collapse of repeated spaces follows from the split);
//! - added tokens, matched in the raw text and never split: the named special tokens (`[CLS]`
//!   `[SEP]` `<pad>` `<unk>` `[MASK]` for ALBERT; `</s>` `<unk>` `<pad>` and the `<extra_id_N>`
//!   sentinels for T5) and the control and user-defined pieces (or `additional_special_tokens`).
//!
//! Hugging Face ignores the model's own `add_dummy_prefix` / `remove_extra_whitespaces` flags
//! here (ALBERT always prepends and splits on whitespace), and so does biomeg, to give the same ids.

use serde_json::Value;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Lowercase, Precompiled, Replace, Sequence, StripAccents, NFKD};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::{AddedToken, NormalizerWrapper, Tokenizer};

use crate::charsmap::check_charsmap;
use crate::error::TextError;
use crate::spiece::{PieceType, SpieceModel, SpieceModelType};

/// Which Hugging Face tokenizer class the pipeline follows (`tokenizer_class` of
/// tokenizer_config.json; ALBERT when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpieceFlavor {
    Albert,
    T5,
}

/// The settings of tokenizer_config.json that shape the pipeline (ALBERT's defaults when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpieceConfig {
    pub flavor: SpieceFlavor,
    pub do_lower_case: bool,
    pub keep_accents: bool,
    pub add_prefix_space: bool,
    /// T5's `<extra_id_N>` sentinels (default 100; 0 for ALBERT).
    pub extra_ids: u32,
    /// Named special tokens: `[cls, sep, pad, unk, mask, eos]`, `None` where the class has none
    /// (ALBERT has no eos of its own; T5 has no cls, sep or mask).
    pub special_tokens: [Option<String>; 6],
    /// `additional_special_tokens`, in the file's order (`None`: not given).
    pub additional_special_tokens: Option<Vec<String>>,
}

impl Default for SpieceConfig {
    fn default() -> Self {
        SpieceConfig::defaults(SpieceFlavor::Albert)
    }
}

impl SpieceConfig {
    fn defaults(flavor: SpieceFlavor) -> Self {
        let (lower, specials, extra): (bool, [Option<&str>; 6], u32) = match flavor {
            SpieceFlavor::Albert => (true, [Some("[CLS]"), Some("[SEP]"), Some("<pad>"), Some("<unk>"), Some("[MASK]"), None], 0),
            SpieceFlavor::T5 => (false, [None, None, Some("<pad>"), Some("<unk>"), None, Some("</s>")], 100),
        };
        SpieceConfig {
            flavor,
            do_lower_case: lower,
            keep_accents: flavor == SpieceFlavor::T5,
            add_prefix_space: true,
            extra_ids: extra,
            special_tokens: specials.map(|s| s.map(str::to_string)),
            additional_special_tokens: None,
        }
    }

    /// Settings from the text of a tokenizer_config.json (`None`: ALBERT's defaults). `source`
    /// names the file in errors.
    pub fn from_json(json: Option<&str>, source: &str) -> Result<Self, TextError> {
        let Some(json) = json else { return Ok(SpieceConfig::default()) };
        let bad = |msg: String| TextError::BadTokenizer { source: source.to_string(), msg };
        let v: Value = serde_json::from_str(json).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let Value::Object(m) = v else { return Err(bad("not a JSON object".into())) };
        let flavor = match m.get("tokenizer_class") {
            None | Some(Value::Null) => SpieceFlavor::Albert,
            Some(Value::String(c)) if c == "AlbertTokenizer" || c == "AlbertTokenizerFast" => SpieceFlavor::Albert,
            Some(Value::String(c)) if c == "T5Tokenizer" || c == "T5TokenizerFast" => SpieceFlavor::T5,
            Some(c) => {
                return Err(TextError::Unsupported(format!(
                    "{source}: tokenizer_class {c} is not supported with spiece.model (AlbertTokenizer or T5Tokenizer are); \
                     load the model's tokenizer.json instead"
                )))
            }
        };
        let mut cfg = SpieceConfig::defaults(flavor);
        let flag = |key: &str, default: bool| -> Result<bool, TextError> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => Err(bad(format!("{key} must be true or false, got {other}"))),
            }
        };
        cfg.do_lower_case = flag("do_lower_case", cfg.do_lower_case)?;
        cfg.keep_accents = flag("keep_accents", cfg.keep_accents)?;
        cfg.add_prefix_space = flag("add_prefix_space", cfg.add_prefix_space)?;
        // T5's own setting; ALBERT has no sentinels
        if let Some(n) = m.get("extra_ids").filter(|v| !v.is_null() && flavor == SpieceFlavor::T5) {
            cfg.extra_ids =
                n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| bad(format!("extra_ids must be a count, got {n}")))?;
        }
        const KEYS: [&str; 6] = ["cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "eos_token"];
        for (slot, key) in KEYS.iter().enumerate() {
            // only the tokens the class itself has (ALBERT's eos_token is its [SEP], not a new token)
            if cfg.special_tokens[slot].is_none() {
                continue;
            }
            if let Some(t) = m.get(*key).filter(|v| !v.is_null()) {
                let name = token_content(t).ok_or_else(|| bad(format!("{key} must be a string or {{\"content\": ...}}")))?;
                cfg.special_tokens[slot] = Some(name);
            }
        }
        if let Some(list) = m.get("additional_special_tokens").filter(|v| !v.is_null()) {
            let items = list.as_array().ok_or_else(|| bad("additional_special_tokens must be a list".into()))?;
            let list: Vec<String> = items
                .iter()
                .map(|t| token_content(t).ok_or_else(|| bad(format!("additional_special_tokens: {t} is not a token"))))
                .collect::<Result<_, _>>()?;
            if cfg.extra_ids > 0 && !list.is_empty() && list.iter().all(|t| sentinel_number(t).is_none()) {
                // Hugging Face then makes the sentinels vocabulary pieces rather than added tokens
                return Err(TextError::Unsupported(format!(
                    "{source}: extra_ids together with additional_special_tokens that include no <extra_id_N> \
                     is not supported; load the model's tokenizer.json instead"
                )));
            }
            cfg.additional_special_tokens = Some(list);
        }
        Ok(cfg)
    }
}

/// A token in tokenizer_config.json: a string or an AddedToken object `{"content": ...}`.
fn token_content(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(|c| c.as_str()).map(str::to_string),
        _ => None,
    }
}

/// The number N of a T5 sentinel `<extra_id_N>`.
fn sentinel_number(tok: &str) -> Option<u32> {
    tok.strip_prefix("<extra_id_")?.strip_suffix('>')?.parse().ok()
}

fn additional(cfg: &SpieceConfig) -> &[String] {
    cfg.additional_special_tokens.as_deref().unwrap_or(&[])
}

/// Tokens that get ids after the pieces, in id order, as Hugging Face assigns them: the
/// `<extra_id_N>` sentinels from the highest N down (so `<extra_id_0>` is the last id, as in T5's
/// vocabulary), then the other additional special tokens in the file's order.
fn new_tokens_in_id_order(model: &SpieceModel, cfg: &SpieceConfig) -> Vec<String> {
    let in_vocab = |t: &str| model.pieces.iter().any(|p| p.piece == t);
    let mut sentinels: Vec<(u32, String)> = additional(cfg).iter().filter_map(|t| sentinel_number(t).map(|n| (n, t.clone()))).collect();
    let others: Vec<String> = additional(cfg).iter().filter(|t| sentinel_number(t).is_none() && !in_vocab(t)).cloned().collect();
    if sentinels.is_empty() {
        sentinels = (0..cfg.extra_ids).map(|n| (n, format!("<extra_id_{n}>"))).collect();
    }
    sentinels.sort_by_key(|s| std::cmp::Reverse(s.0));
    let named = cfg.special_tokens.iter().flatten().filter(|t| !in_vocab(t)).cloned();
    named.chain(sentinels.into_iter().map(|(_, t)| t)).chain(others).collect()
}

fn normalizer(model: &SpieceModel, cfg: &SpieceConfig, source: &str) -> Result<Option<Sequence>, TextError> {
    let mut list: Vec<NormalizerWrapper> = Vec::new();
    if cfg.flavor == SpieceFlavor::Albert {
        for pat in ["``", "''"] {
            let r = Replace::new(pat, "\"").map_err(|e| TextError::Tokenize(e.to_string()))?;
            list.push(r.into());
        }
        if !cfg.keep_accents {
            list.push(NFKD.into());
            list.push(StripAccents.into());
        }
        if cfg.do_lower_case {
            list.push(Lowercase.into());
        }
    }
    let charsmap = &model.normalizer.precompiled_charsmap;
    if !charsmap.is_empty() {
        let bad = |why: String| TextError::BadTokenizer {
            source: source.to_string(),
            msg: format!("normalizer_spec.precompiled_charsmap: {why}"),
        };
        check_charsmap(charsmap).map_err(bad)?;
        list.push(Precompiled::from(charsmap).map_err(|e| bad(e.to_string()))?.into());
    }
    Ok((!list.is_empty()).then(|| Sequence::new(list)))
}

/// The added tokens, all matched in the raw text: the named special tokens, and either the
/// model's control pieces (special) and user-defined pieces (not special) or, when
/// tokenizer_config.json lists `additional_special_tokens`, those instead (Hugging Face lets the
/// list replace the model's own); then the tokens that are not pieces, which get the next ids.
fn added_tokens(model: &SpieceModel, cfg: &SpieceConfig) -> Vec<AddedToken> {
    let from_config = cfg.additional_special_tokens.is_some();
    let named = |p: &str| cfg.special_tokens.iter().flatten().chain(additional(cfg)).any(|s| s == p);
    let mut out: Vec<AddedToken> = Vec::new();
    for p in &model.pieces {
        let special = named(&p.piece) || (!from_config && p.kind == PieceType::Control);
        if special || (!from_config && p.kind == PieceType::UserDefined) {
            out.push(AddedToken::from(p.piece.clone(), special).normalized(false));
        }
    }
    for t in new_tokens_in_id_order(model, cfg) {
        if !out.iter().any(|a| a.content == t) {
            out.push(AddedToken::from(t, true).normalized(false));
        }
    }
    out
}

/// The Hugging Face-equivalent tokenizer for a unigram SentencePiece model.
pub fn spiece_tokenizer(model: &SpieceModel, cfg: &SpieceConfig, source: &str) -> Result<Tokenizer, TextError> {
    if model.trainer.model_type != SpieceModelType::Unigram {
        return Err(TextError::Unsupported(format!(
            "{source}: a {} SentencePiece model; only unigram models (ALBERT, T5) load from spiece.model \
             (load the model's tokenizer.json instead)",
            model.trainer.model_type.name()
        )));
    }
    let vocab: Vec<(String, f64)> = model.pieces.iter().map(|p| (p.piece.clone(), f64::from(p.score))).collect();
    // byte_fallback stays off, as in Hugging Face's ALBERT and T5 tokenizers
    let unigram = Unigram::from(vocab, Some(model.trainer.unk_id as usize), false)
        .map_err(|e| TextError::BadTokenizer { source: source.to_string(), msg: format!("cannot build the unigram model: {e}") })?;
    let mut tok = Tokenizer::new(unigram);
    if let Some(n) = normalizer(model, cfg, source)? {
        tok.with_normalizer(Some(n));
    }
    let scheme = if cfg.add_prefix_space { PrependScheme::Always } else { PrependScheme::Never };
    tok.with_pre_tokenizer(Some(PreSequence::new(vec![WhitespaceSplit.into(), Metaspace::new('▁', scheme, true).into()])));
    // One at a time: tokens that are not pieces get their ids in this order.
    for t in added_tokens(model, cfg) {
        if t.special {
            tok.add_special_tokens(&[t]);
        } else {
            tok.add_tokens(&[t]);
        }
    }
    Ok(tok)
}
