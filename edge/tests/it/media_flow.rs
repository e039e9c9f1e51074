//! Attachments end to end, as apps and browsers meet them: the official socket.io-client and
//! Node's `fetch` against the edge and media-svc's data plane, with exiftool and ImageMagick
//! judging the files served and headless Chromium showing how a browser treats the URLs
//! (edge/tests/js/media-flow.mjs; docs/API.md "Attachments").
//!
//! Needs Node.js, `npm ci --prefix edge/tests/js`, exiftool, ImageMagick and Chromium
//! (scripts/test.sh installs them).

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    official_client::run_script,
    support::{TestSystem, heavy, media::MediaSettings, system::Media, tokens::Person},
};

/// The stored-bytes quota of the main scenario's system: far above what it uploads, far
/// below the largest upload allowed, so that one `create-upload` can overstep it.
const STORED_QUOTA: u64 = 4 * 1024 * 1024;

/// Fails with the fix when a tool the scenario runs is missing.
fn assert_tools_installed() {
    for tool in [
        "/usr/bin/exiftool",
        "/usr/bin/identify",
        "/usr/bin/chromium",
    ] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: `scripts/test.sh --setup-only` installs it"
        );
    }
}

fn person(person: &Person) -> Value {
    json!({ "id": person.id, "token": person.token })
}

/// The report's `name`, which must be a successful ack: its `data`.
fn ok<'a>(report: &'a Value, name: &str) -> &'a Value {
    assert_eq!(report[name]["ok"], json!(true), "{name}: {}", report[name]);
    &report[name]["data"]
}

/// The report's `name`, which must be a failed ack: its `error`.
fn refused<'a>(report: &'a Value, name: &str) -> &'a Value {
    assert_eq!(report[name]["ok"], json!(false), "{name}: {}", report[name]);
    &report[name]["error"]
}

fn header<'a>(response: &'a Value, name: &str) -> &'a str {
    response["headers"][name].as_str().unwrap_or_default()
}

/// What every download must carry, whatever the file (docs/API.md "Attachments").
fn assert_served_safely(response: &Value, what: &str) {
    assert_eq!(response["status"], 200, "{what}: {response}");
    assert_eq!(
        header(response, "x-content-type-options"),
        "nosniff",
        "{what}: {response}"
    );
    assert!(
        header(response, "content-security-policy").contains("sandbox"),
        "{what} needs a sandboxing CSP: {response}"
    );
}

/// exiftool's tags of a served image that would tell where, with what or by whom it was made.
fn private_tags(image: &Value) -> Vec<&str> {
    image["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|tag| {
            let name = tag.rsplit(':').next().unwrap_or(tag);
            tag.starts_with("GPS:")
                || tag.starts_with("XMP")
                || name.starts_with("GPS")
                || ["Make", "Model", "Comment"].contains(&name)
        })
        .collect()
}

/// An image's size as shown: its stored size turned by its EXIF orientation (5–8 swap the
/// sides).
fn displayed(image: &Value) -> (u64, u64) {
    let (width, height) = (
        image["stored"]["width"].as_u64().unwrap(),
        image["stored"]["height"].as_u64().unwrap(),
    );
    match image["orientation"].as_u64() {
        Some(5..=8) => (height, width),
        _ => (width, height),
    }
}

