// `biomeg eval`: score prediction files in the standard formats.
import { parseArgs } from 'node:util';
import { readBioasqAnswers, readBioasqGolden } from '../data/bioasq.js';
import { BiomegError } from '../data/errors.js';
import { readSquad, readSquadNaProbs, readSquadPredictions } from '../data/squad.js';
import { bioasqFactoidEval } from '../eval/bioasq.js';
import type { ReResult } from '../eval/chemprot.js';
import type { NerResult } from '../eval/conlleval.js';
import { scoreConllFiles } from '../eval/ner-files.js';
import type { PrfCounts } from '../eval/prf.js';
import { scoreChemprotFiles } from '../eval/re-files.js';
import { squadEval } from '../eval/squad.js';
import { SQUAD2_NA_PROB_THRESH, squad2Eval, type Squad2Result } from '../eval/squad2.js';

const HELP = `Usage: biomeg eval --task ner|re|qa|squad|squad2 --gold FILE --pred FILE [--json]

Scores a prediction file against gold, exactly as the standard scripts do.
  ner    CoNLL columns, label last. --gold token/label file and --pred token/prediction
         file, read in step (tokens must match); or --pred alone with gold and prediction
         as its last two columns (conlleval's input). Entity-level P/R/F1 (conlleval).
  re     ChemProt: --gold BLUE-style TSV (index, sentence, label), --pred index<TAB>label
         TSV. Micro P/R/F1 over CPR:3/4/5/6/9 (false excluded), per class, confusion.
  qa     BioASQ factoid: --gold official golden JSON, --pred BioASQ answer JSON.
         Strict accuracy, lenient accuracy, MRR over the top 5.
  squad  SQuAD v1.1: --gold dataset JSON, --pred {"id": "answer"} JSON. EM and F1.
  squad2 SQuAD v2.0: --gold dataset JSON, --pred {"id": "answer", "id2": ""} JSON ("" = no
         answer), [--na-prob {"id": p} JSON [--na-prob-thresh X]]. The official v2.0 logic:
         exact, f1, HasAns_*, NoAns_*, and with --na-prob best_exact/best_f1 and their
         thresholds. A question without a prediction scores 0.

Options:
  --task T     ner | re | qa | squad | squad2
  --gold FILE  gold file
  --pred FILE  prediction file
  --na-prob FILE       squad2: no-answer probability per question
  --na-prob-thresh X   squad2: no answer when na_prob > X (default ${SQUAD2_NA_PROB_THRESH})
  --json       print JSON (scores are fractions in [0,1]; the official scripts print %)
  -h, --help   this text`;

const pct = (x: number): string => (100 * x).toFixed(2).padStart(6) + '%';

function prfLine(name: string, s: PrfCounts): string {
  return `${name.padStart(17)}: precision: ${pct(s.precision)}; recall: ${pct(s.recall)}; FB1: ${(100 * s.f1).toFixed(2).padStart(6)}  ${s.predicted}`;
}

function nerText(r: NerResult): string {
  const lines = [
    `processed ${r.tokens} tokens with ${r.support} phrases; found: ${r.predicted} phrases; correct: ${r.correct}.`,
    `accuracy: ${pct(r.accuracy)}; precision: ${pct(r.precision)}; recall: ${pct(r.recall)}; FB1: ${(100 * r.f1).toFixed(2).padStart(6)}`,
  ];
  for (const [t, s] of Object.entries(r.per_type)) lines.push(prfLine(t, s));
  return lines.join('\n');
}

function reText(r: ReResult): string {
  const lines = [
    `micro (CPR groups, false excluded): precision: ${pct(r.precision)}; recall: ${pct(r.recall)}; F1: ${pct(r.f1)}  (${r.correct}/${r.predicted} predicted, ${r.support} gold)`,
  ];
  for (const [c, s] of Object.entries(r.per_class)) lines.push(prfLine(c, s));
  const { labels, matrix } = r.confusion;
  const w = Math.max(7, ...labels.map((l) => l.length)) + 1;
  lines.push('', 'confusion (rows gold, columns predicted):', ' '.repeat(w) + labels.map((l) => l.padStart(w)).join(''));
  for (const [i, row] of matrix.entries()) lines.push(labels[i].padEnd(w) + row.map((v) => String(v).padStart(w)).join(''));
  return lines.join('\n');
}

function scoreSquad2(gold: string, pred: string, naProb?: string, threshArg?: string): Squad2Result {
  const naProbThresh = threshArg === undefined ? undefined : Number(threshArg);
  if (naProbThresh !== undefined && (threshArg!.trim() === '' || !Number.isFinite(naProbThresh)))
    throw new BiomegError('BIOMEG_USAGE', `--na-prob-thresh must be a number, got '${threshArg}'`);
  return squad2Eval(readSquad(gold).examples, readSquadPredictions(pred), {
    naProbs: naProb ? readSquadNaProbs(naProb) : undefined,
    naProbThresh,
    files: { gold, pred, naProb },
  });
}

function squad2Text(r: Squad2Result): string {
  const lines = [`questions: ${r.total} (answered ${r.answered})`];
  for (const [k, v] of Object.entries(r)) {
    if (k === 'total' || k === 'answered') continue;
    lines.push(`${k}: ${k.endsWith('_total') ? v : k.endsWith('_thresh') ? v.toFixed(4) : pct(v)}`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      task: { type: 'string' },
      gold: { type: 'string' },
      pred: { type: 'string' },
      'na-prob': { type: 'string' },
      'na-prob-thresh': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const { task, gold, pred } = values;
  if (!task || !['ner', 're', 'qa', 'squad', 'squad2'].includes(task))
    throw new BiomegError('BIOMEG_USAGE', `--task must be ner, re, qa, squad or squad2\n\n${HELP}`);
  if (task !== 'squad2' && (values['na-prob'] || values['na-prob-thresh']))
    throw new BiomegError('BIOMEG_USAGE', '--na-prob and --na-prob-thresh are for --task squad2');
  if (!pred) throw new BiomegError('BIOMEG_USAGE', `--pred FILE is required\n\n${HELP}`);
  if (!gold && task !== 'ner') throw new BiomegError('BIOMEG_USAGE', `--gold FILE is required for --task ${task}`);
  let result: object;
  let text: string;
  if (task === 'ner') {
    const r = scoreConllFiles({ gold, pred });
    result = r;
    text = nerText(r);
  } else if (task === 're') {
    const r = scoreChemprotFiles(gold!, pred);
    result = r;
    text = reText(r);
  } else if (task === 'qa') {
    const r = bioasqFactoidEval(readBioasqGolden(gold!), readBioasqAnswers(pred));
    result = r;
    text = `factoid questions: ${r.questions} (answered ${r.answered})\nstrict accuracy: ${pct(r.strict_acc)}\nlenient accuracy: ${pct(r.lenient_acc)}\nMRR: ${r.mrr.toFixed(4)}`;
  } else if (task === 'squad2') {
    const r = scoreSquad2(gold!, pred, values['na-prob'], values['na-prob-thresh']);
    result = r;
    text = squad2Text(r);
  } else {
    const r = squadEval(readSquad(gold!).examples, readSquadPredictions(pred));
    result = r;
    text = `questions: ${r.total} (answered ${r.answered})\nexact_match: ${pct(r.exact_match)}\nf1: ${pct(r.f1)}`;
  }
  console.log(values.json ? JSON.stringify({ task, ...result }, null, 2) : text);
  return 0;
}
