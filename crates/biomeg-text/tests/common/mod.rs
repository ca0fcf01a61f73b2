//! The tiny hand-made vocabulary the hand-computed cases use.
#![allow(dead_code)]

pub const TINY: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "hello", ",", "world", "!", "cafe", "na", "##ive", "中", "文",
    "##s", "a", "##a", "𝛂", "Hello", "-", "und", "##iff", "##ere", "##nti", "##ated",
];

pub fn tiny_vocab() -> String {
    TINY.join("\n") + "\n"
}
