package multipart

import "errors"

// Errors of the store. Callers test them with errors.Is; the store wraps
// them with the upload ID or part number at fault. Bodies that do not match
// their declared length or Content-MD5 return core.ErrIncompleteBody and
// core.ErrBadDigest.
var (
	// ErrNoSuchUpload: no upload has this ID for this bucket and key: it
	// never existed, or was completed, aborted or removed as too old.
	ErrNoSuchUpload = errors.New("no such upload")
	// ErrInvalidPart: a part named in Complete was never uploaded, or its
	// ETag is not the one given, or no part is named at all.
	ErrInvalidPart = errors.New("invalid part")
	// ErrInvalidPartOrder: the parts named in Complete are not in strictly
	// ascending order of part number.
	ErrInvalidPartOrder = errors.New("invalid part order")
	// ErrEntityTooSmall: a part named in Complete, other than the last, is
	// smaller than Config.MinPartSize.
	ErrEntityTooSmall = errors.New("part too small")
	// ErrEntityTooLarge: a part is larger than Config.MaxPartSize.
	ErrEntityTooLarge = errors.New("part too large")
	// ErrInvalidPartNumber: a part number is not within 1 to MaxParts.
	ErrInvalidPartNumber = errors.New("invalid part number")
)
