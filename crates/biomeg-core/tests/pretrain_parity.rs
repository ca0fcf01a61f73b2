//! Pre-training objectives against PyTorch (test/fixtures/pretrain, made by
//! scripts/fixtures/make_pretrain_fixtures.py): masked LM on BertForMaskedLM,
//! MegatronBertForMaskedLM and AlbertForMaskedLM (decoder tied to the word embeddings), and
//! ELECTRA (ElectraForMaskedLM generator + ElectraForPreTraining discriminator, shared
//! embeddings, lambda 50) given the same masked batch and replacement tokens: loss, every
//! gradient, and every weight after one and two AdamW steps within 1e-4. Also: a biomeg-exported
//! masked-LM checkpoint loads in transformers' AutoModelForMaskedLM with no missing or unexpected
//! keys and the same logits (runs when /opt/biomeg-py has torch; skipped with a message otherwise).

use biomeg_core::train::electra::{ElectraOptions, ElectraTrainer};
use biomeg_core::train::{TrainOptions, Trainer};
use biomeg_core::weights::{write_safetensors, SafeTensors};
use biomeg_core::Batch;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> (Vec<u8>, serde_json::Value) {
    let dir = root().join("test/fixtures/pretrain");
    let bytes = std::fs::read(dir.join(format!("{name}.safetensors"))).unwrap();
    let meta = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    (bytes, meta)
}

fn model_files(dir: &str) -> (String, Vec<u8>) {
    let d = root().join("test/fixtures/pretrain").join(dir);
    (std::fs::read_to_string(d.join("config.json")).unwrap(), std::fs::read(d.join("model.safetensors")).unwrap())
}

struct Inputs {
    ids: Vec<u32>,
    tys: Vec<u32>,
    mask: Vec<u8>,
    labels: Vec<i32>,
    batch: usize,
    seq: usize,
}

impl Inputs {
    fn read(fx: &SafeTensors<&[u8]>) -> Inputs {
        let f = |n: &str| fx.read(n, &fx.tensors[n].shape.clone()).unwrap();
        let shape = fx.tensors["input_ids"].shape.clone();
        Inputs {
            ids: f("input_ids").iter().map(|&v| v as u32).collect(),
            tys: f("token_type_ids").iter().map(|&v| v as u32).collect(),
            mask: f("attention_mask").iter().map(|&v| v as u8).collect(),
            labels: f("labels").iter().map(|&v| v as i32).collect(),
            batch: shape[0],
            seq: shape[1],
        }
    }
    fn batch(&self) -> Batch<'_> {
        Batch { ids: &self.ids, type_ids: &self.tys, mask: &self.mask, batch: self.batch, seq: self.seq }
    }
}

/// Max |ours - torch| over the tensors of `ours` that PyTorch recorded under `{kind}{model}`
/// (`model` = "" or "generator/" / "discriminator/"); returns (worst, where, tensors compared).
/// As in train_parity.rs, weight comparisons leave out tensors whose true gradient is exactly
/// zero (attention key biases): Adam turns their ~1e-9 rounding noise into steps of +-lr.
fn compare(ours: &[u8], torch: &SafeTensors<&[u8]>, kind: &str, model: &str) -> (f64, String, usize) {
    let mine = SafeTensors::open(ours, "ours").unwrap();
    let (mut worst, mut at, mut n_cmp) = (0f64, String::new(), 0);
    let mut names: Vec<&String> = mine.tensors.keys().collect();
    names.sort();
    for n in names {
        let key = format!("{kind}{model}{n}");
        if !torch.contains(&key) {
            continue;
        }
        let shape = mine.tensors[n].shape.clone();
        if kind != "grad/" {
            let g = torch.read(&format!("grad/{model}{n}"), &shape).unwrap();
            if g.iter().all(|v| v.abs() < 1e-6) {
                continue;
            }
        }
        let (a, want) = (mine.read(n, &shape).unwrap(), torch.read(&key, &shape).unwrap());
        n_cmp += 1;
        for (i, (x, y)) in a.iter().zip(&want).enumerate() {
            let e = (x - y).abs() as f64;
            if e > worst {
                (worst, at) = (e, format!("{model}{n}[{i}] ours {x} torch {y}"));
            }
        }
    }
    (worst, at, n_cmp)
}

