//! Files that ImageMagick and exiftool wrote (tests/fixtures/README.md says how), stripped:
//! their metadata layouts are other programs' than the hand-built fixtures'.

use parley_media_svc::processing::{
    ImageFormat, ImageLimits, process_image, sniff, strip_metadata,
};

use crate::oracles::{exiftool, tags_naming};

const WORDS: [&str; 6] = ["GPS", "Make", "XMP", "Comment", "seed-secret", "TRAILER"];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn files_from_other_writers_lose_their_metadata_and_keep_their_orientation() {
    for (name, rotated) in [
        ("prog.jpg", true),
        ("base.jpg", true),
        ("plain.png", true),
        ("lossy.webp", true),
        ("anim.gif", false),
        ("alpha.png", false),
        ("alpha.webp", false),
    ] {
        let original = fixture(name);
        let extension = name.rsplit('.').next().unwrap();
        let format = sniff(&original, name).image.unwrap();
        if rotated || format == ImageFormat::Gif {
            assert!(
                !tags_naming(&exiftool(&original, extension), &WORDS).is_empty(),
                "{name} carries metadata to begin with"
            );
        }
        let stripped = strip_metadata(&original, format).unwrap();
        assert!(
            !stripped.windows(7).any(|window| window == b"TRAILER"),
            "{name}"
        );
        let after = exiftool(&stripped, extension);
        assert_eq!(tags_naming(&after, &WORDS), Vec::<String>::new(), "{name}");
        assert!(
            !after
                .keys()
                .any(|key| key.contains("Warning") || key.contains("Error")),
            "{name}: {after:?}"
        );
        let orientation = after
            .get("IFD0:Orientation")
            .and_then(|value| value.as_u64());
        assert_eq!(orientation, rotated.then_some(6), "{name}");

        let processed = process_image(&original, format, &ImageLimits::default())
            .unwrap_or_else(|refused| panic!("{name}: {refused}"));
        assert_eq!(processed.original, stripped, "{name}");
        let stored = image::load_from_memory(&stripped).unwrap();
        let expected = if rotated {
            (stored.height(), stored.width())
        } else {
            (stored.width(), stored.height())
        };
        assert_eq!((processed.width, processed.height), expected, "{name}");
    }
}
