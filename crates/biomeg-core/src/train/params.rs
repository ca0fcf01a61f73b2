//! The trainable tensors of an `Encoder`, visited in one fixed order with their names, shapes
//! and whether weight decay applies. Gradients and the two AdamW moments are kept as zeroed
//! `Encoder`s of the same shape, so every buffer is addressed the same way.

use crate::config::Arch;
use crate::model::{Embeddings, Encoder, Head, HeadKind, Layer, LayerNorm, Linear};

/// One parameter tensor: internal name (Q, K, V fused as `...attention.self.qkv`), shape, and
/// whether AdamW decays it (not biases, not LayerNorm parameters).
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub decay: bool,
}

fn zeros_linear(l: &Linear) -> Linear {
    Linear { w: vec![0.0; l.w.len()], b: vec![0.0; l.b.len()], inp: l.inp, out: l.out }
}

fn zeros_ln(l: &LayerNorm) -> LayerNorm {
    LayerNorm { g: vec![0.0; l.g.len()], b: vec![0.0; l.b.len()] }
}

/// An encoder of the same shape with every tensor zero.
pub fn zeros_like(e: &Encoder) -> Encoder {
    let emb = Embeddings {
        word: vec![0.0; e.emb.word.len()],
        pos: vec![0.0; e.emb.pos.len()],
        typ: vec![0.0; e.emb.typ.len()],
        ln: e.emb.ln.as_ref().map(zeros_ln),
        project: e.emb.project.as_ref().map(zeros_linear),
    };
    let layers = e
        .layers
        .iter()
        .map(|l| Layer {
            qkv: zeros_linear(&l.qkv),
            attn_out: zeros_linear(&l.attn_out),
            ln_attn: zeros_ln(&l.ln_attn),
            inter: zeros_linear(&l.inter),
            out: zeros_linear(&l.out),
            ln_mlp: zeros_ln(&l.ln_mlp),
        })
        .collect();
    let head = e.head.as_ref().map(|h| Head {
        task: h.task,
        num_labels: h.num_labels,
        kind: match &h.kind {
            HeadKind::Single(l) => HeadKind::Single(zeros_linear(l)),
            HeadKind::Pooled { pooler, classifier } => HeadKind::Pooled { pooler: zeros_linear(pooler), classifier: zeros_linear(classifier) },
            HeadKind::Double { dense, out, act } => HeadKind::Double { dense: zeros_linear(dense), out: zeros_linear(out), act: *act },
        },
    });
    Encoder { cfg: e.cfg.clone(), emb, layers, final_ln: e.final_ln.as_ref().map(zeros_ln), head }
}

/// Names of the head's Linears: (module names in HF checkpoints).
fn head_names(h: &Head) -> Vec<&'static str> {
    use crate::config::HeadTask;
    let base = if h.task == HeadTask::Qa { "qa_outputs" } else { "classifier" };
    match (&h.kind, base) {
        (HeadKind::Single(_), "qa_outputs") => vec!["qa_outputs"],
        (HeadKind::Single(_), _) => vec!["classifier"],
        (HeadKind::Pooled { .. }, _) => vec!["pooler.dense", "classifier"],
        (HeadKind::Double { .. }, "qa_outputs") => vec!["qa_outputs.dense", "qa_outputs.out_proj"],
        (HeadKind::Double { .. }, _) => vec!["classifier.dense", "classifier.out_proj"],
    }
}

