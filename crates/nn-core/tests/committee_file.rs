//! Committee files: round trips with member paths and embedded members, paths relative to the
//! committee, and clean refusal of nested committees, missing members and bad files.

use std::fs;
use std::path::{Path, PathBuf};

use nn_core::{
    Activation, Classifier, Committee, Init, Loss, Model, ModelFileError, Network, NnError, TrainingRecord,
    committee_from_json, committee_to_json, load_any_model, load_committee, load_model, save_committee, save_model,
    save_trained_model,
};

fn network(hidden: usize, seed: u64) -> Network {
    Network::dense(&[6, hidden, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, seed).unwrap()
}

/// Saves `network(hidden, seed)` as `dir/name` and returns the path.
fn saved(dir: &Path, name: &str, hidden: usize, seed: u64) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    save_model(&network(hidden, seed), &path).unwrap();
    path
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn member_paths_are_written_relative_to_the_committee_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let members =
        [saved(&dir.path().join("models"), "a.json", 5, 1), saved(&dir.path().join("models"), "b.json", 4, 2)];
    let output = dir.path().join("committees").join("c.json");
    fs::create_dir_all(output.parent().unwrap()).unwrap();
    save_committee(&members, false, &output).unwrap();

    let file = json(&output);
    assert_eq!(file["format"], "nn-core-committee");
    assert_eq!(file["version"], 1);
    assert_eq!(file["members"], serde_json::json!([{"path": "../models/a.json"}, {"path": "../models/b.json"}]));
    let expected = Committee::new(vec![network(5, 1), network(4, 2)]).unwrap();
    assert_eq!(load_committee(&output).unwrap(), expected);
    let (model, record) = load_any_model(&output).unwrap();
    assert_eq!((model, record), (Model::Committee(expected), None));
}

#[test]
fn a_folder_of_models_and_its_committee_move_together() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    let members = [saved(&before, "a.json", 5, 1), saved(&before, "b.json", 5, 2)];
    save_committee(&members, false, &before.join("c.json")).unwrap();
    assert_eq!(json(&before.join("c.json"))["members"][1]["path"], "b.json");
    let after = dir.path().join("after");
    fs::rename(&before, &after).unwrap();
    let committee = load_committee(after.join("c.json")).unwrap();
    assert_eq!(committee.members(), &[network(5, 1), network(5, 2)]);
}

#[test]
fn an_embedded_committee_stands_alone_and_keeps_the_training_records() {
    let dir = tempfile::tempdir().unwrap();
    let record = TrainingRecord {
        train_samples: 90,
        validation_samples: 10,
        recipe: Some("tiny".into()),
        seed: 3,
        epochs: 2,
        test_accuracy: Some(0.5),
    };
    let a = dir.path().join("a.json");
    save_trained_model(&network(5, 1), &record, &a).unwrap();
    let members = [a, saved(dir.path(), "b.json", 3, 2)];
    let output = dir.path().join("c.json");
    save_committee(&members, true, &output).unwrap();
    members.iter().for_each(|member| fs::remove_file(member).unwrap());

    let file = json(&output);
    assert_eq!(file["members"][0]["model"]["format"], "nn-core-model");
    assert_eq!(file["members"][0]["model"]["training"]["recipe"], "tiny");
    assert!(file["members"][1].get("path").is_none());
    let committee = load_committee(&output).unwrap();
    assert_eq!(committee.members(), &[network(5, 1), network(3, 2)]);
    // What committee_to_json writes reads back to the same committee.
    let text = committee_to_json(&committee).unwrap();
    assert_eq!(committee_from_json(text.as_bytes(), Path::new("elsewhere/x.json")).unwrap(), committee);
}

#[test]
fn a_loaded_committee_predicts_the_mean_of_its_members() {
    let dir = tempfile::tempdir().unwrap();
    let members = [saved(dir.path(), "a.json", 5, 1), saved(dir.path(), "b.json", 4, 2)];
    save_committee(&members, false, &dir.path().join("c.json")).unwrap();
    let (model, _) = load_any_model(dir.path().join("c.json")).unwrap();
    let input = [0.1, 0.9, 0.3, 0.0, 0.5, 0.2];
    let (a, b) = (network(5, 1).predict(&input).unwrap(), network(4, 2).predict(&input).unwrap());
    let mean: Vec<f32> = a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect();
    assert_eq!(model.predict(&input).unwrap(), mean);
    assert_eq!(model.members().len(), 2);
    assert_eq!(model.parameter_count(), network(5, 1).parameter_count() + network(4, 2).parameter_count());
}

