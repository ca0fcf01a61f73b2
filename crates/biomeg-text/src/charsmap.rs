//! A structural check of a SentencePiece `precompiled_charsmap` before it is used. The charsmap
//! is a darts-clone double-array trie (u32 units) followed by the replacement strings; the
//! `tokenizers` crate (spm_precompiled) walks it without bounds checks, so a corrupted charsmap
//! would panic while normalizing some later text. This walks every path the normalizer can take
//! and refuses the charsmap up front if one would index outside the trie or the strings.
//!
//! Layout: `[u32 trie_size (bytes)] [trie: trie_size / 4 units] [replacements, '\0'-separated]`.
//! A unit holds `has_leaf` (bit 8), `label` (bits 0-7, and bit 31 that never matches a byte),
//! `value` (bits 0-30, on leaf units) and `offset` (bits 10-31, shifted by 8 when bit 9 is set);
//! from the node at `pos`, byte `c` leads to `pos ^ offset ^ c`.

fn unit_offset(u: u32) -> usize {
    ((u >> 10) as usize) << ((u & (1 << 9)) >> 6)
}

fn unit_label(u: u32) -> u32 {
    u & ((1 << 31) | 0xff)
}

fn has_leaf(u: u32) -> bool {
    (u >> 8) & 1 == 1
}

/// `Err(reason)` when normalizing with this charsmap could index outside it.
pub(crate) fn check_charsmap(bytes: &[u8]) -> Result<(), String> {
    let Some(size) = bytes.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) else {
        return Err("shorter than its 4-byte header".into());
    };
    if size % 4 != 0 || size == 0 || size > bytes.len() - 4 {
        return Err(format!("trie size {size} does not fit the {} bytes that follow the header", bytes.len() - 4));
    }
    let trie: Vec<u32> = bytes[4..4 + size].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let Ok(strings) = std::str::from_utf8(&bytes[4 + size..]) else {
        return Err("replacement strings are not UTF-8".into());
    };
    // From a node whose children start at `base`, any input byte c (1..=255) reads trie[base ^ c].
    let fits = |base: usize| (base | 0xff) < trie.len();
    let root = unit_offset(trie[0]);
    if !fits(root) {
        return Err("the root points outside the trie".into());
    }
    let mut seen = vec![false; trie.len()];
    let mut stack = vec![root];
    while let Some(base) = stack.pop() {
        for c in 1..=255usize {
            let pos = base ^ c;
            let unit = trie[pos];
            if unit_label(unit) as usize != c || seen[pos] {
                continue;
            }
            seen[pos] = true;
            let child = pos ^ unit_offset(unit);
            if !fits(child) {
                return Err(format!("trie unit {pos} points outside the trie"));
            }
            if has_leaf(unit) {
                let at = (trie[child] & 0x7fff_ffff) as usize;
                if at > strings.len() || !strings.is_char_boundary(at) {
                    return Err(format!("trie unit {pos} points outside the replacement strings"));
                }
            }
            stack.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_charsmap;

    /// A one-rule trie by hand: byte b'a' -> replacement "b". Root at 0 with offset 0 (children
    /// at 0 ^ c); the unit for 'a' at 97 has a leaf whose value unit sits at 97 ^ 256 = 353.
    fn one_rule() -> Vec<u8> {
        let mut trie = vec![0u32; 512];
        trie[0] = 0; // root: offset 0
        trie[97] = 97 | (1 << 8) | (256 << 10); // label 'a', has_leaf, offset 256
        trie[97 ^ 256] = 0; // value: replacement at byte 0
        let mut out = ((trie.len() * 4) as u32).to_le_bytes().to_vec();
        out.extend(trie.iter().flat_map(|u| u.to_le_bytes()));
        out.extend(b"b\0");
        out
    }

    #[test]
    fn accepts_a_well_formed_trie_and_refuses_broken_ones() {
        let good = one_rule();
        assert_eq!(check_charsmap(&good), Ok(()));
        assert!(check_charsmap(&good[..3]).unwrap_err().contains("header"));
        assert!(check_charsmap(&good[..100]).unwrap_err().contains("does not fit"));
        // the leaf's value points past the strings
        let mut bad = good.clone();
        bad[4 + 4 * (97 ^ 256)..][..4].copy_from_slice(&50u32.to_le_bytes());
        assert!(check_charsmap(&bad).unwrap_err().contains("outside the replacement strings"));
        // the 'a' unit's offset points past the trie
        let mut bad = good.clone();
        bad[4 + 4 * 97..][..4].copy_from_slice(&(97u32 | (1 << 8) | (4096 << 10)).to_le_bytes());
        assert_eq!(check_charsmap(&bad).unwrap_err(), "trie unit 97 points outside the trie");
        // replacement strings that are not UTF-8
        let mut bad = good;
        let n = bad.len();
        bad[n - 2] = 0xff;
        assert!(check_charsmap(&bad).unwrap_err().contains("UTF-8"));
    }
}
