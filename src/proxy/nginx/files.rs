//! proxyhub's files in nginx's conf dir: read them, replace them atomically, put the
//! previous ones back, and say how they differ from what the store renders.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

use super::render::{is_ours, Files};

/// File name → bytes, as found on disk.
pub type OnDisk = BTreeMap<String, Vec<u8>>;

/// proxyhub's files in `dir`; a missing dir holds none.
pub fn read_ours(dir: &Path) -> io::Result<OnDisk> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(OnDisk::new()),
        Err(e) => return Err(e),
    };
    let mut files = OnDisk::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_ours(&name) {
            files.insert(name.clone(), fs::read(dir.join(&name))?);
        }
    }
    Ok(files)
}

/// The files that were in the conf dir before [`replace`]; [`Previous::restore`] puts them
/// back exactly.
#[derive(Debug)]
pub struct Previous {
    dir: PathBuf,
    files: OnDisk,
}

/// Makes proxyhub's files in `dir` exactly `desired`: each changed file is written to a
/// temporary name and renamed over the old one, files no longer wanted are removed. On an
/// error, what was there before is put back.
pub fn replace(dir: &Path, desired: &Files) -> io::Result<Previous> {
    fs::create_dir_all(dir)?;
    remove_leftover_temp_files(dir)?;
    let previous = Previous {
        dir: dir.to_path_buf(),
        files: read_ours(dir)?,
    };
    let result = (|| {
        for (name, text) in desired {
            if previous.files.get(name).map(Vec::as_slice) != Some(text.as_bytes()) {
                write_atomic(dir, name, text.as_bytes())?;
            }
        }
        for name in previous.files.keys() {
            if !desired.contains_key(name) {
                fs::remove_file(dir.join(name))?;
            }
        }
        sync_dir(dir)
    })();
    match result {
        Ok(()) => Ok(previous),
        Err(e) => {
            if let Err(again) = previous.restore() {
                tracing::error!(error = %again, dir = %dir.display(), "could not restore nginx's previous files");
            }
            Err(e)
        }
    }
}

impl Previous {
    /// Puts the conf dir back as it was: nothing new left behind, nothing old lost.
    pub fn restore(&self) -> io::Result<()> {
        let now = read_ours(&self.dir)?;
        for name in now.keys() {
            if !self.files.contains_key(name) {
                fs::remove_file(self.dir.join(name))?;
            }
        }
        for (name, bytes) in &self.files {
            if now.get(name) != Some(bytes) {
                write_atomic(&self.dir, name, bytes)?;
            }
        }
        sync_dir(&self.dir)
    }
}

/// How proxyhub's files on disk differ from `desired`, one line per file; empty when
/// they are the same.
pub fn drift(on_disk: &OnDisk, desired: &Files) -> Vec<String> {
    let mut changes = Vec::new();
    for (name, text) in desired {
        match on_disk.get(name) {
            None => changes.push(format!("{name} was missing")),
            Some(bytes) if bytes != text.as_bytes() => changes.push(format!("{name} was edited")),
            Some(_) => {}
        }
    }
    for name in on_disk.keys() {
        if !desired.contains_key(name) {
            changes.push(format!("{name} is not one proxyhub renders"));
        }
    }
    changes
}

/// Temporary names never end in `.conf`, so nginx's `*.conf` include never reads them.
fn temp_name(name: &str) -> String {
    format!(".{name}.proxyhub-tmp")
}

fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(temp_name(name));
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        if name.ends_with(super::render::HTPASSWD) {
            secret(dir, &f)?;
        }
        io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// A basic-auth file is 0640, in the conf dir's group (nginx's workers read it per request:
/// give the conf dir their group, e.g. `chgrp www-data`; the owner is proxyhub).
fn secret(dir: &Path, f: &fs::File) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    f.set_permissions(fs::Permissions::from_mode(0o640))?;
    let gid = fs::metadata(dir)?.gid();
    if f.metadata()?.gid() != gid {
        if let Err(e) = std::os::unix::fs::fchown(f, None, Some(gid)) {
            tracing::warn!(error = %e, dir = %dir.display(), "could not give a basic-auth file the conf dir's group: nginx's workers may not read it");
        }
    }
    Ok(())
}

fn remove_leftover_temp_files(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with(".proxyhub-") && name.ends_with(".proxyhub-tmp") {
            fs::remove_file(dir.join(name))?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Files {
        pairs
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    fn listing(dir: &Path) -> BTreeMap<String, String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                let text = fs::read_to_string(dir.join(&name)).unwrap();
                (name, text)
            })
            .collect()
    }

    #[test]
    fn replace_then_restore_gives_back_exactly_the_old_dir() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("operator.conf"), "# not ours").unwrap();
        fs::write(d.join("proxyhub-site-old.conf"), "old").unwrap();
        fs::write(d.join("proxyhub-site-kept.conf"), "kept v1").unwrap();
        let before = listing(d);

        let prev = replace(
            d,
            &files(&[
                ("proxyhub-site-kept.conf", "kept v2"),
                ("proxyhub-site-new.conf", "new"),
            ]),
        )
        .unwrap();
        let after = listing(d);
        assert_eq!(after.get("proxyhub-site-kept.conf").unwrap(), "kept v2");
        assert_eq!(after.get("proxyhub-site-new.conf").unwrap(), "new");
        assert!(!after.contains_key("proxyhub-site-old.conf"));
        assert_eq!(after.get("operator.conf").unwrap(), "# not ours");
        assert_eq!(after.len(), 3, "no temporary files left: {after:?}");

        prev.restore().unwrap();
        assert_eq!(listing(d), before);
    }

    #[test]
    fn drift_names_edited_missing_and_stray_files() {
        let want = files(&[("proxyhub-a.conf", "a"), ("proxyhub-b.conf", "b")]);
        let mut disk: OnDisk = [
            ("proxyhub-a.conf".to_string(), b"a!".to_vec()),
            ("proxyhub-c.conf".to_string(), b"c".to_vec()),
        ]
        .into();
        assert_eq!(
            drift(&disk, &want),
            [
                "proxyhub-a.conf was edited",
                "proxyhub-b.conf was missing",
                "proxyhub-c.conf is not one proxyhub renders"
            ]
        );
        disk = want
            .iter()
            .map(|(n, t)| (n.clone(), t.as_bytes().to_vec()))
            .collect();
        assert!(drift(&disk, &want).is_empty());
    }

    #[test]
    fn a_missing_dir_holds_nothing_and_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("conf.d");
        assert!(read_ours(&d).unwrap().is_empty());
        replace(&d, &files(&[("proxyhub-a.conf", "a")])).unwrap();
        assert_eq!(fs::read_to_string(d.join("proxyhub-a.conf")).unwrap(), "a");
    }
}