macro_rules! visit_impl {
    ($name:ident, $($m:tt)*) => {
        /// Every parameter tensor with its info, in the fixed order.
        pub fn $name(e: & $($m)* Encoder) -> Vec<(ParamInfo, & $($m)* Vec<f32>)> {
            let mut out = Vec::new();
            let info = |name: String, shape: Vec<usize>, decay: bool| ParamInfo { name, shape, decay };
            let (v, ed, post) = (e.cfg.vocab_size, e.cfg.embedding_size, e.cfg.arch == Arch::PostLn);
            let (mp, tv) = (e.cfg.max_positions, e.cfg.type_vocab);
            let emb = & $($m)* e.emb;
            out.push((info("embeddings.word_embeddings.weight".into(), vec![v, ed], true), & $($m)* emb.word));
            out.push((info("embeddings.position_embeddings.weight".into(), vec![mp, ed], true), & $($m)* emb.pos));
            out.push((info("embeddings.token_type_embeddings.weight".into(), vec![tv, ed], true), & $($m)* emb.typ));
            if let Some(ln) = & $($m)* emb.ln {
                let n = ln.g.len();
                out.push((info("embeddings.LayerNorm.weight".into(), vec![n], false), & $($m)* ln.g));
                out.push((info("embeddings.LayerNorm.bias".into(), vec![n], false), & $($m)* ln.b));
            }
            if let Some(l) = & $($m)* emb.project {
                let s = vec![l.out, l.inp];
                out.push((info("embeddings_project.weight".into(), s, true), & $($m)* l.w));
                out.push((info("embeddings_project.bias".into(), vec![l.out], false), & $($m)* l.b));
            }
            for (i, l) in (& $($m)* e.layers).iter_mut_or_iter().enumerate() {
                let p = format!("encoder.layer.{i}");
                let (lna, lnm) = if post { ("attention.output.LayerNorm", "output.LayerNorm") } else { ("attention.ln", "ln") };
                let lins: [(&str, & $($m)* Linear); 4] = [("attention.self.qkv", & $($m)* l.qkv), ("attention.output.dense", & $($m)* l.attn_out), ("intermediate.dense", & $($m)* l.inter), ("output.dense", & $($m)* l.out)];
                let [a, b, c, d] = lins;
                let lns: [(&str, & $($m)* LayerNorm); 2] = [(lna, & $($m)* l.ln_attn), (lnm, & $($m)* l.ln_mlp)];
                let [la, lm] = lns;
                for (n, lin) in [a, b] {
                    let s = vec![lin.out, lin.inp];
                    out.push((info(format!("{p}.{n}.weight"), s, true), & $($m)* lin.w));
                    out.push((info(format!("{p}.{n}.bias"), vec![lin.out], false), & $($m)* lin.b));
                }
                {
                    let (n, ln) = la;
                    let s = vec![ln.g.len()];
                    out.push((info(format!("{p}.{n}.weight"), s.clone(), false), & $($m)* ln.g));
                    out.push((info(format!("{p}.{n}.bias"), s, false), & $($m)* ln.b));
                }
                for (n, lin) in [c, d] {
                    let s = vec![lin.out, lin.inp];
                    out.push((info(format!("{p}.{n}.weight"), s, true), & $($m)* lin.w));
                    out.push((info(format!("{p}.{n}.bias"), vec![lin.out], false), & $($m)* lin.b));
                }
                {
                    let (n, ln) = lm;
                    let s = vec![ln.g.len()];
                    out.push((info(format!("{p}.{n}.weight"), s.clone(), false), & $($m)* ln.g));
                    out.push((info(format!("{p}.{n}.bias"), s, false), & $($m)* ln.b));
                }
            }
            if let Some(ln) = & $($m)* e.final_ln {
                let s = vec![ln.g.len()];
                out.push((info("encoder.ln.weight".into(), s.clone(), false), & $($m)* ln.g));
                out.push((info("encoder.ln.bias".into(), s, false), & $($m)* ln.b));
            }
            if let Some(h) = & $($m)* e.head {
                let names = head_names(h);
                let lins: Vec<& $($m)* Linear> = match & $($m)* h.kind {
                    HeadKind::Single(l) => vec![l],
                    HeadKind::Pooled { pooler, classifier } => vec![pooler, classifier],
                    HeadKind::Double { dense, out, .. } => vec![dense, out],
                };
                for (n, lin) in names.into_iter().zip(lins) {
                    let s = vec![lin.out, lin.inp];
                    out.push((info(format!("{n}.weight"), s, true), & $($m)* lin.w));
                    out.push((info(format!("{n}.bias"), vec![lin.out], false), & $($m)* lin.b));
                }
            }
            out
        }
    };
}

trait IterMutOrIter {
    type It;
    fn iter_mut_or_iter(self) -> Self::It;
}
impl<'a> IterMutOrIter for &'a Vec<Layer> {
    type It = std::slice::Iter<'a, Layer>;
    fn iter_mut_or_iter(self) -> Self::It {
        self.iter()
    }
}
impl<'a> IterMutOrIter for &'a mut Vec<Layer> {
    type It = std::slice::IterMut<'a, Layer>;
    fn iter_mut_or_iter(self) -> Self::It {
        self.iter_mut()
    }
}

visit_impl!(params, );
visit_impl!(params_mut, mut);
