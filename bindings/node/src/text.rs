//! Text bindings (tokenizer, break-out analysis): filled in by the text module work.
