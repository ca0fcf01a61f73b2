//! Hand-computed tokenizer cases over a tiny vocabulary (no shared files needed).

use biomeg_text::{detect_lowercase, TextTokenizer};

mod common;
use common::{tiny_vocab, TINY};

fn uncased() -> TextTokenizer {
    TextTokenizer::from_vocab_txt(&tiny_vocab(), Some(true), "tiny.txt").unwrap()
}
fn cased() -> TextTokenizer {
    TextTokenizer::from_vocab_txt(&tiny_vocab(), Some(false), "tiny.txt").unwrap()
}

fn toks(e: &biomeg_text::TextEncoding) -> Vec<&str> {
    e.tokens.iter().map(|s| s.as_str()).collect()
}

#[test]
fn wordpiece_and_offsets() {
    let t = uncased();
    let e = t.encode("Unaffable, hello!").unwrap();
    assert_eq!(toks(&e), ["un", "##aff", "##able", ",", "hello", "!"]);
    assert_eq!(e.ids, [5, 6, 7, 9, 8, 11]);
    assert_eq!(e.offsets_utf16, [(0, 2), (2, 5), (5, 9), (9, 10), (11, 16), (16, 17)]);
    assert_eq!(e.word_ids, [0, 0, 0, 1, 2, 3]);
}

#[test]
fn cased_vs_uncased() {
    assert_eq!(toks(&uncased().encode("HELLO Hello").unwrap()), ["hello", "hello"]);
    assert_eq!(toks(&cased().encode("HELLO Hello hello").unwrap()), ["[UNK]", "Hello", "hello"]);
    assert!(uncased().lowercase());
    assert!(!cased().lowercase());
}

#[test]
fn accents_are_stripped_only_when_uncased() {
    let e = uncased().encode("Café naïve").unwrap();
    assert_eq!(toks(&e), ["cafe", "na", "##ive"]);
    assert_eq!(e.offsets_utf16, [(0, 4), (5, 7), (7, 10)]);
    assert_eq!(toks(&cased().encode("café").unwrap()), ["[UNK]"]);
}

#[test]
fn punctuation_splits_words() {
    let e = uncased().encode("hello,world!").unwrap();
    assert_eq!(toks(&e), ["hello", ",", "world", "!"]);
    assert_eq!(e.offsets_utf16, [(0, 5), (5, 6), (6, 11), (11, 12)]);
    assert_eq!(e.word_ids, [0, 1, 2, 3]);
    let e = uncased().encode("un-hello").unwrap();
    assert_eq!(toks(&e), ["un", "-", "hello"]);
}

#[test]
fn non_bmp_offsets_are_utf16() {
    // 𝛂 (U+1D6C2) and 😀 are two UTF-16 code units each.
    let e = uncased().encode("𝛂 hello 😀 world").unwrap();
    assert_eq!(toks(&e), ["𝛂", "hello", "[UNK]", "world"]);
    assert_eq!(e.offsets_utf16, [(0, 2), (3, 8), (9, 11), (12, 17)]);
}

#[test]
fn cjk_characters_are_words() {
    let e = uncased().encode("中文s").unwrap();
    assert_eq!(toks(&e), ["中", "文", "[UNK]"]);
    assert_eq!(e.offsets_utf16, [(0, 1), (1, 2), (2, 3)]);
    assert_eq!(e.word_ids, [0, 1, 2]);
}

#[test]
fn empty_and_whitespace() {
    assert!(uncased().encode("").unwrap().is_empty());
    assert!(uncased().encode(" \t\n ").unwrap().is_empty());
    assert!(uncased().encode_words::<&str>(&[]).unwrap().is_empty());
}

#[test]
fn words_over_100_chars_are_unk() {
    let t = uncased();
    let w100 = "a".repeat(100);
    let e = t.encode(&w100).unwrap();
    assert_eq!(e.len(), 100);
    assert_eq!(e.tokens[0], "a");
    assert_eq!(e.tokens[99], "##a");
    let w101 = "a".repeat(101);
    let e = t.encode(&format!("hello {w101}")).unwrap();
    assert_eq!(toks(&e), ["hello", "[UNK]"]);
    assert_eq!(e.offsets_utf16[1], (6, 107));
}

#[test]
fn unknown_continuation_makes_whole_word_unk() {
    // "helloz": "hello" matches but "##z" does not -> the whole word is [UNK].
    let e = uncased().encode("helloz undifferentiated").unwrap();
    assert_eq!(toks(&e), ["[UNK]", "und", "##iff", "##ere", "##nti", "##ated"]);
    assert_eq!(e.offsets_utf16[0], (0, 6));
}

