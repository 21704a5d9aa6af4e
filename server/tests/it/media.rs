//! Media over real HTTP: a PNG uploaded (multipart, streamed to the local-folder store) gets a
//! thumbnail, is served whole, by range and as not-modified, is hidden from another tenant,
//! refused to students' uploads, and removed with its object when deleted or when its lesson or
//! course is; uploads are refused by content (415) and size (413) with nothing left in the
//! in-memory store; and every `--media-*` limit is applied.

use std::io::Cursor;
use std::net::SocketAddr;

use futures_util::StreamExt;
use object_store::ObjectStore;
use persistence::test_support::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::media::MediaStorage;

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{TestServer, eventually, start_with, temp_dir};

/// A PNG of `width`×`height`: one colour, or noise (which does not compress).
pub fn png(width: u32, height: u32, noise: bool) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        if noise {
            let seed = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)).wrapping_mul(2_654_435_761);
            image::Rgb([(seed >> 24) as u8, (seed >> 16) as u8, (seed >> 8) as u8])
        } else {
            image::Rgb([200, 40, 90])
        }
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a png");
    out.into_inner()
}

/// A multipart/form-data body with one part; returns (content type, body).
pub fn multipart(
    part: &str,
    file_name: &str,
    claimed_type: &str,
    bytes: &[u8],
) -> (String, Vec<u8>) {
    let boundary = "classhub-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"{file_name}\"\r\n\
         Content-Type: {claimed_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads `bytes` as the part `file` (`query`: e.g. `?lesson_id=…`); returns (status, body).
pub async fn upload(
    addr: SocketAddr,
    token: &str,
    query: &str,
    file_name: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let (content_type, body) = multipart("file", file_name, "image/png", bytes);
    let answer = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/media{query}"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload answered");
    let status = answer.status();
    let body = answer.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A GET with extra headers; returns the whole answer.
async fn get(
    addr: SocketAddr,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("answered")
}

fn header<'a>(answer: &'a reqwest::Response, name: &str) -> &'a str {
    answer
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Every object the server's media store holds, as keys.
async fn stored_keys(test: &TestServer) -> Vec<String> {
    let objects = test.server.app().media().objects().clone();
    let mut keys: Vec<String> = objects
        .list(None)
        .map(|meta| meta.expect("listed").location.to_string())
        .collect()
        .await;
    keys.sort();
    keys
}

/// A published course with one lesson by the school's teacher; returns (course, lesson).
async fn course_with_lesson(rest: &Rest, school: &School) -> (String, String) {
    let course = rest
        .post(
            "/api/v1/courses",
            &school.teacher,
            json!({"title": "Art", "published": true}),
        )
        .await;
    let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();
    let lesson = rest
        .post(
            &format!("/api/v1/courses/{course_id}/lessons"),
            &school.teacher,
            json!({"title": "Colours", "published": true}),
        )
        .await;
    let lesson_id = lesson.expect(201)["id"].as_str().expect("id").to_owned();
    (course_id, lesson_id)
}

