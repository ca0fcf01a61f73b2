//! The one forward pass of every encoder and head, for inference and for training (llm.c's
//! `gpt2_forward` is the model): inference runs it with dropout off and no cache; training runs it
//! with dropout and a `Cache` that keeps exactly what `train::backprop::backward` reads.
//!
//! - BERT / ELECTRA (post-LN): LayerNorm after each residual add, LayerNorm on the embeddings.
//! - Megatron-BERT (pre-LN): LayerNorm before each sub-layer, residual added after, a final
//!   LayerNorm; none on the embeddings.
//! - ALBERT: BERT's layer, one set of weights applied `num_hidden_layers` times (`cfg.schedule`),
//!   embeddings projected to the hidden size as ELECTRA's.
//!
//! Dropout sites follow Hugging Face: after the embeddings (after their LayerNorm), on attention
//! probabilities, after the attention output and MLP output projections (before the residual
//! add), and on the head input (after the pooler for pooled sequence heads; also between the two
//! layers of 2-FC sequence heads, as in ELECTRA's classification head). Without a cache every
//! LayerNorm and GELU runs in place, so inference holds one activation set at a time.

use std::borrow::Cow;

use crate::config::{Arch, HeadTask, ModelConfig};
use crate::error::{CoreError, Result};
use crate::kernels::attention::{attention_with, AttnShape, Dropout};
use crate::kernels::dispatch::{linear_inference, matmul};
use crate::kernels::fused::{add_bias, bias_act, bias_residual, bias_residual_layer_norm};
use crate::kernels::gemm::MatRef;
use crate::kernels::ops::{act_in_place, add_assign, fill_rows, layer_norm, mix64};
use crate::kernels::packed::Epilogue;
use crate::kernels::profile::{scope, Op};
use crate::model::{Act, Batch, Encoder, Head, HeadKind, LayerNorm, Linear};
use crate::train::ops::{act_forward, dropout, layer_norm_forward, LnCache};

/// Dropout probabilities and the seed of this micro-batch (p = 0 turns a site off).
#[derive(Clone, Copy, Debug)]
pub struct DropCfg {
    pub hidden: f32,
    pub attn: f32,
    pub head: f32,
    pub seed: u64,
}

impl DropCfg {
    pub const OFF: DropCfg = DropCfg { hidden: 0.0, attn: 0.0, head: 0.0, seed: 0 };
    /// Independent stream for one dropout site.
    pub(crate) fn site(&self, id: u64) -> u64 {
        mix64(self.seed ^ mix64(id.wrapping_add(0x5151)))
    }
}

pub(crate) const SITE_EMB: u64 = 1;
pub(crate) const SITE_HEAD0: u64 = 2;
pub(crate) const SITE_HEAD1: u64 = 3;
pub(crate) fn site_layer(l: usize, k: u64) -> u64 {
    100 + 4 * l as u64 + k
}

/// Dropout on the MLP output: Hugging Face's ALBERT layer has none there.
pub(crate) fn mlp_dropout(cfg: &ModelConfig, d: DropCfg) -> f32 {
    if cfg.is_albert() {
        0.0
    } else {
        d.hidden
    }
}

/// What backward reads of one layer.
pub(crate) struct LayerCache {
    /// Layer input (post-LN only; pre-LN backward reads `h1`).
    pub x_in: Vec<f32>,
    pub ln1: Option<LnCache>,
    pub h1: Vec<f32>,
    pub qkv: Vec<f32>,
    pub ctx: Vec<f32>,
    pub lse: Vec<f32>,
    pub ln2: LnCache,
    pub h2: Vec<f32>,
    pub inter_pre: Vec<f32>,
    pub inter_act: Vec<f32>,
    pub ln3: Option<LnCache>,
}