#[test]
fn long_input_100k_chars() {
    let t = uncased();
    let mut s = String::from("𝛂");
    while s.encode_utf16().count() < 100_000 {
        s.push_str(" hello");
    }
    let n16 = s.encode_utf16().count() as u32;
    let e = t.encode(&s).unwrap();
    assert_eq!(e.len(), 1 + (n16 as usize - 2) / 6);
    assert_eq!(*e.offsets_utf16.last().unwrap(), (n16 - 5, n16));
    assert_eq!(*e.word_ids.last().unwrap() as usize, e.len() - 1);
}

#[test]
fn encode_words_maps_subtokens_to_words() {
    let e = uncased().encode_words(&["Unaffable", "hello!", "𝛂hello"]).unwrap();
    assert_eq!(toks(&e), ["un", "##aff", "##able", "hello", "!", "[UNK]"]);
    assert_eq!(e.word_ids, [0, 0, 0, 1, 1, 2]);
    assert_eq!(e.offsets_utf16, [(0, 2), (2, 5), (5, 9), (0, 5), (5, 6), (0, 7)]);
}

#[test]
fn special_tokens_in_text_stay_whole() {
    let e = uncased().encode("hello [CLS] [MASK]x [cls]").unwrap();
    assert_eq!(toks(&e), ["hello", "[CLS]", "[MASK]", "[UNK]", "[UNK]", "[UNK]", "[UNK]"]); // x [ cls ]
    assert_eq!(&e.offsets_utf16[..3], [(0, 5), (6, 11), (12, 18)]);
}

#[test]
fn lookups_and_specials() {
    let t = uncased();
    assert_eq!(t.token_to_id("##aff"), Some(6));
    assert_eq!(t.id_to_token(8).as_deref(), Some("hello"));
    assert_eq!(t.id_to_token(10_000), None);
    assert_eq!(t.vocab_size(), TINY.len());
    let s = t.special_ids();
    assert_eq!((s.pad, s.unk, s.cls, s.sep, s.mask), (Some(0), Some(1), Some(2), Some(3), Some(4)));
}

#[test]
fn bad_vocabularies() {
    let dup = "[UNK]\nhello\nworld\nhello\n";
    let err = TextTokenizer::from_vocab_txt(dup, None, "dup.txt").err().unwrap();
    assert_eq!(err.code(), "BIOMEG_BAD_VOCAB");
    assert_eq!(err.to_string(), "dup.txt:4: duplicate vocabulary entry \"hello\" (first seen on line 2)");
    let err = TextTokenizer::from_vocab_txt("hello\nworld\n", None, "nounk.txt").err().unwrap();
    assert_eq!(err.to_string(), "nounk.txt: vocabulary has no [UNK] entry");
    let err = TextTokenizer::from_vocab_txt("", None, "empty.txt").err().unwrap();
    assert_eq!(err.to_string(), "empty.txt: vocabulary is empty");
    // a blank line is an entry (keeps later ids), two are duplicates
    let t = TextTokenizer::from_vocab_txt("[UNK]\n\nx\n", None, "blank.txt").unwrap();
    assert_eq!(t.token_to_id("x"), Some(2));
    let err = TextTokenizer::from_vocab_txt("[UNK]\n\nx\n\n", None, "blank.txt").err().unwrap();
    assert_eq!(err.to_string(), "blank.txt:4: duplicate vocabulary entry \"\" (first seen on line 2)");
    // CRLF files load
    let t = TextTokenizer::from_vocab_txt("[UNK]\r\nhello\r\n", Some(true), "crlf.txt").unwrap();
    assert_eq!(t.token_to_id("hello"), Some(1));
}

#[test]
fn casing_detection() {
    assert!(detect_lowercase(&["[UNK]", "[CLS]", "hello", "world", "##s"]));
    assert!(!detect_lowercase(&["[UNK]", "Hello", "world", "##s"]));
    let t = TextTokenizer::from_vocab_txt("[UNK]\nHello\nworld\n", None, "v.txt").unwrap();
    assert!(!t.lowercase());
    let t = TextTokenizer::from_vocab_txt("[UNK]\n[CLS]\nhello\n", None, "v.txt").unwrap();
    assert!(t.lowercase());
}

#[test]
fn shared_vocab_casing() {
    let Ok(dir) = std::env::var("BIOMEG_VOCABS") else {
        eprintln!("SKIP shared_vocab_casing: BIOMEG_VOCABS not set");
        return;
    };
    for (name, lc) in
        [("bert-base-cased", false), ("bert-base-uncased", true), ("pubmedbert-base-uncased", true), ("scibert-scivocab-uncased", true)]
    {
        let text = std::fs::read_to_string(format!("{dir}/{name}/vocab.txt")).unwrap();
        let t = TextTokenizer::from_vocab_txt(&text, None, name).unwrap();
        assert_eq!(t.lowercase(), lc, "{name}");
    }
}

#[test]
fn tokenizer_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<TextTokenizer>();
}
