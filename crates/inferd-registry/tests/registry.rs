//! The registry against a real folder: versions, concurrency, atomicity, bad input.

use std::collections::BTreeMap;
use std::fs;
use std::sync::{Arc, Barrier};

use inferd_registry::{ModelKind, ModelRef, Registration, Registry, RegistryError};

fn source_file(dir: &std::path::Path, name: &str, content: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    path
}

#[test]
fn versions_count_up_and_latest_is_the_highest() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let registry = Registry::new(root.path().join("models"));
    let file = source_file(src.path(), "model.onnx", b"one");

    let mut tags = BTreeMap::new();
    tags.insert("area".to_owned(), "diabetes".to_owned());
    let v1 = registry
        .register(
            "ridge",
            &file,
            Registration {
                tags,
                description: "first".into(),
            },
        )
        .unwrap();
    fs::write(&file, b"two").unwrap();
    let v2 = registry
        .register("ridge", &file, Registration::default())
        .unwrap();

    assert_eq!((v1.version, v2.version), (1, 2));
    assert_ne!(v1.sha256, v2.sha256);
    assert_eq!(v1.kind, ModelKind::File);
    let latest = registry.get(&ModelRef::latest("ridge")).unwrap();
    assert_eq!(latest.version, 2);
    let first = registry.get(&"ridge:1".parse().unwrap()).unwrap();
    assert_eq!(first.description, "first");
    assert_eq!(first.tags["area"], "diabetes");
    assert!(first.created_at.ends_with('Z'), "{}", first.created_at);
    assert_eq!(fs::read(first.model_path()).unwrap(), b"one");
    assert!(first.model_path().ends_with("files/model.onnx"));
}

#[test]
fn a_folder_registers_as_a_folder_with_every_file() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    source_file(src.path(), "model.onnx", b"weights");
    fs::create_dir(src.path().join("extra")).unwrap();
    source_file(&src.path().join("extra"), "labels.txt", b"a\nb\n");

    let registry = Registry::new(root.path());
    let v = registry
        .register("bundle", src.path(), Registration::default())
        .unwrap();
    assert_eq!(v.kind, ModelKind::Folder);
    let paths: Vec<_> = v.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["extra/labels.txt", "model.onnx"]);
    let folder = registry.model_path(&ModelRef::latest("bundle")).unwrap();
    assert!(folder.is_dir());
    assert_eq!(
        fs::read(folder.join("extra/labels.txt")).unwrap(),
        b"a\nb\n"
    );
}

#[test]
fn equal_content_gives_an_equal_hash() {
    let root = tempfile::tempdir().unwrap();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let registry = Registry::new(root.path());
    let one = registry
        .register(
            "m",
            &source_file(a.path(), "model.onnx", b"same"),
            Registration::default(),
        )
        .unwrap();
    let two = registry
        .register(
            "m",
            &source_file(b.path(), "model.onnx", b"same"),
            Registration::default(),
        )
        .unwrap();
    assert_eq!(one.sha256, two.sha256);
    assert_eq!(one.sha256.len(), 64);
}

#[test]
fn concurrent_registrations_never_share_a_version() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let file = source_file(src.path(), "model.onnx", b"x");
    let registry = Arc::new(Registry::new(root.path()));
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (registry, barrier, file) = (registry.clone(), barrier.clone(), file.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..4)
                    .map(|_| {
                        registry
                            .register("busy", &file, Registration::default())
                            .unwrap()
                            .version
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut versions: Vec<u32> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=32).collect::<Vec<_>>());
    assert_eq!(registry.list().unwrap().len(), 32);
}