/// What backward reads of the head.
#[derive(Default)]
pub(crate) struct HeadCache {
    pub rows: usize,
    /// Input of the head's first Linear (after dropout).
    pub x: Vec<f32>,
    /// Pre-activation and activation of the hidden layer (pooler / 2-FC), input of the last Linear.
    pub pre: Vec<f32>,
    pub act: Vec<f32>,
    pub act_in: Vec<f32>,
    /// Masked LM: the transform's LayerNorm and the positions (rows of [batch*seq]) the logits
    /// were computed for (None = every position).
    pub ln: Option<LnCache>,
    pub sel: Option<Vec<usize>>,
}

/// Everything the backward pass reads.
pub struct Cache {
    pub(crate) batch: usize,
    pub(crate) seq: usize,
    pub(crate) ids: Vec<u32>,
    pub(crate) type_ids: Vec<u32>,
    pub(crate) key_mask: Vec<bool>,
    pub(crate) emb_ln: Option<LnCache>,
    pub(crate) proj_in: Option<Vec<f32>>,
    pub(crate) layers: Vec<LayerCache>,
    pub(crate) final_ln: Option<LnCache>,
    pub(crate) head: HeadCache,
    pub(crate) drop: DropCfg,
}

pub(crate) fn attn_shape(enc: &Encoder, batch: usize, seq: usize) -> AttnShape {
    AttnShape { batch, seq, heads: enc.cfg.heads, head_dim: enc.cfg.head_dim() }
}

/// y = x W^T + b into a new buffer.
pub(crate) fn linear_forward(l: &Linear, x: &[f32], rows: usize) -> Vec<f32> {
    let mut y = vec![0f32; rows * l.out];
    l.forward(x, rows, &mut y);
    y
}

/// Activation buffers recycled from layer to layer when nothing is kept (inference), so a forward
/// pass neither allocates nor zero-fills per layer (about 1 GB of fresh memory per 345m forward
/// otherwise). When caching, every buffer moves into the cache and `take` allocates.
struct Scratch {
    recycle: bool,
    free: Vec<Vec<f32>>,
}

impl Scratch {
    /// A buffer of `n` elements whose contents are stale: callers overwrite every element.
    fn take(&mut self, n: usize) -> Vec<f32> {
        match self.free.iter().position(|v| v.capacity() >= n) {
            Some(i) => {
                let mut v = self.free.swap_remove(i);
                v.resize(n, 0.0);
                v
            }
            None => vec![0f32; n],
        }
    }
    fn give(&mut self, bufs: impl IntoIterator<Item = Vec<f32>>) {
        if self.recycle {
            self.free.extend(bufs.into_iter().filter(|v| v.capacity() > 0));
        }
    }
    /// `l`(x) into a recycled buffer. With an epilogue (inference), the bias is left to it:
    /// `Epilogue::None` for a Linear whose bias a later fused pass adds.
    fn linear_for(&mut self, l: &Linear, x: &[f32], rows: usize, epi: Option<Epilogue>) -> Vec<f32> {
        let mut y = self.take(rows * l.out);
        match epi {
            Some(epi) => linear_inference(rows, l.out, l.inp, x, &l.w, &mut y, epi),
            None => l.forward(x, rows, &mut y),
        }
        y
    }
    fn copy_of(&mut self, x: &[f32]) -> Vec<f32> {
        let mut y = self.take(x.len());
        y.copy_from_slice(x);
        y
    }
}

/// Whether `l`'s forward GEMM runs on its packed weight (and so can take an epilogue).
fn packed(l: &Linear) -> bool {
    l.w.packed().is_some()
}

/// The epilogue a fused inference Linear hands its GEMM: `epi` when the weight is packed, none
/// (bias added by a separate fused pass) otherwise; `None` (bias in the GEMM) when not fusing.
fn in_gemm<'a>(fuse: bool, l: &Linear, epi: Epilogue<'a>) -> Option<Epilogue<'a>> {
    fuse.then_some(if packed(l) { epi } else { Epilogue::None })
}

