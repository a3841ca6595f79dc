//! Committee files: a versioned JSON list of member models, each named by its file or embedded
//! (format in `docs/model-format.md`, shown as [`crate::model_format`]), and the loader that
//! reads a model file or a committee file alike.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::atomic_write::write_atomically;
use crate::{
    Committee, MAX_COMMITTEE_MEMBERS, Model, ModelFileError, Network, NnError, TrainingRecord,
    model_and_record_from_json, trained_model_to_json,
};

/// The `format` field of every committee file.
pub const COMMITTEE_FORMAT: &str = "nn-core-committee";
/// The version written and read by this build.
pub const COMMITTEE_VERSION: u32 = 1;

#[derive(Serialize)]
struct CommitteeOut {
    format: &'static str,
    version: u32,
    members: Vec<MemberOut>,
}

/// A member: its file, relative to the committee's directory, or its model file's JSON.
#[derive(Serialize)]
struct MemberOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitteeIn<'a> {
    #[allow(dead_code)]
    format: String,
    #[allow(dead_code)]
    version: u64,
    #[serde(borrow)]
    members: Vec<MemberIn<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberIn<'a> {
    #[serde(default)]
    path: Option<String>,
    #[serde(default, borrow)]
    model: Option<&'a RawValue>,
}

/// Just enough of a file to tell its format, version and number of members when the rest does
/// not parse.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
    #[serde(default)]
    members: Option<Vec<IgnoredAny>>,
}

/// The number of members a committee file lists, if it can be read that far.
pub(crate) fn member_count(text: &[u8]) -> Option<usize> {
    serde_json::from_slice::<Header>(text).ok()?.members.map(|members| members.len())
}

/// "2 models", or "models" when they could not be counted.
pub(crate) fn models(members: &Option<usize>) -> String {
    members.map_or_else(|| "models".to_string(), |count| format!("{count} models"))
}

/// A member's file, or "embedded".
pub(crate) fn member_place(member_path: &Option<PathBuf>) -> String {
    member_path.as_ref().map_or_else(|| "embedded".to_string(), |path| path.display().to_string())
}

/// `NotAModel` for a file of another format, `IsACommittee` for a committee file.
pub(crate) fn other_format(text: &[u8], format: &str, path: PathBuf) -> ModelFileError {
    if format == COMMITTEE_FORMAT {
        return ModelFileError::IsACommittee { path, members: member_count(text) };
    }
    ModelFileError::NotAModel { path, detail: format!("its format is {format:?}") }
}

/// Parses a committee file and loads its members: a member named by a path is read from that
/// file, a relative path taken from the directory of `path` (the committee file's own path), so
/// that a folder of models and its committee can be moved together; an embedded member is read
/// from the committee's text.
///
/// Refuses, with an error naming the member, a member file that is missing, not a regular file
/// or not a valid model, a member that is itself a committee ([`ModelFileError::NestedCommittee`]:
/// committees do not nest, and a committee that lists itself is one), members that do not fit
/// together, more than [`MAX_COMMITTEE_MEMBERS`], and unknown fields.
pub fn committee_from_json(text: &[u8], path: &Path) -> Result<Committee, ModelFileError> {
    let owned = || path.to_path_buf();
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(ModelFileError::Empty { path: owned() });
    }
    let header: Header = serde_json::from_slice(text).map_err(|error| parse_error(error, path))?;
    match (header.format.as_deref(), header.version) {
        (Some(COMMITTEE_FORMAT), Some(version)) if version != u64::from(COMMITTEE_VERSION) => {
            return Err(ModelFileError::UnsupportedVersion {
                path: owned(),
                found: version,
                supported: COMMITTEE_VERSION,
            });
        }
        (Some(COMMITTEE_FORMAT), _) => {}
        (Some(crate::MODEL_FORMAT), _) => {
            let detail = "it is a model file of one network (load it with load_model or load_any_model)".to_string();
            return Err(ModelFileError::NotACommittee { path: owned(), detail });
        }
        (Some(format), _) => {
            return Err(ModelFileError::NotACommittee { path: owned(), detail: format!("its format is {format:?}") });
        }
        (None, _) => {
            let detail = format!("no \"format\": {COMMITTEE_FORMAT:?} field");
            return Err(ModelFileError::NotACommittee { path: owned(), detail });
        }
    }
    let committee: CommitteeIn = serde_json::from_slice(text).map_err(|error| parse_error(error, path))?;
    let count = committee.members.len();
    if count == 0 || count > MAX_COMMITTEE_MEMBERS {
        return Err(ModelFileError::InvalidCommittee {
            path: owned(),
            source: NnError::CommitteeSize { members: count },
        });
    }
    let directory = path.parent().unwrap_or(Path::new(""));
    let mut networks = Vec::with_capacity(count);
    for (index, member) in committee.members.into_iter().enumerate() {
        let (network, _) = match (member.path, member.model) {
            (Some(file), None) if !file.is_empty() => read_member(path, index, &directory.join(file))?,
            (None, Some(model)) => member_from_json(path, index, model.get().as_bytes(), None)?,
            _ => {
                let detail = format!("member {index} must hold either a non-empty \"path\" or a \"model\", not both");
                return Err(ModelFileError::Malformed { path: owned(), detail });
            }
        };
        networks.push(network);
    }
    Committee::new(networks).map_err(|source| ModelFileError::InvalidCommittee { path: owned(), source })
}

