// Public API of the data module: readers, converter, data directory, download, stats.
export { BiomegError, type BiomegErrorCode } from './errors.js';
export { LineReader, readLines } from './lines.js';
export {
  parseTag,
  splitColumns,
  iterConllSentences,
  readConll,
  iob1ToIob2,
  detectScheme,
  type ParsedTag,
  type TagPrefix,
  type ConllSentence,
  type ConllReadOptions,
} from './conll.js';
export { iterChemprotTsv, readChemprotTsv, iterIndexLabelTsv, type ChemprotRow, type LabelRow } from './chemprot.js';
export {
  convertChemprot,
  readChemprotOriginal,
  chemprotSplitFiles,
  splitSentences,
  writeChemprotTsv,
  type ChemprotFiles,
  type ChemprotDocument,
  type ChemprotEntity,
  type ConvertResult,
  type ConvertedRow,
} from './chemprot-convert.js';
export {
  readSquad,
  squadFromJson,
  readSquadPredictions,
  readSquadNaProbs,
  questionIdOf,
  type SquadExample,
  type SquadAnswer,
} from './squad.js';
export { readBioasqGolden, bioasqGoldenFromJson, readBioasqAnswers, type BioasqGoldQuestion } from './bioasq.js';
export { readJsonFile, parseJsonLocated, type LocatedJson } from './json.js';
export { resolveDataDir, userCacheDir, type DataDir } from './paths.js';
export { DATASETS, CHEMPROT_ORIGINAL, findDataset, type DatasetInfo, type DatasetKind, type DatasetSplit } from './registry.js';
export { DATA_SOURCES, DERIVED_SHA256, type DataSource } from './sources.js';
export {
  fetchDatasets,
  downloadFile,
  deriveChemprot,
  sha256File,
  mirrorUrl,
  type FetchOptions,
  type FetchedFile,
  type Progress,
} from './fetch.js';
export { datasetStats, splitStats, nerStats, chemprotStats, squadStats, type SplitStats } from './stats.js';