#[test]
fn a_crash_before_publishing_leaves_no_version() {
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::new(root.path());
    // What a registration killed mid-copy leaves behind: a staging folder,
    // and a version folder without its metadata.
    let model_dir = root.path().join("half");
    fs::create_dir_all(model_dir.join(".staging-123/files")).unwrap();
    fs::write(model_dir.join(".staging-123/files/model.onnx"), b"partial").unwrap();
    fs::create_dir_all(model_dir.join("1/files")).unwrap();

    assert!(registry.list().unwrap().is_empty());
    assert!(matches!(
        registry.get(&ModelRef::latest("half")),
        Err(RegistryError::ModelNotFound(_))
    ));
    // And a registration that fails midway (missing source) leaves nothing.
    let err = registry
        .register(
            "half",
            &root.path().join("missing.onnx"),
            Registration::default(),
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::BadSource { .. }), "{err}");
    let leftovers: Vec<_> = fs::read_dir(&model_dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".staging-") && n != ".staging-123")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn deleted_versions_are_gone_and_numbers_are_not_reused() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let file = source_file(src.path(), "model.onnx", b"x");
    let registry = Registry::new(root.path());
    for _ in 0..3 {
        registry
            .register("m", &file, Registration::default())
            .unwrap();
    }
    assert_eq!(registry.delete(&"m:3".parse().unwrap()).unwrap(), vec![3]);
    assert_eq!(registry.get(&ModelRef::latest("m")).unwrap().version, 2);
    assert_eq!(
        registry
            .register("m", &file, Registration::default())
            .unwrap()
            .version,
        4
    );

    let err = registry.get(&"m:3".parse().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "model 'm' has no version 3 (versions: 1, 2, 4)"
    );

    assert_eq!(
        registry.delete(&ModelRef::latest("m")).unwrap(),
        vec![1, 2, 4]
    );
    assert!(registry.list().unwrap().is_empty());
    assert!(matches!(
        registry.delete(&ModelRef::latest("m")),
        Err(RegistryError::ModelNotFound(_))
    ));
}

#[test]
fn bad_names_and_sources_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let file = source_file(src.path(), "model.onnx", b"x");
    let registry = Registry::new(root.path().join("r"));
    for name in ["a/b", "..", "../escape", ""] {
        let err = registry
            .register(name, &file, Registration::default())
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidName { .. }),
            "{name}: {err}"
        );
    }
    assert!(!root.path().join("escape").exists());

    let empty = tempfile::tempdir().unwrap();
    let err = registry
        .register("m", empty.path(), Registration::default())
        .unwrap_err();
    assert!(err.to_string().contains("holds no files"), "{err}");

    let link = src.path().join("link.onnx");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let err = registry
        .register("m", &link, Registration::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("symbolic links are refused"),
        "{err}"
    );
    assert!(registry.list().unwrap().is_empty());
}

#[test]
fn models_are_data_files_of_known_kinds_only() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let registry = Registry::new(root.path().join("r"));
    for (name, reason) in [
        ("model.pkl", "can run code"),
        ("score.py", "can run code"),
        ("libop.so", "can run code"),
        ("weights", "not accepted"),
    ] {
        let file = source_file(src.path(), name, b"x");
        let err = registry
            .register("m", &file, Registration::default())
            .unwrap_err();
        assert!(err.to_string().contains(reason), "{name}: {err}");
    }
    // In a folder too, next to a good model file.
    let folder = tempfile::tempdir().unwrap();
    source_file(folder.path(), "model.onnx", b"x");
    source_file(folder.path(), "custom_op.py", b"import os");
    let err = registry
        .register("m", folder.path(), Registration::default())
        .unwrap_err();
    assert!(err.to_string().contains("custom_op.py"), "{err}");
    assert!(registry.list().unwrap().is_empty());
}

#[test]
fn a_version_edited_to_leave_the_registry_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let outside = source_file(src.path(), "secret.onnx", b"outside");
    let registry = Registry::new(root.path().join("r"));
    let model = source_file(src.path(), "model.onnx", b"inside");
    let version = registry
        .register("m", &model, Registration::default())
        .unwrap();
    let reference = "m:1".parse().unwrap();
    assert!(registry.get(&reference).is_ok());

    // The model file replaced by a link to a file outside the registry.
    let stored = version.model_path();
    fs::remove_file(&stored).unwrap();
    std::os::unix::fs::symlink(&outside, &stored).unwrap();
    let err = registry.get(&reference).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    fs::remove_file(&stored).unwrap();
    fs::write(&stored, b"inside").unwrap();
    assert!(registry.get(&reference).is_ok());

    // model.json edited to point outside the version's folder.
    let metadata = stored
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("model.json");
    let text = fs::read_to_string(&metadata).unwrap();
    fs::write(
        &metadata,
        text.replace("\"model.onnx\"", "\"../../../secret.onnx\""),
    )
    .unwrap();
    let err = registry.get(&reference).unwrap_err();
    assert!(
        err.to_string().contains("leaves the model's folder"),
        "{err}"
    );
    fs::write(&metadata, &text).unwrap();

    // The whole model folder replaced by a link to another registry.
    let other = tempfile::tempdir().unwrap();
    let other_registry = Registry::new(other.path());
    other_registry
        .register("m", &model, Registration::default())
        .unwrap();
    let model_dir = root.path().join("r/m");
    fs::rename(&model_dir, root.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(other.path().join("m"), &model_dir).unwrap();
    let err = registry.get(&reference).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
}