/// BIOMEG_UNFUSED set (native only): inference runs the separate bias / residual / LN passes.
fn unfused() -> bool {
    static U: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *U.get_or_init(|| !cfg!(target_arch = "wasm32") && std::env::var_os("BIOMEG_UNFUSED").is_some())
}

/// LayerNorm of `x`: in place, or through the kernel that keeps what backward reads.
fn norm(x: &mut Vec<f32>, ln: &LayerNorm, eps: f32, keep: bool) -> Option<LnCache> {
    let _p = scope(Op::LayerNorm);
    if !keep {
        layer_norm(x, &ln.g, &ln.b, eps);
        return None;
    }
    let (y, c) = layer_norm_forward(x, &ln.g, &ln.b, eps);
    *x = y;
    Some(c)
}

impl Encoder {
    /// Last hidden state, [batch*seq, hidden] (inference: no dropout, nothing kept).
    pub fn forward(&self, b: &Batch) -> Result<Vec<f32>> {
        b.check(&self.cfg)?;
        Ok(self.run(b, DropCfg::OFF, None))
    }

    /// Head logits from a last hidden state: [batch*seq, labels] for token-level heads
    /// (token, qa as start/end pairs, discriminator), [batch*seq, vocab] for a masked-LM head,
    /// [batch, labels] for sequence heads.
    pub fn head_logits(&self, hidden: &[f32], batch: usize, seq: usize) -> Result<Vec<f32>> {
        if self.head.is_none() {
            return Err(CoreError::Input(
                "this model has no task head (load a checkpoint with a classifier / qa_outputs / masked-LM head)".into(),
            ));
        }
        Ok(self.run_head(hidden, batch, seq, DropCfg::OFF, None))
    }

    /// MLM logits [rows.len(), vocab] at positions `rows` of a last hidden state (no dropout).
    pub fn mlm_logits_at(&self, hidden: &[f32], rows: &[usize]) -> Vec<f32> {
        self.run_mlm(hidden, 0, Some(rows), None)
    }

    /// Training forward: head logits and the cache backward needs, with dropout `d`. The model
    /// must have a head.
    pub fn forward_train(&self, b: &Batch, d: DropCfg) -> Result<(Vec<f32>, Cache)> {
        self.forward_train_rows(b, d, None)
    }

    /// As `forward_train`; a masked-LM head computes logits only for positions `rows` (indices
    /// into [batch*seq], e.g. the masked ones), [rows.len(), vocab]: the decoder GEMM is the
    /// largest of a small model, and 85 % of positions carry no MLM label.
    pub fn forward_train_rows(&self, b: &Batch, d: DropCfg, rows: Option<&[usize]>) -> Result<(Vec<f32>, Cache)> {
        b.check(&self.cfg)?;
        let mut c = Cache {
            batch: b.batch,
            seq: b.seq,
            ids: b.ids.to_vec(),
            type_ids: b.type_ids.to_vec(),
            key_mask: Vec::new(),
            emb_ln: None,
            proj_in: None,
            layers: Vec::with_capacity(self.layers.len()),
            final_ln: None,
            head: HeadCache::default(),
            drop: d,
        };
        let x = self.run(b, d, Some(&mut c));
        let mut head = HeadCache::default();
        let logits = self.run_head_rows(&x, b.batch, b.seq, d, Some(&mut head), rows);
        c.head = head;
        Ok((logits, c))
    }

    /// Word + position + token-type embeddings, [batch*seq, embedding_size], before any
    /// LayerNorm or projection.
    fn embedding_sum(&self, b: &Batch) -> Vec<f32> {
        let (t, e) = (b.batch * b.seq, self.cfg.embedding_size);
        let mut x = vec![0f32; t * e];
        for (i, row) in x.chunks_exact_mut(e).enumerate() {
            let (id, pos) = (b.ids[i] as usize, i % b.seq);
            let tt = b.type_ids.get(i).copied().unwrap_or(0) as usize;
            let (w, p, ty) = (&self.emb.word[id * e..][..e], &self.emb.pos[pos * e..][..e], &self.emb.typ[tt * e..][..e]);
            for j in 0..e {
                row[j] = w[j] + p[j] + ty[j];
            }
        }
        x
    }

