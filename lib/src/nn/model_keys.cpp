#include "seqenc/nn/model_keys.h"

namespace seqenc {

void add_model_keys(Schema& s, EncoderOptions& m, Pooling& pooling) {
  s.add("model.encoder", m.name, "encoder architecture", encoder_names());
  s.add("model.num_hiddens", m.num_hiddens, "width d of tokens and states");
  s.add("model.num_layers", m.num_layers, "blocks, convolutions or recurrent layers");
  s.add("model.dropout", m.dropout, "dropout probability");
  s.add("model.num_heads", m.num_heads, "attention heads (transformer)");
  s.add("model.ffn_num_hiddens", m.ffn_num_hiddens, "position-wise FFN width (transformer)");
  s.add("model.pos_encoding", m.pos_encoding, "positional encoding (transformer)");
  s.add("model.max_relative_position", m.max_relative_position, "clipping distance of relative positions");
  s.add("model.attention_bias", m.attention_bias, "biases in W_q, W_k, W_v, W_o");
  s.add("model.pre_norm", m.pre_norm, "pre-norm blocks instead of the book's post-norm");
  s.add("model.recipe", m.recipe,
        "default: what docs/recipes.md measured to learn (transformer: embeddings N(0, 1/d), P never dropped, "
        "train.lr 0.003 and model.dropout 0 where unset); book: the section's model exactly");
  s.add("model.scaled_embeddings", m.scaled_embeddings,
        "transformer: token embeddings drawn N(0, 1/d) and not multiplied by sqrt(d); auto: as model.recipe says "
        "(default: true, book: false)");
  s.add("model.drop_positions", m.drop_positions,
        "transformer: dropout on X + P, as the book does, rather than on X alone; auto: as model.recipe says "
        "(book: true, default: false)");
  s.add("model.attention", m.attention,
        "attention kernel: fused (memory-linear), reference (the book's, keeps the weights), sdpa (LibTorch 2.x's), or "
        "auto: the fastest on this machine where it applies");
  s.add("model.kernel_size", m.kernel_size, "odd convolution width k (cnn)");
  s.add("model.dilated", m.dilated, "dilation 1, 2, 4, ... per layer (cnn)");
  s.add("model.activation", m.activation, "activation (cnn)");
  s.add("model.cell", m.cell, "recurrent cell (rnn)");
  s.add("model.bidirectional", m.bidirectional, "both directions, projected to num_hiddens (rnn)");
  s.add("model.causal", m.causal, "outputs depend on earlier positions only (forced on for text_lm)");
  s.add("model.pooling", pooling, "sequence classification pooling");
}

}  // namespace seqenc