#[tokio::test]
async fn a_shared_photo_is_stripped_signed_and_revocable_and_an_svg_never_runs() {
    // Chromium and the image tools load the machine: not beside the other heavy tests.
    let _alone = heavy().await;
    assert_tools_installed();
    let system = TestSystem::spawn_with_media(Media::Running(MediaSettings {
        max_stored_bytes: STORED_QUOTA,
        ..MediaSettings::default()
    }))
    .await;
    let [alice, bob, carol] = ["alice", "bob", "carol"].map(Person::new);
    let plan = json!({
        "url": system.edge_url(),
        "storeDir": system.media.as_ref().unwrap().store_dir(),
        "alice": person(&alice),
        "bob": person(&bob),
        "carol": person(&carol),
    });

    let report = run_script("media-flow.mjs", plan).await;

    assert!(
        report["failure"].is_null(),
        "the flow stopped: {}\nreport so far: {report:#}",
        report["failure"].as_str().unwrap_or_default()
    );
    let room_id = ok(&report, "create")["room"]["id"].clone();

    // The client is told the limits, and the quota starts empty.
    let config = ok(&report, "config");
    assert!(
        config["maxUploadBytes"].as_u64().unwrap() > STORED_QUOTA,
        "{config}"
    );
    assert_eq!(config["maxAttachments"], 10, "{config}");
    assert!(
        config["imageTypes"]
            .as_array()
            .unwrap()
            .contains(&json!("image/jpeg")),
        "{config}"
    );
    assert_eq!(config["quota"]["limitBytes"], STORED_QUOTA, "{config}");
    assert_eq!(config["quota"]["usedBytes"], 0, "{config}");

    // A PUT is held to what create-upload declared and signed, once.
    let put_errors = &report["putErrors"];
    assert_eq!(put_errors["tooManyBytes"], 413, "{put_errors}");
    assert_eq!(put_errors["tooFewBytes"], 400, "{put_errors}");
    assert_eq!(put_errors["badSignature"], 403, "{put_errors}");
    assert_eq!(report["photoPut"], 201);
    assert_eq!(put_errors["again"], 409, "{put_errors}");
    // Reservations count against the quota until they are cancelled.
    assert_eq!(
        report["quotaWithReservations"]["usedBytes"], 20,
        "{report:#}"
    );
    for cancel in report["cancels"].as_array().unwrap() {
        assert_eq!(cancel["ok"], json!(true), "{cancel}");
    }
    assert_eq!(report["quotaAfterCancels"]["usedBytes"], 0, "{report:#}");

    // Completing measures the photo as it is shown: 1200x800 turned by Orientation 6.
    let attachment = &ok(&report, "photoComplete")["attachment"];
    let photo_id = attachment["id"].clone();
    assert_eq!(attachment["kind"], "IMAGE", "{attachment}");
    assert_eq!(attachment["mimeType"], "image/jpeg", "{attachment}");
    assert_eq!(attachment["name"], "holiday.jpg", "{attachment}");
    assert_eq!(
        (&attachment["width"], &attachment["height"]),
        (&json!(800), &json!(1200))
    );
    assert!(
        !attachment["thumbhash"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{attachment}"
    );
    assert_eq!(
        ok(&report, "photoCompleteAgain")["attachment"]["id"],
        photo_id,
        "idempotent"
    );
    let stripped_size = attachment["size"].as_u64().unwrap();
    assert!(
        stripped_size < report["photoDeclaredSize"].as_u64().unwrap(),
        "the metadata is gone from the size too: {attachment}"
    );

    // The message carries it, to the sender and to bob, with URLs.
    let sent = &ok(&report, "photoSend")["message"];
    assert_eq!(sent["messageType"], "IMAGE", "{sent}");
    assert_eq!(sent["content"], "caption", "{sent}");
    assert_eq!(sent["attachments"][0]["id"], photo_id, "{sent}");
    let received = &report["photoReceived"];
    assert_eq!(received["id"], sent["id"], "{received}");
    let received_attachment = &received["attachments"][0];
    assert_eq!(received_attachment["id"], photo_id, "{received}");
    assert_eq!(received_attachment["width"], 800, "{received}");
    assert!(
        received_attachment["urlExpiresAt"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "{received}"
    );

    // The original as served: typed from its bytes, shown inline, and private no more.
    let original = &report["served"]["original"];
    assert_served_safely(original, "the original");
    assert_eq!(header(original, "content-type"), "image/jpeg", "{original}");
    assert!(
        header(original, "content-disposition").starts_with("inline"),
        "{original}"
    );
    let image = &original["image"];
    assert_eq!(
        private_tags(image),
        Vec::<&str>::new(),
        "exiftool still finds them: {image}"
    );
    assert_eq!(
        image["privateStringsLeft"],
        json!([]),
        "the bytes still hold them: {image}"
    );
    assert_eq!(image["orientation"], 6, "the orientation is kept: {image}");
    assert_eq!(
        image["stored"],
        json!({ "width": 1200, "height": 800, "format": "JPEG" })
    );
    assert_eq!(image["length"], stripped_size, "{image}");

    // The thumbnail: small, never larger than the original, upright as the original is shown.
    let thumbnail = &report["served"]["thumbnail"];
    assert_served_safely(thumbnail, "the thumbnail");
    assert!(
        header(thumbnail, "content-disposition").starts_with("inline"),
        "{thumbnail}"
    );
    let thumb = &thumbnail["image"];
    let (width, height) = displayed(thumb);
    assert!(
        width <= 400 && height <= 400 && width > 0,
        "fits 400x400: {thumb}"
    );
    assert!(height > width, "shown upright, as the original: {thumb}");
    assert_eq!(private_tags(thumb), Vec::<&str>::new(), "{thumb}");
    assert_eq!(thumb["privateStringsLeft"], json!([]), "{thumb}");

    // A 120x80 image has no variant larger than itself (or none at all).
    let small = &report["small"]["completed"]["data"]["attachment"];
    assert_eq!(small["kind"], "IMAGE", "{small}");
    assert_eq!(
        (&small["width"], &small["height"]),
        (&json!(120), &json!(80)),
        "{small}"
    );
    let small_thumbnail = &report["smallThumbnail"];
    if !small_thumbnail.is_null() {
        let (width, height) = (&small_thumbnail["width"], &small_thumbnail["height"]);
        assert!(
            width.as_u64() <= Some(120) && height.as_u64() <= Some(80),
            "upscaled: {small_thumbnail}"
        );
    }

    // HEAD, a single range, and a revalidation by ETag.
    let length = original["length"].clone();
    let head = &report["served"]["head"];
    assert_eq!(head["status"], 200, "{head}");
    assert_eq!(header(head, "content-length"), length.to_string(), "{head}");
    let range = &report["served"]["range"];
    assert_eq!(range["status"], 206, "{range}");
    assert_eq!(range["length"], 100, "{range}");
    assert_eq!(
        header(range, "content-range"),
        format!("bytes 0-99/{length}"),
        "{range}"
    );
    assert_eq!(range["matchesStart"], json!(true), "{range}");
    assert!(!header(original, "etag").is_empty(), "{original}");
    assert_eq!(report["served"]["notModified"]["status"], 304, "{report:#}");

    // Later reads carry it too, with URLs that work.
    let history = &ok(&report, "history")["messages"][0];
    assert_eq!(history["attachments"][0]["id"], photo_id, "{history}");
    let synced = &ok(&report, "sync")["rooms"][0];
    assert_eq!(synced["roomId"], room_id, "{synced}");
    assert_eq!(
        synced["messages"][0]["attachments"][0]["id"], photo_id,
        "{synced}"
    );
    let refreshed = &ok(&report, "refreshed")["urls"][photo_id.as_str().unwrap()];
    assert!(
        refreshed["expiresAt"].as_str().unwrap().ends_with('Z'),
        "{refreshed}"
    );
    for (read, statuses) in report["laterFetches"].as_object().unwrap() {
        assert_eq!(
            statuses,
            &json!([200, 200]),
            "URL and thumbnail from {read}"
        );
    }

    // Carol is in no room with them: no upload there, no URLs.
    assert_eq!(refused(&report, "carolUpload")["code"], "PERMISSION_DENIED");
    assert_eq!(refused(&report, "carolUrls")["code"], "PERMISSION_DENIED");

    // A URL is good only as signed.
    assert_eq!(
        report["forged"],
        json!({ "tampered": 403, "expiryMovedToThePast": 403 })
    );

    // Past the quota: refused before a byte is stored, with the numbers.
    let quota = &report["quotaBefore"];
    let over = refused(&report, "overQuota");
    assert_eq!(over["code"], "QUOTA_EXCEEDED", "{over}");
    assert_eq!(over["limitBytes"], STORED_QUOTA, "{over}");
    assert_eq!(over["usedBytes"], quota["usedBytes"], "{over}");
    assert!(
        quota["usedBytes"].as_u64().unwrap() >= stripped_size,
        "{quota}"
    );
    assert_eq!(
        report["storeUnchanged"],
        json!(true),
        "the refused upload wrote a file"
    );
    assert_eq!(
        report["quotaAfterRefusal"], *quota,
        "the refused upload reserved bytes"
    );

    // An SVG with a script is only ever a download.
    let svg = &report["svgUpload"];
    assert_eq!(svg["putStatus"], 201, "{svg}");
    assert_eq!(
        svg["completed"]["data"]["attachment"]["kind"], "FILE",
        "{svg}"
    );
    let svg_id = svg["completed"]["data"]["attachment"]["id"].clone();
    assert_eq!(ok(&report, "svgSend")["message"]["messageType"], "FILE");
    assert_eq!(report["svgReceived"]["attachments"][0]["id"], svg_id);
    let served_svg = &report["svgServed"];
    assert_served_safely(served_svg, "the SVG");
    assert!(
        header(served_svg, "content-disposition").starts_with("attachment"),
        "{served_svg}"
    );
    assert_ne!(
        header(served_svg, "content-type"),
        "image/svg+xml",
        "{served_svg}"
    );

    // The gallery, newest first, and by kind.
    let ids = |name: &str| -> Vec<Value> {
        ok(&report, name)["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|attachment| attachment["id"].clone())
            .collect()
    };
    assert_eq!(ids("gallery"), vec![svg_id.clone(), photo_id.clone()]);
    assert_eq!(ids("imageGallery"), vec![photo_id.clone()]);

    // In Chromium: the thumbnail shows on another origin's page; the SVG downloads and its
    // script never runs. The control, the same SVG served inline by the app's origin, shows
    // that a script that ran would have been seen.
    let browser = &report["browser"];
    assert!(
        browser["thumbnail"]["naturalWidth"].as_u64().unwrap() > 0,
        "{browser}"
    );
    let opened = &browser["svg"];
    assert!(
        opened["download"]["suggestedFilename"]
            .as_str()
            .unwrap_or_default()
            .ends_with(".svg"),
        "a download: {opened}"
    );
    assert_ne!(opened["title"], "svg-script-ran", "{opened}");
    assert_eq!(opened["cookies"], json!([]), "{opened}");
    assert_eq!(opened["beacons"], 0, "{opened}");
    let control = &browser["inlineControl"];
    assert_eq!(
        control["title"], "svg-script-ran",
        "the control's script ran: {control}"
    );
    assert_eq!(control["cookies"], json!(["svg=ran"]), "{control}");

    // Deleted: both files are gone at once, and no new URLs are minted.
    ok(&report, "delete");
    assert_eq!(report["deletedEvent"]["messageId"], sent["id"]);
    assert_eq!(
        report["afterDelete"]["atOnce"],
        json!([404, 404]),
        "original and thumbnail, fetched once delete-message was acknowledged and bob told \
         (notFoundAfterMs: how long they were still served): {}",
        report["afterDelete"]
    );
    let urls_after = &ok(&report, "urlsAfterDelete")["urls"];
    assert!(
        urls_after.get(photo_id.as_str().unwrap()).is_none(),
        "{urls_after}"
    );
    eprintln!("media-flow.mjs ran in {} ms", report["elapsedMs"]);
}

#[tokio::test]
async fn a_download_url_is_refused_once_it_has_expired_and_a_member_gets_a_new_one() {
    // Download URLs last one to two buckets: two seconds to four.
    let system = TestSystem::spawn_with_media(Media::Running(MediaSettings {
        url_bucket: Duration::from_secs(2),
        ..MediaSettings::default()
    }))
    .await;
    let [alice, bob] = ["alice", "bob"].map(Person::new);
    let plan = json!({
        "scenario": "expiry",
        "url": system.edge_url(),
        "alice": person(&alice),
        "bob": person(&bob),
    });

    let report = run_script("media-flow.mjs", plan).await;

    assert!(report["failure"].is_null(), "{report:#}");
    assert_eq!(report["fresh"], 200, "{report}");
    assert!(report["waitedMs"].as_u64().unwrap() <= 4_500, "{report}");
    assert_eq!(report["expired"], 403, "{report}");
    assert_eq!(report["renewedExpiresLater"], json!(true), "{report}");
}