    /// Embeddings and every layer; fills `cache` (all but the head) when given.
    fn run(&self, b: &Batch, d: DropCfg, mut cache: Option<&mut Cache>) -> Vec<f32> {
        let cfg = &self.cfg;
        let keep = cache.is_some();
        let (t, eps) = (b.batch * b.seq, cfg.eps);
        let mut x = scope(Op::Embeddings).run(|| self.embedding_sum(b));
        // Outside the embeddings scope: norm() times itself as LayerNorm (nested, it counted twice).
        let emb_ln = self.emb.ln.as_ref().and_then(|ln| norm(&mut x, ln, eps, keep));
        let p_emb = scope(Op::Embeddings);
        dropout(&mut x, d.hidden, d.site(SITE_EMB));
        let proj_in = self.emb.project.as_ref().map(|p| {
            let y = linear_forward(p, &x, t);
            std::mem::replace(&mut x, y)
        });
        drop(p_emb);
        let key_mask: Vec<bool> = b.mask.iter().map(|&m| m != 0).collect();
        let shape = attn_shape(self, b.batch, b.seq);
        let mut scratch = Scratch { recycle: !keep, free: Vec::new() };
        // Inference fuses each Linear's bias into one parallel pass with what follows it
        // (kernels/fused.rs); training keeps the separate steps that backward mirrors.
        // BIOMEG_UNFUSED=1 runs inference unfused (for before/after measurements).
        let fuse = !keep && !unfused();
        // ALBERT runs its shared layers several times; caches and dropout sites are per application.
        for (li, k) in cfg.schedule().into_iter().enumerate() {
            let l = &self.layers[k];
            let x_in = std::mem::take(&mut x);
            // Attention sub-layer. Pre-LN normalises a copy of the residual stream first.
            let (h1, ln1) = match cfg.arch {
                Arch::PreLn => {
                    let mut h = scratch.copy_of(&x_in);
                    let c = norm(&mut h, &l.ln_attn, eps, keep);
                    (h, c)
                }
                Arch::PostLn => (Vec::new(), None),
            };
            let p = scope(Op::QkvGemm);
            let qkv_in = if cfg.arch == Arch::PreLn { &h1 } else { &x_in };
            let mut qkv = scratch.linear_for(&l.qkv, qkv_in, t, in_gemm(fuse, &l.qkv, Epilogue::Bias(&l.qkv.b)));
            drop(p);
            if fuse && !packed(&l.qkv) {
                scope(Op::BiasResidual).run(|| add_bias(&mut qkv, &l.qkv.b));
            }
            let mut ctx = scratch.take(t * cfg.hidden);
            let mut lse = if keep { vec![0f32; b.batch * cfg.heads * b.seq] } else { Vec::new() };
            let attn_drop = Dropout { p: d.attn, seed: d.site(site_layer(li, 0)) };
            let p = scope(Op::Attention);
            attention_with(&qkv, &key_mask, shape, attn_drop, &mut ctx, keep.then_some(&mut lse[..]));
            drop(p);
            let p = scope(Op::AttnOutGemm);
            let mut a = scratch.linear_for(&l.attn_out, &ctx, t, fuse.then_some(Epilogue::None));
            drop(p);
            dropout(&mut a, d.hidden, d.site(site_layer(li, 1)));
            // Post-LN: h2 = LN(a) feeds the MLP and is its residual. Pre-LN: a is the residual
            // and h2 = LN(a) feeds the MLP.
            let (h2, ln2, residual) = match (cfg.arch, fuse) {
                (Arch::PostLn, true) => {
                    let _p = scope(Op::LayerNorm);
                    bias_residual_layer_norm(&mut a, &l.attn_out.b, &x_in, &l.ln_attn.g, &l.ln_attn.b, eps);
                    (a, None, None)
                }
                (Arch::PostLn, false) => {
                    scope(Op::BiasResidual).run(|| add_assign(&mut a, &x_in));
                    let c = norm(&mut a, &l.ln_attn, eps, keep);
                    (a, c, None)
                }
                (Arch::PreLn, _) => {
                    scope(Op::BiasResidual)
                        .run(|| if fuse { bias_residual(&mut a, &l.attn_out.b, &x_in) } else { add_assign(&mut a, &x_in) });
                    let mut h = scratch.copy_of(&a);
                    let c = norm(&mut h, &l.ln_mlp, eps, keep);
                    (h, c, Some(a))
                }
            };
            let p = scope(Op::FfnInGemm);
            // A packed weight (BIOMEG_PREPACK=1) takes bias + activation inside the GEMM (the Gelu
            // op then reads 0); otherwise one fused pass follows it.
            let mut inter = scratch.linear_for(&l.inter, &h2, t, in_gemm(fuse, &l.inter, Epilogue::BiasAct(&l.inter.b, cfg.act)));
            drop(p);
            let inter_pre = if keep { inter.clone() } else { Vec::new() };
            if !packed(&l.inter) || !fuse {
                scope(Op::Gelu).run(|| if fuse { bias_act(&mut inter, &l.inter.b, cfg.act) } else { act_in_place(cfg.act, &mut inter) });
            }
            let p = scope(Op::FfnOutGemm);
            let mut o = scratch.linear_for(&l.out, &inter, t, fuse.then_some(Epilogue::None));
            drop(p);
            dropout(&mut o, mlp_dropout(cfg, d), d.site(site_layer(li, 2)));
            let res = residual.as_ref().unwrap_or(&h2);
            let ln3 = match (cfg.arch, fuse) {
                (Arch::PostLn, true) => {
                    let _p = scope(Op::LayerNorm);
                    bias_residual_layer_norm(&mut o, &l.out.b, res, &l.ln_mlp.g, &l.ln_mlp.b, eps);
                    None
                }
                (Arch::PreLn, true) => {
                    scope(Op::BiasResidual).run(|| bias_residual(&mut o, &l.out.b, res));
                    None
                }
                (arch, false) => {
                    scope(Op::BiasResidual).run(|| add_assign(&mut o, res));
                    if arch == Arch::PostLn {
                        norm(&mut o, &l.ln_mlp, eps, keep)
                    } else {
                        None
                    }
                }
            };
            x = o;
            match cache.as_deref_mut() {
                Some(c) => {
                    let x_in = if cfg.arch == Arch::PostLn { x_in } else { Vec::new() };
                    let ln2 = ln2.expect("kept when caching");
                    c.layers.push(LayerCache { x_in, ln1, h1, qkv, ctx, lse, ln2, h2, inter_pre, inter_act: inter, ln3 });
                }
                None => scratch.give([x_in, h1, qkv, ctx, h2, inter, residual.unwrap_or_default()]),
            }
        }
        let final_ln = self.final_ln.as_ref().and_then(|ln| norm(&mut x, ln, eps, keep));
        if let Some(c) = cache {
            (c.key_mask, c.emb_ln, c.proj_in, c.final_ln) = (key_mask, emb_ln, proj_in, final_ln);
        }
        x
    }

