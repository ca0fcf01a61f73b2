//! Sub-token break-out analysis (BioMegatron, Shin et al. 2020): for NER data (words + IOB labels)
//! and a tokenizer, the number of sub-tokens per word over the words inside entity mentions,
//! using the tokenizer's own normalization (casing, accents), basic pre-tokenization and
//! WordPiece/unigram model. Also per entity type, over all words, per mention, a histogram of
//! sub-tokens per word, the most fragmented entity words and the [UNK] rate.
//!
//! Each distinct word is tokenized once (a cache keyed by the word), so a corpus costs one hash
//! lookup per word after its vocabulary has been seen.

use std::collections::BTreeMap;

use ahash::AHashMap;
use serde::Serialize;

use crate::error::TextError;
use crate::tokenizer::TextTokenizer;

/// Histogram buckets: 0, 1, ..., HIST_MAX - 1 sub-tokens, and a last bucket for HIST_MAX or more.
pub const HIST_MAX: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag<'a> {
    Outside,
    Begin(&'a str),
    Inside(&'a str),
}

/// Parse one IOB label: `O`, `B`, `I`, `B-<type>`, `I-<type>`. Untyped tags get type "".
fn parse_tag(label: &str) -> Option<Tag<'_>> {
    match label.as_bytes() {
        [b'O'] => Some(Tag::Outside),
        [b'B'] => Some(Tag::Begin("")),
        [b'I'] => Some(Tag::Inside("")),
        [b'B', b'-', _, ..] => Some(Tag::Begin(&label[2..])),
        [b'I', b'-', _, ..] => Some(Tag::Inside(&label[2..])),
        _ => None,
    }
}

/// Name used for the type of untyped (`B`/`I`) mentions.
pub const UNTYPED: &str = "entity";

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub words: u64,
    pub subtokens: u64,
    /// subtokens / words (0 when there are no words)
    pub rate: f64,
    /// sub-tokens that are the unknown token
    pub unk_subtokens: u64,
    /// unk_subtokens / subtokens
    pub unk_rate: f64,
    /// words that normalize to nothing (0 sub-tokens)
    pub empty_words: u64,
}

