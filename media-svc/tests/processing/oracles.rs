//! Independent readers of the files the library writes: Debian's exiftool (which knows every
//! metadata format there is) and ImageMagick's identify. scripts/test.sh installs both.

use std::{
    io::Write,
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

use serde_json::{Map, Value};

static FILES: AtomicUsize = AtomicUsize::new(0);

/// `bytes` in a file of its own under the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(bytes: &[u8], extension: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "parley-media-{}-{}.{extension}",
            std::process::id(),
            FILES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::File::create(&path)
            .and_then(|mut file| file.write_all(bytes))
            .unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run(program: &str, package: &str, args: &[&str], file: &TempFile) -> String {
    let output = Command::new(program)
        .args(args)
        .arg(&file.0)
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} did not run ({error}): apt-get install {package}")
        });
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every tag exiftool finds, duplicates included, by `Group:Tag`, values as numbers where
/// they have one (`Orientation` is 6, not "Rotate 90 CW").
pub fn exiftool(bytes: &[u8], extension: &str) -> Map<String, Value> {
    let file = TempFile::new(bytes, extension);
    let json = run(
        "exiftool",
        "libimage-exiftool-perl",
        &["-j", "-a", "-G1", "-n", "-b"],
        &file,
    );
    let mut files: Vec<Map<String, Value>> = serde_json::from_str(&json)
        .unwrap_or_else(|error| panic!("exiftool's JSON ({error}): {json}"));
    files.pop().unwrap()
}

/// The tags exiftool finds that name any of `words`, besides the file system's.
pub fn tags_naming(tags: &Map<String, Value>, words: &[&str]) -> Vec<String> {
    tags.iter()
        .filter(|(key, _)| !key.starts_with("System:") && key.as_str() != "SourceFile")
        .filter(|(key, value)| {
            let text = format!("{key}={value}").to_lowercase();
            words.iter().any(|word| text.contains(&word.to_lowercase()))
        })
        .map(|(key, value)| format!("{key}={value}"))
        .collect()
}

/// `identify`'s format, width, height and orientation of the first frame, e.g.
/// `JPEG 600 300 RightTop`.
pub fn identify(bytes: &[u8], extension: &str) -> String {
    let file = TempFile::new(bytes, extension);
    let path = format!("{}[0]", file.0.display());
    let output = Command::new("identify")
        .args(["-format", "%m %w %h %[orientation]"])
        .arg(&path)
        .output()
        .unwrap_or_else(|error| {
            panic!("identify did not run ({error}): apt-get install imagemagick")
        });
    assert!(
        output.status.success(),
        "identify refused the file: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
