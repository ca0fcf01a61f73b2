// Pre-training data pipeline: raw text -> sentences -> sub-tokens -> packed sequences -> shards
// -> masked batches. See docs/pretraining-data.md.
export { type CorpusDocument, type CorpusFormat, type CorpusOptions, corpusFiles, detectFormat, readCorpus } from './corpus.js';
export { crc32 } from './crc32.js';
export {
  IGNORE_INDEX,
  type MaskedBatch,
  Masker,
  type MaskingOptions,
  maskBatch,
  mixSeed,
  type SequenceRecord,
  type SpecialTokenIds,
} from './masking.js';
export { type PackedSequence, Packer, type PackerOptions, type TokenizedSentence, wordStarts } from './pack.js';
export {
  HELD_OUT_DIR,
  type PrepareCorpusOptions,
  type PrepareCounts,
  type PrepareProgress,
  type PrepareResult,
  prepareCorpus,
  type ShardManifest,
} from './prepare.js';
export { type OpenShardsOptions, openShards, readManifest, type ShardBatch, type ShardCursor, ShardStream } from './reader.js';
export { ABBREVIATIONS, splitSentences } from './sentences.js';
export {
  decodeRecord,
  HEADER_BYTES,
  recordBytes,
  SHARD_MAGIC,
  SHARD_VERSION,
  ShardFile,
  type ShardInfo,
  ShardWriter,
  shardFileName,
} from './shards.js';
export { type PretrainVocab, pretrainVocab } from './vocab.js';
