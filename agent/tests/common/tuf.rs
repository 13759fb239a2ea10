//! Real TUF repositories made with tough's `RepositoryEditor`, laid out as Fleet's update
//! server lays them out: metadata at the top, targets under `targets/`, no consistent
//! snapshots. One ECDSA P-256 key (made by rcgen) signs every role.

use aws_lc_rs::rand::SystemRandom;
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use tough::editor::signed::SignedRole;
use tough::editor::RepositoryEditor;
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root, Target};
use tough::TargetName;

/// One target to publish.
pub struct Published<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
    /// The custom `{"version": ...}` metadata, as Fleet's `fleetctl updates add` writes it.
    pub version: Option<&'a str>,
}

pub struct TufRepo {
    /// What the file server serves.
    pub dir: PathBuf,
    key: PathBuf,
    root_path: PathBuf,
    /// The trusted root an agent ships with.
    pub root_json: Vec<u8>,
    _temp: TempDir,
}

/// A gzip tar of executables (mode 0755), as the repository holds app bundles and desktop.
pub fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder
            .append_data(&mut header, name, *bytes)
            .expect("append");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

pub fn in_days(days: i64) -> Timestamp {
    // Whole seconds, like every TUF implementation writes them.
    let now = Timestamp::from_second(Timestamp::now().as_second()).expect("timestamp");
    now + SignedDuration::from_hours(24 * days)
}

fn keys(path: &Path) -> Vec<Box<dyn KeySource>> {
    vec![Box::new(LocalKeySource {
        path: path.to_path_buf(),
    })]
}

/// A new signing key in `dir` (tough reads ECDSA keys as PKCS#8 DER, only RSA keys as PEM).
fn new_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let pair = rcgen::KeyPair::generate().expect("key");
    std::fs::write(&key, pair.serialize_der()).expect("write key");
    key
}

/// Root metadata giving every role to the one key in `key`.
async fn root_for(key: &Path, version: u64) -> Root {
    let sign = LocalKeySource {
        path: key.to_path_buf(),
    }
    .as_sign()
    .await
    .expect("tough reads the key");
    let public = sign.tuf_key();
    let key_id = public.key_id().expect("key id");
    let role = || RoleKeys {
        keyids: vec![key_id.clone()],
        threshold: NonZeroU64::MIN,
        _extra: HashMap::new(),
    };
    Root {
        spec_version: "1.0.0".to_owned(),
        consistent_snapshot: false,
        version: NonZeroU64::new(version).expect("versions start at 1"),
        expires: in_days(365),
        keys: HashMap::from([(key_id.clone(), public)]),
        roles: HashMap::from([
            (RoleType::Root, role()),
            (RoleType::Snapshot, role()),
            (RoleType::Targets, role()),
            (RoleType::Timestamp, role()),
        ]),
        _extra: HashMap::new(),
    }
}

impl TufRepo {
    pub async fn new() -> Self {
        let temp = TempDir::new().expect("temp dir");
        let dir = temp.path().join("repository");
        std::fs::create_dir_all(dir.join("targets")).expect("repository dir");
        let key = new_key(temp.path(), "root-1.pk8");
        let root = root_for(&key, 1).await;
        let signed = SignedRole::new(
            root.clone(),
            &KeyHolder::Root(root),
            &keys(&key),
            &SystemRandom::new(),
        )
        .await
        .expect("sign root");
        signed.write(&dir, false).await.expect("write 1.root.json");
        let root_json = signed.buffer().clone();
        let root_path = dir.join("root.json");
        std::fs::write(&root_path, &root_json).expect("write root.json");

        TufRepo {
            dir,
            key,
            root_path,
            root_json,
            _temp: temp,
        }
    }

    /// Replaces every key with a new one in root version `version`, signed by both the old
    /// and the new key as TUF requires for a client to follow it. `root_json` stays the
    /// first root: what agents in the field still ship with.
    pub async fn rotate_root(&mut self, version: u64) {
        let rng = SystemRandom::new();
        let key = new_key(self._temp.path(), &format!("root-{version}.pk8"));
        let previous: tough::schema::Signed<Root> =
            serde_json::from_slice(&std::fs::read(&self.root_path).expect("read root"))
                .expect("parse root");
        let root = root_for(&key, version).await;
        let by_new = SignedRole::new(
            root.clone(),
            &KeyHolder::Root(root.clone()),
            &keys(&key),
            &rng,
        )
        .await
        .expect("sign with the new key");
        let by_old = SignedRole::new(
            root,
            &KeyHolder::Root(previous.signed),
            &keys(&self.key),
            &rng,
        )
        .await
        .expect("sign with the old key");
        let signed = by_new
            .add_old_signatures(by_old.signed().signatures.clone())
            .expect("cross-sign");
        signed
            .write(&self.dir, false)
            .await
            .expect("write N.root.json");
        std::fs::write(&self.root_path, signed.buffer()).expect("write root.json");
        self.key = key;
    }

    pub fn target_path(&self, name: &str) -> PathBuf {
        self.dir.join("targets").join(name)
    }

    /// Writes `targets` and signs targets, snapshot and timestamp metadata at `version`
    /// (each publication must use a higher one), expiring at `expires`.
    pub async fn publish(&self, version: u64, targets: &[Published<'_>], expires: Timestamp) {
        let version = NonZeroU64::new(version).expect("versions start at 1");
        let mut editor = RepositoryEditor::new(&self.root_path)
            .await
            .expect("editor");
        editor
            .targets_version(version)
            .expect("targets version")
            .targets_expires(expires)
            .expect("targets expiry")
            .snapshot_version(version)
            .snapshot_expires(expires)
            .timestamp_version(version)
            .timestamp_expires(expires);
        for published in targets {
            let path = self.target_path(published.name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("target dir");
            std::fs::write(&path, published.bytes).expect("write target");
            let mut target = Target::from_path(&path).await.expect("target");
            if let Some(v) = published.version {
                target
                    .custom
                    .insert("version".to_owned(), serde_json::json!(v));
            }
            editor
                .add_target(TargetName::new(published.name).expect("name"), target)
                .expect("add target");
        }
        let signed = editor.sign(&keys(&self.key)).await.expect("sign");
        signed.write(&self.dir).await.expect("write metadata");
    }

    /// Replaces a published target's bytes without re-signing anything: what an attacker
    /// (or a corrupting mirror) serving the repository can do.
    pub fn tamper(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.target_path(name), bytes).expect("tamper");
    }
}
