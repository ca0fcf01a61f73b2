//! Forward pass that keeps what backward needs, and the backward pass, for BERT (post-LN),
//! Megatron-BERT (pre-LN) and ELECTRA (embedding projection) encoders with their task heads.
//!
//! Dropout sites follow Hugging Face: after the embeddings (after their LayerNorm), on attention
//! probabilities, after the attention output and MLP output projections (before the residual
//! add), and on the head input (after the pooler for pooled sequence heads; also between the two
//! layers of 2-FC sequence heads, as in ELECTRA's classification head).

use super::attention::{attention_backward, attention_forward};
use super::ops::*;
use crate::config::{Arch, HeadTask};
use crate::kernels::attention::AttnShape;
use crate::kernels::ops::add_assign;
use crate::model::{Act, Batch, Encoder, HeadKind};

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
    fn site(&self, id: u64) -> u64 {
        mix64(self.seed ^ mix64(id.wrapping_add(0x5151)))
    }
}

const SITE_EMB: u64 = 1;
const SITE_HEAD0: u64 = 2;
const SITE_HEAD1: u64 = 3;
fn site_layer(l: usize, k: u64) -> u64 {
    100 + 4 * l as u64 + k
}

struct LayerCache {
    x_in: Vec<f32>,
    ln1: Option<LnCache>,
    h1: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    lse: Vec<f32>,
    ln2: LnCache,
    h2: Vec<f32>,
    inter_pre: Vec<f32>,
    inter_act: Vec<f32>,
    ln3: Option<LnCache>,
}

struct HeadCache {
    rows: usize,
    /// Input of the head's first Linear (after dropout).
    x: Vec<f32>,
    /// Pre-activation and activation of the hidden layer (pooler / 2-FC), input of the last Linear.
    pre: Vec<f32>,
    act: Vec<f32>,
    act_in: Vec<f32>,
}

/// Everything the backward pass reads.
pub struct Cache {
    batch: usize,
    seq: usize,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    key_mask: Vec<bool>,
    emb_ln: Option<LnCache>,
    proj_in: Option<Vec<f32>>,
    layers: Vec<LayerCache>,
    final_ln: Option<LnCache>,
    head: HeadCache,
    drop: DropCfg,
}

fn attn_shape(enc: &Encoder, batch: usize, seq: usize) -> AttnShape {
    AttnShape { batch, seq, heads: enc.cfg.heads, head_dim: enc.cfg.head_dim() }
}