#[tokio::test]
async fn media_are_stored_served_by_range_and_removed_with_their_lesson() {
    for db in TestDatabase::all().await {
        let url = db.url().to_owned();
        let media_dir = temp_dir("media");
        let dir = media_dir.clone();
        let test = start_with(move |config| {
            config.database_url = Some(url);
            config.media.storage = MediaStorage::Dir(dir);
        })
        .await;
        let addr = test.addr;
        let rest = Rest::new(addr);
        let school = School::enroll(&rest, "med").await;
        let (course_id, lesson_id) = course_with_lesson(&rest, &school).await;
        let picture = png(600, 300, true);

        // Upload, attached to the lesson: the type is read from the bytes, a thumbnail is made.
        let (status, stored) = upload(
            addr,
            &school.teacher,
            &format!("?lesson_id={lesson_id}"),
            "../holiday photo.png",
            &picture,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{stored}");
        let id = stored["id"].as_str().expect("id").to_owned();
        assert_eq!(stored["content_type"], "image/png");
        assert_eq!(stored["file_name"], "holiday photo.png");
        assert_eq!(stored["size_bytes"], picture.len());
        assert_eq!(stored["lesson_id"], lesson_id.as_str());
        assert_eq!(
            (stored["width"].clone(), stored["height"].clone()),
            (json!(600), json!(300))
        );
        assert_eq!(stored["url"], format!("/api/v1/media/{id}"));
        assert_eq!(
            stored["thumbnail_url"],
            format!("/api/v1/media/{id}/thumbnail")
        );
        let on_disk = media_dir.join("med").join(&id);
        assert_eq!(
            std::fs::read(&on_disk).expect("the file is in --media-dir"),
            picture
        );

        // Whole, with the cache headers.
        let whole = get(addr, &format!("/api/v1/media/{id}"), &school.student, &[]).await;
        assert_eq!(
            whole.status(),
            StatusCode::OK,
            "any member of the school reads media"
        );
        assert_eq!(header(&whole, "content-type"), "image/png");
        assert_eq!(header(&whole, "accept-ranges"), "bytes");
        assert_eq!(header(&whole, "cache-control"), "private, max-age=86400");
        assert_eq!(header(&whole, "x-content-type-options"), "nosniff");
        let etag = header(&whole, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 20, "{etag}");
        assert_eq!(
            whole.bytes().await.expect("body").as_ref(),
            picture.as_slice()
        );

        // A range, a suffix range, one past the end, and a stale copy that is still good.
        let part = get(
            addr,
            &format!("/api/v1/media/{id}"),
            &school.student,
            &[("range", "bytes=10-19")],
        )
        .await;
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            header(&part, "content-range"),
            format!("bytes 10-19/{}", picture.len())
        );
        assert_eq!(part.bytes().await.expect("body").as_ref(), &picture[10..20]);
        let tail = get(
            addr,
            &format!("/api/v1/media/{id}"),
            &school.student,
            &[("range", "bytes=-5")],
        )
        .await;
        assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            tail.bytes().await.expect("body").as_ref(),
            &picture[picture.len() - 5..]
        );
        let past = format!("bytes={}-", picture.len());
        let beyond = get(
            addr,
            &format!("/api/v1/media/{id}"),
            &school.student,
            &[("range", &past)],
        )
        .await;
        assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(
            header(&beyond, "content-range"),
            format!("bytes */{}", picture.len())
        );
        let cached = get(
            addr,
            &format!("/api/v1/media/{id}"),
            &school.parent,
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        assert!(cached.bytes().await.expect("body").is_empty());
        let changed = get(
            addr,
            &format!("/api/v1/media/{id}"),
            &school.parent,
            &[("if-none-match", "\"other\"")],
        )
        .await;
        assert_eq!(changed.status(), StatusCode::OK);

        // The thumbnail: at most 256 px, the aspect kept.
        let thumbnail = get(
            addr,
            &format!("/api/v1/media/{id}/thumbnail"),
            &school.student,
            &[],
        )
        .await;
        assert_eq!(thumbnail.status(), StatusCode::OK);
        assert_eq!(header(&thumbnail, "content-type"), "image/jpeg");
        let small =
            image::load_from_memory(&thumbnail.bytes().await.expect("body")).expect("an image");
        assert_eq!((small.width(), small.height()), (256, 128));

        // Who may: students and parents do not upload or delete; another school sees nothing.
        let (status, refused) = upload(addr, &school.student, "", "cat.png", &picture).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        let other = School::enroll(&rest, "oth").await;
        for path in [
            format!("/api/v1/media/{id}"),
            format!("/api/v1/media/{id}/thumbnail"),
        ] {
            let hidden = get(addr, &path, &other.admin, &[]).await;
            assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "{path}");
        }
        rest.delete(&format!("/api/v1/media/{id}"), &other.admin)
            .await
            .expect(404);
        let (status, _) = upload(
            addr,
            &other.admin,
            &format!("?lesson_id={lesson_id}"),
            "x.png",
            &picture,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another school's lesson");
        let listed = rest.get("/api/v1/media", &other.admin).await;
        assert_eq!(listed.expect(200)["items"], json!([]));
        rest.delete(&format!("/api/v1/media/{id}"), &school.other_teacher)
            .await
            .expect_error(403, "uploaded");

        // A PDF on its own, and a course's own picture; the list filters by owner.
        let (status, pdf) = upload(
            addr,
            &school.teacher,
            "",
            "notes.png",
            b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n",
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{pdf}");
        assert_eq!(
            pdf["content_type"], "application/pdf",
            "the content decides, not the name"
        );
        assert_eq!(pdf["thumbnail_url"], Value::Null);
        let pdf_id = pdf["id"].as_str().expect("id").to_owned();
        let no_thumbnail = get(
            addr,
            &format!("/api/v1/media/{pdf_id}/thumbnail"),
            &school.teacher,
            &[],
        )
        .await;
        assert_eq!(no_thumbnail.status(), StatusCode::NOT_FOUND);
        let (status, cover) = upload(
            addr,
            &school.teacher,
            &format!("?course_id={course_id}"),
            "cover.png",
            &png(40, 40, false),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{cover}");
        let cover_id = cover["id"].as_str().expect("id").to_owned();
        let everything = rest.get("/api/v1/media?limit=2", &school.student).await;
        let first_page = everything.expect(200);
        assert_eq!(
            first_page["items"][0]["id"],
            cover_id.as_str(),
            "newest first"
        );
        let cursor = first_page["next_cursor"]
            .as_str()
            .expect("a second page")
            .to_owned();
        let second = rest
            .get(
                &format!("/api/v1/media?limit=2&cursor={cursor}"),
                &school.student,
            )
            .await;
        assert_eq!(second.expect(200)["items"][0]["id"], id.as_str());
        let of_lesson = rest
            .get(
                &format!("/api/v1/media?lesson_id={lesson_id}"),
                &school.teacher,
            )
            .await;
        let of_lesson = of_lesson.expect(200)["items"].clone();
        assert_eq!(of_lesson.as_array().map(Vec::len), Some(1));
        assert_eq!(of_lesson[0]["id"], id.as_str());

        // Deleting the lesson removes its file and thumbnail; the PDF and the cover stay.
        assert_eq!(
            stored_keys(&test).await.len(),
            5,
            "two files with thumbnails, one PDF"
        );
        rest.delete(&format!("/api/v1/lessons/{lesson_id}"), &school.teacher)
            .await
            .expect(204);
        assert_eq!(
            get(addr, &format!("/api/v1/media/{id}"), &school.teacher, &[])
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        assert!(!on_disk.exists(), "the lesson's file is gone from the disk");
        assert_eq!(stored_keys(&test).await.len(), 3);

        // Deleting the PDF removes its object; deleting the course removes its picture.
        rest.delete(&format!("/api/v1/media/{pdf_id}"), &school.teacher)
            .await
            .expect(204);
        assert!(!media_dir.join("med").join(&pdf_id).exists());
        rest.delete(&format!("/api/v1/media/{pdf_id}"), &school.teacher)
            .await
            .expect(404);
        rest.delete(&format!("/api/v1/courses/{course_id}"), &school.teacher)
            .await
            .expect(204);
        assert_eq!(
            get(
                addr,
                &format!("/api/v1/media/{cover_id}"),
                &school.teacher,
                &[]
            )
            .await
            .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            stored_keys(&test).await,
            Vec::<String>::new(),
            "nothing left in storage"
        );
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn a_course_deletion_removes_the_media_of_its_lessons() {
    let test = start_with(|config| config.media.storage = MediaStorage::Memory).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "crs").await;
    let (course_id, lesson_id) = course_with_lesson(&rest, &school).await;
    let (status, stored) = upload(
        test.addr,
        &school.teacher,
        &format!("?lesson_id={lesson_id}"),
        "a.png",
        &png(20, 20, false),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let (status, kept) = upload(test.addr, &school.teacher, "", "b.png", &png(20, 20, false)).await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    assert_eq!(stored_keys(&test).await.len(), 4);
    rest.delete(&format!("/api/v1/courses/{course_id}"), &school.teacher)
        .await
        .expect(204);
    let left = rest.get("/api/v1/media", &school.teacher).await;
    let left = left.expect(200)["items"].clone();
    assert_eq!(left.as_array().map(Vec::len), Some(1));
    assert_eq!(left[0]["id"], kept["id"]);
    assert_eq!(
        stored_keys(&test).await.len(),
        2,
        "the unattached file and its thumbnail"
    );
    test.server.shutdown().await;
}

#[tokio::test]
async fn uploads_are_refused_by_content_and_size_and_leave_nothing_behind() {
    let test = start_with(|config| {
        config.media.storage = MediaStorage::Memory;
        config.media.max_bytes = 64 * 1024;
    })
    .await;
    let addr = test.addr;
    let rest = Rest::new(addr);
    let school = School::enroll(&rest, "lim").await;

    // Text named .png and sent as image/png: refused by its content, the accepted types named.
    let (status, refused) = upload(
        addr,
        &school.teacher,
        "",
        "homework.png",
        b"just some text, honestly a png",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{refused}");
    assert_eq!(refused["error"]["code"], "unsupported_media_type");
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("image/png") && message.contains("application/pdf"),
        "{message}"
    );

    // Over the limit, declared by Content-Length (refused before reading) and found while
    // streaming (the body within the framing allowance, the file one byte over).
    let mut video = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2mp41".to_vec();
    video.resize(300 * 1024, 7);
    let (status, refused) = upload(addr, &school.teacher, "", "clip.mp4", &video).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("65536") && message.contains("--media-max-bytes"),
        "{message}"
    );
    video.truncate(64 * 1024 + 1);
    let (status, refused) = upload(addr, &school.teacher, "", "clip.mp4", &video).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert_eq!(
        stored_keys(&test).await,
        Vec::<String>::new(),
        "no partial object is kept"
    );

    // At the limit: stored.
    video.truncate(64 * 1024);
    let (status, stored) = upload(addr, &school.teacher, "", "clip.mp4", &video).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["content_type"], "video/mp4");
    assert_eq!(stored_keys(&test).await.len(), 1);

    // Not a file at all.
    let (status, refused) = upload(addr, &school.teacher, "", "empty.png", b"").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (content_type, body) = multipart("picture", "a.png", "image/png", &png(4, 4, false));
    let wrong_part = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/media"))
        .bearer_auth(&school.teacher)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong_part.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A part after the file: refused, and the file's object removed.
    let (content_type, mut body) = multipart("file", "a.png", "image/png", &png(4, 4, false));
    let boundary = content_type
        .rsplit('=')
        .next()
        .expect("boundary")
        .to_owned();
    body.truncate(body.len() - b"--\r\n".len());
    body.extend_from_slice(
        format!(
            "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    let trailing = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/media"))
        .bearer_auth(&school.teacher)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("answered");
    assert_eq!(trailing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = trailing.json().await.expect("json");
    assert_eq!(
        refused["error"]["fields"]["note"]
            .as_str()
            .map(|text| text.contains("`file`")),
        Some(true),
        "{refused}"
    );
    rest.post("/api/v1/media", &school.teacher, json!({"file": "x"}))
        .await
        .expect_error(400, "multipart/form-data");
    let both = rest
        .get("/api/v1/media?lesson_id=a&course_id=b", &school.teacher)
        .await;
    both.expect(422);
    assert_eq!(stored_keys(&test).await.len(), 1, "only the stored video");
    test.server.shutdown().await;
}

#[tokio::test]
async fn every_media_limit_is_applied() {
    let test = start_with(|config| {
        config.media.storage = MediaStorage::Memory;
        config.media.thumbnail_edge = 64;
        config.media.thumbnail_max_pixels = 10_000;
        config.media.thumbnail_max_bytes = 4_000;
        config.media.cache_max_age = std::time::Duration::from_secs(600);
        config.media.thumbnail_concurrency = 1;
    })
    .await;
    let addr = test.addr;
    let rest = Rest::new(addr);
    let school = School::enroll(&rest, "edg").await;
    let thumbnail_of = |body: &Value| body["thumbnail_url"].as_str().map(str::to_owned);

    // --media-thumbnail-edge: the longest edge.
    let (status, small) = upload(addr, &school.teacher, "", "a.png", &png(100, 50, false)).await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    let thumbnail = get(
        addr,
        &thumbnail_of(&small).expect("a thumbnail"),
        &school.teacher,
        &[],
    )
    .await;
    // --media-cache-max-age: the Cache-Control.
    assert_eq!(header(&thumbnail, "cache-control"), "private, max-age=600");
    let made = image::load_from_memory(&thumbnail.bytes().await.expect("body")).expect("an image");
    assert_eq!((made.width(), made.height()), (64, 32));

    // --media-thumbnail-max-pixels: 200×100 is 20 000 pixels, stored without a thumbnail.
    let (status, wide) = upload(addr, &school.teacher, "", "b.png", &png(200, 100, false)).await;
    assert_eq!(status, StatusCode::CREATED, "{wide}");
    assert_eq!(thumbnail_of(&wide), None);

    // --media-thumbnail-max-bytes: noise does not compress below 4 000 bytes.
    let noisy = png(60, 60, true);
    assert!(noisy.len() > 4_000, "{}", noisy.len());
    let (status, heavy) = upload(addr, &school.teacher, "", "c.png", &noisy).await;
    assert_eq!(status, StatusCode::CREATED, "{heavy}");
    assert_eq!(thumbnail_of(&heavy), None);
    let id = heavy["id"].as_str().expect("id");
    rest.get(&format!("/api/v1/media/{id}/thumbnail"), &school.teacher)
        .await
        .expect_error(404, "--media-thumbnail-max-bytes");
    test.server.shutdown().await;
}

#[tokio::test]
async fn erasing_the_uploader_keeps_the_file_without_their_id() {
    for db in TestDatabase::all().await {
        let url = db.url().to_owned();
        let test = start_with(move |config| {
            config.database_url = Some(url);
            config.media.storage = MediaStorage::Memory;
        })
        .await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "era").await;
        let (status, stored) = upload(
            test.addr,
            &school.other_teacher,
            "",
            "a.png",
            &png(10, 10, false),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{stored}");
        assert_eq!(stored["uploaded_by"], school.id("t2").as_str());
        let id = stored["id"].as_str().expect("id");
        rest.delete(&format!("/api/v1/users/{}", school.id("t2")), &school.admin)
            .await
            .expect(200);
        let kept = rest.get("/api/v1/media", &school.teacher).await;
        let kept = kept.expect(200)["items"][0].clone();
        assert_eq!(kept["id"], id, "the school's file stays");
        assert_eq!(
            kept["uploaded_by"],
            Value::Null,
            "without the erased person's id"
        );
        let whole = get(
            test.addr,
            &format!("/api/v1/media/{id}"),
            &school.teacher,
            &[],
        )
        .await;
        assert_eq!(whole.status(), StatusCode::OK);
        rest.delete(&format!("/api/v1/media/{id}"), &school.admin)
            .await
            .expect(204);
        test.server.shutdown().await;
    }
}

/// Files under `dir`, at any depth.
fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() { files_under(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn an_upload_the_client_abandons_leaves_no_partial_file() {
    use tokio::io::AsyncWriteExt as _;

    let media_dir = temp_dir("media-abandoned");
    let dir = media_dir.clone();
    let test = start_with(move |config| config.media.storage = MediaStorage::Dir(dir)).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "abn").await;
    let boundary = "abandoned-boundary";
    let mut stream = tokio::net::TcpStream::connect(test.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/media HTTP/1.1\r\nHost: classhub\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.mp4\"\r\n\r\n",
        school.teacher,
        20 << 20
    );
    stream.write_all(head.as_bytes()).await.expect("headers");
    let mut video = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2mp41".to_vec();
    video.resize(3 << 20, 1);
    stream.write_all(&video).await.expect("the first 3 MiB");
    eventually("the upload to reach the media folder", || {
        files_under(&media_dir) > 0
    })
    .await;
    drop(stream);
    eventually("the partial file to be removed", || {
        files_under(&media_dir) == 0
    })
    .await;
    let listed = rest.get("/api/v1/media", &school.teacher).await;
    assert_eq!(listed.expect(200)["items"], json!([]));
    test.server.shutdown().await;
}
