//! A small reader for raw SentencePiece model files (`spiece.model`): the protobuf
//! `sentencepiece.ModelProto`, decoded by hand for the fields a tokenizer needs (pieces with score
//! and type, the trainer's model type and unk id, the normalizer's precompiled charsmap and flags).
//! Every other field is skipped. Anything malformed (not a protobuf, truncated, a wrong wire type
//! on a known field) is an error naming the file and the byte offset.
//!
//! Field numbers are those of sentencepiece_model.proto:
//! ModelProto { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
//!              NormalizerSpec normalizer_spec = 3; }
//! SentencePiece { string piece = 1; float score = 2; Type type = 3 [default NORMAL]; }
//! TrainerSpec { ModelType model_type = 3 [default UNIGRAM]; int32 vocab_size = 4;
//!               bool byte_fallback = 35; int32 unk_id = 40 [default 0]; }
//! NormalizerSpec { string name = 1; bytes precompiled_charsmap = 2;
//!                  bool add_dummy_prefix = 3 [default true];
//!                  bool remove_extra_whitespaces = 4 [default true];
//!                  bool escape_whitespaces = 5 [default true]; }

use crate::error::TextError;

/// `SentencePiece.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_proto(v: u64) -> Option<Self> {
        Some(match v {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

/// `TrainerSpec.ModelType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpieceModelType {
    Unigram,
    Bpe,
    Word,
    Char,
}

impl SpieceModelType {
    fn from_proto(v: u64) -> Option<Self> {
        Some(match v {
            1 => SpieceModelType::Unigram,
            2 => SpieceModelType::Bpe,
            3 => SpieceModelType::Word,
            4 => SpieceModelType::Char,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            SpieceModelType::Unigram => "UNIGRAM",
            SpieceModelType::Bpe => "BPE",
            SpieceModelType::Word => "WORD",
            SpieceModelType::Char => "CHAR",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpiecePiece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainerSpec {
    pub model_type: SpieceModelType,
    pub vocab_size: i32,
    pub unk_id: i32,
    pub byte_fallback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizerSpec {
    pub name: String,
    /// sentencepiece's compiled normalization rules (a double-array trie plus the replacement
    /// strings); empty for the `identity` rule set.
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

/// What a `spiece.model` holds (the fields biomeg uses).
#[derive(Debug, Clone, PartialEq)]
pub struct SpieceModel {
    pub pieces: Vec<SpiecePiece>,
    pub trainer: TrainerSpec,
    pub normalizer: NormalizerSpec,
}

/// A protobuf field value by wire type (groups, wire types 3 and 4, are refused: sentencepiece
/// never writes them).
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl Value<'_> {
    fn wire_name(&self) -> &'static str {
        match self {
            Value::Varint(_) => "varint",
            Value::Fixed64 => "64-bit",
            Value::Bytes(_) => "length-delimited",
            Value::Fixed32(_) => "32-bit",
        }
    }
}

/// A decoding error at an absolute byte offset of the file.
struct ProtoError {
    at: usize,
    msg: String,
}

type Proto<T> = Result<T, ProtoError>;

/// Reads the fields of one message; `base` is the message's offset in the file (for errors).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    fn err<T>(&self, at: usize, msg: impl Into<String>) -> Proto<T> {
        Err(ProtoError { at: self.base + at, msg: msg.into() })
    }

    fn varint(&mut self) -> Proto<u64> {
        let start = self.pos;
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return self.err(start, "a varint runs past the end of the data (truncated file?)");
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return self.err(start, "a varint overflows 64 bits");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.err(start, "a varint is longer than 10 bytes")
    }

    fn take(&mut self, n: usize, what: &str) -> Proto<&'a [u8]> {
        let start = self.pos;
        match start.checked_add(n).filter(|&end| end <= self.buf.len()) {
            Some(end) => {
                self.pos = end;
                Ok(&self.buf[start..end])
            }
            None => self.err(
                start,
                format!("{what} of {n} bytes runs past the end of the data ({} left; truncated file?)", self.buf.len() - start),
            ),
        }
    }

    /// The next `(field number, value, offset of the value in this message)`, or `None` at the end.
    fn next_field(&mut self) -> Proto<Option<(u32, Value<'a>, usize)>> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let key_at = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return self.err(key_at, format!("invalid field number {field}"));
        }
        let at = self.pos;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8, "a 64-bit field")?;
                Value::Fixed64
            }
            2 => {
                let n = self.varint()?;
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                Value::Bytes(self.take(n, &format!("field {field}"))?)
            }
            5 => {
                let b = self.take(4, "a 32-bit field")?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            w => return self.err(key_at, format!("field {field} has wire type {w}, which SentencePiece models never use")),
        };
        Ok(Some((field as u32, value, at)))
    }

    fn wrong_type<T>(&self, at: usize, message: &str, field: u32, v: &Value, want: &str) -> Proto<T> {
        self.err(at, format!("{message} field {field} is {} but should be {want}", v.wire_name()))
    }
}