/// Forward with cache: returns the head logits ([batch*seq, labels] for token and QA heads,
/// [batch, labels] for sequence heads) and the cache. The batch must already be validated.
pub fn forward(enc: &Encoder, b: &Batch, d: DropCfg) -> (Vec<f32>, Cache) {
    let cfg = &enc.cfg;
    let (t, eps) = (b.batch * b.seq, cfg.eps);
    let mut x = enc.embedding_sum(b);
    let emb_ln = enc.emb.ln.as_ref().map(|ln| {
        let (y, c) = layer_norm_forward(&x, &ln.g, &ln.b, eps);
        x = y;
        c
    });
    dropout(&mut x, d.hidden, d.site(SITE_EMB));
    let proj_in = enc.emb.project.as_ref().map(|p| {
        let y = linear_forward(p, &x, t);
        std::mem::replace(&mut x, y)
    });
    let key_mask: Vec<bool> = b.mask.iter().map(|&m| m != 0).collect();
    let shape = attn_shape(enc, b.batch, b.seq);
    let mut layers = Vec::with_capacity(enc.layers.len());
    for (li, l) in enc.layers.iter().enumerate() {
        let x_in = std::mem::take(&mut x);
        let (ln1, h1) = match cfg.arch {
            Arch::PreLn => {
                let (y, c) = layer_norm_forward(&x_in, &l.ln_attn.g, &l.ln_attn.b, eps);
                (Some(c), y)
            }
            Arch::PostLn => (None, Vec::new()),
        };
        let qkv_in = if ln1.is_some() { &h1 } else { &x_in };
        let qkv = linear_forward(&l.qkv, qkv_in, t);
        let (ctx, lse) = attention_forward(&qkv, &key_mask, shape, d.attn, d.site(site_layer(li, 0)));
        let mut a = linear_forward(&l.attn_out, &ctx, t);
        dropout(&mut a, d.hidden, d.site(site_layer(li, 1)));
        add_assign(&mut a, &x_in);
        let (h2, ln2, x1) = match cfg.arch {
            Arch::PostLn => {
                let (y, c) = layer_norm_forward(&a, &l.ln_attn.g, &l.ln_attn.b, eps);
                (y, c, Vec::new())
            }
            Arch::PreLn => {
                let (y, c) = layer_norm_forward(&a, &l.ln_mlp.g, &l.ln_mlp.b, eps);
                (y, c, a)
            }
        };
        let inter_pre = linear_forward(&l.inter, &h2, t);
        let inter_act = gelu_forward(&inter_pre);
        let mut o = linear_forward(&l.out, &inter_act, t);
        dropout(&mut o, d.hidden, d.site(site_layer(li, 2)));
        let ln3 = match cfg.arch {
            Arch::PostLn => {
                add_assign(&mut o, &h2);
                let (y, c) = layer_norm_forward(&o, &l.ln_mlp.g, &l.ln_mlp.b, eps);
                x = y;
                Some(c)
            }
            Arch::PreLn => {
                add_assign(&mut o, &x1);
                x = o;
                None
            }
        };
        let x_in = if cfg.arch == Arch::PostLn { x_in } else { Vec::new() };
        layers.push(LayerCache { x_in, ln1, h1, qkv, ctx, lse, ln2, h2, inter_pre, inter_act, ln3 });
    }
    let final_ln = enc.final_ln.as_ref().map(|ln| {
        let (y, c) = layer_norm_forward(&x, &ln.g, &ln.b, eps);
        x = y;
        c
    });
    let (logits, head) = head_forward(enc, &x, b.batch, b.seq, d);
    let cache = Cache {
        batch: b.batch,
        seq: b.seq,
        ids: b.ids.to_vec(),
        type_ids: b.type_ids.to_vec(),
        key_mask,
        emb_ln,
        proj_in,
        layers,
        final_ln,
        head,
        drop: d,
    };
    (logits, cache)
}

fn head_forward(enc: &Encoder, x: &[f32], batch: usize, seq: usize, d: DropCfg) -> (Vec<f32>, HeadCache) {
    let head = enc.head.as_ref().expect("trainer checked the head");
    let h = enc.cfg.hidden;
    let (rows, mut xin) = match head.task {
        HeadTask::Sequence => (batch, (0..batch).flat_map(|b| x[b * seq * h..b * seq * h + h].iter().copied()).collect::<Vec<_>>()),
        _ => (batch * seq, x.to_vec()),
    };
    let mut hc = HeadCache { rows, x: Vec::new(), pre: Vec::new(), act: Vec::new(), act_in: Vec::new() };
    let logits = match &head.kind {
        HeadKind::Single(l) => {
            dropout(&mut xin, d.head, d.site(SITE_HEAD0));
            let y = linear_forward(l, &xin, rows);
            hc.x = xin;
            y
        }
        HeadKind::Pooled { pooler, classifier } => {
            let pre = linear_forward(pooler, &xin, rows);
            let act = act_forward(Act::Tanh, &pre);
            let mut act_in = act.clone();
            dropout(&mut act_in, d.head, d.site(SITE_HEAD1));
            let y = linear_forward(classifier, &act_in, rows);
            hc = HeadCache { rows, x: xin, pre, act, act_in };
            y
        }
        HeadKind::Double { dense, out, act: a } => {
            dropout(&mut xin, d.head, d.site(SITE_HEAD0));
            let pre = linear_forward(dense, &xin, rows);
            let act = act_forward(*a, &pre);
            let mut act_in = act.clone();
            if head.task == HeadTask::Sequence {
                dropout(&mut act_in, d.head, d.site(SITE_HEAD1));
            }
            let y = linear_forward(out, &act_in, rows);
            hc = HeadCache { rows, x: xin, pre, act, act_in };
            y
        }
    };
    (logits, hc)
}

