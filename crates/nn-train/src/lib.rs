//! # nn-train
//!
//! The training loop for `nn-core` networks. The optimizers and the loop arrive with the
//! training issue.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
