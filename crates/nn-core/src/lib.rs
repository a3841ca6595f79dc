//! # nn-core
//!
//! Dense neural networks written from scratch. The layers, losses and backpropagation arrive
//! with the `nn-core` issue; this crate depends on no other crate of the workspace.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
