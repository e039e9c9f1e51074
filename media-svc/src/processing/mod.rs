//! STUB (replaced by the media-processing branch)
pub const SNIFF_BYTES: usize = 8192;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
}
pub struct Sniffed {
    pub mime: &'static str,
    pub image: Option<ImageFormat>,
}
pub fn sniff(_head: &[u8], _name: &str) -> Sniffed {
    Sniffed {
        mime: "application/octet-stream",
        image: None,
    }
}
pub fn clean_name(name: &str) -> Option<String> {
    Some(name.to_owned())
}
pub enum Disposition {
    Inline,
    Attachment,
}
pub fn disposition(_mime: &str) -> Disposition {
    Disposition::Attachment
}
pub fn content_disposition(_d: Disposition, _name: &str) -> String {
    String::new()
}
#[derive(Debug, Clone)]
pub struct ImageLimits {
    pub max_pixels: u64,
    pub max_side: u32,
    pub max_alloc_bytes: u64,
}
impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_pixels: 1,
            max_side: 1,
            max_alloc_bytes: 1,
        }
    }
}
pub struct EncodedVariant {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}
pub struct ProcessedImage {
    pub original: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    pub thumbnail: Option<EncodedVariant>,
    pub preview: Option<EncodedVariant>,
    pub thumbhash: Vec<u8>,
}
#[derive(Debug)]
pub enum ImageRefused {
    TooLarge { width: u32, height: u32 },
    Undecodable(String),
}
pub fn process_image(
    _bytes: &[u8],
    _format: ImageFormat,
    _limits: &ImageLimits,
) -> Result<ProcessedImage, ImageRefused> {
    Err(ImageRefused::Undecodable(String::new()))
}
pub fn strip_metadata(_bytes: &[u8], _format: ImageFormat) -> Option<Vec<u8>> {
    None
}
pub const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];
