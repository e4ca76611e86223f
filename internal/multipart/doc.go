// Package multipart keeps S3 multipart uploads in progress on disk until
// they are completed or aborted.
//
// An upload is created with the metadata of the object it will become;
// parts (numbered 1 to MaxParts) are streamed to files one by one, in any
// order and in parallel, and re-uploading a part number replaces it.
// Complete checks a list of parts as S3 does and returns the object's
// metadata, size, S3's multipart ETag and a reader of the parts in order;
// the caller stores the object, then calls Remove.
//
// Guarantees:
//   - Nothing is held in memory but metadata: parts are streamed to disk
//     and back.
//   - A part PutPart acknowledged is durable: its body is written to a temp
//     file, fsynced and renamed into the upload's directory, then its
//     metadata is written the same way. A crash leaves at most stray files,
//     which Open removes, and the state survives restarts.
//   - A part's file is named by a new random generation on every upload,
//     so a reader of a completed upload keeps reading the parts it
//     validated even if a part is replaced or the upload aborted meanwhile;
//     their files are removed when the reader is closed.
//   - Upload IDs are random (128 bits), URL-safe and never name a path
//     chosen by a client: only IDs the store created are looked up.
//   - Uploads neither completed nor aborted within Config.MaxAge of their
//     creation are removed by a background sweep.
//
// On disk, under the store's directory:
//
//	tmp/                           temp files, cleared by Open
//	<upload ID>/upload.json        bucket, key, metadata, creation time
//	<upload ID>/00001.json         part 1: ETag, size, time, file name
//	<upload ID>/00001.<gen>.part   part 1's body
//
// An upload exists while its upload.json does: Abort removes that file
// first and then the directory, and Open removes directories without one.
//
// Parts use disk space beside the node's cache, outside its capacity, and
// a completed object is copied into the cache before its parts are
// removed.
package multipart
