// Public files `biomeg data fetch` downloads: canonical location, size and sha256 (from
// ../shared/data/MANIFEST.md), and destination under the data directory. GitHub files are
// pinned to the commit the manifest names, so their checksums cannot drift.
// Not fetched: BioASQ (the BioASQ organisers require registration; download it from
// bioasq.org and place it under bioasq-7b/) and the derived/assembled files of the manifest
// (ChemProt blue-style-rebuilt is derived here by `data fetch` with the converter).

export interface DataSource {
  /** Path under the data directory (also the path under a mirror). */
  dest: string;
  url: string;
  sha256: string;
  bytes: number;
  /** Group name, for `data fetch NAME`. */
  group: string;
}

const RAW = {
  BIOBERT: 'https://raw.githubusercontent.com/issifuabdulmajeed/EDANER_4_BioBERT/e6ae4d5e9a8d88f2fb562a9e513a58fcc612cdc5/',
  MTL: 'https://raw.githubusercontent.com/cambridgeltl/MTL-Bioinformatics-2016/d62961c5750439aec6396f5703f3a1c03d97ebd3/',
  CHEMPROT: 'https://raw.githubusercontent.com/Aitslab/nlp_2021_alexander_petter/9064ea7be0ea53d871ced9721b8ec8a5c2c803d7/',
  SCIBERT: 'https://raw.githubusercontent.com/allenai/scibert/8d55680cf424898df48656d69002c7366c9c6ba1/',
} as const;

const S = (group: string, base: keyof typeof RAW | null, src: string, dest: string, bytes: number, sha256: string): DataSource => ({
  dest, url: base ? RAW[base] + src : src, sha256, bytes, group });