#[test]
fn a_committee_is_not_a_member_of_a_committee() {
    let dir = tempfile::tempdir().unwrap();
    let members = [saved(dir.path(), "a.json", 5, 1), saved(dir.path(), "b.json", 5, 2)];
    let inner = dir.path().join("inner.json");
    save_committee(&members, false, &inner).unwrap();
    let output = dir.path().join("outer.json");
    let error = save_committee(&[members[0].clone(), inner.clone()], false, &output).unwrap_err();
    assert!(matches!(&error, ModelFileError::NestedCommittee { member: 1, member_path: Some(p), .. } if *p == inner));
    assert!(error.to_string().contains("committees do not nest"), "{error}");
    assert!(!output.exists());

    // A committee that lists itself, and one that embeds a committee.
    let itself = dir.path().join("itself.json");
    let text =
        r#"{"format": "nn-core-committee", "version": 1, "members": [{"path": "a.json"}, {"path": "itself.json"}]}"#;
    fs::write(&itself, text).unwrap();
    let error = load_committee(&itself).unwrap_err();
    assert!(matches!(&error, ModelFileError::NestedCommittee { member: 1, member_path: Some(p), .. } if *p == itself));
    let embedding = format!(r#"{{"format": "nn-core-committee", "version": 1, "members": [{{"model": {text}}}]}}"#);
    let error = committee_from_json(embedding.as_bytes(), &dir.path().join("e.json")).unwrap_err();
    assert!(matches!(error, ModelFileError::NestedCommittee { member: 0, member_path: None, .. }), "{error}");
}

#[test]
fn a_missing_member_is_named() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path(), "a.json", 5, 1);
    let text =
        r#"{"format": "nn-core-committee", "version": 1, "members": [{"path": "a.json"}, {"path": "gone.json"}]}"#;
    let error = committee_from_json(text.as_bytes(), &dir.path().join("c.json")).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ModelFileError::CommitteeMember { member: 1, .. }), "{message}");
    assert!(message.contains("member 1") && message.contains("gone.json"), "{message}");
    // Not a regular file either: a directory, a device.
    for path in [dir.path().to_str().unwrap(), "/dev/zero"] {
        let text = format!(r#"{{"format": "nn-core-committee", "version": 1, "members": [{{"path": {path:?}}}]}}"#);
        let error = committee_from_json(text.as_bytes(), &dir.path().join("c.json")).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }
}

#[test]
fn members_that_do_not_fit_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.json");
    save_model(&Network::dense(&[7, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap(), &other)
        .unwrap();
    let members = [saved(dir.path(), "a.json", 5, 1), other];
    let output = dir.path().join("c.json");
    let error = save_committee(&members, true, &output).unwrap_err();
    assert!(
        matches!(error, ModelFileError::InvalidCommittee { source: NnError::CommitteeInput { member: 1, .. }, .. }),
        "{error}"
    );
    assert!(!output.exists());
    assert!(matches!(save_committee(&[], false, &output), Err(ModelFileError::InvalidCommittee { .. })));
}

#[test]
fn a_committee_is_never_written_over_its_own_member() {
    let dir = tempfile::tempdir().unwrap();
    let members = [saved(dir.path(), "a.json", 5, 1), saved(dir.path(), "b.json", 5, 2)];
    let before = fs::read(&members[1]).unwrap();
    let error = save_committee(&members, false, &members[1]).unwrap_err();
    assert!(matches!(error, ModelFileError::OutputIsMember { member: 1, .. }), "{error}");
    assert_eq!(fs::read(&members[1]).unwrap(), before);
}

#[test]
fn one_network_is_wanted_and_a_committee_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let members = [saved(dir.path(), "a.json", 5, 1), saved(dir.path(), "b.json", 5, 2)];
    let output = dir.path().join("c.json");
    save_committee(&members, false, &output).unwrap();
    let error = load_model(&output).unwrap_err();
    assert!(matches!(error, ModelFileError::IsACommittee { members: Some(2), .. }), "{error}");
    assert!(error.to_string().ends_with("c.json is a committee of 2 models, not one network: give one of its members"));
    // And the other way: a model file is not a committee file, but load_any_model reads it.
    let error = load_committee(&members[0]).unwrap_err();
    assert!(matches!(error, ModelFileError::NotACommittee { .. }), "{error}");
    assert_eq!(load_any_model(&members[0]).unwrap(), (Model::Network(network(5, 1)), None));
}

#[test]
fn truncated_and_malformed_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let committee = Committee::new(vec![
        Network::dense(&[2, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap(),
    ])
    .unwrap();
    let text = committee_to_json(&committee).unwrap();
    for end in 0..text.len() {
        let error = committee_from_json(&text.as_bytes()[..end], &path);
        assert!(error.is_err(), "{end} bytes of {}", text.len());
    }
    let many = format!(
        r#"{{"format": "nn-core-committee", "version": 1, "members": [{}]}}"#,
        vec![r#"{"path": "missing.json"}"#; nn_core::MAX_COMMITTEE_MEMBERS + 1].join(",")
    );
    let member = r#"{"path": "a.json"}"#;
    let cases: Vec<(String, &str)> = vec![
        ("\0\u{ff}garbage".into(), "not valid JSON"),
        ("[]".into(), "malformed"),
        ("{}".into(), "no \"format\""),
        (r#"{"format": "something", "version": 1, "members": []}"#.into(), "its format is \"something\""),
        (r#"{"format": "nn-core-committee", "version": 2, "members": []}"#.into(), "version 2"),
        (r#"{"format": "nn-core-committee", "version": 1, "members": []}"#.into(), "1 to 1000 members, 0"),
        (format!(r#"{{"format": "nn-core-committee", "version": 1, "members": [{member}], "x": 1}}"#), "unknown field"),
        (r#"{"format": "nn-core-committee", "version": 1, "members": [{}]}"#.into(), "either"),
        (r#"{"format": "nn-core-committee", "version": 1, "members": [{"path": ""}]}"#.into(), "either"),
        (r#"{"format": "nn-core-committee", "version": 1, "members": [{"path": "a", "model": {}}]}"#.into(), "either"),
        (r#"{"format": "nn-core-committee", "version": 1, "members": [{"model": {}}]}"#.into(), "member 0"),
        (r#"{"format": "nn-core-committee", "version": 1, "members": [{"paths": "a"}]}"#.into(), "unknown field"),
        (many, "1 to 1000 members, 1001"),
    ];
    for (text, expected) in cases {
        let error = committee_from_json(text.as_bytes(), &path).expect_err(&text);
        assert!(error.to_string().contains(expected), "{text:.200}: {error}");
    }
}
