//! Conditional and ranged reads, batch deletes, and streamed puts and gets over `OpenDAL`.
//!
//! On S3 these map onto what the protocol offers: `If-None-Match` on `GET` (answered `304`
//! without a body), `Range` on `GET`, `DeleteObjects` with up to 1000 keys, multipart uploads
//! with equal parts sent several at a time, and ranged reads pinned with `If-Match` to the entity
//! tag seen first. Memory and fs do the same work locally with the same outcomes.

use std::ops::Range;

use bytes::Bytes;
use futures::stream::{self, StreamExt};

#[cfg(feature = "fs")]
use super::blocking;
use super::{Conditions, Local, OpendalBackend, PROBE_FOLDER, meta_of, quoted_etag, unique_name};
use crate::backend::{body_error, collect_body, same_etag, slice_clamped};
use crate::error::{Access, from_opendal};
use crate::{BodyStream, Error, ErrorKind, Object, ObjectMeta, PutMode, ValueStream};

/// How streamed transfers split a value: the size of each part and how many are in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// Bytes per part of an upload and per ranged read of a download.
    pub(crate) part_size: usize,
    /// Parts of one transfer in flight at once.
    pub(crate) concurrency: usize,
}

impl Transfer {
    /// What backends without their own settings use: 8 MiB parts, 4 at a time.
    pub(crate) const DEFAULT: Self = Self { part_size: 8 * 1024 * 1024, concurrency: 4 };
}

/// Bytes per block when fs streams a file in or out; memory use of a stream is about this.
#[cfg(feature = "fs")]
const FS_BLOCK: usize = 1024 * 1024;

/// How often a streamed or ranged get starts again when the object is replaced before its first
/// bytes arrive; past them a replacement is an error instead.
const STREAM_ATTEMPTS: usize = 3;

/// Smallest part S3 accepts; the multipart probe uploads two parts, this and one byte.
const MIN_PART: usize = 5 * 1024 * 1024;

/// Why a large create-only write is refused on a server that ignores the condition there.
const IGNORED_MULTIPART_CREATE: &str = "this server ignored `If-None-Match: *` on a multipart \
    upload when probed, so create-only writes of values larger than one part cannot be honoured \
    on it; smaller values can";

/// Why a large compare-and-swap is refused on a server that ignores the condition there.
const IGNORED_MULTIPART_SWAP: &str = "this server ignored `If-Match` on a multipart upload when \
    probed, so compare-and-swap of values larger than one part cannot be honoured on it; \
    smaller values can";

/// What a streamed get reports when the object changed under it.
const REPLACED: &str = "the object was replaced while it was read; read it again";

/// The condition a write sends to an S3 server.
pub(super) enum Condition {
    None,
    Absent,
    Match(String),
}

impl OpendalBackend {
    /// The condition `mode` asks of an S3 server, or why it cannot be honoured there.
    pub(super) async fn condition_of(
        &self,
        mode: PutMode,
        operation: &'static str,
        path: &str,
    ) -> Result<Condition, Error> {
        match mode {
            PutMode::Overwrite => Ok(Condition::None),
            PutMode::IfAbsent => {
                if !self.conditions(operation, path).await?.create {
                    let message = super::IGNORED_CREATE;
                    return Err(self.error(ErrorKind::Unsupported, operation, path, message));
                }
                Ok(Condition::Absent)
            }
            PutMode::IfMatch(etag) => {
                if !self.conditions(operation, path).await?.swap {
                    let message = super::IGNORED_SWAP;
                    return Err(self.error(ErrorKind::Unsupported, operation, path, message));
                }
                match quoted_etag(&etag) {
                    Some(etag) => Ok(Condition::Match(etag)),
                    None => Err(self.error(
                        ErrorKind::ConditionFailed,
                        operation,
                        path,
                        "an empty entity tag matches no object",
                    )),
                }
            }
        }
    }