/// Sorts a parse failure into truncated, not JSON, or malformed.
fn parse_error(error: serde_json::Error, path: &Path) -> ModelFileError {
    use serde_json::error::Category;
    let (path, detail) = (path.to_path_buf(), error.to_string());
    match error.classify() {
        Category::Eof => ModelFileError::Truncated { path, detail },
        Category::Io | Category::Syntax => {
            ModelFileError::NotACommittee { path, detail: format!("not valid JSON: {detail}") }
        }
        Category::Data => ModelFileError::Malformed { path, detail },
    }
}

/// Member `member` of `committee`, read from `file`: a regular file only (never a device or a
/// pipe, which could be read without end).
fn read_member(
    committee: &Path,
    member: usize,
    file: &Path,
) -> Result<(Network, Option<TrainingRecord>), ModelFileError> {
    let read_error = |source| ModelFileError::CommitteeMember {
        path: committee.to_path_buf(),
        member,
        source: Box::new(ModelFileError::Read { path: file.to_path_buf(), source }),
    };
    let metadata = fs::metadata(file).map_err(read_error)?;
    if !metadata.is_file() {
        return Err(read_error(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
    }
    let bytes = fs::read(file).map_err(read_error)?;
    member_from_json(committee, member, &bytes, Some(file))
}

/// Member `member` of `committee` from its model file's text; `file` is `None` when embedded.
fn member_from_json(
    committee: &Path,
    member: usize,
    text: &[u8],
    file: Option<&Path>,
) -> Result<(Network, Option<TrainingRecord>), ModelFileError> {
    match model_and_record_from_json(text, file.unwrap_or(committee)) {
        Err(ModelFileError::IsACommittee { .. }) => Err(ModelFileError::NestedCommittee {
            path: committee.to_path_buf(),
            member,
            member_path: file.map(Path::to_path_buf),
        }),
        Err(source) => {
            Err(ModelFileError::CommitteeMember { path: committee.to_path_buf(), member, source: Box::new(source) })
        }
        Ok(loaded) => Ok(loaded),
    }
}

/// Loads a committee file (see [`committee_from_json`]).
pub fn load_committee(path: impl AsRef<Path>) -> Result<Committee, ModelFileError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| ModelFileError::Read { path: path.to_path_buf(), source })?;
    committee_from_json(&bytes, path)
}

/// Loads a model file or a committee file, told apart by their `format` field: a network with
/// the record of its training (when its file holds one), or a committee (with no record: its
/// members may have been trained on different splits).
pub fn load_any_model(path: impl AsRef<Path>) -> Result<(Model, Option<TrainingRecord>), ModelFileError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| ModelFileError::Read { path: path.to_path_buf(), source })?;
    match model_and_record_from_json(&bytes, path) {
        Err(ModelFileError::IsACommittee { .. }) => Ok((Model::Committee(committee_from_json(&bytes, path)?), None)),
        loaded => loaded.map(|(network, record)| (Model::Network(network), record)),
    }
}

