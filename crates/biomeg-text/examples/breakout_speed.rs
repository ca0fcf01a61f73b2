//! Pure-Rust break-out speed (no binding): words/s over the three NER training sets repeated to
//! N words, single thread.
//!     cargo run --release -p biomeg-text --example breakout_speed -- DATA_DIR VOCAB_TXT [N] [RUNS]
use std::time::Instant;

use biomeg_text::{breakout, BreakoutOptions, TextTokenizer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (data, vocab) = (&args[1], &args[2]);
    let target: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(10_000_000);
    let runs: usize = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(5);
    let mut files = Vec::new();
    for d in ["bc5cdr-chem", "bc5cdr-disease", "ncbi-disease"] {
        files.push(std::fs::read_to_string(format!("{data}/{d}/mtl-iob/train.tsv")).unwrap());
    }
    let (mut words, mut labels, mut lens) = (Vec::<&str>::new(), Vec::<&str>::new(), Vec::<u32>::new());
    'fill: loop {
        for f in &files {
            let mut n = 0u32;
            for line in f.lines() {
                if line.trim().is_empty() {
                    if n > 0 {
                        lens.push(n);
                        n = 0;
                    }
                    continue;
                }
                let (w, l) = line.split_once('\t').unwrap();
                words.push(w);
                labels.push(l);
                n += 1;
                if words.len() == target {
                    lens.push(n);
                    break 'fill;
                }
            }
            if n > 0 {
                lens.push(n);
            }
        }
    }
    let tok = TextTokenizer::from_vocab_txt(&std::fs::read_to_string(vocab).unwrap(), None, vocab).unwrap();
    let mut secs = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let r = breakout(&tok, &words, &lens, &labels, &BreakoutOptions::default()).unwrap();
        secs.push(t0.elapsed().as_secs_f64());
        assert_eq!(r.all.words as usize, words.len());
    }
    secs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = secs[secs.len() / 2];
    println!("{} words, median of {runs}: {med:.3} s = {:.2} M words/s (runs {secs:.3?})", words.len(), words.len() as f64 / med / 1e6);
}
