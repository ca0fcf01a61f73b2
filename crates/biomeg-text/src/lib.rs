//! biomeg-text: tokenizers (BERT WordPiece from vocab.txt, a unigram SentencePiece spiece.model,
//! or tokenizer.json), the sub-token break-out analysis of BioMegatron (Shin et al., 2020),
//! word-label -> sub-token-label alignment for both labelling schemes, and vocabulary training.
//! Pure Rust over the `tokenizers` crate (the same build for native and wasm, so both tokenize
//! identically); no FFI here.

pub mod align;
pub mod breakout;
mod charsmap;
pub mod error;
pub mod spiece;
pub mod spiece_tokenizer;
pub mod tokenizer;
pub mod train;

pub use align::{align_labels, label_examples, label_examples_json, LabelExample, LabelScheme, IGNORE_INDEX};
pub use breakout::{breakout, breakout_json, breakout_packed_json, split_utf16_lengths, BreakoutOptions, BreakoutReport};
pub use error::TextError;
pub use spiece::{read_spiece, PieceType, SpieceModel, SpieceModelType, SpiecePiece};
pub use spiece_tokenizer::{spiece_tokenizer, SpieceConfig, SpieceFlavor};
pub use tokenizer::{detect_lowercase, parse_vocab_txt, SpecialIds, TextEncoding, TextTokenizer};
pub use train::{train_vocab, train_vocab_json, TrainOptions, TrainedVocab, VocabMeta, VocabModel};
