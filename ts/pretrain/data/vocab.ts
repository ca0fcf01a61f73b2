// The vocabulary side of pre-training data: the special ids packing and masking need (a
// vocabulary without them is refused, naming its file) and a hash that ties shards to the
// vocabulary they were tokenized with.
import { createHash } from 'node:crypto';
import { BiomegError } from '../../errors.js';
import type { Tokenizer } from '../../text/tokenizer.js';
import type { SpecialTokenIds } from './masking.js';

export interface PretrainVocab {
  tokenizer: Tokenizer;
  special: SpecialTokenIds;
  vocabSize: number;
  /** sha256 of the tokens in id order (and the casing): the same for the same vocabulary. */
  sha256: string;
}

/** Check that a tokenizer has [CLS] [SEP] [PAD] [MASK] (or its own names for them) and hash it. */
export function pretrainVocab(tokenizer: Tokenizer): PretrainVocab {
  const s = tokenizer.specialIds;
  const missing = (['cls', 'sep', 'pad', 'mask'] as const).filter((k) => s[k] === null || s[k] === undefined);
  if (missing.length > 0)
    throw new BiomegError(
      'BIOMEG_BAD_VOCAB',
      `${tokenizer.source}: vocabulary has no ${missing.map((k) => `[${k.toUpperCase()}]`).join(', ')} token; masked-LM pre-training needs [CLS], [SEP], [PAD] and [MASK]`,
    );
  const vocabSize = tokenizer.vocabSize;
  const h = createHash('sha256');
  h.update(`lowercase=${tokenizer.lowercase}\n`);
  for (let i = 0; i < vocabSize; i++) h.update(`${tokenizer.idToToken(i) ?? ''}\n`);
  return {
    tokenizer,
    special: { cls: s.cls as number, sep: s.sep as number, pad: s.pad as number, mask: s.mask as number, unk: s.unk ?? null },
    vocabSize,
    sha256: h.digest('hex'),
  };
}