fn opts(meta: &serde_json::Value, cfg: &str) -> TrainOptions {
    let mut o = TrainOptions::from_json(&meta["hyperparameters"].to_string()).unwrap().with_model_config(cfg, "{}");
    (o.hidden_dropout, o.attn_dropout, o.head_dropout) = (0.0, 0.0, 0.0);
    o
}

fn mlm_case(name: &str) {
    let (cfg, w) = model_files(name);
    let enc = biomeg_core::load_from_bytes(&cfg, "config.json", &w, "model.safetensors").unwrap();
    assert_eq!(enc.head.as_ref().map(|h| h.task), Some(biomeg_core::config::HeadTask::Mlm), "{name}: MLM head detected");
    let (bytes, meta) = fixture(name);
    let fx = SafeTensors::open(bytes.as_slice(), name).unwrap();
    let inp = Inputs::read(&fx);
    let b = inp.batch();
    let mut tr = Trainer::new(enc, opts(&meta, &cfg)).unwrap();
    let losses: Vec<f64> = meta["losses"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let norms: Vec<f64> = meta["grad_norms_before_clip"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (loss1, counted) = tr.accumulate(&b, &inp.labels).unwrap();
    assert_eq!(counted, 5);
    let g = compare(&tr.export_gradients(), &fx, "grad/", "");
    tr.pending = 1;
    let norm1 = tr.apply_update().unwrap();
    let w1 = compare(&tr.export_weights(), &fx, "after1/", "");
    let out2 = tr.train_step(&b, &inp.labels).unwrap();
    let w2 = compare(&tr.export_weights(), &fx, "after2/", "");
    eprintln!(
        "{name}: loss {loss1} (torch {:.7}), step-2 loss {} (torch {:.7}), grad norm {norm1:.6} (torch {:.6}); max |grad diff| {:.1e} over {} tensors at {}; max |weight diff| {:.1e} / {:.1e}",
        losses[0], out2.loss, losses[1], norms[0], g.0, g.2, g.1, w1.0, w2.0
    );
    assert!(g.2 >= 10 && w1.2 >= 10, "{name}: compared {} gradients, {} weights", g.2, w1.2);
    assert!((loss1 as f64 - losses[0]).abs() < 1e-4, "{name}: loss {loss1} vs torch {}", losses[0]);
    assert!((out2.loss as f64 - losses[1]).abs() < 1e-4, "{name}: step-2 loss {} vs torch {}", out2.loss, losses[1]);
    assert!((norm1 - norms[0]).abs() < 1e-4 * norms[0].max(1.0), "{name}: grad norm {norm1} vs torch {}", norms[0]);
    assert!(g.0 < 1e-4, "{name}: gradient {}", g.1);
    assert!(w1.0 < 1e-4, "{name}: weights after step 1: {}", w1.1);
    assert!(w2.0 < 1e-4, "{name}: weights after step 2: {}", w2.1);
}

#[test]
fn bert_masked_lm_two_adamw_steps_match_pytorch() {
    mlm_case("tiny-bert-mlm");
}

#[test]
fn megatron_masked_lm_two_adamw_steps_match_pytorch() {
    mlm_case("tiny-megatron-mlm");
}

#[test]
fn albert_masked_lm_two_adamw_steps_match_pytorch() {
    mlm_case("tiny-albert-mlm");
}

#[test]
fn electra_generator_and_discriminator_two_joint_adamw_steps_match_pytorch() {
    let name = "tiny-electra";
    let (gcfg, gw) = model_files("tiny-electra/generator");
    let (dcfg, dw) = model_files("tiny-electra/discriminator");
    let (bytes, meta) = fixture(name);
    let fx = SafeTensors::open(bytes.as_slice(), name).unwrap();
    let inp = Inputs::read(&fx);
    let sampled: Vec<u32> = fx.read("sampled", &fx.tensors["sampled"].shape.clone()).unwrap().iter().map(|&v| v as u32).collect();
    let mut o = ElectraOptions { train: opts(&meta, &dcfg), ..Default::default() };
    o.disc_weight = meta["disc_weight"].as_f64().unwrap() as f32;
    let gen = biomeg_core::load_from_bytes(&gcfg, "generator/config.json", &gw, "generator/model.safetensors").unwrap();
    let disc = biomeg_core::load_from_bytes(&dcfg, "discriminator/config.json", &dw, "discriminator/model.safetensors").unwrap();
    let mut tr = ElectraTrainer::new(gen, disc, o).unwrap();
    let b = inp.batch();
    let f = |k: &str, i: usize| meta[k][i].as_f64().unwrap();
    let s1 = tr.accumulate(&b, &inp.labels, Some(&sampled)).unwrap();
    let (gg, dg) = tr.export_gradients();
    let grads = [compare(&gg, &fx, "grad/", "generator/"), compare(&dg, &fx, "grad/", "discriminator/")];
    tr.pending = 1;
    let norm1 = tr.apply_update().unwrap();
    let after = |tr: &ElectraTrainer, k: &str| {
        [compare(&tr.export_generator().0, &fx, k, "generator/"), compare(&tr.export_discriminator().0, &fx, k, "discriminator/")]
    };
    let w1 = after(&tr, "after1/");
    let s2 = tr.train_step(&b, &inp.labels, Some(&sampled)).unwrap();
    let w2 = after(&tr, "after2/");
    eprintln!(
        "{name}: loss {} = gen {} + 50 * disc {} (torch {:.6} = {:.6} + 50 * {:.6}); step 2 {} (torch {:.6}); grad norm {norm1:.5} (torch {:.5}); max |grad diff| gen {:.1e} ({} tensors) disc {:.1e} ({}); max |weight diff| step 1 {:.1e} / {:.1e}, step 2 {:.1e} / {:.1e}",
        s1.loss,
        s1.gen_loss,
        s1.disc_loss,
        f("losses", 0),
        f("gen_losses", 0),
        f("disc_losses", 0),
        s2.loss,
        f("losses", 1),
        f("grad_norms_before_clip", 0),
        grads[0].0,
        grads[0].2,
        grads[1].0,
        grads[1].2,
        w1[0].0,
        w1[1].0,
        w2[0].0,
        w2[1].0
    );
    assert_eq!((s1.masked, s1.replaced, s1.disc_counted), (5, 3, 14));
    assert!((s1.gen_loss as f64 - f("gen_losses", 0)).abs() < 1e-4);
    assert!((s1.disc_loss as f64 - f("disc_losses", 0)).abs() < 1e-5);
    assert!((s1.loss as f64 - f("losses", 0)).abs() < 1e-4 * f("losses", 0));
    assert!((s2.loss as f64 - f("losses", 1)).abs() < 1e-4 * f("losses", 1));
    assert!((norm1 - f("grad_norms_before_clip", 0)).abs() < 1e-4 * norm1);
    for (what, d) in [("gradient", &grads), ("weights after step 1", &w1), ("weights after step 2", &w2)] {
        for (worst, at, n) in d.iter() {
            assert!(*n >= 8, "{what}: only {n} tensors compared");
            assert!(*worst < 1e-4, "{name}: {what}: {at}");
        }
    }
}

/// Write `dir` (config.json, model.safetensors, the batch and biomeg's logits) and have
/// transformers load it (scripts/fixtures/make_pretrain_fixtures.py --check-export).
fn check_in_transformers(py: &str, what: &str, config: &str, weights: &[u8], inp: &Inputs, logits: &[f32]) {
    let dir = std::env::temp_dir().join(format!("biomeg-export-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(dir.join("model.safetensors"), weights).unwrap();
    let f = |v: &[u32]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let (ids, tys, mask) = (f(&inp.ids), f(&inp.tys), inp.mask.iter().map(|&x| x as f32).collect::<Vec<f32>>());
    let shape = [inp.batch, inp.seq];
    let lshape = [inp.batch * inp.seq, logits.len() / (inp.batch * inp.seq)];
    let refs: Vec<(&str, &[usize], &[f32])> =
        vec![("input_ids", &shape, &ids), ("token_type_ids", &shape, &tys), ("attention_mask", &shape, &mask), ("logits", &lshape, logits)];
    std::fs::write(dir.join("biomeg_reference.safetensors"), write_safetensors(&refs)).unwrap();
    let script = root().join("scripts/fixtures/make_pretrain_fixtures.py");
    let out = std::process::Command::new(py).arg(&script).arg("--check-export").arg(&dir).env("HF_HUB_OFFLINE", "1").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{what}: {}", stdout.trim());
    assert!(out.status.success(), "{what}: transformers check failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// biomeg checkpoints after one step, exported, load in transformers (AutoModelForMaskedLM;
/// AutoModelForPreTraining for the ELECTRA discriminator) with no missing or unexpected keys and
/// the same logits.
#[test]
fn exported_checkpoints_load_in_transformers_with_the_same_logits() {
    let py = std::env::var("BIOMEG_PYTHON").unwrap_or_else(|_| "/opt/biomeg-py/bin/python".into());
    let has_torch =
        std::process::Command::new(&py).args(["-c", "import torch, transformers"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !has_torch {
        eprintln!("SKIP exported_checkpoints_load_in_transformers: no python with torch + transformers at {py} (set BIOMEG_PYTHON)");
        return;
    }
    for name in ["tiny-bert-mlm", "tiny-megatron-mlm", "tiny-albert-mlm"] {
        let (cfg, w) = model_files(name);
        let enc = biomeg_core::load_from_bytes(&cfg, "config.json", &w, "model.safetensors").unwrap();
        let (bytes, meta) = fixture(name);
        let fx = SafeTensors::open(bytes.as_slice(), name).unwrap();
        let inp = Inputs::read(&fx);
        let mut tr = Trainer::new(enc, opts(&meta, &cfg)).unwrap();
        tr.train_step(&inp.batch(), &inp.labels).unwrap();
        let logits = tr.eval_logits(&inp.batch()).unwrap();
        check_in_transformers(&py, name, &tr.config_json(), &tr.export_weights(), &inp, &logits);
    }
    // ELECTRA from a config alone (embedding_size = hidden for the discriminator), one step.
    let cfg = r#"{"model_type":"electra","vocab_size":48,"hidden_size":16,"embedding_size":16,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":32,"max_position_embeddings":16}"#;
    let mut tr = ElectraTrainer::from_config(cfg, r#"{"lr":0.01,"generatorFraction":0.5}"#).unwrap();
    let (bytes, _) = fixture("tiny-electra");
    let fx = SafeTensors::open(bytes.as_slice(), "tiny-electra").unwrap();
    let inp = Inputs::read(&fx);
    tr.train_step(&inp.batch(), &inp.labels, None).unwrap();
    let b = inp.batch();
    let (g, d) = (&tr.gen.enc, &tr.disc.enc);
    let glogits = g.head_logits(&g.forward(&b).unwrap(), b.batch, b.seq).unwrap();
    let dlogits = d.head_logits(&d.forward(&b).unwrap(), b.batch, b.seq).unwrap();
    let (gw, gc) = tr.export_generator();
    check_in_transformers(&py, "electra-generator", &gc, &gw, &inp, &glogits);
    let (dw, dc) = tr.export_discriminator();
    check_in_transformers(&py, "electra-discriminator", &dc, &dw, &inp, &dlogits);
}