/// A committee with every member embedded, as JSON text (what [`save_committee`] writes with
/// `embed`, without the members' training records).
pub fn committee_to_json(committee: &Committee) -> Result<String, ModelFileError> {
    let members = committee.members().iter().map(|network| embedded(network, None)).collect::<Result<_, _>>()?;
    Ok(to_json(members))
}

/// Writes a committee of the model files `members` to `output`, atomically.
///
/// Every member is loaded first, and the committee built from them, so that a file is written
/// only if its members fit together (see [`Committee::new`]) and none is a committee itself.
/// With `embed`, each member's network and training record are copied into the file, which then
/// stands alone; otherwise each member is named by its path relative to `output`'s directory
/// (`../models/a.json`), so the two can be moved together. Refuses an `output` that is one of
/// the members ([`ModelFileError::OutputIsMember`]).
pub fn save_committee(members: &[PathBuf], embed: bool, output: &Path) -> Result<(), ModelFileError> {
    if members.is_empty() || members.len() > MAX_COMMITTEE_MEMBERS {
        let source = NnError::CommitteeSize { members: members.len() };
        return Err(ModelFileError::InvalidCommittee { path: output.to_path_buf(), source });
    }
    let mut loaded = Vec::with_capacity(members.len());
    for (index, member) in members.iter().enumerate() {
        if same_file(output, member) {
            return Err(ModelFileError::OutputIsMember { path: output.to_path_buf(), member: index });
        }
        loaded.push(read_member(output, index, member)?);
    }
    let (networks, records): (Vec<Network>, Vec<Option<TrainingRecord>>) = loaded.into_iter().unzip();
    let committee = Committee::new(networks)
        .map_err(|source| ModelFileError::InvalidCommittee { path: output.to_path_buf(), source })?;
    let write_error = |source| ModelFileError::Write { path: output.to_path_buf(), source };
    let entries = if embed {
        committee.members().iter().zip(&records).map(|(network, record)| embedded(network, record.as_ref())).collect()
    } else {
        let directory = match output.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let directory = fs::canonicalize(directory).map_err(write_error)?;
        let named = |member: &PathBuf| {
            relative_path(&directory, member).map(|path| MemberOut { path: Some(path), model: None })
        };
        members.iter().map(named).collect::<Result<_, _>>().map_err(write_error)
    }?;
    write_atomically(output, to_json(entries).as_bytes()).map_err(write_error)
}

fn to_json(members: Vec<MemberOut>) -> String {
    let committee = CommitteeOut { format: COMMITTEE_FORMAT, version: COMMITTEE_VERSION, members };
    serde_json::to_string_pretty(&committee).expect("serialising strings and JSON text cannot fail")
}

fn embedded(network: &Network, record: Option<&TrainingRecord>) -> Result<MemberOut, ModelFileError> {
    let json = trained_model_to_json(network, record)?;
    let model = RawValue::from_string(json).expect("a model file is JSON");
    Ok(MemberOut { path: None, model: Some(model) })
}

/// `member` as a path from `directory` (canonical), components joined by `/`: `a.json`,
/// `../models/a.json`; absolute when the two share no root.
fn relative_path(directory: &Path, member: &Path) -> io::Result<String> {
    let member = fs::canonicalize(member)?;
    let not_utf8 = || io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not UTF-8", member.display()));
    let common = directory.components().zip(member.components()).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return member.to_str().map(str::to_string).ok_or_else(not_utf8);
    }
    let ups = directory.components().count() - common;
    let mut parts = vec![".."; ups];
    for component in member.components().skip(common) {
        parts.push(component.as_os_str().to_str().ok_or_else(not_utf8)?);
    }
    Ok(parts.join("/"))
}

/// Whether two paths name the same existing file (the same canonical path, or a hard link).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(a_meta), Ok(b_meta)) = (fs::metadata(a), fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (a_meta.dev(), a_meta.ino()) == (b_meta.dev(), b_meta.ino()) {
            return true;
        }
    }
    let _ = (a_meta, b_meta);
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}