impl Counts {
    fn add(&mut self, info: WordInfo) {
        self.words += 1;
        self.subtokens += info.n as u64;
        self.unk_subtokens += info.unk as u64;
        self.empty_words += (info.n == 0) as u64;
    }
    fn finish(&mut self) {
        self.rate = ratio(self.subtokens, self.words);
        self.unk_rate = ratio(self.unk_subtokens, self.subtokens);
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeCounts {
    pub mentions: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MentionStats {
    pub mentions: u64,
    /// mean words per mention
    pub words_per_mention: f64,
    /// mean sub-tokens per mention
    pub subtokens_per_mention: f64,
    /// mean over mentions of (mention sub-tokens / mention words)
    pub mean_mention_rate: f64,
    /// mentions that break into more sub-tokens than words
    pub fragmented_mentions: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FragmentedWord {
    pub word: String,
    pub subtokens: u32,
    /// occurrences inside entity mentions
    pub count: u64,
    pub tokens: Vec<String>,
}

/// The full analysis of one dataset under one tokenizer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakoutReport {
    pub sentences: u64,
    /// words inside entity mentions (the paper's break-out rate is `entity.rate`)
    pub entity: Counts,
    /// every word of the data
    pub all: Counts,
    pub mentions: MentionStats,
    pub by_type: BTreeMap<String, TypeCounts>,
    /// entity words by sub-token count: index k = words with k sub-tokens, last = HIST_MAX or more
    pub histogram: Vec<u64>,
    /// the same over all words
    pub histogram_all: Vec<u64>,
    /// distinct entity words, most sub-tokens first (ties: most frequent, then alphabetical)
    pub most_fragmented: Vec<FragmentedWord>,
    pub distinct_words: u64,
    pub lowercase: bool,
    pub vocab_size: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct WordInfo {
    n: u32,
    unk: u32,
}

/// Options of [`breakout`].
#[derive(Debug, Clone)]
pub struct BreakoutOptions {
    /// how many of the most fragmented entity words to list
    pub top_k: usize,
    /// name of the data (file) for error messages
    pub source: String,
}

impl Default for BreakoutOptions {
    fn default() -> Self {
        BreakoutOptions { top_k: 20, source: "<data>".into() }
    }
}

struct MentionAcc<'a> {
    ty: &'a str,
    words: u64,
    subtokens: u64,
}

/// Analyse `words` (all sentences flattened; `sentence_lengths` gives the split) with their IOB
/// `labels`. Mentions never cross a sentence boundary; an `I` tag that does not continue a
/// mention of the same type starts one (as conlleval does).
pub fn breakout<S: AsRef<str>, L: AsRef<str>>(
    tok: &TextTokenizer,
    words: &[S],
    sentence_lengths: &[u32],
    labels: &[L],
    opts: &BreakoutOptions,
) -> Result<BreakoutReport, TextError> {
    let src = &opts.source;
    if words.len() != labels.len() {
        return Err(TextError::BadData { source: src.clone(), msg: format!("{} words but {} labels", words.len(), labels.len()) });
    }
    let total: u64 = sentence_lengths.iter().map(|&n| n as u64).sum();
    if total != words.len() as u64 {
        return Err(TextError::BadData {
            source: src.clone(),
            msg: format!("sentence lengths add up to {total} but {} words were given", words.len()),
        });
    }
    let unk_id = tok.special_ids().unk;
    let mut cache: AHashMap<&str, WordInfo> = AHashMap::new();
    let mut entity_words: AHashMap<&str, u64> = AHashMap::new();
    let mut rep = BreakoutReport {
        sentences: sentence_lengths.len() as u64,
        histogram: vec![0; HIST_MAX + 1],
        histogram_all: vec![0; HIST_MAX + 1],
        lowercase: tok.lowercase(),
        vocab_size: tok.vocab_size() as u64,
        ..Default::default()
    };
    let mut mention_rate_sum = 0.0f64;
    let mut close = |m: Option<MentionAcc>, rep: &mut BreakoutReport| {
        if let Some(m) = m {
            rep.mentions.mentions += 1;
            rep.mentions.words_per_mention += m.words as f64;
            rep.mentions.subtokens_per_mention += m.subtokens as f64;
            mention_rate_sum += ratio(m.subtokens, m.words);
            rep.mentions.fragmented_mentions += (m.subtokens > m.words) as u64;
            let ty = if m.ty.is_empty() { UNTYPED } else { m.ty };
            rep.by_type.entry(ty.to_string()).or_default().mentions += 1;
        }
    };

    let mut pos = 0usize;
    for (sent, &len) in sentence_lengths.iter().enumerate() {
        let mut cur: Option<MentionAcc> = None;
        for k in 0..len as usize {
            let word = words[pos + k].as_ref();
            let label = labels[pos + k].as_ref();
            let Some(tag) = parse_tag(label) else {
                return Err(TextError::BadData {
                    source: src.clone(),
                    msg: format!(
                        "sentence {}, word {} ({word:?}): label {label:?} is not an IOB tag (O, B, I, B-<type>, I-<type>)",
                        sent + 1,
                        k + 1
                    ),
                });
            };
            let info = match cache.get(word) {
                Some(&i) => i,
                None => {
                    let ids = tok.word_piece_ids(word)?;
                    let unk = ids.iter().filter(|&&id| Some(id) == unk_id).count() as u32;
                    let i = WordInfo { n: ids.len() as u32, unk };
                    cache.insert(word, i);
                    i
                }
            };
            rep.all.add(info);
            rep.histogram_all[(info.n as usize).min(HIST_MAX)] += 1;
            let ty = match tag {
                Tag::Outside => {
                    close(cur.take(), &mut rep);
                    continue;
                }
                Tag::Begin(t) => {
                    close(cur.take(), &mut rep);
                    t
                }
                Tag::Inside(t) => {
                    if cur.as_ref().map(|m| m.ty) != Some(t) {
                        close(cur.take(), &mut rep);
                    }
                    t
                }
            };
            let m = cur.get_or_insert(MentionAcc { ty, words: 0, subtokens: 0 });
            m.words += 1;
            m.subtokens += info.n as u64;
            rep.entity.add(info);
            rep.histogram[(info.n as usize).min(HIST_MAX)] += 1;
            let tname = if ty.is_empty() { UNTYPED } else { ty };
            match rep.by_type.get_mut(tname) {
                Some(tc) => tc.counts.add(info),
                None => rep.by_type.entry(tname.to_string()).or_default().counts.add(info),
            }
            *entity_words.entry(word).or_insert(0) += 1;
        }
        close(cur.take(), &mut rep);
        pos += len as usize;
    }

    rep.entity.finish();
    rep.all.finish();
    for tc in rep.by_type.values_mut() {
        tc.counts.finish();
    }
    let m = rep.mentions.mentions;
    if m > 0 {
        rep.mentions.words_per_mention /= m as f64;
        rep.mentions.subtokens_per_mention /= m as f64;
        rep.mentions.mean_mention_rate = mention_rate_sum / m as f64;
    }
    rep.distinct_words = cache.len() as u64;

    let mut frag: Vec<(&str, u32, u64)> = entity_words.iter().map(|(w, &c)| (*w, cache[w].n, c)).collect();
    frag.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    for (word, n, count) in frag.into_iter().take(opts.top_k) {
        let (_, tokens) = tok.word_pieces(word)?;
        rep.most_fragmented.push(FragmentedWord { word: word.to_string(), subtokens: n, count, tokens });
    }
    Ok(rep)
}

/// [`breakout`] with the report as JSON (camelCase keys; the bindings' face).
pub fn breakout_json<S: AsRef<str>, L: AsRef<str>>(
    tok: &TextTokenizer,
    words: &[S],
    sentence_lengths: &[u32],
    labels: &[L],
    opts: &BreakoutOptions,
) -> Result<String, TextError> {
    let rep = breakout(tok, words, sentence_lengths, labels, opts)?;
    serde_json::to_string(&rep).map_err(|e| TextError::BadArgument(e.to_string()))
}

/// Words packed for a binding call: all words concatenated, with each word's length in UTF-16
/// code units (JavaScript `length`). Returns the words as slices of `text`.
pub fn split_utf16_lengths<'a>(text: &'a str, lengths: &[u32]) -> Result<Vec<&'a str>, TextError> {
    let bad = |msg: String| TextError::BadArgument(format!("packed words: {msg}"));
    let mut out = Vec::with_capacity(lengths.len());
    if text.is_ascii() {
        let mut pos = 0usize;
        for &n in lengths {
            let end = pos + n as usize;
            if end > text.len() {
                return Err(bad(format!("word lengths add up past the text ({} code units)", text.len())));
            }
            out.push(&text[pos..end]);
            pos = end;
        }
        if pos != text.len() {
            return Err(bad(format!("word lengths add up to {pos} but the text has {} code units", text.len())));
        }
        return Ok(out);
    }
    let mut chars = text.char_indices();
    let mut byte = 0usize;
    for (k, &n) in lengths.iter().enumerate() {
        let start = byte;
        let mut units = 0u32;
        while units < n {
            let Some((b, c)) = chars.next() else {
                return Err(bad(format!("word {} runs past the end of the text", k + 1)));
            };
            units += c.len_utf16() as u32;
            byte = b + c.len_utf8();
        }
        if units != n {
            return Err(bad(format!("word {} ends inside a surrogate pair", k + 1)));
        }
        out.push(&text[start..byte]);
    }
    if byte != text.len() {
        return Err(bad("word lengths add up to less than the text".to_string()));
    }
    Ok(out)
}

/// [`breakout_json`] over packed input (the bindings' face): words as one string plus UTF-16
/// lengths, labels as ids into `label_names`. Two strings and three arrays cross the boundary
/// instead of two strings per word.
pub fn breakout_packed_json<L: AsRef<str>>(
    tok: &TextTokenizer,
    text: &str,
    word_lengths: &[u32],
    sentence_lengths: &[u32],
    label_names: &[L],
    label_ids: &[u32],
    opts: &BreakoutOptions,
) -> Result<String, TextError> {
    let words = split_utf16_lengths(text, word_lengths)?;
    let labels = label_ids
        .iter()
        .map(|&i| {
            label_names
                .get(i as usize)
                .map(|l| l.as_ref())
                .ok_or_else(|| TextError::BadArgument(format!("label id {i} but only {} label names", label_names.len())))
        })
        .collect::<Result<Vec<&str>, TextError>>()?;
    breakout_json(tok, &words, sentence_lengths, &labels, opts)
}
