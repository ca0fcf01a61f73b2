//! One and two AdamW steps on the tiny fixture checkpoints against PyTorch
//! (test/fixtures/train, made by scripts/fixtures/make_train_fixtures.py): loss, every gradient,
//! and every weight after each step within 1e-4.

use biomeg_core::train::{TrainOptions, Trainer};
use biomeg_core::weights::SafeTensors;
use biomeg_core::Batch;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Diff {
    worst: f64,
    at: String,
}

/// Max |ours - torch| over every tensor in `ours` (HF names), reading `torch` under `prefix`.
/// Tensors whose true gradient is exactly zero are left out of weight comparisons: attention key
/// biases (softmax ignores a constant added to a row of scores); for QA heads, whose softmax runs
/// over all positions, the output bias and the final LayerNorm bias (they shift every start/end
/// logit of a sequence alike). Both sides hold only rounding noise of ~1e-9 there, which Adam's
/// m / sqrt(v) turns into steps of +-lr of either sign. They are found as the tensors whose
/// PyTorch gradient is below 1e-6 everywhere; the gradient comparison still covers them.
fn compare(ours: &[u8], torch: &SafeTensors<&[u8]>, prefix: &str) -> Diff {
    let mine = SafeTensors::open(ours, "ours").unwrap();
    let mut d = Diff { worst: 0.0, at: String::new() };
    let mut names: Vec<&String> = mine.tensors.keys().collect();
    names.sort();
    assert!(names.len() > 10);
    for n in names {
        if prefix != "grad/" {
            let g = torch.read(&format!("grad/{n}"), &mine.tensors[n].shape).unwrap();
            if g.iter().all(|v| v.abs() < 1e-6) {
                continue;
            }
        }
        let shape = mine.tensors[n].shape.clone();
        let a = mine.read(n, &shape).unwrap();
        let want = torch.read(&format!("{prefix}{n}"), &shape).unwrap_or_else(|e| panic!("{prefix}{n}: {e}"));
        for (i, (x, y)) in a.iter().zip(&want).enumerate() {
            let e = (x - y).abs() as f64;
            if e > d.worst {
                d = Diff { worst: e, at: format!("{n}[{i}] ours {x} torch {y}") };
            }
        }
    }
    d
}

fn case(name: &str) {
    case_of(name, name);
}

/// Model `model` trained as fixture `name` (test/fixtures/train/<name>.*) records.
fn case_of(model: &str, name: &str) {
    let dir = root().join("test/fixtures/models").join(model);
    let cfg = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let w = std::fs::read(dir.join("model.safetensors")).unwrap();
    let enc = biomeg_core::load_from_bytes(&cfg, "config.json", &w, "model.safetensors").unwrap();
    let fx_bytes = std::fs::read(root().join(format!("test/fixtures/train/{name}.safetensors"))).unwrap();
    let fx = SafeTensors::open(fx_bytes.as_slice(), name).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(format!("test/fixtures/train/{name}.json"))).unwrap()).unwrap();
    let hp = &meta["hyperparameters"];
    let mut opts = TrainOptions::from_json(&hp.to_string()).unwrap().with_model_config(&cfg, "{}");
    opts.hidden_dropout = 0.0;
    opts.attn_dropout = 0.0;
    opts.head_dropout = 0.0;
    let shape = fx.tensors["input_ids"].shape.clone();
    let (batch, seq) = (shape[0], shape[1]);
    let f = |n: &str| fx.read(n, &fx.tensors[n].shape.clone()).unwrap();
    let ids: Vec<u32> = f("input_ids").iter().map(|&v| v as u32).collect();
    let tys: Vec<u32> = f("token_type_ids").iter().map(|&v| v as u32).collect();
    let mask: Vec<u8> = f("attention_mask").iter().map(|&v| v as u8).collect();
    let labels: Vec<i32> = f("labels").iter().map(|&v| v as i32).collect();
    let b = Batch { ids: &ids, type_ids: &tys, mask: &mask, batch, seq };
    let mut tr = Trainer::new(enc, opts).unwrap();
    let losses: Vec<f64> = meta["losses"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let norms: Vec<f64> = meta["grad_norms_before_clip"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();

    let (loss1, _) = tr.accumulate(&b, &labels).unwrap();
    let g = compare(&tr.export_gradients(), &fx, "grad/");
    tr.pending = 1;
    let norm1 = tr.apply_update().unwrap();
    let w1 = compare(&tr.export_weights(), &fx, "after1/");
    let out2 = tr.train_step(&b, &labels).unwrap();
    let w2 = compare(&tr.export_weights(), &fx, "after2/");
    eprintln!(
        "{name}: loss1 {loss1} (torch {:.7}, diff {:.1e}), loss2 {} (torch {:.7}, diff {:.1e}), grad norm {norm1:.6} (torch {:.6}); max |grad diff| {:.1e} at {}; max |weight diff| step 1 {:.1e}, step 2 {:.1e} at {}",
        losses[0],
        (loss1 as f64 - losses[0]).abs(),
        out2.loss,
        losses[1],
        (out2.loss as f64 - losses[1]).abs(),
        norms[0],
        g.worst,
        g.at,
        w1.worst,
        w2.worst,
        w2.at
    );
    assert!((loss1 as f64 - losses[0]).abs() < 1e-4, "{name}: loss {loss1} vs torch {}", losses[0]);
    assert!((out2.loss as f64 - losses[1]).abs() < 1e-4, "{name}: step-2 loss {} vs torch {}", out2.loss, losses[1]);
    assert!((norm1 - norms[0]).abs() < 1e-4 * norms[0].max(1.0), "{name}: grad norm {norm1} vs torch {}", norms[0]);
    assert!(g.worst < 1e-4, "{name}: gradient {}", g.at);
    assert!(w1.worst < 1e-4, "{name}: weights after step 1: {}", w1.at);
    assert!(w2.worst < 1e-4, "{name}: weights after step 2: {}", w2.at);
}

#[test]
fn bert_token_two_adamw_steps_match_pytorch() {
    case("tiny-bert-token");
}

#[test]
fn megatron_token_two_adamw_steps_match_pytorch() {
    case("tiny-megatron-token");
}

#[test]
fn bert_seqcls_pooled_two_adamw_steps_match_pytorch() {
    case("tiny-bert-seqcls");
}

#[test]
fn electra_seqcls_projection_two_adamw_steps_match_pytorch() {
    case("tiny-electra-seqcls");
}

#[test]
fn megatron_qa_two_adamw_steps_match_pytorch() {
    case("tiny-megatron-qa");
}

#[test]
fn albert_token_shared_layer_two_adamw_steps_match_pytorch() {
    case("tiny-albert-token");
}

#[test]
fn albert_seqcls_pooled_two_adamw_steps_match_pytorch() {
    case("tiny-albert-seqcls");
}

#[test]
fn albert_layer_groups_qa_two_adamw_steps_match_pytorch() {
    case("tiny-albert-groups-qa");
}

#[test]
fn bert_token_two_lamb_steps_match_a_reference_lamb_in_pytorch() {
    case_of("tiny-bert-token", "tiny-bert-token-lamb");
}