    /// Reads an object unless it still has `etag`; see [`crate::Backend::get_if_none_match`].
    pub(super) async fn read_if_none_match(
        &self,
        path: &str,
        etag: &str,
    ) -> Result<Option<Object>, Error> {
        const OPERATION: &str = "get_if_none_match";
        self.check_path(path, OPERATION)?;
        let unchanged = |object: &Object| {
            object.meta.etag.as_deref().is_some_and(|stored| same_etag(etag, stored))
        };

        // A folder compares the tag stored beside the file and reads the bytes only when it
        // differs (or is missing, and the file is hashed for it).
        #[cfg(feature = "fs")]
        if let Some(Local::Folder { root, .. }) = &self.local {
            let (file, given) = (root.join(path), etag.to_owned());
            let read = blocking(move || super::local::read_file_if_none_match(&file, &given));
            let changed =
                read.await.map_err(|e| self.io_error(e, OPERATION, Access::Read, path))?;
            return Ok(changed.map(|(bytes, meta)| Object { bytes, meta }));
        }

        // Memory's entity tags are hashes of the value it holds, so the value is read to compare
        // them; the answer is the same, only the saving of a transfer is not there to make.
        let quoted = quoted_etag(etag).filter(|_| self.local.is_none());
        let Some(quoted) = quoted else {
            let object = self.read_object(path, OPERATION).await?;
            return Ok((!unchanged(&object)).then_some(object));
        };

        // One GET: `304` (no body) when unchanged, else the new bytes with the ETag of the same
        // response, so a write in between can never pair old bytes with a new tag.
        let wrap = |e| self.wrap(e, OPERATION, Access::Read, path);
        let reader = self.operator.reader_with(path).if_none_match(&quoted).await.map_err(wrap)?;
        let bytes = match reader.read(..).await {
            Ok(buffer) => buffer.to_bytes(),
            Err(e) if e.kind() == opendal::ErrorKind::ConditionNotMatch => return Ok(None),
            Err(e) => return Err(wrap(e)),
        };
        let size = bytes.len() as u64;
        let meta = match reader.metadata() {
            Some(metadata) => meta_of(metadata, size),
            None => ObjectMeta { size, etag: None, last_modified: None },
        };
        let object = Object { bytes, meta };
        // A server that ignores `If-None-Match` sends the body anyway; the tags still tell.
        Ok((!unchanged(&object)).then_some(object))
    }

    /// Reads a byte range, clamped at the end; see [`crate::Backend::get_range`].
    pub(super) async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, Error> {
        const OPERATION: &str = "get_range";
        self.check_path(path, OPERATION)?;
        match &self.local {
            #[cfg(feature = "fs")]
            Some(Local::Folder { root, .. }) => {
                let file = root.join(path);
                blocking(move || super::local::read_range(&file, &range))
                    .await
                    .map_err(|e| self.io_error(e, OPERATION, Access::Read, path))
            }
            // Memory holds the value whole already; slicing it copies nothing.
            #[cfg(feature = "memory")]
            Some(Local::Memory(_)) => {
                let object = self.read_object(path, OPERATION).await?;
                Ok(slice_clamped(&object.bytes, &range))
            }
            None => self.read_s3_range(path, range).await,
        }
    }

