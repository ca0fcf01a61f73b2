//! The spiece.model reader against what the protobuf holds (recorded by
//! scripts/fixtures/make_spiece_fixtures.py with sentencepiece's own protobuf classes), its
//! errors on malformed files, and the converted tokenizer against Hugging Face's references.

use std::path::PathBuf;

use biomeg_text::{read_spiece, PieceType, SpieceConfig, SpieceFlavor, SpieceModelType, TextError, TextTokenizer};
use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures/spiece").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_slice(&read(rel)).unwrap()
}

fn piece_type(n: u64) -> PieceType {
    [PieceType::Normal, PieceType::Unknown, PieceType::Control, PieceType::UserDefined, PieceType::Unused, PieceType::Byte][n as usize - 1]
}

#[test]
fn reads_every_piece_and_spec_field_of_the_trained_model() {
    let want = json("proto-albert-tiny.json");
    let m = read_spiece(&read("albert-tiny/spiece.model"), "spiece.model").unwrap();
    let pieces = want["pieces"].as_array().unwrap();
    assert_eq!(m.pieces.len(), pieces.len());
    for (got, w) in m.pieces.iter().zip(pieces) {
        assert_eq!(got.piece, w[0].as_str().unwrap());
        assert_eq!(got.score, w[1].as_f64().unwrap() as f32, "score of {}", got.piece);
        assert_eq!(got.kind, piece_type(w[2].as_u64().unwrap()), "type of {}", got.piece);
    }
    let t = &want["trainer_spec"];
    assert_eq!(m.trainer.model_type, SpieceModelType::Unigram);
    assert_eq!(t["model_type"], 1);
    assert_eq!(i64::from(m.trainer.unk_id), t["unk_id"].as_i64().unwrap());
    assert_eq!(i64::from(m.trainer.vocab_size), t["vocab_size"].as_i64().unwrap());
    let n = &want["normalizer_spec"];
    assert_eq!(m.normalizer.name, n["name"].as_str().unwrap());
    assert_eq!(m.normalizer.add_dummy_prefix, n["add_dummy_prefix"].as_bool().unwrap());
    assert_eq!(m.normalizer.remove_extra_whitespaces, n["remove_extra_whitespaces"].as_bool().unwrap());
    assert_eq!(m.normalizer.escape_whitespaces, n["escape_whitespaces"].as_bool().unwrap());
    assert_eq!(m.normalizer.precompiled_charsmap.len() as u64, n["precompiled_charsmap_len"].as_u64().unwrap());
    assert!(!m.normalizer.precompiled_charsmap.is_empty());
}

// ---- hand-made protobufs: the encoder is the one sentencepiece's format implies ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(field: u32, v: u64, out: &mut Vec<u8>) {
    varint(u64::from(field) << 3, out);
    varint(v, out);
}