export const DATA_SOURCES: readonly DataSource[] = [
  S('ner', 'BIOBERT', 'datasets/NER/BC5CDR-chem/devel.tsv', 'bc5cdr-chem/biobert/devel.tsv', 912174, '17a6bc43d459c9dedaedad7990eb44ce0c4789a3a9813104aef9d2f3192c8fd0'),
  S('ner', 'BIOBERT', 'datasets/NER/BC5CDR-chem/test.tsv', 'bc5cdr-chem/biobert/test.tsv', 960312, '4da9183ad83d0921eaca25ba011871308b9476c14f9b10fba7bfee55a9750649'),
  S('ner', 'BIOBERT', 'datasets/NER/BC5CDR-chem/train.tsv', 'bc5cdr-chem/biobert/train.tsv', 919213, '1272b747a1d64ccfaa21061c515c26e9e1f134e3afd3c2ef14d8cd0697e9a234'),
  S('ner', 'MTL', 'data/BC5CDR-chem-IOB/devel.tsv', 'bc5cdr-chem/mtl-iob/devel.tsv', 976029, '3f1df5cfcff95735663ffc37121fd3687e82b1e9a019bec0480491502652721b'),
  S('ner', 'MTL', 'data/BC5CDR-chem-IOB/test.tsv', 'bc5cdr-chem/mtl-iob/test.tsv', 1023429, '6fce42139a9d819151eff3ab8cb0eda6fbf861fd17d4cfe6be2123f010a3b6c5'),
  S('ner', 'MTL', 'data/BC5CDR-chem-IOB/train.tsv', 'bc5cdr-chem/mtl-iob/train.tsv', 983140, '165c4cd2efadd0caf1bb8f3c6bcd3acca199446bb3d55eb06d9137114c9a0b2d'),
  S('ner', 'BIOBERT', 'datasets/NER/BC5CDR-disease/devel.tsv', 'bc5cdr-disease/biobert/devel.tsv', 912174, '405332504d3f6d577f33084494d0916bcdfee789aa1bd954e93a5b79239c2967'),
  S('ner', 'BIOBERT', 'datasets/NER/BC5CDR-disease/test.tsv', 'bc5cdr-disease/biobert/test.tsv', 960312, 'a291f73998031d910dd84ae3c52c744d10ddc44042895056f978c39838bd48b3'),
  S('ner', 'BIOBERT', 'datasets/NER/BC5CDR-disease/train.tsv', 'bc5cdr-disease/biobert/train.tsv', 919213, 'ed209466f99f192460c8b2079cb9dd688c445ce1f2601c2c141f6a84b4a7edf2'),
  S('ner', 'MTL', 'data/BC5CDR-disease-IOB/devel.tsv', 'bc5cdr-disease/mtl-iob/devel.tsv', 967926, '8c3af95475029c2100c2b7c0108b2715bc700ac198c7a21d587f11f1d06b17bd'),
  S('ner', 'MTL', 'data/BC5CDR-disease-IOB/test.tsv', 'bc5cdr-disease/mtl-iob/test.tsv', 1017600, 'a530bf9e17a4122b101b09cedd5f3cf8e6307d6a0093146c33b8de2e69ec0fa3'),
  S('ner', 'MTL', 'data/BC5CDR-disease-IOB/train.tsv', 'bc5cdr-disease/mtl-iob/train.tsv', 976013, 'd630dafe7dd67e21350cc3278dbdcfadcccbb2b63d0fda83b2427853988e5ad9'),
  S('ner', 'BIOBERT', 'datasets/QA/BioASQ/7B_golden.json', 'bioasq-7b/biobert/7B_golden.json', 2227979, 'e153f91790ac48ec4e01c553963575d6d2f3a8ec939adffa98e17de3d2b98e95'),
  S('ner', 'BIOBERT', 'datasets/QA/BioASQ/BioASQ-test-factoid-7b.json', 'bioasq-7b/biobert/BioASQ-test-factoid-7b.json', 247338, '9a3886e8a51b02e5c3f367a3cb038f0b37691bde9e8b5b03eb2231d989fcea88'),
  S('ner', 'BIOBERT', 'datasets/QA/BioASQ/BioASQ-train-factoid-7b.json', 'bioasq-7b/biobert/BioASQ-train-factoid-7b.json', 2706418, 'd0541552f185efddc2741792f268d975308878dd6e9f801ee0841332ae81a276'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_development/chemprot_development_abstracts.tsv', 'chemprot/original-biocreative6/chemprot_development/chemprot_development_abstracts.tsv', 996720, '186a45a6b604d602c3fcf2a04fe6cc9b5f5d6dbe5542babfc685d56db1fd617d'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_development/chemprot_development_entities.tsv', 'chemprot/original-biocreative6/chemprot_development/chemprot_development_entities.tsv', 625293, '7b75bd8e5397a72a29a387bb12f847487938b7469c84d04b289ccaa8009ec12a'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_development/chemprot_development_gold_standard.tsv', 'chemprot/original-biocreative6/chemprot_development/chemprot_development_gold_standard.tsv', 77885, '7fc258e29160c18807b12cb34e30fce6a4c26df835247febaafa21dc49e6ec60'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_development/chemprot_development_relations.tsv', 'chemprot/original-biocreative6/chemprot_development/chemprot_development_relations.tsv', 170302, 'dff73eb2a6f88137d6d358e713bfd56d6cba047013105f2a742ec660448379a7'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_test_gs/chemprot_test_abstracts_gs.tsv', 'chemprot/original-biocreative6/chemprot_test_gs/chemprot_test_abstracts_gs.tsv', 1310940, '9b7de664f0b4231d6e58992f091aa36bc577ca3f12f0565bc2d898af3982645b'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_test_gs/chemprot_test_entities_gs.tsv', 'chemprot/original-biocreative6/chemprot_test_gs/chemprot_test_entities_gs.tsv', 843329, '37a9addd54822a1fd8636cddca01dd9ddadc0776b76140271869bf9e02203d99'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_test_gs/chemprot_test_gold_standard.tsv', 'chemprot/original-biocreative6/chemprot_test_gs/chemprot_test_gold_standard.tsv', 111512, '3dc760bf88a0a9b3ef4b2374b97d67c89bb8f4309905729546bab10beccb236b'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_test_gs/chemprot_test_relations_gs.tsv', 'chemprot/original-biocreative6/chemprot_test_gs/chemprot_test_relations_gs.tsv', 274226, 'ca3ba8a7b205c909efef2ab7113f007e3e05a6c82be60cff904c4b7772e81421'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_training/chemprot_training_abstracts.tsv', 'chemprot/original-biocreative6/chemprot_training/chemprot_training_abstracts.tsv', 1651352, '2eef8782dc6c1474115ce5b780d6b4bc8f68d98e34fbf1619b9502fafc97685b'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_training/chemprot_training_entities.tsv', 'chemprot/original-biocreative6/chemprot_training/chemprot_training_entities.tsv', 1034121, 'ec01f954803d6854965b36b4c222001246b93b683a8fde4f4944132779161a7e'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_training/chemprot_training_gold_standard.tsv', 'chemprot/original-biocreative6/chemprot_training/chemprot_training_gold_standard.tsv', 134129, 'dc1333bf582ecf67ca1a1fe05c27bfaa03969a5ef3d70543d0c7a90e2dd9896e'),
  S('chemprot', 'CHEMPROT', 'utils/chemprot/chemprot/chemprot_training/chemprot_training_relations.tsv', 'chemprot/original-biocreative6/chemprot_training/chemprot_training_relations.tsv', 308200, 'f7fad40e618b60a048db7131ddbc49d8b1cf06340528bbdbd9cf30026d72eb85'),
  S('chemprot', 'SCIBERT', 'data/text_classification/chemprot/dev.txt', 'chemprot/scibert-jsonl/dev.txt', 678657, 'bfe8f39e5146ad4bb16b23707dade850546a305047bc666f6f6824c6a7e3df2f'),
  S('chemprot', 'SCIBERT', 'data/text_classification/chemprot/test.txt', 'chemprot/scibert-jsonl/test.txt', 960369, '372249c85ffea6d9a18dc5168cf45841b3d79b03412d6c620381cfc0dd3d6d49'),
  S('chemprot', 'SCIBERT', 'data/text_classification/chemprot/train.txt', 'chemprot/scibert-jsonl/train.txt', 1121208, 'ab17b85c4fb869b2338d7c9617414e63f3c7225e5005920b18d9cd996f1049d8'),
  S('ner', 'BIOBERT', 'datasets/NER/NCBI-disease/devel.tsv', 'ncbi-disease/biobert/devel.tsv', 185336, 'a91324724fa0783ef3096f060580e6b4e8dfdf83664d48e77951a45b693c0eaa'),
  S('ner', 'BIOBERT', 'datasets/NER/NCBI-disease/test.tsv', 'ncbi-disease/biobert/test.tsv', 189288, 'ca56aff802f8c8849793e806914636f7c9d8bf03bbd88c66402266289beb3995'),
  S('ner', 'BIOBERT', 'datasets/NER/NCBI-disease/train.tsv', 'ncbi-disease/biobert/train.tsv', 1047453, '26df55fb9da14f52834c7c7238ec30af271aa4e3bbe2256ef96cab2c0a7e159b'),
  S('ner', 'MTL', 'data/NCBI-disease-IOB/devel.tsv', 'ncbi-disease/mtl-iob/devel.tsv', 200352, 'b4e1e7efcc2a35047bf2f3d281648357470e674f555d4a26a0049ac37d59cc61'),
  S('ner', 'MTL', 'data/NCBI-disease-IOB/test.tsv', 'ncbi-disease/mtl-iob/test.tsv', 205664, '8f088ce45dc4746592188f9e69de3d89d87f3bb8f0ed8c4a287d018123fa148d'),
  S('ner', 'MTL', 'data/NCBI-disease-IOB/train.tsv', 'ncbi-disease/mtl-iob/train.tsv', 1137445, '58379baf4614b8d757d93dd7a21b202849ca99f9b9d71b49185523ff5443300c'),
  S('squad', null, 'https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json', 'squad-v1.1/dev-v1.1.json', 4854279, '95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9'),
];

/** sha256 of the BLUE-style ChemProt files the converter derives (MANIFEST.md, byte-identical). */
export const DERIVED_SHA256: Record<string, string> = {
  'chemprot/blue-style-rebuilt/train.tsv': 'd85ccfc73ce048d1da2e63ef3df87283b0d6409637ebfadd9e7305ec736b031b',
  'chemprot/blue-style-rebuilt/dev.tsv': 'cb5b71d549c9df6a6aab027940be88c12098c8f327f0e5012737853f04d307c8',
  'chemprot/blue-style-rebuilt/test.tsv': '6d5b8891bf26cc12a843b1516e2f128350b7794dbb4a1081080850491b68864b',
};
