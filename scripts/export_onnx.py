"""Export a BERT encoder to ONNX for the onnxruntime comparisons: bench/browser.mjs (onnxruntime-web's
wasm backend on the same shapes as biomeg's wasm build), bench/ort_pairs.mjs (onnxruntime-node
against biomeg native), bench/onnx_int8.py and bench/int8_ner.mjs --ort (onnxruntime's dynamic int8
quantization). Inputs input_ids, attention_mask, token_type_ids (int64, dynamic batch and
sequence), output last_hidden_state, or logits with --token-classification.

  --model-dir DIR    a Hugging Face folder (config.json + model.safetensors), e.g. MiniLM
  --config FILE      a config.json: random weights (bert-base for the 8x128 timing); a
                     "model_type": "megatron-bert" config (biomegatron-345m) exports a
                     MegatronBertModel (pre-LayerNorm layers), any other a BertModel
  --token-classification   with --model-dir: the fine-tuned token-classification model
                     (AutoModelForTokenClassification, e.g. a `biomeg train ner` OUT/best) with
                     its head; output logits [batch, seq, labels]
  --int8 FILE        also write onnxruntime's quantize_dynamic of the export to FILE (needs the
                     onnxruntime Python package)

Needs torch + transformers (/opt/biomeg-py) and the `onnx` package (bench/browser.mjs installs it
into .cache/pyonnx with pip --target when missing). Uses the TorchScript exporter (dynamo=False),
which needs no onnxscript.
"""

import argparse
import json

import torch
import transformers

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


class Positional(torch.nn.Module):
    """forward(ids, mask, type ids) positionally (transformers 5.x takes keywords), returning one
    field of the model output (last_hidden_state or logits)."""

    def __init__(self, model, output):
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return getattr(out, self.output)


def export(model, path, output="last_hidden_state"):
    """torch.onnx.export at opset 17 with dynamic batch and sequence axes."""
    ids = torch.ones(2, 16, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Positional(model.eval(), output),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            path,
            input_names=INPUTS,
            output_names=[output],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in INPUTS + [output]},
            opset_version=17,
            dynamo=False,
        )


def quantize_int8(src, dst):
    """onnxruntime's dynamic int8 quantization: every MatMul/Gemm weight to per-output-channel
    QInt8, activations to uint8 quantized per tensor at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True)


def random_model(config_file):
    with open(config_file) as f:
        cfg = json.load(f)
    cfg = {k: v for k, v in cfg.items() if not k.startswith("biomeg")}
    if cfg.get("model_type") == "megatron-bert":
        cfg.pop("model_type")
        return transformers.MegatronBertModel(transformers.MegatronBertConfig(**cfg), add_pooling_layer=False)
    cfg["model_type"] = "bert"
    return transformers.BertModel(transformers.BertConfig(**cfg), add_pooling_layer=False)


def main():
    ap = argparse.ArgumentParser()
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir")
    src.add_argument("--config")
    ap.add_argument("--token-classification", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--int8")
    args = ap.parse_args()
    if args.token_classification and not args.model_dir:
        ap.error("--token-classification needs --model-dir")
    torch.manual_seed(0)
    output = "last_hidden_state"
    if args.token_classification:
        model, output = transformers.AutoModelForTokenClassification.from_pretrained(args.model_dir), "logits"
    elif args.model_dir:
        model = transformers.AutoModel.from_pretrained(args.model_dir)
    else:
        model = random_model(args.config)
    export(model, args.out, output)
    print(f"wrote {args.out}")
    if args.int8:
        quantize_int8(args.out, args.int8)
        print(f"wrote {args.int8}")


if __name__ == "__main__":
    main()