fn parse_piece(buf: &[u8], base: usize, index: usize) -> Proto<SpiecePiece> {
    let mut r = Reader::new(buf, base);
    let mut piece = SpiecePiece { piece: String::new(), score: 0.0, kind: PieceType::Normal };
    let what = format!("piece {index}:");
    while let Some((field, v, at)) = r.next_field()? {
        match (field, &v) {
            (1, Value::Bytes(b)) => match std::str::from_utf8(b) {
                Ok(s) => piece.piece = s.to_string(),
                Err(_) => return r.err(at, format!("piece {index} is not valid UTF-8")),
            },
            (2, Value::Fixed32(bits)) => piece.score = f32::from_bits(*bits),
            (3, Value::Varint(t)) => match PieceType::from_proto(*t) {
                Some(k) => piece.kind = k,
                None => return r.err(at, format!("piece {index} has unknown type {t}")),
            },
            (1, _) => return r.wrong_type(at, &what, field, &v, "a string"),
            (2, _) => return r.wrong_type(at, &what, field, &v, "a float"),
            (3, _) => return r.wrong_type(at, &what, field, &v, "an enum"),
            _ => {}
        }
    }
    Ok(piece)
}

fn parse_trainer(buf: &[u8], base: usize) -> Proto<TrainerSpec> {
    let mut r = Reader::new(buf, base);
    let mut t = TrainerSpec { model_type: SpieceModelType::Unigram, vocab_size: 8000, unk_id: 0, byte_fallback: false };
    while let Some((field, v, at)) = r.next_field()? {
        match (field, &v) {
            (3, Value::Varint(m)) => match SpieceModelType::from_proto(*m) {
                Some(m) => t.model_type = m,
                None => return r.err(at, format!("trainer_spec has unknown model_type {m}")),
            },
            // int32 is written as a sign-extended 64-bit varint: truncating gives the value back
            (4, Value::Varint(n)) => t.vocab_size = *n as i32,
            (35, Value::Varint(b)) => t.byte_fallback = *b != 0,
            (40, Value::Varint(n)) => t.unk_id = *n as i32,
            (3 | 4 | 35 | 40, _) => return r.wrong_type(at, "trainer_spec", field, &v, "a varint"),
            _ => {}
        }
    }
    Ok(t)
}

fn parse_normalizer(buf: &[u8], base: usize) -> Proto<NormalizerSpec> {
    let mut r = Reader::new(buf, base);
    let mut n = NormalizerSpec {
        name: String::new(),
        precompiled_charsmap: Vec::new(),
        add_dummy_prefix: true,
        remove_extra_whitespaces: true,
        escape_whitespaces: true,
    };
    while let Some((field, v, at)) = r.next_field()? {
        match (field, &v) {
            (1, Value::Bytes(b)) => n.name = String::from_utf8_lossy(b).into_owned(),
            (2, Value::Bytes(b)) => n.precompiled_charsmap = b.to_vec(),
            (3, Value::Varint(b)) => n.add_dummy_prefix = *b != 0,
            (4, Value::Varint(b)) => n.remove_extra_whitespaces = *b != 0,
            (5, Value::Varint(b)) => n.escape_whitespaces = *b != 0,
            (1 | 2, _) => return r.wrong_type(at, "normalizer_spec", field, &v, "length-delimited"),
            (3..=5, _) => return r.wrong_type(at, "normalizer_spec", field, &v, "a varint"),
            _ => {}
        }
    }
    Ok(n)
}

fn parse_model(bytes: &[u8]) -> Proto<SpieceModel> {
    let mut r = Reader::new(bytes, 0);
    let mut pieces = Vec::new();
    let mut trainer = None;
    let mut normalizer = None;
    while let Some((field, v, at)) = r.next_field()? {
        match (field, v) {
            (1, Value::Bytes(b)) => pieces.push(parse_piece(b, at, pieces.len())?),
            (2, Value::Bytes(b)) => trainer = Some(parse_trainer(b, at)?),
            (3, Value::Bytes(b)) => normalizer = Some(parse_normalizer(b, at)?),
            (f @ 1..=3, v) => return r.wrong_type(at, "ModelProto", f, &v, "a message"),
            _ => {}
        }
    }
    let end = bytes.len();
    if pieces.is_empty() {
        return r.err(end, "the model has no pieces");
    }
    // Written after the pieces: a file cut between two fields still parses, without them.
    let Some(trainer) = trainer else { return r.err(end, "the model has no trainer_spec (truncated file?)") };
    let Some(normalizer) = normalizer else { return r.err(end, "the model has no normalizer_spec (truncated file?)") };
    if trainer.unk_id < 0 || trainer.unk_id as usize >= pieces.len() {
        return r.err(end, format!("trainer_spec.unk_id {} is not a piece id (the model has {} pieces)", trainer.unk_id, pieces.len()));
    }
    Ok(SpieceModel { pieces, trainer, normalizer })
}

/// Read the bytes of a `spiece.model`; `source` names the file in errors.
pub fn read_spiece(bytes: &[u8], source: &str) -> Result<SpieceModel, TextError> {
    if bytes.is_empty() {
        return Err(TextError::BadTokenizer { source: source.to_string(), msg: "empty file, not a SentencePiece model".into() });
    }
    parse_model(bytes).map_err(|e| TextError::BadTokenizer {
        source: source.to_string(),
        msg: format!("not a valid SentencePiece model (protobuf ModelProto): {} (at byte {})", e.msg, e.at),
    })
}
