//! Hand-computed break-out, alignment and training cases over a tiny vocabulary.

use biomeg_text::*;

mod common;

fn tiny(lowercase: bool) -> TextTokenizer {
    TextTokenizer::from_vocab_txt(&common::tiny_vocab(), Some(lowercase), "tiny.txt").unwrap()
}

const WORDS: [&str; 7] = ["Unaffable", "hello", "world", "!", "undifferentiated", "zzz", "Café"];
const LABELS: [&str; 7] = ["B-Chem", "I-Chem", "O", "O", "B-Dis", "B-Dis", "I-Dis"];
const LENS: [u32; 2] = [4, 3];

fn run(t: &TextTokenizer, words: &[&str], lens: &[u32], labels: &[&str]) -> Result<BreakoutReport, TextError> {
    breakout(t, words, lens, labels, &BreakoutOptions { top_k: 10, source: "toy.tsv".into() })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn uncased_counts() {
    let r = run(&tiny(true), &WORDS, &LENS, &LABELS).unwrap();
    // entity words: Unaffable(3) hello(1) | undifferentiated(5) | zzz([UNK]) Café(cafe)
    assert_eq!((r.entity.words, r.entity.subtokens, r.entity.unk_subtokens), (5, 11, 1));
    assert!(close(r.entity.rate, 2.2));
    assert!(close(r.entity.unk_rate, 1.0 / 11.0));
    assert_eq!((r.all.words, r.all.subtokens), (7, 13));
    assert_eq!(r.sentences, 2);
    assert_eq!(r.mentions.mentions, 3);
    assert!(close(r.mentions.words_per_mention, 5.0 / 3.0));
    assert!(close(r.mentions.subtokens_per_mention, 11.0 / 3.0));
    assert!(close(r.mentions.mean_mention_rate, (2.0 + 5.0 + 1.0) / 3.0));
    assert_eq!(r.mentions.fragmented_mentions, 2);
    let chem = &r.by_type["Chem"];
    assert_eq!((chem.mentions, chem.counts.words, chem.counts.subtokens), (1, 2, 4));
    let dis = &r.by_type["Dis"];
    assert_eq!((dis.mentions, dis.counts.words, dis.counts.subtokens), (2, 3, 7));
    assert_eq!(r.histogram[1], 3);
    assert_eq!(r.histogram[3], 1);
    assert_eq!(r.histogram[5], 1);
    assert_eq!(r.histogram.iter().sum::<u64>(), 5);
    let top: Vec<(&str, u32)> = r.most_fragmented.iter().map(|f| (f.word.as_str(), f.subtokens)).collect();
    assert_eq!(top, [("undifferentiated", 5), ("Unaffable", 3), ("Café", 1), ("hello", 1), ("zzz", 1)]);
    assert_eq!(r.most_fragmented[0].tokens, ["und", "##iff", "##ere", "##nti", "##ated"]);
}

#[test]
fn cased_counts() {
    // cased: "Unaffable" and "Café" are not in the vocabulary -> one [UNK] each
    let r = run(&tiny(false), &WORDS, &LENS, &LABELS).unwrap();
    assert_eq!((r.entity.words, r.entity.subtokens, r.entity.unk_subtokens), (5, 9, 3));
    assert!(!r.lowercase);
}

#[test]
fn iob_edge_cases() {
    let t = tiny(true);
    // I after O starts a mention; I of another type starts another; a sentence end closes one
    let r = run(&t, &["hello", "hello", "hello", "hello"], &[3, 1], &["O", "I-A", "I-B", "I-B"]).unwrap();
    assert_eq!(r.mentions.mentions, 3);
    assert_eq!((r.by_type["A"].mentions, r.by_type["B"].mentions), (1, 2));
    // untyped tags
    let r = run(&t, &["hello", "world"], &[2], &["B", "I"]).unwrap();
    assert_eq!(r.by_type["entity"].mentions, 1);
    assert_eq!(r.mentions.words_per_mention, 2.0);
}

#[test]
fn empty_entities_and_long_words() {
    let t = tiny(true);
    // U+200B is a format character BERT's cleaning removes: the word has no sub-token at all
    let long = "a".repeat(101);
    let r = run(&t, &["\u{200b}", "hello", &long], &[3], &["B-X", "O", "B-X"]).unwrap();
    assert_eq!((r.entity.words, r.entity.subtokens, r.entity.empty_words), (2, 1, 1));
    assert_eq!(r.entity.unk_subtokens, 1);
    assert_eq!(r.histogram[0], 1);
    // no entity at all: rates are 0, not NaN
    let r = run(&t, &["hello"], &[1], &["O"]).unwrap();
    assert_eq!((r.entity.words, r.entity.rate, r.mentions.mentions), (0, 0.0, 0));
    let r = run(&t, &[], &[], &[]).unwrap();
    assert_eq!(r.all.words, 0);
}

#[test]
fn bad_data() {
    let t = tiny(true);
    let e = run(&t, &["hello", "world"], &[2], &["O", "X-Foo"]).err().unwrap();
    assert_eq!(e.code(), "BIOMEG_BAD_DATA");
    assert_eq!(e.to_string(), "toy.tsv: sentence 1, word 2 (\"world\"): label \"X-Foo\" is not an IOB tag (O, B, I, B-<type>, I-<type>)");
    let e = run(&t, &["hello", "world"], &[3], &["O", "O"]).err().unwrap();
    assert_eq!(e.to_string(), "toy.tsv: sentence lengths add up to 3 but 2 words were given");
    let e = run(&t, &["hello", "world"], &[2], &["O"]).err().unwrap();
    assert_eq!(e.to_string(), "toy.tsv: 2 words but 1 labels");
    assert!(run(&t, &["hello"], &[1], &["B-"]).is_err());
}

#[test]
fn alignment_schemes() {
    let ids = [0, 0, 0, 1, 2, 2, u32::MAX];
    let labels = [1, 2, 0];
    assert_eq!(align_labels(&ids, &labels, LabelScheme::All, -100).unwrap(), [1, 1, 1, 2, 0, 0, -100]);
    assert_eq!(align_labels(&ids, &labels, LabelScheme::First, -100).unwrap(), [1, -100, -100, 2, 0, -100, -100]);
    assert!(align_labels(&[3], &labels, LabelScheme::All, -100).is_err());
    assert_eq!("first".parse::<LabelScheme>().unwrap(), LabelScheme::First);
    assert!("x".parse::<LabelScheme>().is_err());
    // through a real encoding
    let t = tiny(true);
    let e = t.encode_words(&["Unaffable", "hello"]).unwrap();
    assert_eq!(align_labels(&e.word_ids, &[7, 8], LabelScheme::First, -1).unwrap(), [7, -1, -1, 8]);
}

#[test]
fn figure1_examples() {
    let ex = label_examples(&tiny(true), &["undifferentiated"], &["B-Disease"]).unwrap();
    assert_eq!(ex[0].tokens, ["und", "##iff", "##ere", "##nti", "##ated"]);
    assert_eq!(ex[0].all, ["B-Disease"; 5]);
    assert_eq!(ex[0].first, ["B-Disease", "X", "X", "X", "X"]);
    let ex = label_examples::<&str>(&tiny(true), &["hello"], &[]).unwrap();
    assert_eq!(ex[0].first, ["B"]);
}

const CORPUS: &str = "the patient had atrial fibrillation and the fibrillation was treated\n\
the patients had atrial flutter\n\nFibrillation of the atria is common in elderly patients\n";

#[test]
fn train_wordpiece_and_reload() {
    let opts = TrainOptions { size: 80, lowercase: true, min_frequency: 1, corpus_name: "toy".into(), ..Default::default() };
    let v = train_vocab(CORPUS, &opts).unwrap();
    assert_eq!(v.file_name, "vocab.txt");
    let lines: Vec<&str> = v.contents.lines().collect();
    assert_eq!(&lines[..5], ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
    assert_eq!(v.meta.vocab_size, lines.len());
    assert!(lines.len() <= 80);
    assert_eq!(v.meta.corpus_lines, 3);
    let t = TextTokenizer::from_vocab_txt(&v.contents, None, "learned/vocab.txt").unwrap();
    assert!(t.lowercase(), "no upper-case pieces in an uncased vocabulary");
    let e = t.encode("Fibrillation").unwrap();
    assert!(!e.is_empty() && e.tokens.iter().all(|s| s != "[UNK]"));
}

#[test]
fn train_unigram_and_reload() {
    let opts = TrainOptions { size: 60, lowercase: false, model: VocabModel::Unigram, ..Default::default() };
    let v = train_vocab(CORPUS, &opts).unwrap();
    assert_eq!(v.file_name, "tokenizer.json");
    let t = TextTokenizer::from_tokenizer_json(&v.contents, "learned/tokenizer.json").unwrap();
    assert!(!t.lowercase());
    assert_eq!(t.special_ids().unk, t.token_to_id("[UNK]"));
    assert!(t.special_ids().unk.is_some());
    let e = t.encode("atrial fibrillation").unwrap();
    assert!(!e.is_empty());
    let r = breakout(&t, &["atrial", "fibrillation"], &[2], &["B-D", "I-D"], &BreakoutOptions::default()).unwrap();
    assert_eq!(r.entity.words, 2);
    assert!(r.entity.subtokens >= 2);
}

#[test]
fn train_errors() {
    let e = train_vocab("", &TrainOptions::default()).err().unwrap();
    assert_eq!(e.code(), "BIOMEG_BAD_ARGUMENT");
    assert!(train_vocab(CORPUS, &TrainOptions { size: 3, ..Default::default() }).is_err());
    assert!("bpe".parse::<VocabModel>().is_err());
}

#[test]
fn packed_words() {
    let text = "𝛂bcdé";
    assert_eq!(split_utf16_lengths(text, &[2, 2, 2]).unwrap(), ["𝛂", "bc", "dé"]);
    assert_eq!(split_utf16_lengths("abcd", &[1, 3]).unwrap(), ["a", "bcd"]);
    assert_eq!(split_utf16_lengths("", &[]).unwrap(), Vec::<&str>::new());
    assert!(split_utf16_lengths(text, &[1, 5]).is_err(), "splits a surrogate pair");
    assert!(split_utf16_lengths("abcd", &[1, 2]).is_err());
    assert!(split_utf16_lengths("abcd", &[1, 4]).is_err());
    let t = tiny(true);
    let json = breakout_packed_json(&t, "Unaffablehello", &[9, 5], &[2], &["B-X", "I-X"], &[0, 1], &BreakoutOptions::default()).unwrap();
    let direct = breakout_json(&t, &["Unaffable", "hello"], &[2], &["B-X", "I-X"], &BreakoutOptions::default()).unwrap();
    assert_eq!(json, direct);
    assert!(breakout_packed_json(&t, "ab", &[2], &[1], &["O"], &[3], &BreakoutOptions::default()).is_err());
}
