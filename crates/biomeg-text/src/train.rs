//! Vocabulary learning over a text corpus with the `tokenizers` trainers: WordPiece (written as a
//! BERT vocab.txt) or unigram (the SentencePiece algorithm; written as a tokenizer.json). Both
//! use the BERT basic tokenizer (cased or uncased) in front, so a learned vocabulary splits words
//! exactly as the shared BERT vocabularies do and the break-out analysis compares like with like.
//! The result is returned as file contents; the caller writes them (atomically).

use std::str::FromStr;

use serde::Serialize;
use tokenizers::models::unigram::{Unigram, UnigramTrainer};
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Model, Tokenizer};

use crate::error::TextError;

/// The special tokens every learned vocabulary starts with, in this order (ids 0..5).
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VocabModel {
    WordPiece,
    Unigram,
}

impl FromStr for VocabModel {
    type Err = TextError;
    fn from_str(s: &str) -> Result<Self, TextError> {
        match s {
            "wordpiece" => Ok(VocabModel::WordPiece),
            "unigram" => Ok(VocabModel::Unigram),
            _ => Err(TextError::BadArgument(format!("unknown vocabulary model {s:?} (expected wordpiece or unigram)"))),
        }
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrainOptions {
    /// target number of entries (special tokens included)
    pub size: usize,
    pub lowercase: bool,
    pub model: VocabModel,
    /// WordPiece: minimum pair frequency for a merge
    pub min_frequency: u64,
    /// WordPiece: at most this many distinct initial characters (rarest dropped)
    pub limit_alphabet: usize,
    /// name of the corpus, recorded in the meta data
    pub corpus_name: String,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            size: 30_000,
            lowercase: false,
            model: VocabModel::WordPiece,
            min_frequency: 2,
            limit_alphabet: 1000,
            corpus_name: String::new(),
        }
    }
}

/// Meta data written next to a learned vocabulary (meta.json).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VocabMeta {
    pub model: VocabModel,
    /// requested size
    pub size: usize,
    /// entries actually learned (smaller than `size` when the corpus runs out of merges)
    pub vocab_size: usize,
    pub lowercase: bool,
    pub corpus: String,
    pub corpus_lines: usize,
    /// the file holding the vocabulary, next to meta.json
    pub file: String,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct TrainedVocab {
    /// "vocab.txt" (WordPiece) or "tokenizer.json" (unigram)
    pub file_name: String,
    pub contents: String,
    pub meta: VocabMeta,
}

fn base_tokenizer(model: impl Into<tokenizers::models::ModelWrapper>, lowercase: bool) -> Tokenizer {
    let mut t = Tokenizer::new(model);
    t.with_normalizer(Some(BertNormalizer::new(true, true, Some(lowercase), lowercase)));
    t.with_pre_tokenizer(Some(BertPreTokenizer));
    t
}

fn train_err(e: impl std::fmt::Display) -> TextError {
    TextError::Train(e.to_string())
}

/// Learn a vocabulary from `lines` (one document or sentence per line; blank lines skipped).
pub fn train_vocab(corpus: &str, opts: &TrainOptions) -> Result<TrainedVocab, TextError> {
    if opts.size < SPECIAL_TOKENS.len() + 1 {
        return Err(TextError::BadArgument(format!("vocabulary size {} is too small", opts.size)));
    }
    #[cfg(target_arch = "wasm32")]
    tokenizers::utils::parallelism::set_parallelism(false);
    let lines: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return Err(TextError::BadArgument(format!("corpus {:?} has no text", opts.corpus_name)));
    }
    let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|s| AddedToken::from(*s, true)).collect();
    let (file_name, contents, vocab_size) = match opts.model {
        VocabModel::WordPiece => {
            let mut tok = base_tokenizer(WordPiece::default(), opts.lowercase);
            let mut trainer: TrainerWrapper = WordPieceTrainer::builder()
                .vocab_size(opts.size)
                .min_frequency(opts.min_frequency)
                .limit_alphabet(opts.limit_alphabet)
                .special_tokens(specials)
                .show_progress(false)
                .build()
                .into();
            tok.train(&mut trainer, lines.iter()).map_err(train_err)?;
            let vocab = tok.get_model().get_vocab();
            let mut entries: Vec<(u32, String)> = vocab.into_iter().map(|(t, i)| (i, t)).collect();
            entries.sort();
            for (k, (id, t)) in entries.iter().enumerate() {
                if *id as usize != k {
                    return Err(TextError::Train(format!("learned vocabulary has a gap at id {k} (next {t:?} has id {id})")));
                }
            }
            let n = entries.len();
            let mut text = String::with_capacity(n * 8);
            for (_, t) in entries {
                text.push_str(&t);
                text.push('\n');
            }
            ("vocab.txt".to_string(), text, n)
        }
        VocabModel::Unigram => {
            let mut tok = base_tokenizer(Unigram::default(), opts.lowercase);
            let mut trainer: TrainerWrapper = UnigramTrainer::builder()
                .vocab_size(opts.size as u32)
                .special_tokens(specials)
                .unk_token(Some("[UNK]".to_string()))
                .show_progress(false)
                .build()
                .map_err(train_err)?
                .into();
            tok.train(&mut trainer, lines.iter()).map_err(train_err)?;
            let n = tok.get_vocab_size(true);
            ("tokenizer.json".to_string(), tok.to_string(false).map_err(train_err)?, n)
        }
    };
    let meta = VocabMeta {
        model: opts.model,
        size: opts.size,
        vocab_size,
        lowercase: opts.lowercase,
        corpus: opts.corpus_name.clone(),
        corpus_lines: lines.len(),
        file: file_name.clone(),
        created_by: "biomeg vocab train".to_string(),
    };
    Ok(TrainedVocab { file_name, contents, meta })
}

/// The JSON face of [`train_vocab`] used by the bindings: options as camelCase JSON
/// (`{"size":30000,"lowercase":true,"model":"wordpiece","corpusName":"..."}`), result as
/// `{"fileName":..., "contents":..., "meta":{...}}`.
pub fn train_vocab_json(corpus: &str, options_json: &str) -> Result<String, TextError> {
    let opts: TrainOptions =
        serde_json::from_str(options_json).map_err(|e| TextError::BadArgument(format!("vocabulary training options: {e}")))?;
    let v = train_vocab(corpus, &opts)?;
    let out = serde_json::json!({ "fileName": v.file_name, "contents": v.contents, "meta": v.meta });
    Ok(out.to_string())
}