    async fn read_s3_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, Error> {
        const OPERATION: &str = "get_range";
        let wrap = |e| self.wrap(e, OPERATION, Access::Read, path);

        // `OpenDAL` treats a short answer to a ranged read as a failed transfer, so the range is
        // clamped to the object's size first, and the read pinned with `If-Match` to the version
        // whose size that is. A replacement in between is met by starting again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let metadata = self.operator.stat(path).await.map_err(wrap)?;
            if metadata.is_dir() {
                return Err(self.error(ErrorKind::NotFound, OPERATION, path, "no object here"));
            }
            let end = range.end.min(metadata.content_length());
            if range.start >= end {
                return Ok(Bytes::new());
            }
            let mut read = self.operator.read_with(path).range(range.start..end);
            if let Some(etag) = metadata.etag().and_then(quoted_etag) {
                read = read.if_match(&etag);
            }
            match read.await {
                Ok(buffer) => return Ok(buffer.to_bytes()),
                Err(e)
                    if e.kind() == opendal::ErrorKind::ConditionNotMatch
                        && attempt < STREAM_ATTEMPTS => {}
                Err(e) => return Err(stream_error(e, path, &self.description, OPERATION)),
            }
        }
    }

    /// Removes many objects; see [`crate::Backend::delete_many`].
    pub(super) async fn delete_paths(&self, paths: &[String]) -> Result<(), Error> {
        const OPERATION: &str = "delete_many";
        for path in paths {
            self.check_path(path, OPERATION)?;
        }
        if paths.is_empty() {
            return Ok(());
        }

        match &self.local {
            #[cfg(feature = "fs")]
            Some(Local::Folder { root, temporary }) => {
                let (root, temporary, owned) = (root.clone(), temporary.clone(), paths.to_vec());
                blocking(move || super::local::delete_files(&root, &temporary, &owned))
                    .await
                    .map_err(|e| self.io_error(e, OPERATION, Access::Delete, ""))
            }
            // Deletes take the write lock, as single deletes do.
            #[cfg(feature = "memory")]
            Some(Local::Memory(lock)) => {
                let _guard = lock.lock().await;
                for path in paths {
                    match self.operator.delete(path).await {
                        Ok(()) => {}
                        Err(e) => match self.wrap(e, OPERATION, Access::Delete, path) {
                            error if error.kind() == ErrorKind::NotFound => {}
                            error => return Err(error),
                        },
                    }
                }
                Ok(())
            }
            // OpenDAL's deleter buffers paths and sends one `DeleteObjects` per 1000.
            None => {
                for path in paths {
                    self.landing.settle(path).await;
                }
                self.operator
                    .delete_iter(paths.iter().map(String::as_str))
                    .await
                    .map_err(|e| self.wrap(e, OPERATION, Access::Delete, ""))
            }
        }
    }

    /// Stores a streamed value; see [`crate::Backend::put_stream`].
    pub(super) async fn write_stream(
        &self,
        path: &str,
        body: BodyStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, Error> {
        const OPERATION: &str = "put_stream";
        self.check_path(path, OPERATION)?;
        match &self.local {
            #[cfg(feature = "fs")]
            Some(Local::Folder { .. }) => self.write_fs_stream(path, body, mode).await,
            // Memory has no parts: the value is held whole there anyway.
            #[cfg(feature = "memory")]
            Some(Local::Memory(_)) => {
                let bytes = collect_body(body, OPERATION, path, &self.description).await?;
                self.write(path, bytes, mode).await
            }
            None => self.write_s3_stream(path, body, mode).await,
        }
    }

    #[cfg(feature = "fs")]
    async fn write_fs_stream(
        &self,
        path: &str,
        mut body: BodyStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, Error> {
        const OPERATION: &str = "put_stream";
        let Some(Local::Folder { root, temporary }) = &self.local else {
            return Err(self.error(ErrorKind::Other, OPERATION, path, "not a folder backend"));
        };
        let io_error = |e| self.io_error(e, OPERATION, Access::Write, path);

        // Pieces are gathered into blocks so that small pieces do not cost a thread hop each.
        // Dropping the staged file on any failure removes it.
        let folder = temporary.clone();
        let mut staged =
            blocking(move || super::local::Staged::create(&folder)).await.map_err(io_error)?;
        let mut pending: Vec<Bytes> = Vec::new();
        let mut pending_bytes = 0;
        loop {
            let piece = body.next().await.transpose();
            let piece = piece.map_err(|e| body_error(e, OPERATION, path, &self.description))?;
            let done = piece.is_none();
            if let Some(piece) = piece {
                pending_bytes += piece.len();
                pending.push(piece);
            }
            if pending_bytes >= FS_BLOCK || (done && !pending.is_empty()) {
                let block = std::mem::take(&mut pending);
                pending_bytes = 0;
                staged = blocking(move || {
                    for piece in &block {
                        staged.append(piece)?;
                    }
                    Ok::<_, std::io::Error>(staged)
                })
                .await
                .map_err(io_error)?;
            }
            if done {
                break;
            }
        }

        let (root, temporary, owned) = (root.clone(), temporary.clone(), path.to_owned());
        // Dropped with this future if the caller gives up; the write then does not publish.
        let (_waiting, abandonment) = super::local::Waiting::new();
        blocking(move || staged.publish(&root, &temporary, &owned, &mode, &abandonment))
            .await
            .map_err(|error| self.local_error(error, path))
    }

    async fn write_s3_stream(
        &self,
        path: &str,
        mut body: BodyStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, Error> {
        const OPERATION: &str = "put_stream";
        let wrap = |e| self.wrap(e, OPERATION, Access::Write, path);
        self.landing.settle(path).await;
        let condition = self.condition_of(mode.clone(), OPERATION, path).await?;
        let Transfer { part_size, concurrency } = self.transfer;

        // A conditional value that fits in one part is one `PutObject`, whose conditions the
        // first probe vouched for. Past one part it becomes a multipart upload, whose conditions
        // some servers ignore (moto 5.2 ignores `If-Match` there): those need the second probe.
        let mut first: Vec<Bytes> = Vec::new();
        let mut first_bytes = 0;
        if !matches!(condition, Condition::None) {
            while first_bytes <= part_size {
                let Some(piece) = body.next().await else {
                    let mut whole = bytes::BytesMut::with_capacity(first_bytes);
                    for piece in &first {
                        whole.extend_from_slice(piece);
                    }
                    return self.write(path, whole.freeze(), mode).await;
                };
                let piece = piece.map_err(|e| body_error(e, OPERATION, path, &self.description))?;
                first_bytes += piece.len();
                first.push(piece);
            }
            let honoured = self.multipart_conditions(OPERATION, path).await?;
            match condition {
                Condition::Absent if !honoured.create => {
                    let message = IGNORED_MULTIPART_CREATE;
                    return Err(self.error(ErrorKind::Unsupported, OPERATION, path, message));
                }
                Condition::Match(_) if !honoured.swap => {
                    let message = IGNORED_MULTIPART_SWAP;
                    return Err(self.error(ErrorKind::Unsupported, OPERATION, path, message));
                }
                _ => {}
            }
        }

        // Equal parts of `part_size`, `concurrency` of them in flight: memory stays near
        // `part_size * (concurrency + 2)`. A value smaller than one part is one PutObject.
        let builder = self.operator.writer_with(path).chunk(part_size).concurrent(concurrency);
        let builder = match &condition {
            Condition::None => builder,
            Condition::Absent => builder.if_not_exists(true),
            Condition::Match(etag) => builder.if_match(etag),
        };
        // Opening the writer sends nothing; the first request goes with the first part.
        let mut upload = Upload(Some(builder.await.map_err(wrap)?));
        let pieces = stream::iter(first.into_iter().map(Ok)).chain(body).boxed();
        let (description, owned) = (self.description.clone(), path.to_owned());
        // Dropped with the caller's future: the upload then stops before its next request.
        let (_caller, mut gone) = tokio::sync::oneshot::channel::<()>();
        let upload = async move {
            let Some(writer) = upload.0.as_mut() else {
                let message = "no writer was opened";
                return Err(Error::new(ErrorKind::Other, OPERATION, &owned, &description, message));
            };
            let outcome = feed(writer, pieces, &mut gone, &owned, &description).await;
            // OpenDAL leaves a failed multipart upload open (a lost condition included), and
            // its parts would be billed until a lifecycle rule removes them: abort it here.
            // An upload the server already dropped (`NoSuchUpload`) has nothing to abort.
            let writer = upload.0.take();
            if outcome.is_err()
                && let Some(mut writer) = writer
                && let Err(abort) = writer.abort().await
                && abort.kind() != opendal::ErrorKind::NotFound
            {
                tracing::error!(
                    backend = %description,
                    path = %owned,
                    error = %abort,
                    "aborting a failed multipart upload failed; its parts stay on the server"
                );
            }
            outcome
        };
        let outcome = match tokio::runtime::Handle::try_current() {
            // A task of its own, so that a caller who stops waiting (a timeout, Ctrl-C) never
            // cuts a request in half: the upload stops between writes, once it sees the
            // caller gone, and is aborted by the id its first request got.
            // A caller who gives up once the whole body was handed over leaves the upload to
            // complete: the next write or delete of the path waits for it (see `landing`).
            Ok(runtime) => {
                let (done, answer) = tokio::sync::oneshot::channel();
                let (finished, abandoned) = self.landing.follow(path);
                runtime.spawn(async move {
                    let outcome = upload.await;
                    drop(finished);
                    let _ = done.send(outcome);
                });
                let answer = answer.await;
                abandoned.answered();
                answer.unwrap_or_else(|_| {
                    Err(self.error(ErrorKind::Other, OPERATION, path, "the upload task ended"))
                })
            }
            Err(_) => upload.await,
        };
        let outcome = match outcome {
            Ok((metadata, size)) => return Ok(meta_of(&metadata, size)),
            Err(error) => error,
        };
        if outcome.kind() != ErrorKind::NotFound {
            return Err(outcome);
        }
        let message = if matches!(condition, Condition::Match(_)) {
            // A swap whose object is gone may be answered `404` when the upload completes.
            "no object is stored at this path"
        } else if outcome.to_string().contains("NoSuchUpload") {
            // Garage drops the open upload of a key that is deleted meanwhile: the write lost
            // a race with that delete, as a write loses one with a failed condition.
            "the object was deleted while this value uploaded, and the server dropped the \
             upload: nothing was stored; write the value again"
        } else {
            return Err(outcome);
        };
        Err(self.error(ErrorKind::ConditionFailed, OPERATION, path, message).with_source(outcome))
    }

    /// What the server does with conditions on multipart uploads, probed once per backend.
    async fn multipart_conditions(
        &self,
        operation: &'static str,
        path: &str,
    ) -> Result<Conditions, Error> {
        let probe = || async {
            let result = self.probe_multipart_conditions().await.map_err(|error| {
                let message = format!("probing conditional multipart uploads failed: {error}");
                self.error(error.kind(), operation, path, &message).with_source(error)
            });
            if let Ok(found) = &result {
                tracing::debug!(
                    backend = %self.description,
                    conditional_create = found.create,
                    compare_and_swap = found.swap,
                    "probed conditional multipart uploads"
                );
            }
            result
        };
        self.multipart_conditions.get_or_try_init(probe).await.copied()
    }

    /// Uploads a scratch object of two parts under each condition, which must both be lost.
    ///
    /// It costs two uploads of 5 MiB and a byte, once per backend, and only when a conditional
    /// value larger than one part is first written.
    async fn probe_multipart_conditions(&self) -> Result<Conditions, Error> {
        const OPERATION: &str = "probe";
        let path = format!("{PROBE_FOLDER}/probe-{}", unique_name());
        let wrap = |e| self.wrap(e, OPERATION, Access::Write, &path);
        let scratch = Bytes::from(vec![0u8; MIN_PART + 1]);
        let lost = |condition: Condition| {
            let (path, scratch) = (path.as_str(), scratch.clone());
            async move {
                let builder = self.operator.writer_with(path).chunk(MIN_PART).concurrent(2);
                let builder = match &condition {
                    Condition::Absent => builder.if_not_exists(true),
                    Condition::Match(etag) => builder.if_match(etag),
                    Condition::None => builder,
                };
                let mut writer = builder.await.map_err(wrap)?;
                let written = match writer.write(scratch).await {
                    Ok(()) => writer.close().await,
                    Err(error) => Err(error),
                };
                match written {
                    Ok(_) => Ok(false),
                    Err(error) => {
                        let _ = writer.abort().await;
                        match wrap(error) {
                            error if error.kind() == ErrorKind::ConditionFailed => Ok(true),
                            error => Err(error),
                        }
                    }
                }
            }
        };

        let first = self.operator.write_with(&path, Bytes::from_static(b"1"));
        first.if_not_exists(true).await.map_err(wrap)?;
        let result = async {
            let create = lost(Condition::Absent).await?;
            let swap = lost(Condition::Match("\"s3kv-probe-matches-nothing\"".to_owned())).await?;
            Ok(Conditions { create, swap })
        }
        .await;
        let deleted = self.operator.delete(&path).await.map_err(wrap);
        let conditions = result?;
        deleted?;
        Ok(conditions)
    }

    /// Reads a value as a stream; see [`crate::Backend::get_stream`].
    pub(super) async fn read_stream(&self, path: &str) -> Result<(ObjectMeta, ValueStream), Error> {
        const OPERATION: &str = "get_stream";
        self.check_path(path, OPERATION)?;
        match &self.local {
            #[cfg(feature = "fs")]
            Some(Local::Folder { root, .. }) => {
                let file = root.join(path);
                // The first block is read with the opening, so a small value takes one trip to
                // the blocking threads; a caller that got all `meta.size` bytes need not ask on.
                let (file, first, meta) = blocking(move || {
                    let (mut file, meta) = super::local::open_pinned(&file)?;
                    let first = super::local::read_block(&mut file, FS_BLOCK)?;
                    Ok::<_, std::io::Error>((file, first, meta))
                })
                .await
                .map_err(|e| self.io_error(e, OPERATION, Access::Read, path))?;
                let rest = self.fs_blocks(file, path);
                let first = (!first.is_empty()).then_some(Ok(first));
                Ok((meta, stream::iter(first).chain(rest).boxed()))
            }
            #[cfg(feature = "memory")]
            Some(Local::Memory(_)) => {
                let Object { bytes, meta } = self.read_object(path, OPERATION).await?;
                Ok((meta, stream::once(async move { Ok(bytes) }).boxed()))
            }
            None => self.read_s3_stream(path).await,
        }
    }

    /// The blocks of an open file as a stream, read off the async threads.
    #[cfg(feature = "fs")]
    fn fs_blocks(&self, file: std::fs::File, path: &str) -> ValueStream {
        let (description, path) = (self.description.clone(), path.to_owned());
        let blocks = stream::try_unfold(Some(file), move |file| {
            let (description, path) = (description.clone(), path.clone());
            async move {
                let Some(mut file) = file else { return Ok(None) };
                let read = blocking(move || {
                    let block = super::local::read_block(&mut file, FS_BLOCK)?;
                    Ok::<_, std::io::Error>((file, block))
                })
                .await;
                match read {
                    Ok((_, block)) if block.is_empty() => Ok(None),
                    Ok((file, block)) => Ok(Some((block, Some(file)))),
                    Err(e) => Err(crate::error::from_io(
                        e,
                        "get_stream",
                        Access::Read,
                        &path,
                        &description,
                    )),
                }
            }
        });
        blocks.boxed()
    }

    async fn read_s3_stream(&self, path: &str) -> Result<(ObjectMeta, ValueStream), Error> {
        const OPERATION: &str = "get_stream";
        let wrap = |e| self.wrap(e, OPERATION, Access::Read, path);
        let Transfer { part_size, concurrency } = self.transfer;

        // A plain GET of the whole object starts the read: its response carries the size and
        // the entity tag, so a value of one part costs one request, with no HEAD before it.
        // Its body gives the first part; it is then dropped, and the rest is read as ranged
        // parts, `concurrency` in flight, handed out in order. Each carries `If-Match` with the
        // tag of that first response, and each response's own tag is compared too, in case a
        // server ignores `If-Match` on reads: no part of another version is handed out.
        let reader = self.operator.reader(path).await.map_err(wrap)?;
        let mut whole = reader.into_stream(..).await.map_err(wrap)?;
        let metadata = whole.metadata().await.map_err(wrap)?;
        if metadata.is_dir() {
            return Err(self.error(ErrorKind::NotFound, OPERATION, path, "no object here"));
        }
        let meta = meta_of(&metadata, metadata.content_length());

        let mut ranges = part_ranges(meta.size, part_size);
        let first_len = ranges.next().map_or(0, |range| range.end);
        let (description, owned) = (self.description.clone(), path.to_owned());
        // A value of one part is read to the end of its response, so the connection is kept.
        let whole_value = first_len == meta.size;
        let first = stream::try_unfold((whole, first_len), move |(mut whole, left)| {
            let (description, path) = (description.clone(), owned.clone());
            async move {
                if left == 0 {
                    if whole_value {
                        let _ = whole.next().await;
                    }
                    return Ok(None);
                }
                match whole.next().await {
                    Some(Ok(buffer)) => {
                        let mut piece = buffer.to_bytes();
                        piece.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                        let left = left - piece.len() as u64;
                        Ok(Some((piece, (whole, left))))
                    }
                    Some(Err(e)) => Err(stream_error(e, &path, &description, OPERATION)),
                    None => Err(Error::new(
                        ErrorKind::Unavailable,
                        OPERATION,
                        &path,
                        &description,
                        "the response ended before the size it announced",
                    )),
                }
            }
        });

        let (operator, etag) = (self.operator.clone(), meta.etag.clone());
        let (description, owned) = (self.description.clone(), path.to_owned());
        let parts = stream::iter(ranges)
            .map(move |range| {
                let (operator, etag) = (operator.clone(), etag.clone());
                let (description, path) = (description.clone(), owned.clone());
                async move { read_part(&operator, &path, range, etag, &description).await }
            })
            .buffered(concurrency);
        let rest = prefetched(parts, whole_value).flat_map(|part| {
            let pieces: Vec<Result<Bytes, Error>> = match part {
                Ok(buffer) => Iterator::map(buffer, Ok).collect(),
                Err(error) => vec![Err(error)],
            };
            stream::iter(pieces)
        });
        Ok((meta, first.chain(rest).boxed()))
    }
}

/// `parts`, fetched from now on by a task of their own, so that the requests for the parts
/// after the first are in flight while the first part arrives rather than once the caller has
/// read it (which left the caller waiting for whole parts at the start). One finished part waits
/// beyond those in flight. The task stops when the caller drops the stream, and with the first
/// error. Nothing is spawned for a value of one part, or outside a runtime.
fn prefetched(
    parts: impl stream::Stream<Item = Result<opendal::Buffer, Error>> + Send + 'static,
    whole_value: bool,
) -> stream::BoxStream<'static, Result<opendal::Buffer, Error>> {
    let runtime = match tokio::runtime::Handle::try_current() {
        Ok(runtime) if !whole_value => runtime,
        _ => return parts.boxed(),
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    runtime.spawn(async move {
        let mut parts = std::pin::pin!(parts);
        loop {
            let part = tokio::select! {
                part = parts.next() => part,
                () = sender.closed() => break,
            };
            let Some(part) = part else { break };
            let failed = part.is_err();
            if sender.send(part).await.is_err() || failed {
                break;
            }
        }
    });
    stream::poll_fn(move |context| receiver.poll_recv(context)).boxed()
}

/// The ranges of the parts of an object of `size` bytes, made as they are asked for: the size
/// is the server's word, and a claim of exabytes must cost nothing until parts are read.
fn part_ranges(
    size: u64,
    part_size: usize,
) -> impl DoubleEndedIterator<Item = Range<u64>> + Send + use<> {
    let part = u64::try_from(part_size).unwrap_or(u64::MAX).max(1);
    (0..size.div_ceil(part)).map(move |index| {
        index.saturating_mul(part)..size.min(index.saturating_add(1).saturating_mul(part))
    })
}

/// Reads one part of a streamed object, pinned to `etag` when there is one.
async fn read_part(
    operator: &opendal::Operator,
    path: &str,
    range: Range<u64>,
    etag: Option<String>,
    backend: &str,
) -> Result<opendal::Buffer, Error> {
    const OPERATION: &str = "get_stream";
    let pinned = etag.as_deref().and_then(quoted_etag);
    let mut builder = operator.reader_with(path);
    if let Some(etag) = &pinned {
        builder = builder.if_match(etag);
    }
    let reader = builder.await.map_err(|e| stream_error(e, path, backend, OPERATION))?;
    let buffer = reader.read(range).await.map_err(|e| stream_error(e, path, backend, OPERATION))?;
    let answered = reader.metadata().and_then(opendal::Metadata::etag);
    if let (Some(expected), Some(answered)) = (&pinned, answered)
        && !same_etag(expected, answered)
    {
        return Err(Error::new(ErrorKind::ConditionFailed, OPERATION, path, backend, REPLACED));
    }
    Ok(buffer)
}

/// Maps an error met while streaming an S3 object, naming a replacement for what it is.
fn stream_error(
    error: opendal::Error,
    path: &str,
    backend: &str,
    operation: &'static str,
) -> Error {
    let error = from_opendal(error, operation, Access::Read, path, backend);
    if error.kind() == ErrorKind::ConditionFailed {
        return Error::new(ErrorKind::ConditionFailed, operation, path, backend, REPLACED)
            .with_source(error);
    }
    error
}

/// Writes `pieces` through `writer` and closes it: the stored object's metadata and size.
///
/// Stops with an error, between two writes and never inside one, when `gone` resolves (the
/// caller stopped waiting): the request that opens the upload has then been answered, so an
/// abort afterwards knows the upload and removes everything it made.
async fn feed(
    writer: &mut opendal::Writer,
    mut pieces: BodyStream,
    gone: &mut tokio::sync::oneshot::Receiver<()>,
    path: &str,
    backend: &str,
) -> Result<(opendal::Metadata, u64), Error> {
    const OPERATION: &str = "put_stream";
    let wrap = |e| from_opendal(e, OPERATION, Access::Write, path, backend);
    let mut size = 0u64;
    loop {
        let piece = tokio::select! {
            biased;
            _ = &mut *gone => {
                let message = "the caller stopped waiting; the upload was abandoned";
                return Err(Error::new(ErrorKind::Other, OPERATION, path, backend, message));
            }
            piece = pieces.next() => piece,
        };
        let Some(piece) = piece else { break };
        let piece = piece.map_err(|e| body_error(e, OPERATION, path, backend))?;
        size += piece.len() as u64;
        writer.write(piece).await.map_err(wrap)?;
    }
    let metadata = writer.close().await.map_err(wrap)?;
    Ok((metadata, size))
}

/// A multipart upload in progress; if it is dropped unfinished (the caller gave up on the put),
/// it is aborted in the background so that its parts do not stay on the server.
struct Upload(Option<opendal::Writer>);

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(mut writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = writer.abort().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_object_in_order_without_overlap() {
        let parts = |size, part_size| part_ranges(size, part_size).collect::<Vec<_>>();
        assert_eq!(parts(0, 5), Vec::<Range<u64>>::new());
        assert_eq!(parts(5, 5), vec![Range { start: 0, end: 5 }]);
        assert_eq!(parts(12, 5), [0..5, 5..10, 10..12]);
    }

    #[test]
    fn a_claimed_size_of_exabytes_costs_nothing_until_its_parts_are_asked_for() {
        let mut parts = part_ranges(u64::MAX, 8 << 20);

        assert_eq!(parts.next(), Some(0..8 << 20));
        assert_eq!(parts.next_back(), Some((u64::MAX / (8 << 20)) * (8 << 20)..u64::MAX));
    }
}