/// Backward from d(logits); adds every parameter gradient into `g` (same shape as `enc`). The
/// word-embedding row of `pad_id` gets no gradient (nn.Embedding's padding_idx, as in HF BERT).
pub fn backward(enc: &Encoder, g: &mut Encoder, mut c: Cache, dlogits: &[f32], pad_id: Option<u32>) {
    let cfg = &enc.cfg;
    let t = c.batch * c.seq;
    let d = c.drop;
    let mut dx = head_backward(enc, g, &c.head, dlogits, c.batch, c.seq, d);
    if let (Some(ln), Some(gln), Some(lc)) = (&enc.final_ln, &mut g.final_ln, &c.final_ln) {
        dx = layer_norm_backward(lc, &ln.g, &mut gln.g, &mut gln.b, &dx);
    }
    let shape = attn_shape(enc, c.batch, c.seq);
    for li in (0..enc.layers.len()).rev() {
        let lc = c.layers.pop().expect("one cache per layer");
        let (l, gl) = (&enc.layers[li], &mut g.layers[li]);
        let (ln_a, ln_m) = (&l.ln_attn, &l.ln_mlp);
        match cfg.arch {
            Arch::PostLn => {
                let dz = layer_norm_backward(lc.ln3.as_ref().unwrap(), &ln_m.g, &mut gl.ln_mlp.g, &mut gl.ln_mlp.b, &dx);
                let mut dout = dz.clone();
                dropout(&mut dout, d.hidden, d.site(site_layer(li, 2)));
                let mut dact = linear_backward(&l.out, &mut gl.out.w, &mut gl.out.b, &lc.inter_act, &dout, t, true).unwrap();
                gelu_backward(&lc.inter_pre, &mut dact);
                let dh2 = linear_backward(&l.inter, &mut gl.inter.w, &mut gl.inter.b, &lc.h2, &dact, t, true).unwrap();
                let mut dy1 = dz;
                add_assign(&mut dy1, &dh2);
                let dz1 = layer_norm_backward(&lc.ln2, &ln_a.g, &mut gl.ln_attn.g, &mut gl.ln_attn.b, &dy1);
                let mut da = dz1.clone();
                dropout(&mut da, d.hidden, d.site(site_layer(li, 1)));
                let dctx = linear_backward(&l.attn_out, &mut gl.attn_out.w, &mut gl.attn_out.b, &lc.ctx, &da, t, true).unwrap();
                let dqkv = attention_backward(&lc.qkv, &c.key_mask, shape, d.attn, d.site(site_layer(li, 0)), &lc.ctx, &lc.lse, &dctx);
                let dxq = linear_backward(&l.qkv, &mut gl.qkv.w, &mut gl.qkv.b, &lc.x_in, &dqkv, t, true).unwrap();
                dx = dz1;
                add_assign(&mut dx, &dxq);
            }
            Arch::PreLn => {
                let mut dout = dx.clone();
                dropout(&mut dout, d.hidden, d.site(site_layer(li, 2)));
                let mut dact = linear_backward(&l.out, &mut gl.out.w, &mut gl.out.b, &lc.inter_act, &dout, t, true).unwrap();
                gelu_backward(&lc.inter_pre, &mut dact);
                let dh2 = linear_backward(&l.inter, &mut gl.inter.w, &mut gl.inter.b, &lc.h2, &dact, t, true).unwrap();
                let dln2 = layer_norm_backward(&lc.ln2, &ln_m.g, &mut gl.ln_mlp.g, &mut gl.ln_mlp.b, &dh2);
                add_assign(&mut dx, &dln2);
                let mut da = dx.clone();
                dropout(&mut da, d.hidden, d.site(site_layer(li, 1)));
                let dctx = linear_backward(&l.attn_out, &mut gl.attn_out.w, &mut gl.attn_out.b, &lc.ctx, &da, t, true).unwrap();
                let dqkv = attention_backward(&lc.qkv, &c.key_mask, shape, d.attn, d.site(site_layer(li, 0)), &lc.ctx, &lc.lse, &dctx);
                let dh1 = linear_backward(&l.qkv, &mut gl.qkv.w, &mut gl.qkv.b, &lc.h1, &dqkv, t, true).unwrap();
                let dln1 = layer_norm_backward(lc.ln1.as_ref().unwrap(), &ln_a.g, &mut gl.ln_attn.g, &mut gl.ln_attn.b, &dh1);
                add_assign(&mut dx, &dln1);
            }
        }
    }
    // Embeddings.
    if let (Some(p), Some(gp), Some(pin)) = (&enc.emb.project, &mut g.emb.project, &c.proj_in) {
        dx = linear_backward(p, &mut gp.w, &mut gp.b, pin, &dx, t, true).unwrap();
    }
    dropout(&mut dx, d.hidden, d.site(SITE_EMB));
    if let (Some(ln), Some(gln), Some(lc)) = (&enc.emb.ln, &mut g.emb.ln, &c.emb_ln) {
        dx = layer_norm_backward(lc, &ln.g, &mut gln.g, &mut gln.b, &dx);
    }
    let e = cfg.embedding_size;
    for (i, row) in dx.chunks_exact(e).enumerate() {
        let (id, pos) = (c.ids[i] as usize, i % c.seq);
        let tt = c.type_ids.get(i).copied().unwrap_or(0) as usize;
        let word = (Some(c.ids[i]) != pad_id).then_some((&mut g.emb.word, id * e));
        for (dst, base) in word.into_iter().chain([(&mut g.emb.pos, pos * e), (&mut g.emb.typ, tt * e)]) {
            for (a, v) in dst[base..base + e].iter_mut().zip(row) {
                *a += v;
            }
        }
    }
}

