// Files for the attachments test, made and measured with tools that share no code with
// media-svc: ImageMagick draws the photo and measures what is served, exiftool writes the
// private metadata a phone would and reads what is left of it.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Text written into the photo's metadata; none of it may be served. */
export const PRIVATE_STRINGS = ["ParleyCam", "Parley Phone 7", "secret title", "a private comment", "TRAILER-AFTER-EOI"];

/** A scratch folder, removed by `cleanUp`. */
export const scratch = () => mkdtemp(join(tmpdir(), "parley-media-flow-"));

export const cleanUp = (dir) => rm(dir, { recursive: true, force: true });

/**
 * A 1200x800 JPEG as a phone writes it: GPS position, camera make and model, an XMP packet, a
 * comment, Orientation 6 (shown rotated, 800x1200), and bytes after the end of the image.
 */
export async function makePhoto(dir) {
  const path = join(dir, "photo.jpg");
  await run("convert", ["-size", "1200x800", "gradient:#c33-#36c", "-quality", "85", path]);
  await run("exiftool", [
    "-q",
    "-overwrite_original",
    "-n",
    "-Make=ParleyCam",
    "-Model=Parley Phone 7",
    "-Orientation=6",
    "-GPSLatitude=48.8583",
    "-GPSLatitudeRef=N",
    "-GPSLongitude=2.2945",
    "-GPSLongitudeRef=E",
    "-XMP-dc:Title=secret title",
    "-XMP-dc:Creator=someone",
    "-Comment=a private comment",
    path,
  ]);
  const bytes = Buffer.concat([await readFile(path), Buffer.from("TRAILER-AFTER-EOI")]);
  return { name: "holiday.jpg", contentType: "image/jpeg", bytes };
}

/** A 120x80 PNG: smaller than any variant, so it must get none larger than itself. */
export async function makeSmallImage(dir) {
  const path = join(dir, "small.png");
  await run("convert", ["-size", "120x80", "xc:#2a7", path]);
  return { name: "small.png", contentType: "image/png", bytes: await readFile(path) };
}

/**
 * An SVG whose script, if it ever ran, would leave three marks: the page title, a cookie,
 * and a request to `beaconUrl`.
 */
export function makeScriptedSvg(beaconUrl) {
  const script = [
    `document.title = "svg-script-ran";`,
    `document.cookie = "svg=ran; path=/";`,
    `fetch(${JSON.stringify(beaconUrl)}, { mode: "no-cors" });`,
  ].join(" ");
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">` +
    `<rect width="64" height="64" fill="red"/><script>${script}</script></svg>`;
  return { name: "drawing.svg", contentType: "image/svg+xml", bytes: Buffer.from(svg) };
}

/** `bytes` as seen by exiftool and ImageMagick, and which private strings they still hold. */
export async function inspectImage(dir, label, bytes) {
  const path = join(dir, `served-${label}`);
  await writeFile(path, bytes);
  const [{ stdout: exif }, { stdout: size }] = await Promise.all([
    run("exiftool", ["-j", "-a", "-G1", "-n", path]),
    run("identify", ["-format", "%w %h %m", path]),
  ]);
  const [tags] = JSON.parse(exif);
  // Facts about the file on disk, not metadata it carries.
  const carried = Object.keys(tags).filter((tag) => !/^(SourceFile|ExifTool:|System:)/.test(tag));
  const [width, height, format] = size.trim().split(" ");
  return {
    tags: carried,
    orientation: tags["IFD0:Orientation"] ?? null,
    stored: { width: Number(width), height: Number(height), format },
    privateStringsLeft: PRIVATE_STRINGS.filter((text) => bytes.includes(Buffer.from(text))),
    length: bytes.length,
  };
}
