//! One error type for the core, with a stable code for the JS boundary and a message that names
//! the file or tensor at fault.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// config.json missing a field, wrong type, or inconsistent values.
    Config { file: String, msg: String },
    /// model_type we do not implement.
    UnknownModelType { file: String, model_type: String },
    /// safetensors file unreadable, truncated or malformed.
    Weights { file: String, msg: String },
    /// A tensor the model needs is absent.
    MissingTensor { file: String, name: String },
    /// A tensor's shape contradicts config.json.
    Shape { file: String, name: String, expected: Vec<usize>, found: Vec<usize> },
    /// Bad arguments to a call (shapes, ids out of range, ...).
    Input(String),
    /// I/O error reading a file.
    Io { file: String, msg: String },
    /// CUDA asked for but not usable (no device, no libcublas, or a failed call).
    NoCuda(String),
}

impl CoreError {
    /// Stable code exposed to JavaScript as `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Config { .. } => "BIOMEG_BAD_CONFIG",
            CoreError::UnknownModelType { .. } => "BIOMEG_UNKNOWN_MODEL_TYPE",
            CoreError::Weights { .. } => "BIOMEG_BAD_WEIGHTS",
            CoreError::MissingTensor { .. } => "BIOMEG_MISSING_TENSOR",
            CoreError::Shape { .. } => "BIOMEG_SHAPE_MISMATCH",
            CoreError::Input(_) => "BIOMEG_BAD_INPUT",
            CoreError::Io { .. } => "BIOMEG_IO",
            CoreError::NoCuda(_) => "BIOMEG_NO_CUDA",
        }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Config { file, msg } => write!(f, "{file}: {msg}"),
            CoreError::UnknownModelType { file, model_type } => {
                write!(f, "{file}: unknown model_type '{model_type}' (supported: bert, megatron-bert, electra)")
            }
            CoreError::Weights { file, msg } => write!(f, "{file}: {msg}"),
            CoreError::MissingTensor { file, name } => write!(f, "{file}: tensor '{name}' is missing"),
            CoreError::Shape { file, name, expected, found } => {
                write!(f, "{file}: tensor '{name}' has shape {found:?} but config.json implies {expected:?}")
            }
            CoreError::Input(msg) => write!(f, "{msg}"),
            CoreError::Io { file, msg } => write!(f, "{file}: {msg}"),
            CoreError::NoCuda(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for CoreError {}

pub type Result<T> = std::result::Result<T, CoreError>;