fn head_backward(enc: &Encoder, g: &mut Encoder, hc: &HeadCache, dlogits: &[f32], batch: usize, seq: usize, dc: DropCfg) -> Vec<f32> {
    let head = enc.head.as_ref().unwrap();
    let task = head.task;
    let gh = g.head.as_mut().unwrap();
    let rows = hc.rows;
    let d = match (&head.kind, &mut gh.kind) {
        (HeadKind::Single(l), HeadKind::Single(gl)) => {
            let mut dx = linear_backward(l, &mut gl.w, &mut gl.b, &hc.x, dlogits, rows, true).unwrap();
            dropout(&mut dx, dc.head, dc.site(SITE_HEAD0));
            dx
        }
        (HeadKind::Pooled { pooler, classifier }, HeadKind::Pooled { pooler: gp, classifier: gc }) => {
            let mut da = linear_backward(classifier, &mut gc.w, &mut gc.b, &hc.act_in, dlogits, rows, true).unwrap();
            dropout(&mut da, dc.head, dc.site(SITE_HEAD1));
            act_backward(Act::Tanh, &hc.pre, &hc.act, &mut da);
            linear_backward(pooler, &mut gp.w, &mut gp.b, &hc.x, &da, rows, true).unwrap()
        }
        (HeadKind::Double { dense, out, act }, HeadKind::Double { dense: gd, out: go, .. }) => {
            let mut da = linear_backward(out, &mut go.w, &mut go.b, &hc.act_in, dlogits, rows, true).unwrap();
            if task == HeadTask::Sequence {
                dropout(&mut da, dc.head, dc.site(SITE_HEAD1));
            }
            act_backward(*act, &hc.pre, &hc.act, &mut da);
            let mut dx = linear_backward(dense, &mut gd.w, &mut gd.b, &hc.x, &da, rows, true).unwrap();
            dropout(&mut dx, dc.head, dc.site(SITE_HEAD0));
            dx
        }
        _ => unreachable!("gradient head mirrors the model head"),
    };
    let h = enc.cfg.hidden;
    match task {
        HeadTask::Sequence => {
            let mut full = vec![0f32; batch * seq * h];
            for b in 0..batch {
                full[b * seq * h..b * seq * h + h].copy_from_slice(&d[b * h..(b + 1) * h]);
            }
            full
        }
        _ => d,
    }
}
