//! Why a model or committee file could not be saved or loaded ([`ModelFileError`]).

use std::path::PathBuf;

use thiserror::Error;

use crate::NnError;

/// Why a model file could not be saved or loaded. Each message names the file and the fault.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelFileError {
    /// The file could not be read.
    #[error("cannot read model file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The file could not be written (the previous file, if any, is left untouched).
    #[error("cannot write model file {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The file has no content.
    #[error("model file {} is empty", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file ends in the middle of the model.
    #[error("model file {} is truncated: it ends before the model does ({detail})", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the parser stopped.
        detail: String,
    },
    /// The content is not JSON, or not an nn-core model.
    #[error("{} is not an nn-core model file: {detail}", .path.display())]
    NotAModel {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// A model file of another version.
    #[error(
        "model file {} has format version {found}, but this build of nn-core reads version {supported} only",
        .path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The version this build reads.
        supported: u32,
    },
    /// A field is missing, unknown or of the wrong type (an unknown activation, for example).
    #[error("model file {} is malformed: {detail}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The field at fault and where.
        detail: String,
    },
    /// Well-formed, but the network it describes is not valid (shapes, NaN weights, ...).
    #[error("model file {} describes an invalid network: {source}", .path.display())]
    InvalidNetwork {
        /// The file.
        path: PathBuf,
        /// What is wrong with the network.
        source: NnError,
    },
    /// The network holds a layer kind that the format cannot store yet.
    #[error("cannot save layer {layer}: layers of kind {kind:?} have no model-file form yet")]
    UnsupportedLayer {
        /// Index of the layer.
        layer: usize,
        /// Its kind.
        kind: &'static str,
    },
    /// The network holds NaN or infinite parameters (training diverged); saving them would
    /// only produce a file that cannot be loaded.
    #[error("cannot save the network: {0}")]
    NonFinite(NnError),
    /// A committee file where one network is wanted: [`load_model`](crate::load_model) reads
    /// one network, [`load_any_model`](crate::load_any_model) either kind.
    #[error("{} is a committee of {}, not one network: give one of its members", .path.display(), crate::committee_file::models(.members))]
    IsACommittee {
        /// The file.
        path: PathBuf,
        /// Its number of members, when they could be counted.
        members: Option<usize>,
    },
    /// The file is not a committee file (see [`load_committee`](crate::load_committee)).
    #[error("{} is not an nn-core committee file: {detail}", .path.display())]
    NotACommittee {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// A member of a committee cannot be read, or is not a valid model.
    #[error("committee {}, member {member}: {source}", .path.display())]
    CommitteeMember {
        /// The committee file.
        path: PathBuf,
        /// Index of the member, from 0.
        member: usize,
        /// What is wrong with it (naming its file).
        source: Box<ModelFileError>,
    },
    /// A member of a committee that is a committee itself (the committee file too, when it
    /// lists itself): committees do not nest.
    #[error(
        "committee {}: member {member} ({}) is itself a committee; committees do not nest: list its members instead",
        .path.display(),
        crate::committee_file::member_place(.member_path)
    )]
    NestedCommittee {
        /// The committee file.
        path: PathBuf,
        /// Index of the member, from 0.
        member: usize,
        /// The member's file; `None` for a member embedded in the committee file.
        member_path: Option<PathBuf>,
    },
    /// The members of a committee do not fit together, or there are none or too many.
    #[error("committee {}: {source}", .path.display())]
    InvalidCommittee {
        /// The committee file.
        path: PathBuf,
        /// Which member differs and how.
        source: NnError,
    },
    /// A committee would be written over one of its own members, which would be lost.
    #[error("cannot write committee {} over its own member {member}: that model would be lost", .path.display())]
    OutputIsMember {
        /// The committee file.
        path: PathBuf,
        /// Index of the member, from 0.
        member: usize,
    },
}