fn field_bytes(field: u32, b: &[u8], out: &mut Vec<u8>) {
    varint((u64::from(field) << 3) | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn piece(p: &str, score: f32, kind: u64) -> Vec<u8> {
    let mut out = Vec::new();
    field_bytes(1, p.as_bytes(), &mut out);
    varint((2 << 3) | 5, &mut out);
    out.extend_from_slice(&score.to_le_bytes());
    field_varint(3, kind, &mut out);
    out
}

/// A model: `<unk>`, `▁`, letters; trainer_spec with `model_type`/`unk_id`; empty normalizer_spec.
fn model(model_type: u64, unk_id: i64, extra: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    for (p, s, k) in [("<unk>", 0.0, 2), ("▁", -1.0, 1), ("a", -2.0, 1), ("b", -2.5, 1), ("▁ab", -1.5, 1)] {
        field_bytes(1, &piece(p, s, k), &mut out);
    }
    let mut trainer = Vec::new();
    field_bytes(1, b"corpus.txt", &mut trainer); // a field the reader skips
    field_varint(3, model_type, &mut trainer);
    field_varint(40, unk_id as u64, &mut trainer);
    field_bytes(2, &trainer, &mut out);
    field_bytes(3, &[], &mut out);
    extra(&mut out);
    out
}

fn err_msg(r: Result<impl std::fmt::Debug, TextError>) -> (String, String) {
    let e = r.unwrap_err();
    (e.code().to_string(), e.to_string())
}

#[test]
fn hand_made_model_defaults_and_unknown_fields() {
    let bytes = model(1, 0, |out| {
        let mut self_test = Vec::new();
        field_bytes(1, b"ignored", &mut self_test);
        field_bytes(4, &self_test, out); // self_test_data: skipped
        varint((9 << 3) | 1, out); // an unknown 64-bit field
        out.extend_from_slice(&[0; 8]);
    });
    let m = read_spiece(&bytes, "hand.model").unwrap();
    assert_eq!(m.pieces.len(), 5);
    assert_eq!(m.pieces[4].piece, "▁ab");
    assert_eq!(m.pieces[3].score, -2.5);
    assert_eq!(m.pieces[0].kind, PieceType::Unknown);
    // proto2 defaults of NormalizerSpec when the fields are absent
    assert!(m.normalizer.add_dummy_prefix && m.normalizer.remove_extra_whitespaces && m.normalizer.escape_whitespaces);
    assert!(m.normalizer.precompiled_charsmap.is_empty());
    // and it tokenizes: no charsmap, ALBERT's pipeline
    let t = TextTokenizer::from_spiece(&bytes, "hand.model", None, "-").unwrap();
    let e = t.encode("AB ba").unwrap();
    assert_eq!(e.tokens, ["▁ab", "▁", "b", "a"]);
    assert_eq!(e.offsets_utf16, [(0, 2), (3, 4), (3, 4), (4, 5)]);
    assert_eq!(e.word_ids, [0, 1, 1, 1]);
    assert_eq!(t.special_ids().unk, Some(0));
}

#[test]
fn errors_name_the_file() {
    let (code, msg) = err_msg(read_spiece(&read("bad/not-protobuf.model"), "x/not-protobuf.model"));
    assert_eq!(code, "BIOMEG_BAD_TOKENIZER");
    assert!(msg.starts_with("x/not-protobuf.model: not a valid SentencePiece model"), "{msg}");
    let (code, msg) = err_msg(read_spiece(&read("bad/truncated.model"), "x/truncated.model"));
    assert_eq!(code, "BIOMEG_BAD_TOKENIZER");
    assert!(msg.starts_with("x/truncated.model: ") && msg.contains("truncated file?"), "{msg}");
    let (_, msg) = err_msg(read_spiece(b"", "empty.model"));
    assert_eq!(msg, "empty.model: empty file, not a SentencePiece model");

    let good = read("albert-tiny/spiece.model");
    // cut anywhere: always an error, never a panic; a cut between fields is caught as a missing spec
    for cut in (1..good.len()).step_by(97) {
        let (code, msg) = err_msg(read_spiece(&good[..cut], "cut.model"));
        assert_eq!(code, "BIOMEG_BAD_TOKENIZER", "cut at {cut}: {msg}");
        assert!(msg.starts_with("cut.model: not a valid SentencePiece model"), "{msg}");
    }
    // a known field with the wrong wire type
    let mut wrong = Vec::new();
    field_varint(1, 7, &mut wrong);
    let (_, msg) = err_msg(read_spiece(&wrong, "w.model"));
    assert!(msg.contains("ModelProto field 1 is varint but should be a message (at byte 1)"), "{msg}");
    // unk_id out of range; negative ids are 10-byte varints
    let (_, msg) = err_msg(read_spiece(&model(1, 9, |_| {}), "u.model"));
    assert!(msg.contains("trainer_spec.unk_id 9 is not a piece id (the model has 5 pieces)"), "{msg}");
    let (_, msg) = err_msg(read_spiece(&model(1, -1, |_| {}), "u.model"));
    assert!(msg.contains("trainer_spec.unk_id -1 is not a piece id"), "{msg}");
}

#[test]
fn bpe_models_and_unknown_tokenizer_classes_are_refused_clearly() {
    let bpe = model(2, 0, |_| {});
    assert_eq!(read_spiece(&bpe, "b.model").unwrap().trainer.model_type, SpieceModelType::Bpe);
    let (code, msg) = err_msg(TextTokenizer::from_spiece(&bpe, "b.model", None, "-").map(|_| ()));
    assert_eq!(code, "BIOMEG_UNSUPPORTED");
    assert!(msg.starts_with("b.model: a BPE SentencePiece model; only unigram models"), "{msg}");
    let (code, msg) = err_msg(SpieceConfig::from_json(Some(r#"{"tokenizer_class": "XLNetTokenizer"}"#), "tc.json"));
    assert_eq!(code, "BIOMEG_UNSUPPORTED");
    assert!(msg.starts_with("tc.json: tokenizer_class \"XLNetTokenizer\" is not supported"), "{msg}");
    let (code, msg) = err_msg(SpieceConfig::from_json(Some(r#"{"do_lower_case": "yes"}"#), "tc.json"));
    assert_eq!(code, "BIOMEG_BAD_TOKENIZER");
    assert_eq!(msg, "tc.json: do_lower_case must be true or false, got \"yes\"");
    let (_, msg) = err_msg(SpieceConfig::from_json(Some("{"), "tc.json"));
    assert!(msg.starts_with("tc.json: not valid JSON"), "{msg}");
    let t5 = SpieceConfig::from_json(Some(r#"{"tokenizer_class": "T5TokenizerFast", "extra_ids": 3}"#), "-").unwrap();
    assert_eq!((t5.flavor, t5.extra_ids, t5.do_lower_case), (SpieceFlavor::T5, 3, false));
}

fn as_u32s(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().map(|n| n as u32).unwrap_or(u32::MAX)).collect()
}

fn pairs(v: &Value) -> Vec<(u32, u32)> {
    v.as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_u64().unwrap() as u32)).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// Every variant of a reference file: the model with that tokenizer_config.json gives Hugging
/// Face's vocabulary size, special ids, and ids, tokens, offsets and word ids for texts and for
/// pre-split words.
fn check_variants(refs: &Value, bytes: &[u8]) {
    for (name, v) in refs["variants"].as_object().unwrap() {
        let cfg = serde_json::to_string(&v["tokenizer_config"]).unwrap();
        let t = TextTokenizer::from_spiece(bytes, "spiece.model", Some(&cfg), "tokenizer_config.json").unwrap();
        assert_eq!(t.vocab_size() as u64, v["vocab_size"].as_u64().unwrap(), "{name}");
        let s = t.special_ids();
        for (k, got) in [("cls", s.cls), ("sep", s.sep), ("pad", s.pad), ("unk", s.unk), ("mask", s.mask)] {
            assert_eq!(got.map(u64::from), v["special_ids"][k].as_u64(), "{name}: {k} id");
        }
        for case in v["texts"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let e = t.encode(text).unwrap();
            assert_eq!(e.tokens, strings(&case["tokens"]), "{name}: {text:?}");
            assert_eq!(e.ids, as_u32s(&case["ids"]), "{name}: {text:?}");
            assert_eq!(e.offsets_utf16, pairs(&case["offsets"]), "{name}: {text:?}");
            assert_eq!(e.word_ids, as_u32s(&case["word_ids"]), "{name}: {text:?}");
        }
        for case in v["words"].as_array().unwrap() {
            let words = strings(&case["words"]);
            let e = t.encode_words(&words).unwrap();
            assert_eq!(e.tokens, strings(&case["tokens"]), "{name}: {words:?}");
            assert_eq!(e.ids, as_u32s(&case["ids"]), "{name}: {words:?}");
            assert_eq!(e.offsets_utf16, pairs(&case["offsets"]), "{name}: {words:?}");
            assert_eq!(e.word_ids, as_u32s(&case["word_ids"]), "{name}: {words:?}");
        }
    }
}

#[test]
fn trained_model_matches_hugging_face_on_every_config() {
    check_variants(&json("hf-albert-tiny.json"), &read("albert-tiny/spiece.model"));
}

#[test]
fn tokenizer_json_of_the_same_model_gives_the_same_encodings() {
    let refs = json("hf-albert-tiny.json");
    let text = String::from_utf8(read("albert-tiny/tokenizer.json")).unwrap();
    let t = TextTokenizer::from_tokenizer_json(&text, "tokenizer.json").unwrap();
    let v = &refs["variants"]["albert-default"];
    assert!(t.lowercase());
    for case in v["texts"].as_array().unwrap() {
        let e = t.encode(case["text"].as_str().unwrap()).unwrap();
        assert_eq!((e.ids, e.offsets_utf16, e.word_ids), (as_u32s(&case["ids"]), pairs(&case["offsets"]), as_u32s(&case["word_ids"])));
    }
}

/// The real model the seqio wheel ships (scripts/fetch-spiece.sh; never committed).
#[test]
fn real_seqio_model_matches_hugging_face() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models/seqio-spiece/spiece.model");
    let Ok(bytes) = std::fs::read(&path) else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "required under CI: {} (run scripts/fetch-spiece.sh)", path.display());
        eprintln!("SKIPPED: {} is absent (run scripts/fetch-spiece.sh)", path.display());
        return;
    };
    let refs = json("hf-seqio-spiece.json");
    let m = read_spiece(&bytes, "seqio").unwrap();
    let p = &refs["proto"];
    assert_eq!(m.normalizer.precompiled_charsmap.len() as u64, p["normalizer_spec"]["precompiled_charsmap_len"].as_u64().unwrap());
    assert_eq!(m.normalizer.name, p["normalizer_spec"]["name"].as_str().unwrap());
    assert_eq!(i64::from(m.trainer.unk_id), p["trainer_spec"]["unk_id"].as_i64().unwrap());
    check_variants(&refs, &bytes);
}

#[test]
fn t5_settings_hugging_face_treats_differently_are_refused() {
    let cfg = r#"{"tokenizer_class": "T5Tokenizer", "extra_ids": 2, "additional_special_tokens": ["<foo>"]}"#;
    let (code, msg) = err_msg(SpieceConfig::from_json(Some(cfg), "tc.json"));
    assert_eq!(code, "BIOMEG_UNSUPPORTED");
    assert!(msg.starts_with("tc.json: extra_ids together with additional_special_tokens"), "{msg}");
    // ALBERT ignores extra_ids, as Hugging Face does
    let albert = SpieceConfig::from_json(Some(r#"{"extra_ids": 5, "additional_special_tokens": ["<foo>"]}"#), "tc.json").unwrap();
    assert_eq!(albert.extra_ids, 0);
}

#[test]
fn a_corrupted_charsmap_is_refused_at_load_not_while_encoding() {
    let mut bytes = read("albert-tiny/spiece.model");
    let m = read_spiece(&bytes, "ok").unwrap();
    let map = m.normalizer.precompiled_charsmap.clone();
    let at = bytes.windows(map.len()).position(|w| w == map.as_slice()).unwrap();
    // every unit's offset bits set: each walk leaves the trie
    for k in (4..map.len().min(4 + 1024)).step_by(4) {
        bytes[at + k + 3] |= 0x7f;
    }
    let (code, msg) = err_msg(TextTokenizer::from_spiece(&bytes, "c.model", None, "-").map(|_| ()));
    assert_eq!(code, "BIOMEG_BAD_TOKENIZER");
    assert!(msg.starts_with("c.model: normalizer_spec.precompiled_charsmap: ") && msg.contains("outside the trie"), "{msg}");
}