    /// The head on a last hidden state; fills `cache` when given.
    fn run_head(&self, x: &[f32], batch: usize, seq: usize, d: DropCfg, cache: Option<&mut HeadCache>) -> Vec<f32> {
        self.run_head_rows(x, batch, seq, d, cache, None)
    }

    /// Masked-LM head on positions `sel` of `x` (all when None): transform, activation,
    /// LayerNorm, then x E^T + bias with the word embeddings E (no dropout, as Hugging Face).
    fn run_mlm(&self, x: &[f32], rows_all: usize, sel: Option<&[usize]>, cache: Option<&mut HeadCache>) -> Vec<f32> {
        let Some(Head { kind: HeadKind::Mlm { transform, act, ln, bias }, .. }) = &self.head else { unreachable!("an MLM head") };
        let (h, e, v) = (self.cfg.hidden, transform.out, bias.len());
        let (rows, xin): (usize, Cow<[f32]>) = match sel {
            Some(s) => (s.len(), s.iter().flat_map(|&r| x[r * h..(r + 1) * h].iter().copied()).collect::<Vec<_>>().into()),
            None => (rows_all, x.into()),
        };
        let pre = linear_forward(transform, &xin, rows);
        let a = act_forward(*act, &pre);
        let (z, lnc) = layer_norm_forward(&a, &ln.g, &ln.b, self.cfg.eps);
        let mut logits = vec![0f32; rows * v];
        fill_rows(&mut logits, bias);
        matmul(rows, v, e, MatRef::row_major(&z, e), MatRef::transposed(&self.emb.word, e), &mut logits, v, true);
        if let Some(c) = cache {
            *c = HeadCache { rows, x: xin.into_owned(), pre, act: a, act_in: z, ln: Some(lnc), sel: sel.map(<[usize]>::to_vec) };
        }
        logits
    }

