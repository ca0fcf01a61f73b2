// The benchmark datasets, their splits and file layout under the data directory (the
// layout of ../shared/data, see its MANIFEST.md).

export type DatasetKind = 'ner' | 're' | 'qa' | 'squad';

export interface DatasetSplit {
  split: string;
  /** Path relative to the data directory. */
  file: string;
}

export interface DatasetInfo {
  name: string;
  kind: DatasetKind;
  description: string;
  splits: DatasetSplit[];
}

const nerSplits = (dir: string): DatasetSplit[] => ['train', 'devel', 'test'].map((split) => ({ split, file: `${dir}/${split}.tsv` }));

export const DATASETS: readonly DatasetInfo[] = [
  {
    name: 'bc5cdr-chem',
    kind: 'ner',
    description: 'BC5CDR chemicals, typed IOB2 (Crichton et al. 2017)',
    splits: nerSplits('bc5cdr-chem/mtl-iob'),
  },
  { name: 'bc5cdr-disease', kind: 'ner', description: 'BC5CDR diseases, typed IOB2', splits: nerSplits('bc5cdr-disease/mtl-iob') },
  { name: 'ncbi-disease', kind: 'ner', description: 'NCBI disease corpus, typed IOB2', splits: nerSplits('ncbi-disease/mtl-iob') },
  {
    name: 'bc5cdr-chem-biobert',
    kind: 'ner',
    description: 'BC5CDR chemicals, BioBERT release, untyped B/I/O',
    splits: nerSplits('bc5cdr-chem/biobert'),
  },
  {
    name: 'bc5cdr-disease-biobert',
    kind: 'ner',
    description: 'BC5CDR diseases, BioBERT release, untyped',
    splits: nerSplits('bc5cdr-disease/biobert'),
  },
  {
    name: 'ncbi-disease-biobert',
    kind: 'ner',
    description: 'NCBI disease, BioBERT release, untyped',
    splits: nerSplits('ncbi-disease/biobert'),
  },
  {
    name: 'chemprot',
    kind: 're',
    description: 'ChemProt, BLUE-style sentence classification (masked pair)',
    splits: ['train', 'dev', 'test'].map((split) => ({ split, file: `chemprot/blue-style-rebuilt/${split}.tsv` })),
  },
  {
    name: 'bioasq-7b',
    kind: 'qa',
    description: 'BioASQ 7b factoid, SQuAD-format snippets (BioBERT)',
    splits: [
      { split: 'train', file: 'bioasq-7b/biobert/BioASQ-train-factoid-7b.json' },
      { split: 'test', file: 'bioasq-7b/biobert/BioASQ-test-factoid-7b.json' },
    ],
  },
  { name: 'squad-v1.1', kind: 'squad', description: 'SQuAD v1.1', splits: [{ split: 'dev', file: 'squad-v1.1/dev-v1.1.json' }] },
];

/** The original BioCreative VI ChemProt directories, by BLUE split name. */
export const CHEMPROT_ORIGINAL: Record<string, string> = {
  train: 'chemprot/original-biocreative6/chemprot_training',
  dev: 'chemprot/original-biocreative6/chemprot_development',
  test: 'chemprot/original-biocreative6/chemprot_test_gs',
};

export function findDataset(name: string): DatasetInfo | undefined {
  return DATASETS.find((d) => d.name === name);
}