    /// `run_head`, with an MLM head's positions restricted to `sel`.
    fn run_head_rows(
        &self,
        x: &[f32],
        batch: usize,
        seq: usize,
        d: DropCfg,
        cache: Option<&mut HeadCache>,
        sel: Option<&[usize]>,
    ) -> Vec<f32> {
        let head = self.head.as_ref().expect("callers check the head");
        let _p = scope(Op::Head);
        if head.task == HeadTask::Mlm {
            return self.run_mlm(x, batch * seq, sel, cache);
        }
        let h = self.cfg.hidden;
        let (rows, mut xin): (usize, Cow<[f32]>) = match head.task {
            HeadTask::Sequence => {
                (batch, (0..batch).flat_map(|b| x[b * seq * h..b * seq * h + h].iter().copied()).collect::<Vec<_>>().into())
            }
            _ => (batch * seq, x.into()),
        };
        let mut hc = HeadCache { rows, ..Default::default() };
        let (first, hidden) = match &head.kind {
            HeadKind::Single(l) => (l, None),
            HeadKind::Pooled { pooler, classifier } => (pooler, Some((classifier, Act::Tanh))),
            HeadKind::Double { dense, out, act } => (dense, Some((out, *act))),
            HeadKind::Mlm { .. } => unreachable!("handled by run_mlm"),
        };
        // The pooler sees undropped [CLS] states, as in Hugging Face.
        if !matches!(head.kind, HeadKind::Pooled { .. }) && d.head > 0.0 {
            dropout(xin.to_mut(), d.head, d.site(SITE_HEAD0));
        }
        let y = linear_forward(first, &xin, rows);
        let logits = match hidden {
            None => {
                hc.x = if cache.is_some() { xin.into_owned() } else { Vec::new() };
                y
            }
            Some((last, act)) => {
                let a = act_forward(act, &y);
                let mut act_in = a.clone();
                if matches!(head.kind, HeadKind::Pooled { .. }) || head.task == HeadTask::Sequence {
                    dropout(&mut act_in, d.head, d.site(SITE_HEAD1));
                }
                let logits = linear_forward(last, &act_in, rows);
                if cache.is_some() {
                    hc = HeadCache { rows, x: xin.into_owned(), pre: y, act: a, act_in, ..Default::default() };
                }
                logits
            }
        };
        if let Some(c) = cache {
            *c = hc;
        }
        logits
    }
}
